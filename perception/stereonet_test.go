package perception

import (
	"math"
	"math/rand"
	"sort"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/internal/torchtest"
)

// The stereo network gives StereoLevels disparities of the documented
// sizes; ForwardBlock stops at its block; bad inputs and configurations are
// errors; a model with it compares architectures.
func TestStereoNetShapes(t *testing.T) {
	torchtest.LockThread(t)
	m, err := NewModel(ModelConfig{Width: 128, Height: 64, Nets: map[string]NetConfig{NetStereo: StereoConfig{Size: SizeSmall}}}, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	n := m.Net(NetStereo).(*StereoNet)
	a := tensor(t, make([]float32, 2*3*64*128), 2, 3, 64, 128)
	b := tensor(t, make([]float32, 2*3*64*128), 2, 3, 64, 128)
	defer a.MustDrop()
	defer b.MustDrop()
	out, err := n.Forward(a, b)
	if err != nil {
		t.Fatal(err)
	}
	for l, d := range out {
		assertShape(t, "disparity", d, 2, 1, int64(32>>l), int64(64>>l))
		d.MustDrop()
	}
	out, err = n.ForwardBlock(a, b, 2)
	if err != nil {
		t.Fatal(err)
	}
	if out[0] != nil || out[1] != nil || out[2] == nil || out[3] == nil {
		t.Fatalf("ForwardBlock(2) computed levels %v", out)
	}
	out[2].MustDrop()
	out[3].MustDrop()
	if _, err := n.ForwardBlock(a, b, StereoLevels); err == nil {
		t.Fatal("block 4 accepted")
	}
	c := tensor(t, make([]float32, 3*64*128), 1, 3, 64, 128)
	defer c.MustDrop()
	if _, err := n.Forward(a, c); err == nil {
		t.Fatal("mismatched inputs accepted")
	}
	if err := (StereoConfig{Size: "huge"}).Filled().Validate(); err == nil {
		t.Fatal("size huge accepted")
	}
	if err := (StereoConfig{CoarseRange: 100}).Filled().Validate(); err == nil {
		t.Fatal("coarse range 100 accepted")
	}
	if d := ArchDiff(ModelConfig{Width: 128, Height: 64, Nets: map[string]NetConfig{NetStereo: StereoConfig{}}}.Fill(),
		ModelConfig{Width: 128, Height: 64, Nets: map[string]NetConfig{NetStereo: StereoConfig{CoarseRange: 8}}}.Fill()); d != "stereo coarse range 12 != 8" {
		t.Fatalf("ArchDiff = %q", d)
	}
}

// Correlation1D scores a(u)·b(u+t) averaged over channels, zero outside b:
// the same values as a plain loop.
func TestCorrelation1D(t *testing.T) {
	torchtest.LockThread(t)
	const B, C, H, W = 2, 3, 4, 7
	rng := rand.New(rand.NewSource(3))
	av := make([]float32, B*C*H*W)
	bv := make([]float32, B*C*H*W)
	for i := range av {
		av[i], bv[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
	}
	a, b := tensor(t, av, B, C, H, W), tensor(t, bv, B, C, H, W)
	defer a.MustDrop()
	defer b.MustDrop()
	for _, r := range [][2]int64{{-3, 0}, {-2, 2}, {0, 1}} {
		out, err := Correlation1D(a, b, r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		k := r[1] - r[0] + 1
		assertShape(t, "cost volume", out, B, k, H, W)
		got := out.Float64Values()
		out.MustDrop()
		for n := 0; n < B; n++ {
			for j := int64(0); j < k; j++ {
				for y := 0; y < H; y++ {
					for x := 0; x < W; x++ {
						u := x + int(r[0]+j)
						var want float64
						if u >= 0 && u < W {
							for ch := 0; ch < C; ch++ {
								want += float64(av[((n*C+ch)*H+y)*W+x]) * float64(bv[((n*C+ch)*H+y)*W+u])
							}
							want /= C
						}
						g := got[((n*int(k)+int(j))*H+y)*W+x]
						if math.Abs(g-want) > 1e-5 {
							t.Fatalf("range %v: batch %d shift %d (%d,%d) = %g, want %g", r, n, r[0]+j, x, y, g, want)
						}
					}
				}
			}
		}
	}
	if _, err := Correlation1D(a, b, 1, 2); err == nil {
		t.Fatal("range 1..2 accepted")
	}
}

// WarpDisparity moves the right view by the disparity: with d = 2 every
// left pixel u reads the right image at u - 2.
func TestWarpDisparityShift(t *testing.T) {
	torchtest.LockThread(t)
	const w, h = 8, 2
	img := make([]float32, h*w)
	for i := range img {
		img[i] = float32(i)
	}
	d := make([]float32, h*w)
	for i := range d {
		d[i] = 2
	}
	x, dt := tensor(t, img, 1, 1, h, w), tensor(t, d, 1, 1, h, w)
	defer x.MustDrop()
	defer dt.MustDrop()
	out, err := WarpDisparity(x, dt)
	if err != nil {
		t.Fatal(err)
	}
	defer out.MustDrop()
	v := out.Float64Values()
	for y := 0; y < h; y++ {
		for u := 2; u < w; u++ {
			if got, want := v[y*w+u], float64(img[y*w+u-2]); math.Abs(got-want) > 1e-4 {
				t.Fatalf("(%d,%d) = %g, want %g", u, y, got, want)
			}
		}
	}
}

// A MAD step on block l reaches block l's variables only: a loss on
// ForwardBlock's level-l disparity leaves every other variable without a
// gradient.
func TestStereoBlockGradient(t *testing.T) {
	torchtest.LockThread(t)
	m, err := NewModel(ModelConfig{Width: 128, Height: 64, Nets: map[string]NetConfig{NetStereo: StereoConfig{Size: SizeSmall}}}, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	n := m.Net(NetStereo).(*StereoNet)
	rng := rand.New(rand.NewSource(1))
	px := make([]float32, 3*64*128)
	for i := range px {
		px[i] = rng.Float32()
	}
	a := tensor(t, px, 1, 3, 64, 128)
	defer a.MustDrop()
	for _, l := range []int{0, 1, 3} {
		out, err := n.ForwardBlock(a, a, l)
		if err != nil {
			t.Fatal(err)
		}
		loss := out[l].MustMean(gotch.Float, false)
		for _, o := range out {
			if o != nil {
				o.MustDrop()
			}
		}
		loss.MustBackward()
		loss.MustDrop()
		in := BlockVariables(NetStereo, l)
		var with []string
		for _, nv := range m.NamedVariables() {
			g := nv.Tensor.MustGrad(false)
			ok, _ := g.Defined()
			if ok {
				if nz := g.MustAbs(false).MustSum(gotch.Float, true).Float64Values()[0]; nz > 0 {
					with = append(with, nv.Name)
				}
				g.MustZero_()
			}
			g.MustDrop()
			if !ok && in(nv.Name) {
				t.Errorf("block %d: %s has no gradient", l, nv.Name)
			}
		}
		sort.Strings(with)
		for _, name := range with {
			if !in(name) {
				t.Errorf("block %d: %s got a gradient", l, name)
			}
		}
		if len(with) == 0 || !strings.Contains(strings.Join(with, " "), "dec") {
			t.Errorf("block %d: gradients %v", l, with)
		}
	}
}

// An untrained network answers with finite disparities, the coarsest one
// a soft-argmax inside 0 .. CoarseRange coarse pixels (± the small
// untrained residual). (Random features are
// not discriminative enough for the untrained coarse level to find the
// true shift: measured 37 .. 52 px for a true 24, so the test does not
// claim it; training has to.)
func TestStereoNetUntrainedBounded(t *testing.T) {
	torchtest.LockThread(t)
	const W, H, D = 256, 64, 24
	m, err := NewModel(ModelConfig{Width: W, Height: H, Nets: map[string]NetConfig{NetStereo: StereoConfig{}}}, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	n := m.Net(NetStereo).(*StereoNet)
	// 1/f-like texture: noise at several scales.
	rng := rand.New(rand.NewSource(5))
	wide := W + D
	tex := make([]float64, 3*H*wide)
	for _, cell := range []int{16, 8, 4, 2} {
		gw, gh := wide/cell+2, H/cell+2
		g := make([]float64, 3*gw*gh)
		for i := range g {
			g[i] = rng.Float64()
		}
		for c := 0; c < 3; c++ {
			for y := 0; y < H; y++ {
				for x := 0; x < wide; x++ {
					tex[(c*H+y)*wide+x] += g[(c*gh+y/cell)*gw+x/cell] / 4
				}
			}
		}
	}
	l := make([]float32, 3*H*W)
	r := make([]float32, 3*H*W)
	for c := 0; c < 3; c++ {
		for y := 0; y < H; y++ {
			for x := 0; x < W; x++ {
				// Left pixel x shows what right pixel x-D shows.
				l[(c*H+y)*W+x] = float32(tex[(c*H+y)*wide+x])
				r[(c*H+y)*W+x] = float32(tex[(c*H+y)*wide+x+D])
			}
		}
	}
	lt, rt := tensor(t, l, 1, 3, H, W), tensor(t, r, 1, 3, H, W)
	defer lt.MustDrop()
	defer rt.MustDrop()
	var out []*ts.Tensor
	if err := NoGrad(func() (err error) { out, err = n.Forward(lt, rt); return err }); err != nil {
		t.Fatal(err)
	}
	for l, o := range out {
		lv := o.Float64Values()
		sort.Float64s(lv)
		t.Logf("level %d median %.2f", l, lv[len(lv)/2])
	}
	coarse := out[StereoLevels-1].Float64Values()
	fine := out[0].Float64Values()
	for _, o := range out {
		o.MustDrop()
	}
	// The soft-argmax is in 0 .. 12 coarse pixels; the untrained residual
	// (its last convolution scaled by 0.05) may move it by under one.
	lo, hi := float64(-1<<StereoLevels), float64(13<<StereoLevels)
	for _, d := range coarse {
		if math.IsNaN(d) || d < lo || d > hi {
			t.Fatalf("coarse disparity %g outside %g .. %g", d, lo, hi)
		}
	}
	for _, d := range fine {
		if math.IsNaN(d) || math.IsInf(d, 0) {
			t.Fatalf("finest disparity %g", d)
		}
	}
}
