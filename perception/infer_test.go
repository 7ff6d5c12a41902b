package perception

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/parallax-robotics/parallax/internal/memtest"

	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/msgs"
)

func testEstimator(t testing.TB, cfg ModelConfig) *Estimator {
	t.Helper()
	var m *Model
	onWorker(t, func() (err error) {
		m, err = NewModel(cfg, gotch.CPU)
		return err
	})
	t.Cleanup(func() { testWorker(t).Do(func() error { m.Close(); return nil }) })
	return NewEstimator(m, testWorker(t))
}

func TestCropFor(t *testing.T) {
	cases := []struct{ w, h, mw, mh, x0, y0, cw, ch int }{
		{640, 192, 640, 192, 0, 0, 640, 192},
		{160, 64, 64, 32 * 2 / 2, 16, 0, 128, 64}, // wider: cut the sides
		{1280, 720, 640, 192, 0, 168, 1280, 384},  // taller: cut top and bottom
		{320, 96, 640, 192, 0, 0, 320, 96},
		{100, 100, 128, 64, 0, 25, 100, 50},
	}
	for _, c := range cases {
		x0, y0, cw, ch := CropFor(c.w, c.h, c.mw, c.mh)
		if x0 != c.x0 || y0 != c.y0 || cw != c.cw || ch != c.ch {
			t.Errorf("CropFor(%d,%d,%d,%d) = %d,%d %dx%d; want %d,%d %dx%d", c.w, c.h, c.mw, c.mh, x0, y0, cw, ch, c.x0, c.y0, c.cw, c.ch)
		}
	}
}

// TestFrameTensor checks the conversion by hand: channel order, scaling to
// [0,1], the crop, and that a 2x downscale of 2x2 blocks averages them.
func TestFrameTensor(t *testing.T) {
	const w, h = 8, 4
	f := &msgs.Frame{Camera: "c", Width: w, Height: h, Pix: make([]byte, 3*w*h)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := 3 * (y*w + x)
			f.Pix[i], f.Pix[i+1], f.Pix[i+2] = byte(10*x), byte(10*y), 200
		}
	}
	onWorker(t, func() error {
		// Same size: exact values.
		x, _, err := frameTensor(f, w, h, gotch.CPU)
		if err != nil {
			return err
		}
		if got := fmt.Sprint(sizeOf(x)); got != "[1 3 4 8]" {
			return fmt.Errorf("shape %s", got)
		}
		v := x.Float64Values(true)
		for y := 0; y < h; y++ {
			for xx := 0; xx < w; xx++ {
				for c, want := range []float64{float64(10 * xx), float64(10 * y), 200} {
					if got := v[(c*h+y)*w+xx]; math.Abs(got-want/255) > 1e-6 {
						return fmt.Errorf("pixel (%d,%d) channel %d = %g, want %g", xx, y, c, got, want/255)
					}
				}
			}
		}
		// Half size, same aspect: bilinear at half scale averages 2x2 blocks.
		x, _, err = frameTensor(f, 4, 2, gotch.CPU)
		if err != nil {
			return err
		}
		v = x.Float64Values(true)
		if got, want := v[0*2*4+1*4+2], (10*4.5)/255; math.Abs(got-want) > 1e-6 { // red at (2,1): mean x of 4,5
			return fmt.Errorf("downscaled red = %g, want %g", got, want)
		}
		if got, want := v[1*2*4+1*4+2], (10*2.5)/255; math.Abs(got-want) > 1e-6 { // green: mean y of 2,3
			return fmt.Errorf("downscaled green = %g, want %g", got, want)
		}
		// Square model input: the centred 4x4 crop, columns 2..5.
		k := &msgs.Intrinsics{Width: w, Height: h, Fx: 8, Fy: 8, Cx: 4, Cy: 2}
		f.Intrinsics = k
		x, kk, err := frameTensor(f, 4, 4, gotch.CPU)
		if err != nil {
			return err
		}
		v = x.Float64Values(true)
		if got, want := v[0], 20.0/255; math.Abs(got-want) > 1e-6 {
			return fmt.Errorf("cropped first red = %g, want %g", got, want)
		}
		if kk == nil || *kk != (msgs.Intrinsics{Width: 4, Height: 4, Fx: 8, Fy: 8, Cx: 2, Cy: 2}) {
			return fmt.Errorf("cropped intrinsics %+v", kk)
		}
		for _, bad := range []*msgs.Frame{nil, {Width: 2, Height: 2, Pix: make([]byte, 11)}, {Width: 0, Height: 2}} {
			if _, _, err := frameTensor(bad, 4, 4, gotch.CPU); !errors.Is(err, ErrFrame) {
				return fmt.Errorf("bad frame %v: %v, want ErrFrame", bad, err)
			}
		}
		return nil
	})
}

