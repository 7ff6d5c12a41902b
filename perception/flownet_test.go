package perception

import (
	"math"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"

	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/internal/torchtest"
	"github.com/parallax-robotics/parallax/msgs"
)

// The flow network gives flowLevels flows of the documented sizes, starts
// near zero flow, and a model with it round-trips its configuration.
func TestFlowNetShapes(t *testing.T) {
	torchtest.LockThread(t)
	vs := nn.NewVarStore(gotch.CPU)
	n, err := NewFlowNet(vs.Root().Sub("flow"), FlowConfig{Size: SizeSmall})
	if err != nil {
		t.Fatal(err)
	}
	a := tensor(t, make([]float32, 2*3*64*128), 2, 3, 64, 128)
	b := tensor(t, make([]float32, 2*3*64*128), 2, 3, 64, 128)
	out, err := n.Forward(a, b)
	if err != nil {
		t.Fatal(err)
	}
	for l, f := range out {
		assertShape(t, "flow", f, 2, 2, int64(32>>l), int64(64>>l))
		f.MustDrop()
	}
	if _, err := n.Forward(a, tensor(t, make([]float32, 3*64*128), 1, 3, 64, 128)); err == nil {
		t.Fatal("mismatched inputs accepted")
	}
	if _, err := (FlowConfig{Size: "huge"}).Filled().(FlowConfig), (FlowConfig{Size: "huge"}).Validate(); err == nil {
		t.Fatal("size huge accepted")
	}
	if d := ArchDiff(ModelConfig{Width: 128, Height: 64, Nets: map[string]NetConfig{NetFlow: FlowConfig{}}}.Fill(),
		ModelConfig{Width: 128, Height: 64, Nets: map[string]NetConfig{NetFlow: FlowConfig{Size: SizeSmall}}}.Fill()); d == "" {
		t.Fatal("flow sizes compare equal")
	}
}

// WarpFlow with zero flow is the identity; with a whole-pixel shift it
// moves the image.
func TestWarpFlowShift(t *testing.T) {
	torchtest.LockThread(t)
	const w, h = 6, 4
	img := make([]float32, h*w)
	for i := range img {
		img[i] = float32(i)
	}
	flow := make([]float32, 2*h*w)
	for i := 0; i < h*w; i++ {
		flow[i] = 1
	}
	out, err := WarpFlow(tensor(t, img, 1, 1, h, w), tensor(t, flow, 1, 2, h, w))
	if err != nil {
		t.Fatal(err)
	}
	defer out.MustDrop()
	v := out.Float64Values()
	for y := 0; y < h; y++ {
		for x := 0; x < w-1; x++ {
			if got, want := v[y*w+x], float64(img[y*w+x+1]); got < want-1e-4 || got > want+1e-4 {
				t.Fatalf("(%d,%d) = %g, want %g", x, y, got, want)
			}
		}
	}
}

// BenchmarkFlowForward: one forward of the flow network on a pair at
// 320x96 (the demo's input size), no gradient.
func BenchmarkFlowForward(b *testing.B) {
	for _, size := range []string{SizeSmall, SizeDefault} {
		b.Run(size, func(b *testing.B) {
			torchtest.LockThread(b)
			vs := nn.NewVarStore(gotch.CPU)
			n, err := NewFlowNet(vs.Root().Sub("flow"), FlowConfig{Size: size})
			if err != nil {
				b.Fatal(err)
			}
			x := tensor(b, make([]float32, 3*96*320), 1, 3, 96, 320)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				err := NoGrad(func() error {
					out, err := n.Forward(x, x)
					for _, o := range out {
						o.MustDrop()
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/pair")
		})
	}
}

// The cost volume of a feature map and its copy shifted by (dx, dy) peaks
// at that displacement; index (dy+r)*(2r+1) + dx+r.
func TestCorrelationShift(t *testing.T) {
	torchtest.LockThread(t)
	const c, h, w, dx, dy = 64, 12, 16, 2, -1
	r := rand.New(rand.NewSource(1))
	a := make([]float32, c*h*w)
	b := make([]float32, c*h*w)
	for i := range a {
		a[i] = r.Float32()*2 - 1
	}
	// b(p + (dx,dy)) = a(p).
	for ch := 0; ch < c; ch++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				if sx, sy := x-dx, y-dy; sx >= 0 && sx < w && sy >= 0 && sy < h {
					b[(ch*h+y)*w+x] = a[(ch*h+sy)*w+sx]
				}
			}
		}
	}
	out, err := Correlation(tensor(t, a, 1, c, h, w), tensor(t, b, 1, c, h, w), CorrRange)
	if err != nil {
		t.Fatal(err)
	}
	defer out.MustDrop()
	assertShape(t, "cost volume", out, 1, corrChannels, h, w)
	v := out.Float64Values()
	k := 2*CorrRange + 1
	want := (dy+CorrRange)*k + dx + CorrRange
	for y := 5; y < h-5; y++ {
		for x := 5; x < w-5; x++ {
			best := 0
			for d := 0; d < corrChannels; d++ {
				if v[(d*h+y)*w+x] > v[(best*h+y)*w+x] {
					best = d
				}
			}
			if best != want {
				t.Fatalf("(%d,%d): best displacement %d, want %d", x, y, best, want)
			}
		}
	}
	if _, err := Correlation(tensor(t, a, 1, c, h, w), tensor(t, b[:c*h*(w-1)], 1, c, h, w-1), CorrRange); err == nil {
		t.Fatal("mismatched features accepted")
	}
}

