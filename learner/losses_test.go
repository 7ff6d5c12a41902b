package learner

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/internal/memtest"
	"github.com/parallax-robotics/parallax/internal/torchtest"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
)

// tensor makes a float32 tensor, freed when the test ends.
func tensor(t testing.TB, data []float32, shape ...int64) *ts.Tensor {
	t.Helper()
	x, err := ts.NewTensorFromData(data, shape)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(x.MustDrop)
	return x
}

// owned registers x (returned by a loss) to be freed at the end of the test.
func owned(t testing.TB) func(*ts.Tensor, error) *ts.Tensor {
	return func(x *ts.Tensor, err error) *ts.Tensor {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(x.MustDrop)
		return x
	}
}

func values(t testing.TB, x *ts.Tensor) []float64 {
	t.Helper()
	c, err := x.Contiguous(false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.MustDrop()
	return c.Float64Values()
}

func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

func randImage(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = r.Float32()
	}
	return v
}

func TestSSIMIdentityAndOpposite(t *testing.T) {
	torchtest.LockThread(t)
	r := rand.New(rand.NewSource(1))
	x := tensor(t, randImage(r, 2*3*6*7), 2, 3, 6, 7)
	same := values(t, owned(t)(SSIM(x, x)))
	if m := maxAbs(same); m > 1e-6 {
		t.Errorf("SSIM(x,x) max %g, want 0", m)
	}
	// A checkerboard against its negative: opposite structure, SSIM ≈ -1,
	// so (1-SSIM)/2 ≈ 1.
	cb := make([]float32, 8*8)
	inv := make([]float32, 8*8)
	for i := range cb {
		if (i/8+i%8)%2 == 0 {
			cb[i] = 1
		}
		inv[i] = 1 - cb[i]
	}
	a, b := tensor(t, cb, 1, 1, 8, 8), tensor(t, inv, 1, 1, 8, 8)
	for i, v := range values(t, owned(t)(SSIM(a, b))) {
		if v < 0.95 || v > 1 {
			t.Fatalf("SSIM(checker, 1-checker)[%d] = %g, want in [0.95, 1]", i, v)
		}
	}
	if m := maxAbs(values(t, owned(t)(Photometric(x, x)))); m > 1e-6 {
		t.Errorf("Photometric(x,x) max %g, want 0", m)
	}
	p := owned(t)(Photometric(a, b))
	if sz, _ := p.Size(); fmt.Sprint(sz) != "[1 1 8 8]" {
		t.Errorf("Photometric shape %v, want [1 1 8 8]", sz)
	}
	// 0.85*~1 + 0.15*1
	for i, v := range values(t, p) {
		if v < 0.95 || v > 1 {
			t.Fatalf("Photometric(checker, 1-checker)[%d] = %g", i, v)
		}
	}
}

