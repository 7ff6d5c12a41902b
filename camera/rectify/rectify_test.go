package rectify

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/parallax-robotics/parallax/calibration"
	"github.com/parallax-robotics/parallax/calibration/cv"
	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/msgs"
)

// The distorted, unrectified rig of the tests and its ideal twin: the same
// world with a plumb_bob lens and a right camera rotated by about a degree.
func rigs(t testing.TB, w, h int) (raw, ideal *synth.World) {
	t.Helper()
	cfg := synth.Config{Seed: 5, Width: w, Height: h, Stereo: true, Exposure: -1,
		K1: -0.18, K2: 0.05, P1: 0.001, P2: -0.0008, K3: -0.01, RightYaw: 0.8, RightPitch: -0.5, RightRoll: 0.4}
	var err error
	if raw, err = synth.NewWorld(cfg); err != nil {
		t.Fatal(err)
	}
	cfg.K1, cfg.K2, cfg.P1, cfg.P2, cfg.K3, cfg.RightYaw, cfg.RightPitch, cfg.RightRoll = 0, 0, 0, 0, 0, 0, 0, 0
	if ideal, err = synth.NewWorld(cfg); err != nil {
		t.Fatal(err)
	}
	return raw, ideal
}

func rectifiers(t testing.TB, st calibration.Stereo) (l, r *Rectifier) {
	t.Helper()
	lc, rc, err := Pair(st, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l, err = New(lc); err != nil {
		t.Fatal(err)
	}
	if r, err = New(rc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	t.Cleanup(r.Close)
	return l, r
}

// meanDiff is the mean absolute difference of two RGB images over the
// pixels where both have depth (the rectified image's valid area).
func meanDiff(a, b *msgs.Frame) float64 {
	sum, n := 0.0, 0
	for i := 0; i < a.Width*a.Height; i++ {
		if a.Truth != nil && a.Truth.Depth[i] == 0 {
			continue
		}
		for c := 0; c < 3; c++ {
			sum += math.Abs(float64(a.Pix[3*i+c]) - float64(b.Pix[3*i+c]))
		}
		n += 3
	}
	return sum / float64(n)
}

// medianRelDepth is the median |a - b| / b over pixels with both depths.
func medianRelDepth(a, b []float32) (float64, int) {
	var d []float64
	for i := range a {
		if a[i] > 0 && b[i] > 0 {
			d = append(d, math.Abs(float64(a[i]-b[i]))/float64(b[i]))
		}
	}
	if len(d) == 0 {
		return math.Inf(1), 0
	}
	slices.Sort(d)
	return d[len(d)/2], len(d)
}

// TestRectifiesSynthBack: the distorted, rotated rig rectified with its
// calibration is the ideal rig: the same images (up to resampling), depth
// and poses, and intrinsics.
func TestRectifiesSynthBack(t *testing.T) {
	raw, ideal := rigs(t, 320, 96)
	set := raw.Calibration()
	l, r := rectifiers(t, *set.Stereo)
	if b := r.Baseline(); math.Abs(b-0.54) > 1e-9 {
		t.Errorf("baseline %v, want 0.54", b)
	}
	for _, i := range []int{0, 40} {
		rl, rr := raw.Render(i)
		il, ir := ideal.Render(i)
		before := meanDiff(il, rl)
		for _, v := range []struct {
			name      string
			rec       *Rectifier
			raw, want *msgs.Frame
		}{{"left", l, rl, il}, {"right", r, rr, ir}} {
			got, err := v.rec.Rectify(v.raw)
			if err != nil {
				t.Fatal(err)
			}
			if *got.Intrinsics != *v.want.Intrinsics {
				t.Errorf("%s intrinsics %+v, want the ideal rig's %+v", v.name, *got.Intrinsics, *v.want.Intrinsics)
			}
			// The rectified frame samples the raw one between pixels:
			// textures blur a little, edges do not move.
			if d := meanDiff(got, v.want); d > 8 {
				t.Errorf("frame %d %s: rectified differs from the ideal rig by %.2f grey levels (raw: %.2f)", i, v.name, d, before)
			}
			if e, n := medianRelDepth(got.Truth.Depth, v.want.Truth.Depth); e > 0.005 || n < 320*96*8/10 {
				t.Errorf("frame %d %s: ground-truth depth off by a median %.4f over %d pixels", i, v.name, e, n)
			}
			for k := range 9 {
				if math.Abs(got.Truth.Pose.R[k]-v.want.Truth.Pose.R[k]) > 1e-9 {
					t.Fatalf("%s pose %+v, want %+v", v.name, got.Truth.Pose, v.want.Truth.Pose)
				}
			}
			for k := range 3 {
				if math.Abs(got.Truth.Pose.T[k]-v.want.Truth.Pose.T[k]) > 1e-9 {
					t.Fatalf("%s pose %+v, want %+v", v.name, got.Truth.Pose, v.want.Truth.Pose)
				}
			}
			t.Logf("frame %d %s: %.2f grey levels from the ideal rig (raw %.2f)", i, v.name, meanDiff(got, v.want), meanDiff(v.want, v.raw))
		}
	}
}

// TestMonoUndistortsSynth: a mono camera with a distorted lens, whose
// file gives K and D only (a plain calibrateCamera result, no R or P), is
// undistorted to its own K by Mono: the frames, depth and intrinsics of the
// same world seen through an ideal lens.
func TestMonoUndistortsSynth(t *testing.T) {
	cfg := synth.Config{Seed: 5, Width: 320, Height: 96, Exposure: -1, K1: -0.18, K2: 0.05, P1: 0.001, P2: -0.0008, K3: -0.01}
	raw, err := synth.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.K1, cfg.K2, cfg.P1, cfg.P2, cfg.K3 = 0, 0, 0, 0, 0
	ideal, err := synth.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := raw.Calibration().Cameras[0]
	c.R, c.P = [9]float64{}, [12]float64{}
	mc, err := Mono(c)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := New(mc)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	if rec.Baseline() != 0 {
		t.Errorf("a mono camera's baseline %v", rec.Baseline())
	}
	for _, i := range []int{0, 40} {
		rf, _ := raw.Render(i)
		want, _ := ideal.Render(i)
		got, err := rec.Rectify(rf)
		if err != nil {
			t.Fatal(err)
		}
		if *got.Intrinsics != *want.Intrinsics {
			t.Errorf("intrinsics %+v, want the ideal lens's %+v", *got.Intrinsics, *want.Intrinsics)
		}
		before, after := meanDiff(want, rf), meanDiff(got, want)
		if after > 8 || after > before/2 {
			t.Errorf("frame %d: undistorted differs from the ideal lens by %.2f grey levels (raw: %.2f)", i, after, before)
		}
		if e, n := medianRelDepth(got.Truth.Depth, want.Truth.Depth); e > 0.005 || n < 320*96*8/10 {
			t.Errorf("frame %d: ground-truth depth off by a median %.4f over %d pixels", i, e, n)
		}
		t.Logf("frame %d: %.2f grey levels from the ideal lens (raw %.2f)", i, after, before)
	}
}

// TestStereoRectifyFromExtrinsics: a calibration with only R and T is
// rectified by OpenCV's stereoRectify; the rectified pair is then
// row-aligned: the right image sampled at the true disparity matches the
// left image, far better than the raw pair does.
func TestStereoRectifyFromExtrinsics(t *testing.T) {
	if !cv.Available {
		t.Skip("needs OpenCV (this is a -tags nocv build)")
	}
	raw, _ := rigs(t, 320, 96)
	st := *raw.Calibration().Stereo
	st.Left.R, st.Right.R, st.Left.P, st.Right.P = [9]float64{}, [9]float64{}, [12]float64{}, [12]float64{}
	l, r := rectifiers(t, st)
	rl, rr := raw.Render(10)
	gl, err := l.Rectify(rl)
	if err != nil {
		t.Fatal(err)
	}
	gr, err := r.Rectify(rr)
	if err != nil {
		t.Fatal(err)
	}
	k := *gl.Intrinsics
	if *gr.Intrinsics != k {
		t.Fatalf("left %+v and right %+v rectified models differ", k, *gr.Intrinsics)
	}
	after := stereoConsistency(gl, gr, k.Fx*r.Baseline())
	before := stereoConsistency(rl, rr, rl.Intrinsics.Fx*0.54)
	t.Logf("photometric error at the true disparity: %.2f rectified, %.2f raw", after, before)
	if after > 12 || after > before/2 {
		t.Errorf("rectified pair's error at the true disparity %.2f, raw %.2f", after, before)
	}
}

// stereoConsistency is the mean grey difference between each left pixel
// and the right image at its true disparity fxb/z, same row, over pixels
// whose match is inside the image.
func stereoConsistency(l, r *msgs.Frame, fxb float64) float64 {
	sum, n := 0.0, 0
	w := l.Width
	for y := 4; y < l.Height-4; y++ {
		for x := 0; x < w; x++ {
			z := float64(l.Truth.Depth[y*w+x])
			if !(z > 0) {
				continue
			}
			xr := float64(x) - fxb/z
			x0 := int(math.Floor(xr))
			if x0 < 0 || x0+1 >= w {
				continue
			}
			a := xr - float64(x0)
			for c := 0; c < 3; c++ {
				v := (1-a)*float64(r.Pix[(y*w+x0)*3+c]) + a*float64(r.Pix[(y*w+x0+1)*3+c])
				sum += math.Abs(v - float64(l.Pix[(y*w+x)*3+c]))
				n++
			}
		}
	}
	return sum / float64(n)
}

func TestNoRemapNeeded(t *testing.T) {
	k := msgs.Intrinsics{Width: 64, Height: 32, Fx: 40, Fy: 40, Cx: 32, Cy: 16}
	rec, err := New(calibration.CameraFromIntrinsics(k))
	if err != nil {
		t.Fatal(err)
	}
	f := &msgs.Frame{Width: 64, Height: 32, Pix: make([]byte, 64*32*3)}
	got, err := rec.Rectify(f)
	if err != nil {
		t.Fatal(err)
	}
	if &got.Pix[0] != &f.Pix[0] || *got.Intrinsics != k {
		t.Errorf("a camera with nothing to correct copies pixels or changes intrinsics: %+v", got.Intrinsics)
	}
	// Frames at half the calibration's size: the model scales.
	h := &msgs.Frame{Width: 32, Height: 16, Pix: make([]byte, 32*16*3)}
	if got, err = rec.Rectify(h); err != nil || *got.Intrinsics != k.Scaled(32, 16) {
		t.Errorf("half size: %v %+v", err, got)
	}
	if _, err := rec.Rectify(&msgs.Frame{Width: 64, Height: 64, Pix: make([]byte, 64*64*3)}); err == nil {
		t.Error("another aspect ratio accepted")
	}
}

// TestFeed: the decorator rectifies every frame a feed's sources read, and
// the right feed carries the calibration's baseline.
func TestFeed(t *testing.T) {
	raw, ideal := rigs(t, 160, 64)
	_, r := rectifiers(t, *raw.Calibration().Stereo)
	cam := raw.Camera(synth.ViewRight, false)
	feed := Feed(&camera.Feed{Open: func() (camera.Source, error) { return cam, nil }}, r)
	if feed.Baseline != 0.54 {
		t.Errorf("baseline %v", feed.Baseline)
	}
	src, err := feed.Open()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := src.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := src.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := ideal.Intrinsics()
	if *f.Intrinsics != want {
		t.Errorf("intrinsics %+v, want %+v", *f.Intrinsics, want)
	}
}

// BenchmarkRectify measures rectifying both views of a distorted,
// unrectified pair at 640x480 and 1280x720: OpenCV's remap (when linked)
// and Go's.
func BenchmarkRectify(b *testing.B) {
	for _, size := range [][2]int{{640, 480}, {1280, 720}} {
		raw, _ := rigs(b, size[0], size[1])
		st := *raw.Calibration().Stereo
		lc, rc, err := Pair(st, 0)
		if err != nil {
			b.Fatal(err)
		}
		fl, fr := raw.Render(0)
		for _, engine := range []string{"opencv", "go"} {
			if engine == "opencv" && !cv.Available {
				continue
			}
			b.Run(fmt.Sprintf("%dx%d/%s", size[0], size[1], engine), func(b *testing.B) {
				var ml, mr *calibration.Maps
				var cl, cr *cv.Remapper
				var err error
				if ml, err = calibration.NewMaps(lc); err != nil {
					b.Fatal(err)
				}
				if mr, err = calibration.NewMaps(rc); err != nil {
					b.Fatal(err)
				}
				if engine == "opencv" {
					if cl, err = cv.NewRemapper(ml); err != nil {
						b.Fatal(err)
					}
					defer cl.Close()
					if cr, err = cv.NewRemapper(mr); err != nil {
						b.Fatal(err)
					}
					defer cr.Close()
				}
				dl, dr := make([]byte, len(fl.Pix)), make([]byte, len(fr.Pix))
				for b.Loop() {
					if cl != nil {
						err = cl.Remap(dl, fl.Pix)
						if err == nil {
							err = cr.Remap(dr, fr.Pix)
						}
					} else {
						err = ml.Remap(dl, fl.Pix)
						if err == nil {
							err = mr.Remap(dr, fr.Pix)
						}
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/pair")
			})
		}
	}
}

// BenchmarkMaps measures making one camera's maps (once per camera).
func BenchmarkMaps(b *testing.B) {
	raw, _ := rigs(b, 1280, 720)
	lc, _, err := Pair(*raw.Calibration().Stereo, 0)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := calibration.NewMaps(lc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/camera")
}