// InterleaveFlow turns the network's planar [2,H,W] into (dx, dy) pairs.
func TestInterleaveFlow(t *testing.T) {
	got := InterleaveFlow([]float32{1, 2, 3, 10, 20, 30}, 3, 1)
	want := []float32{1, 10, 2, 20, 3, 30}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("InterleaveFlow = %v, want %v", got, want)
		}
	}
}

// SceneFlowFromDepth with the synthetic world's true depth at t and t+1
// and its true optical flow gives back its true camera-relative scene flow
// (up to the bilinear sampling of the next depth map at the match): the
// geometry and the conventions (pixel centres, metres, camera-relative)
// agree with msgs.GroundTruth.SceneFlow.
func TestSceneFlowFromDepth(t *testing.T) {
	const w, h = 128, 64
	cfg, err := synth.ParseURL("synth://?seed=3&width=128&height=64&movers=8&fps=10")
	if err != nil {
		t.Fatal(err)
	}
	d, err := synth.NewDrive(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, _, err := d.Frame(10)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := d.Frame(11)
	if err != nil {
		t.Fatal(err)
	}
	d0 := msgs.DepthMap{Width: w, Height: h, Depth: a.Truth.Depth, Intrinsics: a.Intrinsics}
	d1 := msgs.DepthMap{Width: w, Height: h, Depth: b.Truth.Depth, Intrinsics: b.Intrinsics}
	flow := FlowField{Width: w, Height: h, Flow: a.Truth.Flow}
	sf, err := SceneFlowFromDepth(d0, d1, flow)
	if err != nil {
		t.Fatal(err)
	}
	var errs []float64
	for i := 0; i < w*h; i++ {
		if a.Truth.Occluded[i] != 0 || math.IsNaN(float64(sf[3*i])) {
			continue
		}
		e := 0.0
		for c := 0; c < 3; c++ {
			e += math.Pow(float64(sf[3*i+c]-a.Truth.SceneFlow[3*i+c]), 2)
		}
		errs = append(errs, math.Sqrt(e))
	}
	sort.Float64s(errs)
	if len(errs) < w*h/2 {
		t.Fatalf("only %d of %d pixels have a scene flow", len(errs), w*h)
	}
	med := errs[len(errs)/2]
	t.Logf("%d pixels: scene flow error median %.3g m, 90th percentile %.3g m", len(errs), med, errs[9*len(errs)/10])
	if med > 0.02 {
		t.Errorf("median scene flow error %.3g m against the truth", med)
	}
	if _, err := SceneFlowFromDepth(msgs.DepthMap{Width: w, Height: h, Depth: a.Truth.Depth}, d1, flow); err == nil {
		t.Error("a depth map without intrinsics accepted")
	}
	if _, err := SceneFlowFromDepth(d0, d1, FlowField{Width: w, Height: h, Flow: a.Truth.Flow[:10]}); err == nil {
		t.Error("a short flow accepted")
	}
}