// testCamera builds K, invK for a w x h camera with focal f.
func testCamera(t testing.TB, f float64, w, h int) (K, invK *ts.Tensor) {
	t.Helper()
	K, invK, err := perception.IntrinsicsTensor([]msgs.Intrinsics{{Fx: f, Fy: f, Cx: float64(w) / 2, Cy: float64(h) / 2, Width: w, Height: h}}, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(K.MustDrop)
	t.Cleanup(invK.MustDrop)
	return K, invK
}

func constant(t testing.TB, v float32, shape ...int64) *ts.Tensor {
	n := int64(1)
	for _, s := range shape {
		n *= s
	}
	d := make([]float32, n)
	for i := range d {
		d[i] = v
	}
	return tensor(t, d, shape...)
}

func TestIdentityWarpZeroError(t *testing.T) {
	torchtest.LockThread(t)
	const w, h = 12, 8
	r := rand.New(rand.NewSource(2))
	img := tensor(t, randImage(r, 2*3*h*w), 2, 3, h, w)
	src := tensor(t, randImage(r, 2*3*h*w), 2, 3, h, w)
	K, invK := testCamera(t, 10, w, h)
	depth := constant(t, 3, 2, 1, h, w)
	I, err := perception.PoseTensor([]msgs.Pose{msgs.Identity()}, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(I.MustDrop)
	warped, valid, err := ViewSynthesis(img, []*ts.Tensor{img, src}, depth, K, invK, []*ts.Tensor{I, I})
	if err != nil {
		t.Fatal(err)
	}
	for i := range warped {
		t.Cleanup(warped[i].MustDrop)
		t.Cleanup(valid[i].MustDrop)
	}
	if m := maxAbs(values(t, owned(t)(Photometric(warped[0], img)))); m > 1e-5 {
		t.Errorf("identity warp photometric error %g, want 0", m)
	}
	for i, v := range values(t, valid[0]) {
		if v != 1 {
			t.Fatalf("identity warp valid[%d] = %g", i, v)
		}
	}
	if m := maxAbs(values(t, owned(t)(Photometric(warped[1], img)))); m < 0.05 {
		t.Errorf("warp of a different image: error %g, want clearly > 0", m)
	}
}

// TestStereoShiftRecovered: the right image is the left shifted by k pixels;
// warping it with the constant depth fx*B/k rebuilds the left image, and the
// photometric loss over depths is lowest there.
func TestStereoShiftRecovered(t *testing.T) {
	torchtest.LockThread(t)
	const w, h, k = 32, 8, 4
	const fx, baseline = 20.0, 0.5
	r := rand.New(rand.NewSource(3))
	left := randImage(r, 3*h*w)
	right := randImage(r, 3*h*w)
	for c := 0; c < 3; c++ {
		for y := 0; y < h; y++ {
			for x := 0; x+k < w; x++ {
				right[(c*h+y)*w+x] = left[(c*h+y)*w+x+k] // R(u) = L(u+k)
			}
		}
	}
	L, R := tensor(t, left, 1, 3, h, w), tensor(t, right, 1, 3, h, w)
	K, invK := testCamera(t, fx, w, h)
	loss := func(disp float64) (float64, []float64) {
		depth := constant(t, float32(fx*baseline/disp), 1, 1, h, w)
		warped, valid, err := StereoReprojection(R, depth, K, invK, baseline)
		if err != nil {
			t.Fatal(err)
		}
		defer warped.MustDrop()
		defer valid.MustDrop()
		e := owned(t)(Photometric(warped, L))
		// Columns k+1.. see the right image well inside; SSIM's window at
		// column k still touches the border-padded samples.
		inner := owned(t)(e.Narrow(3, k+1, w-k-1, false))
		v := values(t, inner)
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v)), values(t, valid)
	}
	best, valid := loss(k)
	if best > 1e-5 {
		t.Errorf("error at the true depth %g, want ~0", best)
	}
	for x := 0; x < w; x++ {
		want := 1.0
		if x < k {
			want = 0 // samples u - k < 0: outside the right image
		}
		if valid[x] != want {
			t.Errorf("valid at column %d = %g, want %g", x, valid[x], want)
		}
	}
	for _, d := range []float64{2, 3, 3.5, 4.5, 5, 6} {
		if l, _ := loss(d); l <= best+1e-3 {
			t.Errorf("loss at disparity %g px = %g, not above the true %g px's %g", d, l, float64(k), best)
		}
	}
}

