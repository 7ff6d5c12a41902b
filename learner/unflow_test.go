package learner

import (
	"math"
	"math/rand"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/internal/torchtest"
	"github.com/parallax-robotics/parallax/perception"
)

// shiftedPair returns a smooth random image [1,3,h,w] and the same image
// shifted right by k pixels (the next frame of a scene moving right by k).
func shiftedPair(t *testing.T, w, h, k int) (a, b *ts.Tensor) {
	r := rand.New(rand.NewSource(4))
	big := make([]float32, 3*h*(w+k))
	for i := range big {
		big[i] = r.Float32()
	}
	pa := make([]float32, 3*h*w)
	pb := make([]float32, 3*h*w)
	for c := 0; c < 3; c++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				pa[(c*h+y)*w+x] = big[(c*h+y)*(w+k)+x+k]
				pb[(c*h+y)*w+x] = big[(c*h+y)*(w+k)+x]
			}
		}
	}
	return tensor(t, pa, 1, 3, int64(h), int64(w)), tensor(t, pb, 1, 3, int64(h), int64(w))
}

// The census of a shifted image is the shifted census: warping the next
// frame back by the true flow gives zero census distance away from the
// borders, and a wrong flow does not.
func TestCensusShifted(t *testing.T) {
	torchtest.LockThread(t)
	const w, h, k = 24, 16, 3
	a, b := shiftedPair(t, w, h, k)
	flow := func(dx float32) *ts.Tensor {
		v := make([]float32, 2*h*w)
		for i := 0; i < h*w; i++ {
			v[i] = dx
		}
		return tensor(t, v, 1, 2, h, w)
	}
	ca := owned(t)(Census(a))
	interior := func(d *ts.Tensor) float64 {
		v := values(t, d)
		s, n := 0.0, 0
		for y := 3; y < h-3; y++ {
			for x := 3; x < w-3-k; x++ {
				s += v[y*w+x]
				n++
			}
		}
		return s / float64(n)
	}
	right := owned(t)(perception.WarpFlow(b, flow(k)))
	wrong := owned(t)(perception.WarpFlow(b, flow(0)))
	dRight := interior(owned(t)(CensusDistance(ca, owned(t)(Census(right)))))
	dWrong := interior(owned(t)(CensusDistance(ca, owned(t)(Census(wrong)))))
	t.Logf("census distance: true flow %.2g, zero flow %.3f", dRight, dWrong)
	if dRight > 1e-5 || dWrong < 0.2 {
		t.Errorf("census distance with the true shift %g (want 0), without %g (want > 0.2)", dRight, dWrong)
	}
	// Census is invariant to a brightness gain a photometric L1 is not
	// (up to its soft 0.81 term): a brighter copy stays close.
	bright := owned(t)(a.MulScalar(ts.FloatScalar(1.3), false))
	if d := maxAbs(values(t, owned(t)(CensusDistance(ca, owned(t)(Census(bright)))))); d > 0.05 {
		t.Errorf("census distance of a 1.3x brighter copy %g", d)
	}
	// Identity warp: WarpFlow by zero flow returns the image.
	if d := maxAbs(values(t, owned(t)(wrong.Sub(b, false)))); d > 1e-6 {
		t.Errorf("identity warp changes the image by %g", d)
	}
}

// FBMask on a known occlusion: a flow of +2 px with a backward flow of
// -2 px is consistent everywhere, except where the backward flow is 0 (the
// region the forward flow lands on is occluded); large consistent flows
// stay visible through the relative α1 term.
func TestFBMaskKnownOcclusion(t *testing.T) {
	torchtest.LockThread(t)
	const w, h = 10, 6
	fw := make([]float32, 2*h*w)
	bw := make([]float32, 2*h*w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fw[y*w+x], fw[h*w+y*w+x] = 2, 0
			bw[y*w+x] = -2
			if x >= 6 {
				bw[y*w+x] = 0 // occluded
			}
			if y == 0 {
				fw[y*w+x], bw[y*w+x] = 40, -40.5 // large and consistent
			}
		}
	}
	m := values(t, owned(t)(FBMask(tensor(t, fw, 1, 2, h, w), tensor(t, bw, 1, 2, h, w))))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			want := 1.0
			if x >= 6 && y > 0 {
				want = 0
			}
			if m[y*w+x] != want {
				t.Fatalf("mask at (%d,%d) = %g, want %g", x, y, m[y*w+x], want)
			}
		}
	}
	if _, err := FBMask(tensor(t, fw, 1, 2, h, w), tensor(t, fw[:h*w], 1, 1, h, w)); err == nil {
		t.Fatal("mismatched flows accepted")
	}
}

// Second-order smoothness is zero for an affine flow and positive for a
// kinked one.
func TestSecondOrderSmoothness(t *testing.T) {
	torchtest.LockThread(t)
	const w, h = 12, 8
	img := constant(t, 0.5, 1, 3, h, w)
	aff := make([]float32, 2*h*w)
	kink := make([]float32, 2*h*w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			aff[y*w+x], aff[h*w+y*w+x] = 0.3*float32(x)+0.1*float32(y), -0.2*float32(y)
			kink[y*w+x] = float32(math.Abs(float64(x) - 5))
		}
	}
	if v := values(t, owned(t)(SecondOrderSmoothness(tensor(t, aff, 1, 2, h, w), img)))[0]; v > 1e-6 {
		t.Errorf("affine flow costs %g", v)
	}
	if v := values(t, owned(t)(SecondOrderSmoothness(tensor(t, kink, 1, 2, h, w), img)))[0]; v < 0.01 {
		t.Errorf("kinked flow costs only %g", v)
	}
}

func TestFlowError(t *testing.T) {
	truth := []float32{10, 0, 1, 0, float32(math.NaN()), 0}
	pred := []float32{10, 4, 1, 0, 0, 0}
	m, err := FlowError(pred, truth, nil)
	if err != nil || m.Pixels != 2 || math.Abs(m.EPE-2) > 1e-9 || m.Fl != 0.5 {
		t.Fatalf("%+v %v", m, err)
	}
	m, err = FlowError(pred, truth, []uint8{0, 1, 1})
	if err != nil || m.Pixels != 1 || m.EPE != 0 {
		t.Fatalf("masked %+v %v", m, err)
	}
	if _, err := FlowError(pred[:4], truth, nil); err == nil {
		t.Fatal("mismatched lengths accepted")
	}
}