func synthFrames(t testing.TB, w, h, n int) []*msgs.Frame {
	t.Helper()
	world, err := synth.NewWorld(synth.Config{Width: w, Height: h})
	if err != nil {
		t.Fatal(err)
	}
	var out []*msgs.Frame
	for i := 0; i < n; i++ {
		l, _ := world.Render(i)
		out = append(out, l)
	}
	return out
}

func TestEstimatorDepth(t *testing.T) {
	e := testEstimator(t, smallConfig()) // 128x64
	frames := synthFrames(t, 160, 64, 2) // wider than 2:1: 16 columns cut each side
	maps, err := e.Depth(frames...)
	if err != nil {
		t.Fatal(err)
	}
	if len(maps) != 2 {
		t.Fatalf("%d maps", len(maps))
	}
	k := frames[0].Intrinsics
	want := msgs.Intrinsics{Width: 128, Height: 64, Fx: k.Fx * 128 / 128, Fy: k.Fy, Cx: k.Cx - 16, Cy: k.Cy}
	for i, m := range maps {
		if m.Width != 128 || m.Height != 64 || len(m.Depth) != 128*64 {
			t.Fatalf("map %d: %dx%d with %d values", i, m.Width, m.Height, len(m.Depth))
		}
		for _, d := range m.Depth {
			if !(d >= 0.1 && d <= 100) {
				t.Fatalf("map %d: depth %g outside 0.1..100", i, d)
			}
		}
		if m.Intrinsics == nil || *m.Intrinsics != want {
			t.Fatalf("map %d: intrinsics %+v, want %+v", i, m.Intrinsics, want)
		}
	}
	// The batch gives the same maps as one frame at a time.
	one, err := e.Depth(frames[1])
	if err != nil {
		t.Fatal(err)
	}
	for j := range one[0].Depth {
		if d := math.Abs(float64(one[0].Depth[j] - maps[1].Depth[j])); d > 1e-4*float64(maps[1].Depth[j]) {
			t.Fatalf("batched and single depth differ at %d: %g vs %g", j, maps[1].Depth[j], one[0].Depth[j])
		}
	}
	bad := *frames[0]
	bad.Pix = bad.Pix[:10]
	if _, err := e.Depth(frames[0], &bad); !errors.Is(err, ErrFrame) {
		t.Fatalf("short pixel buffer: %v, want ErrFrame", err)
	}
}

// TestEstimatorPose checks the sign convention end to end: with a forward
// prior of 0.5 m the untrained network says camera b is 0.5 m ahead of a.
func TestEstimatorPose(t *testing.T) {
	cfg := withPose(smallConfig(), func(p *PoseConfig) { p.ForwardPrior = 0.5 })
	e := testEstimator(t, cfg)
	frames := synthFrames(t, 128, 64, 2)
	p, err := e.Pose(frames[0], frames[1])
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(p.T[2]-0.5) > 0.05 || math.Abs(p.T[0]) > 0.05 || math.Abs(p.T[1]) > 0.05 {
		t.Fatalf("T = %v, want about (0, 0, 0.5)", p.T)
	}
	for i, want := range []float64{1, 0, 0, 0, 1, 0, 0, 0, 1} {
		if math.Abs(p.R[i]-want) > 0.01 {
			t.Fatalf("R = %v, want about identity", p.R)
		}
	}
	if _, err := e.Pose(frames[0], nil); !errors.Is(err, ErrFrame) {
		t.Fatalf("nil frame: %v", err)
	}
}