func TestMinReprojectionHandBuilt(t *testing.T) {
	torchtest.LockThread(t)
	e1 := tensor(t, []float32{0.1, 0.5, 0.3, 0.6}, 1, 1, 1, 4)
	e2 := tensor(t, []float32{0.2, 0.4, 0.3, 0.7}, 1, 1, 1, 4)
	id := tensor(t, []float32{0.05, 0.5, 0.3, 0.2}, 1, 1, 1, 4)
	v1 := tensor(t, []float32{1, 0, 0, 1}, 1, 1, 1, 4)
	v2 := tensor(t, []float32{1, 1, 0, 1}, 1, 1, 1, 4)
	tests := []struct {
		name     string
		masked   bool
		automask bool
		wantLoss []float64
		wantMask []float64
		wantMean float64
		identity []*ts.Tensor
	}{
		{name: "minimum", wantLoss: []float64{0.1, 0.4, 0.3, 0.6}, wantMask: []float64{1, 1, 1, 1}, wantMean: 1.4 / 4},
		// identity lower at pixels 0 and 3; the tie at pixel 2 keeps the pixel.
		{name: "automask", automask: true, identity: []*ts.Tensor{id}, wantLoss: []float64{0.1, 0.4, 0.3, 0.6}, wantMask: []float64{0, 1, 1, 0}, wantMean: 0.7 / 2},
		// pixel 1 seen only by source 2, pixel 2 by none.
		{name: "out of image", masked: true, wantLoss: []float64{0.1, 0.4, OutsideError, 0.6}, wantMask: []float64{1, 1, 0, 1}, wantMean: 1.1 / 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := []*ts.Tensor{e1, e2}
			if tc.masked {
				errs = []*ts.Tensor{owned(t)(MaskOutside(e1, v1)), owned(t)(MaskOutside(e2, v2))}
			}
			l, m, err := MinReprojection(errs, tc.identity, tc.automask)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(l.MustDrop)
			t.Cleanup(m.MustDrop)
			gl, gm := values(t, l), values(t, m)
			for i := range gl {
				if math.Abs(gl[i]-tc.wantLoss[i]) > 1e-6 || gm[i] != tc.wantMask[i] {
					t.Fatalf("loss %v mask %v, want %v %v", gl, gm, tc.wantLoss, tc.wantMask)
				}
			}
			mean := values(t, owned(t)(MaskedMean(l, m)))[0]
			if math.Abs(mean-tc.wantMean) > 1e-6 {
				t.Errorf("masked mean %g, want %g", mean, tc.wantMean)
			}
		})
	}
	zero := constant(t, 0, 1, 1, 1, 4)
	if v := values(t, owned(t)(MaskedMean(e1, zero)))[0]; v != 0 {
		t.Errorf("masked mean with no valid pixel %g, want 0", v)
	}
}

func TestSmoothness(t *testing.T) {
	torchtest.LockThread(t)
	const h, w = 6, 8
	r := rand.New(rand.NewSource(4))
	flat := constant(t, 0.5, 1, 3, h, w)
	step := make([]float32, h*w)   // disparity step at column 4
	edge := make([]float32, 3*h*w) // image edge at the same column
	noisy := make([]float32, h*w)
	for i := range step {
		step[i] = 0.2
		if i%w >= 4 {
			step[i] = 0.8
		}
		noisy[i] = 0.5 + 0.3*(r.Float32()-0.5)
	}
	for i := range edge {
		if i%w >= 4 {
			edge[i] = 1
		}
	}
	sm := func(d, img *ts.Tensor) float64 { return values(t, owned(t)(Smoothness(d, img)))[0] }
	c := sm(constant(t, 0.3, 1, 1, h, w), flat)
	if math.Abs(c) > 1e-7 {
		t.Errorf("constant disparity: %g, want 0", c)
	}
	n := sm(tensor(t, noisy, 1, 1, h, w), flat)
	if n <= 0.01 {
		t.Errorf("noisy disparity: %g, want clearly > 0", n)
	}
	sFlat := sm(tensor(t, step, 1, 1, h, w), flat)
	sEdge := sm(tensor(t, step, 1, 1, h, w), tensor(t, edge, 1, 3, h, w))
	// flat image: |Δ| = 0.6/0.5 = 1.2 on h of the h*(w-1) x-differences.
	if want := 1.2 / float64(w-1); math.Abs(sFlat-want) > 1e-5 {
		t.Errorf("step on a flat image: %g, want %g", sFlat, want)
	}
	if want := 1.2 / float64(w-1) * math.Exp(-1); math.Abs(sEdge-want) > 1e-5 {
		t.Errorf("step across an image edge: %g, want %g", sEdge, want)
	}
	// Scaling the disparity does not change it (mean normalisation).
	n2 := sm(owned(t)(tensor(t, noisy, 1, 1, h, w).MulScalar(ts.FloatScalar(3), false)), flat)
	if math.Abs(n2-n) > 1e-5 {
		t.Errorf("smoothness of 3*disp %g != %g", n2, n)
	}
	if SmoothnessScaleWeight(0) != 1 || SmoothnessScaleWeight(3) != 0.125 {
		t.Errorf("scale weights %g %g", SmoothnessScaleWeight(0), SmoothnessScaleWeight(3))
	}
}

