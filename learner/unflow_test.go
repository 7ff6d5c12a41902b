package learner

import (
	"math"
	"math/rand"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/internal/torchtest"
	"github.com/parallax-robotics/parallax/msgs"
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
	// The distance sums over the 48 neighbours of the window.
	const nb = CensusSize*CensusSize - 1
	if dRight > 1e-5 || dWrong < 0.2*nb {
		t.Errorf("census distance with the true shift %g (want 0), without %g (want > %g)", dRight, dWrong, 0.2*nb)
	}
	// Census is invariant to a brightness gain a photometric L1 is not
	// (up to its soft 0.81 term): a brighter copy stays close.
	bright := owned(t)(a.MulScalar(ts.FloatScalar(1.3), false))
	if d := maxAbs(values(t, owned(t)(CensusDistance(ca, owned(t)(Census(bright)))))); d > 0.05*nb {
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

// UnFlow's loss is lower at the true flow than at zero flow on a real
// synthetic pair (ego-motion and 8 movers, the learning test's world), for
// the data term alone and for the total with the smoothness at its
// default weight (a loss whose minimum is not near the truth cannot learn
// it), and the data term outweighs the smoothness the truth pays.
func TestUnFlowTruthBeatsZero(t *testing.T) {
	torchtest.LockThread(t)
	const w, h = 128, 64
	d := testDrive(t, "synth://?seed=3&width=128&height=64&movers=8&fps=10")
	for _, i := range []int{10, 40} {
		fa, _, err := d.Frame(i)
		if err != nil {
			t.Fatal(err)
		}
		fb, _, err := d.Frame(i + 1)
		if err != nil {
			t.Fatal(err)
		}
		x, _, err := perception.FramesTensor([]*msgs.Frame{fa, fb}, w, h, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		defer x.MustDrop()
		a := owned(t)(x.Narrow(0, 0, 1, false))
		b := owned(t)(x.Narrow(0, 1, 1, false))
		truth := make([]float32, 2*w*h)
		var mean float64
		for p := 0; p < w*h; p++ {
			dx, dy := fa.Truth.Flow[2*p], fa.Truth.Flow[2*p+1]
			if math.IsNaN(float64(dx)) || math.IsNaN(float64(dy)) {
				continue
			}
			truth[p], truth[w*h+p] = dx, dy
			mean += math.Hypot(float64(dx), float64(dy)) / (w * h)
		}
		loss := func(flow []float32) (total, census float64) {
			s := perception.NewScope("test")
			defer s.Free()
			f := tensor(t, flow, 1, 2, h, w)
			l, err := UnFlow{}.terms(s, a, b, []*ts.Tensor{f}, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, term := range l.Terms {
				if term.Name == TermCensus {
					census = values(t, term.Value)[0]
				}
			}
			return values(t, l.Total)[0], census
		}
		tt, tc := loss(truth)
		zt, zc := loss(make([]float32, 2*w*h))
		t.Logf("frame %d (mean true flow %.2f px): loss at the truth %.3f (census %.3f), at zero flow %.3f (census %.3f)", i, mean, tt, tc, zt, zc)
		if mean < 1 {
			t.Fatalf("frame %d: mean true flow %.2f px: the pair barely moves", i, mean)
		}
		if tc > 0.7*zc || tt > 0.7*zt {
			t.Errorf("frame %d: loss at the true flow %.3f (census %.3f), want below 70%% of zero flow's %.3f (census %.3f)", i, tt, tc, zt, zc)
		}
		// Where the flow is right, the data term must dominate: what the
		// truth pays in smoothness (its motion boundaries) is a small part
		// of what aligning gains. With the census averaged over the window
		// (the earlier, 48x weaker data term) it was about 40% (0.11 of
		// 0.30 on these frames); summed, as UnFlow does, about 1%.
		if smooth, gain := tt-tc, zc-tc; smooth > 0.1*gain {
			t.Errorf("frame %d: the true flow's smoothness %.3f is over 10%% of its census gain %.3f: the data term is too weak", i, smooth, gain)
		}
	}
}

// TestCensusMatchesPyTorchReference recomputes the census transform, its
// soft Hamming distance, the Charbonnier data term and the
// forward-backward mask in PyTorch (scripts/reference_census.py, UnFlow's
// formulas, neighbourhoods by unfold instead of one-hot kernels).
func TestCensusMatchesPyTorchReference(t *testing.T) {
	torchtest.LockThread(t)
	r := rand.New(rand.NewSource(11))
	const b, h, w = 2, 12, 15
	a := tensor(t, randImage(r, b*3*h*w), b, 3, h, w)
	bb := tensor(t, randImage(r, b*3*h*w), b, 3, h, w)
	// Backward flows that cancel the forward one (0.1 px off) at about
	// half the pixels and miss it by 3 px elsewhere: far from the check's
	// threshold either way, so float rounding cannot flip a pixel.
	fv, bv := make([]float32, b*2*h*w), make([]float32, b*2*h*w)
	for i := range fv {
		fv[i] = 10 * (r.Float32() - 0.5)
		off := float32(0.1)
		if (i/(h*w))%2 == 0 && r.Intn(2) == 0 {
			off = 3
		}
		bv[i] = -fv[i] + off
	}
	f, fb := tensor(t, fv, b, 2, h, w), tensor(t, bv, b, 2, h, w)
	ca := owned(t)(Census(a))
	dist := owned(t)(CensusDistance(ca, owned(t)(Census(bb))))
	mask := owned(t)(FBMask(f, fb))
	if m := values(t, owned(t)(mask.Mean(gotch.Float, false))); m[0] < 0.2 || m[0] > 0.9 {
		t.Fatalf("FB mask keeps %.2f of the pixels: the inputs do not exercise both sides of the check", m[0])
	}
	matchReference(t, "reference_census.py", map[string]*ts.Tensor{"a": a, "b": bb, "f": f, "fb": fb},
		map[string]*ts.Tensor{"census": ca, "distance": dist, "data": owned(t)(charbonnier(dist)), "fbmask": mask})
}