// TestEstimatorMemoryFlat: 200 depth and 200 pose inferences after a
// warm-up grow the RSS by less than 20 MB (every tensor freed).
func TestEstimatorMemoryFlat(t *testing.T) {
	e := testEstimator(t, smallConfig())
	frames := synthFrames(t, 160, 80, 2)
	step := func() {
		if _, err := e.Depth(frames[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Pose(frames[0], frames[1]); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 30; i++ {
		step()
	}
	before := memtest.SettledRSS(t)
	for i := 0; i < 200; i++ {
		step()
	}
	after := memtest.SettledRSS(t)
	t.Logf("RSS %.1f MB -> %.1f MB after 200 depth+pose inferences", float64(before)/1e6, float64(after)/1e6)
	if after-before > 20<<20 {
		t.Fatalf("RSS grew by %.1f MB over 200 inferences", float64(after-before)/1e6)
	}
}

// BenchmarkEstimatorDepth: a whole Depth call (frame conversion and resize
// from 1280x384, network, depth copy-out) at 640x192, default size.
func BenchmarkEstimatorDepth(b *testing.B) {
	w, err := NewWorker(2)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	var m *Model
	if err := w.Do(func() (err error) { m, err = NewModel(ModelConfig{}, gotch.CPU); return err }); err != nil {
		b.Fatal(err)
	}
	defer w.Do(func() error { m.Close(); return nil })
	e := NewEstimator(m, w)
	f := synthFrames(b, 1280, 384, 1)[0]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Depth(f); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/frame")
}

// TestSequence: a Sequence gives the same depth as Estimator.Depth and the
// same motion as Estimator.Pose on the previous and current frame, though
// it turns each frame into a tensor once; Reset forgets the previous frame.
func TestSequence(t *testing.T) {
	e := testEstimator(t, withPose(smallConfig(), func(p *PoseConfig) { p.ForwardPrior = 0.3 }))
	frames := synthFrames(t, 160, 80, 3)
	seq := e.Sequence()
	defer seq.Close()
	for i, f := range frames {
		est, err := seq.Next(f, true)
		if err != nil {
			t.Fatal(err)
		}
		want, err := e.Depth(f)
		if err != nil {
			t.Fatal(err)
		}
		for k := range want[0].Depth {
			if est.Depth.Depth[k] != want[0].Depth[k] {
				t.Fatalf("frame %d pixel %d: sequence depth %g, estimator %g", i, k, est.Depth.Depth[k], want[0].Depth[k])
			}
		}
		if i == 0 {
			if est.Motion != nil {
				t.Fatalf("first frame has motion %+v", est.Motion)
			}
			continue
		}
		p, err := e.Pose(frames[i-1], f)
		if err != nil {
			t.Fatal(err)
		}
		if est.Motion == nil || *est.Motion != p {
			t.Fatalf("frame %d: sequence motion %+v, estimator %+v", i, est.Motion, p)
		}
	}
	seq.Reset()
	est, err := seq.Next(frames[0], true)
	if err != nil || est.Motion != nil {
		t.Fatalf("after Reset: motion %+v, err %v", est.Motion, err)
	}
	// Motion alone (stereo matching's odometry): the same poses, no depth.
	seq.Reset()
	for i, f := range frames {
		m, err := seq.Motion(f)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if m != nil {
				t.Fatalf("Motion of the first frame %+v", m)
			}
			continue
		}
		p, err := e.Pose(frames[i-1], f)
		if err != nil {
			t.Fatal(err)
		}
		if m == nil || *m != p {
			t.Fatalf("frame %d: Motion %+v, estimator %+v", i, m, p)
		}
	}
	if w, h := seq.InputSize(); w != e.Model().Config().Width || h != e.Model().Config().Height {
		t.Errorf("InputSize %dx%d", w, h)
	}
}

// TestSequenceMemoryFlat: 200 frames through a Sequence after a warm-up
// grow the RSS by less than 20 MB (the kept frame is freed when replaced).
func TestSequenceMemoryFlat(t *testing.T) {
	e := testEstimator(t, smallConfig())
	frames := synthFrames(t, 160, 80, 2)
	seq := e.Sequence()
	defer seq.Close()
	for i := 0; i < 30; i++ {
		if _, err := seq.Next(frames[i%2], true); err != nil {
			t.Fatal(err)
		}
	}
	before := memtest.SettledRSS(t)
	for i := 0; i < 200; i++ {
		if _, err := seq.Next(frames[i%2], true); err != nil {
			t.Fatal(err)
		}
	}
	after := memtest.SettledRSS(t)
	t.Logf("RSS %.1f MB -> %.1f MB after 200 sequence frames", float64(before)/1e6, float64(after)/1e6)
	if after-before > 20<<20 {
		t.Fatalf("RSS grew by %.1f MB over 200 frames", float64(after-before)/1e6)
	}
}

// BenchmarkDepthAndMotion is the node's per-frame inference at 320x96 (the
// demo's small model, 1 thread): depth of each frame and the motion since
// the previous one, through a Sequence (each frame a tensor once).
func BenchmarkDepthAndMotion(b *testing.B) {
	w, err := NewWorker(1)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	var m *Model
	if err := w.Do(func() (err error) { m, err = NewModel(smallConfig320(), gotch.CPU); return err }); err != nil {
		b.Fatal(err)
	}
	defer w.Do(func() error { m.Close(); return nil })
	e := NewEstimator(m, w)
	frames := synthFrames(b, 320, 96, 2)
	seq := e.Sequence()
	defer seq.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := seq.Next(frames[i%2], true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

func smallConfig320() ModelConfig {
	return DepthPose(320, 96, DepthConfig{Size: SizeSmall}, PoseConfig{Size: SizeSmall})
}