func TestLRConsistency(t *testing.T) {
	torchtest.LockThread(t)
	const h, w = 4, 16
	// A fronto-parallel plane: constant disparity in both views.
	if v := values(t, owned(t)(LRConsistency(constant(t, 3, 2, 1, h, w), constant(t, 3, 2, 1, h, w))))[0]; math.Abs(v) > 1e-6 {
		t.Errorf("consistent plane: %g, want 0", v)
	}
	if v := values(t, owned(t)(LRConsistency(constant(t, 3, 1, 1, h, w), constant(t, 2, 1, 1, h, w))))[0]; math.Abs(v-2) > 1e-5 {
		t.Errorf("disparities 3 and 2: %g, want |3-2| + |2-3| = 2", v)
	}
	// From depth: both views see the same plane at 5 m.
	d := owned(t)(DepthToPixelDisparity(constant(t, 5, 1, 1, h, w), 20, 0.5))
	if v := values(t, d)[0]; math.Abs(v-2) > 1e-6 {
		t.Errorf("disparity of 5 m, fx 20, B 0.5: %g, want 2", v)
	}
}

// TestGradientsFlow: the stereo photometric loss reaches the depth, the
// smoothness and LR terms reach the disparity, with finite non-zero grads.
func TestGradientsFlow(t *testing.T) {
	torchtest.LockThread(t)
	const w, h = 16, 8
	r := rand.New(rand.NewSource(5))
	L, R := tensor(t, randImage(r, 3*h*w), 1, 3, h, w), tensor(t, randImage(r, 3*h*w), 1, 3, h, w)
	K, invK := testCamera(t, 20, w, h)
	disp := tensor(t, randImage(r, h*w), 1, 1, h, w)
	if err := disp.RequiresGrad_(true); err != nil {
		t.Fatal(err)
	}
	depth := owned(t)(disp.AddScalar(ts.FloatScalar(2), false))
	warped, valid, err := StereoReprojection(R, depth, K, invK, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(warped.MustDrop)
	t.Cleanup(valid.MustDrop)
	e := owned(t)(Photometric(warped, L))
	e = owned(t)(MaskOutside(e, valid))
	lm, m, err := MinReprojection([]*ts.Tensor{e}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lm.MustDrop)
	t.Cleanup(m.MustDrop)
	photo := owned(t)(MaskedMean(lm, m))
	sm := owned(t)(Smoothness(disp, L))
	lr := owned(t)(LRConsistency(disp, owned(t)(disp.MulScalar(ts.FloatScalar(1.1), false))))
	total := owned(t)(photo.Add(sm, false))
	total = owned(t)(total.Add(lr, false))
	if err := total.Backward(); err != nil {
		t.Fatal(err)
	}
	g := owned(t)(disp.Grad(false))
	gv := values(t, g)
	for _, v := range gv {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("non-finite gradient %g", v)
		}
	}
	if maxAbs(gv) == 0 {
		t.Error("zero gradient to the disparity")
	}
}

func TestUpsampleToInput(t *testing.T) {
	torchtest.LockThread(t)
	u := owned(t)(UpsampleToInput(constant(t, 0.25, 2, 1, 3, 4), 12, 16))
	if sz, _ := u.Size(); fmt.Sprint(sz) != "[2 1 12 16]" {
		t.Errorf("shape %v", sz)
	}
	for _, v := range values(t, u) {
		if math.Abs(v-0.25) > 1e-7 {
			t.Fatalf("constant upsampled to %g", v)
		}
	}
}

func TestLossBadInput(t *testing.T) {
	torchtest.LockThread(t)
	a := constant(t, 0, 1, 3, 4, 4)
	b := constant(t, 0, 1, 3, 4, 5)
	one := constant(t, 0, 1, 1, 4, 4)
	three := constant(t, 0, 1, 4, 4)
	ints := owned(t)(a.Totype(gotch.Int, false))
	tests := []struct {
		name string
		f    func() error
	}{
		{"SSIM nil", func() error { _, err := SSIM(nil, a); return err }},
		{"SSIM sizes", func() error { _, err := SSIM(a, b); return err }},
		{"SSIM rank", func() error { _, err := SSIM(three, three); return err }},
		{"Photometric dtype", func() error { _, err := Photometric(ints, ints); return err }},
		{"MinReprojection empty", func() error { _, _, err := MinReprojection(nil, nil, false); return err }},
		{"MinReprojection automask without identity", func() error { _, _, err := MinReprojection([]*ts.Tensor{one}, nil, true); return err }},
		{"MinReprojection channels", func() error { _, _, err := MinReprojection([]*ts.Tensor{a}, nil, false); return err }},
		{"MaskOutside sizes", func() error { _, err := MaskOutside(one, a); return err }},
		{"MaskedMean nil", func() error { _, err := MaskedMean(one, nil); return err }},
		{"Smoothness channels", func() error { _, err := Smoothness(a, a); return err }},
		{"UpsampleToInput size", func() error { _, err := UpsampleToInput(one, 0, 3); return err }},
		{"LRConsistency sizes", func() error { _, err := LRConsistency(one, b); return err }},
		{"ViewSynthesis no sources", func() error { _, _, err := ViewSynthesis(a, nil, one, nil, nil, nil); return err }},
		{"ViewSynthesis depth", func() error {
			_, _, err := ViewSynthesis(a, []*ts.Tensor{a}, a, nil, nil, []*ts.Tensor{nil})
			return err
		}},
		{"StereoReprojection nil", func() error { _, _, err := StereoReprojection(nil, one, nil, nil, 0.1); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.f(); !errors.Is(err, ErrLossInput) {
				t.Errorf("got %v, want ErrLossInput", err)
			}
		})
	}
}

// monodepthLoss is the full self-supervised loss of one batch: frames
// [B,3,H,W] target and len(sources), disparities at 4 scales (H/2^s),
// automask, smoothness 1e-3 * 1/2^s, photometric averaged over scales.
func monodepthLoss(target *ts.Tensor, sources []*ts.Tensor, disps []*ts.Tensor, K, invK *ts.Tensor, T []*ts.Tensor, h, w int) (*ts.Tensor, error) {
	var ids []*ts.Tensor
	defer func() {
		for _, x := range ids {
			x.MustDrop()
		}
	}()
	for _, src := range sources {
		e, err := Photometric(src, target)
		if err != nil {
			return nil, err
		}
		ids = append(ids, e)
	}
	var total *ts.Tensor
	add := func(x *ts.Tensor, wt float64) error {
		ws := ts.FloatScalar(wt)
		defer ws.MustDrop()
		sx, err := x.MulScalar(ws, false) // x stays the caller's
		if err != nil {
			return err
		}
		if total == nil {
			total = sx
			return nil
		}
		n, err := total.Add(sx, true)
		sx.MustDrop()
		total = n
		return err
	}
	for s, disp := range disps {
		err := func() error {
			up, err := UpsampleToInput(disp, h, w)
			if err != nil {
				return err
			}
			defer up.MustDrop()
			depth, err := up.Reciprocal(false) // stand-in for DispToDepth
			if err != nil {
				return err
			}
			defer depth.MustDrop()
			warped, valid, err := ViewSynthesis(target, sources, depth, K, invK, T)
			if err != nil {
				return err
			}
			var errs []*ts.Tensor
			defer func() {
				for i := range warped {
					warped[i].MustDrop()
					valid[i].MustDrop()
				}
				for _, e := range errs {
					e.MustDrop()
				}
			}()
			for i := range warped {
				e, err := Photometric(warped[i], target)
				if err != nil {
					return err
				}
				m, err := MaskOutside(e, valid[i])
				e.MustDrop()
				if err != nil {
					return err
				}
				errs = append(errs, m)
			}
			lm, mask, err := MinReprojection(errs, ids, true)
			if err != nil {
				return err
			}
			defer lm.MustDrop()
			defer mask.MustDrop()
			photo, err := MaskedMean(lm, mask)
			if err != nil {
				return err
			}
			if err := add(photo, 1/float64(len(disps))); err != nil {
				return err
			}
			photo.MustDrop()
			sz, _ := disp.Size()
			img, err := target.UpsampleBilinear2d([]int64{sz[2], sz[3]}, false, nil, nil, false)
			if err != nil {
				return err
			}
			defer img.MustDrop()
			sm, err := Smoothness(disp, img)
			if err != nil {
				return err
			}
			defer sm.MustDrop()
			return add(sm, 1e-3*SmoothnessScaleWeight(s)/float64(len(disps)))
		}()
		if err != nil {
			if total != nil {
				total.MustDrop()
			}
			return nil, err
		}
	}
	return total, nil
}

// lossSetup makes a batch for monodepthLoss: 2 sources (3 frames), 4 scales,
// disparities requiring grad, forward motion of 0.1 m.
type lossSetup struct {
	target  *ts.Tensor
	sources []*ts.Tensor
	disps   []*ts.Tensor
	K, invK *ts.Tensor
	T       []*ts.Tensor
	h, w    int
}

func newLossSetup(t testing.TB, b, h, w int) *lossSetup {
	r := rand.New(rand.NewSource(6))
	B, H, W := int64(b), int64(h), int64(w)
	s := &lossSetup{h: h, w: w}
	s.target = tensor(t, randImage(r, b*3*h*w), B, 3, H, W)
	for i := 0; i < 2; i++ {
		s.sources = append(s.sources, tensor(t, randImage(r, b*3*h*w), B, 3, H, W))
	}
	for sc := 0; sc < 4; sc++ {
		n := (h >> sc) * (w >> sc)
		v := make([]float32, b*n)
		for i := range v {
			v[i] = 0.05 + 0.2*r.Float32()
		}
		d := tensor(t, v, B, 1, H>>sc, W>>sc)
		if err := d.RequiresGrad_(true); err != nil {
			t.Fatal(err)
		}
		s.disps = append(s.disps, d)
	}
	s.K, s.invK = testCamera(t, 0.6*float64(w), w, h)
	for _, z := range []float64{-0.1, 0.1} {
		p := msgs.Identity()
		p.T[2] = z
		T, err := perception.PoseTensor([]msgs.Pose{p}, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(T.MustDrop)
		s.T = append(s.T, T)
	}
	return s
}

// step runs the loss forward and backward and clears the gradients.
func (s *lossSetup) step() (float64, error) {
	l, err := monodepthLoss(s.target, s.sources, s.disps, s.K, s.invK, s.T, s.h, s.w)
	if err != nil {
		return 0, err
	}
	defer l.MustDrop()
	if err := l.Backward(); err != nil {
		return 0, err
	}
	for _, d := range s.disps {
		d.ZeroGrad()
	}
	return l.Float64Values()[0], nil
}

func TestLossMemoryFlat(t *testing.T) {
	torchtest.LockThread(t)
	s := newLossSetup(t, 1, 32, 64)
	for i := 0; i < 20; i++ {
		if _, err := s.step(); err != nil {
			t.Fatal(err)
		}
	}
	// Settled readings: earlier tests in the package leave freed but
	// resident memory in glibc's arenas and the Go heap, which the loop's
	// own allocations may or may not reuse (+16 MiB seen without settling).
	before := memtest.SettledRSS(t)
	for i := 0; i < 150; i++ {
		if _, err := s.step(); err != nil {
			t.Fatal(err)
		}
	}
	after := memtest.SettledRSS(t)
	growth := after - before
	t.Logf("RSS %d KiB -> %d KiB after 150 full-loss steps (%+d KiB)", before>>10, after>>10, growth>>10)
	// One leaked 32x64 map is 8 KiB a step, 1.2 MiB over the loop; the
	// allowance covers gotch's few-byte per-op result slots (perception's
	// memory tests).
	if growth > 6<<20 {
		t.Errorf("RSS grew by %d KiB over 150 steps", growth>>10)
	}
}

func writeTensor(t testing.TB, dir, name string, x *ts.Tensor) []int64 {
	t.Helper()
	sz, err := x.Size()
	if err != nil {
		t.Fatal(err)
	}
	v := values(t, x)
	buf := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(float32(f)))
	}
	if err := os.WriteFile(filepath.Join(dir, name+".bin"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return sz
}

func readFloats(t testing.TB, path string) []float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float64, len(b)/4)
	for i := range v {
		v[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return v
}

// TestLossesMatchPyTorchReference recomputes SSIM, Photometric,
// MinReprojection with automask and Smoothness in PyTorch
// (scripts/reference_losses.py, Monodepth2's formulas) on the same inputs.
func TestLossesMatchPyTorchReference(t *testing.T) {
	torchtest.LockThread(t)
	r := rand.New(rand.NewSource(7))
	const b, h, w = 2, 10, 14
	pred := tensor(t, randImage(r, b*3*h*w), b, 3, h, w)
	target := tensor(t, randImage(r, b*3*h*w), b, 3, h, w)
	src2 := tensor(t, randImage(r, b*3*h*w), b, 3, h, w)
	idn := tensor(t, randImage(r, b*3*h*w), b, 3, h, w)
	dv := randImage(r, b*h*w)
	for i := range dv {
		dv[i] = 0.05 + dv[i]
	}
	disp := tensor(t, dv, b, 1, h, w)
	e1 := owned(t)(Photometric(pred, target))
	e2 := owned(t)(Photometric(src2, target))
	ei := owned(t)(Photometric(idn, target))
	lm, mask, err := MinReprojection([]*ts.Tensor{e1, e2}, []*ts.Tensor{ei}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lm.MustDrop)
	t.Cleanup(mask.MustDrop)
	got := map[string]*ts.Tensor{
		"ssim":       owned(t)(SSIM(pred, target)),
		"photo":      e1,
		"minreproj":  lm,
		"automask":   mask,
		"masked":     owned(t)(MaskedMean(lm, mask)),
		"smoothness": owned(t)(Smoothness(disp, target)),
	}
	matchReference(t, "reference_losses.py",
		map[string]*ts.Tensor{"pred": pred, "target": target, "src2": src2, "ident": idn, "disp": disp}, got)
}

// matchReference writes inputs for scripts/<script>, runs it with Debian's
// python3-torch and checks each of got against the reference's
// ref_<name>.bin: to 1e-5, relative to the value where it is above 1.
func matchReference(t *testing.T, script string, inputs, got map[string]*ts.Tensor) {
	t.Helper()
	py := torchtest.Python(t)
	dir := t.TempDir()
	shapes := map[string][]int64{}
	for name, x := range inputs {
		shapes[name] = writeTensor(t, dir, name, x)
	}
	js, _ := json.Marshal(shapes)
	if err := os.WriteFile(filepath.Join(dir, "shapes.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, filepath.Join("..", "scripts", script), dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", py, script, err, out)
	}
	for name, x := range got {
		gv := values(t, x)
		rv := readFloats(t, filepath.Join(dir, "ref_"+name+".bin"))
		if len(gv) != len(rv) {
			t.Fatalf("%s: %d values, reference %d", name, len(gv), len(rv))
		}
		d := 0.0
		for i := range gv {
			d = math.Max(d, math.Abs(gv[i]-rv[i])/math.Max(1, math.Abs(rv[i])))
		}
		t.Logf("%s: max |Go - PyTorch| = %.3g (relative above 1) over %d values; first Go %g, PyTorch %g", name, d, len(gv), gv[0], rv[0])
		if d >= 1e-5 {
			t.Errorf("%s: max diff %g >= 1e-5", name, d)
		}
	}
}
