package learner

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// The names of UnFlow's loss terms.
const (
	TermCensus       = "census"
	TermFBConsistent = "fb_consistency"
	TermOcclusion    = "occlusion"
	TermSmooth2      = "smoothness2"
)

// UnFlow's constants (Meister et al. 2018): the forward-backward check
// marks a pixel occluded where |f + f_b(p+f)|² > α1(|f|²+|f_b(p+f)|²) + α2.
const (
	FBAlpha1 = 0.01
	FBAlpha2 = 0.5
	// CensusSize is the side of the census transform's window.
	CensusSize = 7
)

// UnFlow is the unsupervised optical flow objective of Meister et al.
// 2018 for the flow sub-network: the flow is estimated forward (target to
// next frame) and backward in one batch; pixels where the two disagree are
// occluded (FBMask) and left out of the data term, the Charbonnier
// penalty of the soft Hamming distance between the 7x7 census transforms
// of the target and of the next frame warped back by the flow (robust to
// the exposure drift a photometric L1 is not); a
// forward-backward consistency term and an edge-aware second-order
// smoothness term complete it. Every pyramid level is scored at its own
// resolution on the images averaged down to it, weighed as UnFlow weighs
// its levels (the finest most), and the data terms are normalised by all
// pixels, so an occluded pixel pays OcclusionWeight instead of its data
// term.
// Zero fields take the documented defaults.
type UnFlow struct {
	// Net is the flow sub-network's name. It defaults to perception.NetFlow.
	Net string
	// SmoothWeight weighs the second-order smoothness. It defaults to 3
	// (UnFlow's 3.0 for its census loss); negative turns it off.
	SmoothWeight float64
	// FBWeight weighs forward-backward consistency on visible pixels. It
	// defaults to 0.2 (UnFlow's 0.2); negative turns it off.
	FBWeight float64
	// OcclusionWeight is what a pixel marked occluded costs, against the
	// census term it is spared (about 10-30 for a mismatch): the share of
	// occluded pixels is weighed by it, and the data terms are normalised
	// by all pixels, so a pixel is worth masking only where its data term
	// exceeds this (UnFlow's normalisation; before, the data term was a
	// mean over the visible pixels and every pixel ended up occluded
	// within 5 steps). The mask has no gradient, so this term does not
	// steer training itself; it keeps a model that masks much from
	// looking good in the loss and the online guard. It defaults to 12.4
	// (UnFlow's); negative turns it off.
	OcclusionWeight float64
	// NoOcclusion turns the occlusion masks off (UnFlow-C without -CS).
	NoOcclusion bool
}

func (o UnFlow) filled() UnFlow {
	if o.Net == "" {
		o.Net = perception.NetFlow
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
		if *v < 0 {
			*v = 0
		}
	}
	def(&o.SmoothWeight, 3)
	def(&o.FBWeight, 0.2)
	def(&o.OcclusionWeight, 12.4)
	return o
}

// Validate checks the weights are finite.
func (o UnFlow) Validate() error {
	for _, v := range []float64{o.SmoothWeight, o.FBWeight, o.OcclusionWeight} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: unflow weight %v (want finite)", ErrTrainConfig, v)
		}
	}
	return nil
}

// Name is "unflow".
func (o UnFlow) Name() string { return "unflow" }

// Needs the next frame.
func (o UnFlow) Needs() Needs { return Needs{Next: true} }

// Trains the flow network.
func (o UnFlow) Trains(cfg perception.ModelConfig) ([]string, error) {
	o = o.filled()
	return []string{o.Net}, requireNets(o.Name(), cfg, o.Net)
}

// GuardTerm is the census data term.
func (o UnFlow) GuardTerm() string { return TermCensus }

// Loss runs the flow network both ways and builds UnFlow's loss.
func (o UnFlow) Loss(s *perception.Scope, m *perception.Model, bt *Batch) (Loss, error) {
	o = o.filled()
	net, _ := m.Net(o.Net).(*perception.FlowNet)
	if net == nil {
		return Loss{}, fmt.Errorf("%w: objective %s: the model has no flow network %q (%v)", ErrTrainConfig, o.Name(), o.Net, m.Config().Names())
	}
	if bt.Next == nil {
		return Loss{}, fmt.Errorf("%w: objective %s needs the next frame", ErrTrainInput, o.Name())
	}
	// One forward for both directions: a = [t; t+1], b = [t+1; t].
	a := s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*bt.Target, *bt.Next}, 0) })
	b := s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*bt.Next, *bt.Target}, 0) })
	if s.Err() != nil {
		return Loss{}, s.Err()
	}
	flows, err := net.Forward(a, b)
	if err != nil {
		return Loss{}, err
	}
	s.Add(flows...)
	return o.terms(s, a, b, flows, true)
}

// terms builds UnFlow's loss of flows (one per pyramid level, [N,2,h,w] in
// input pixels) from a to b, both [N,3,H,W]. With bidir the batch holds
// both directions, a = [t; t+1] and b = [t+1; t], and the occlusion and
// forward-backward terms pair each half with the other; without it (a
// flow given in one direction only, as a test's ground truth) there are
// only the census and smoothness terms.
func (o UnFlow) terms(s *perception.Scope, a, b *ts.Tensor, flows []*ts.Tensor, bidir bool) (Loss, error) {
	o = o.filled()
	sz, err := shape4("UnFlow", "image", a)
	if err != nil {
		return Loss{}, err
	}
	H, W := sz[2], sz[3]
	B := sz[0] / 2
	var census, fbc, occ, smooth *ts.Tensor
	add := func(acc, x *ts.Tensor, w float64) *ts.Tensor {
		x = s.Do(func() (*ts.Tensor, error) { return x.MulScalar(s.Scalar(w), false) })
		if acc == nil {
			return x
		}
		return s.Do(func() (*ts.Tensor, error) { return acc.Add(x, false) })
	}
	// allMean is the mean over every pixel of x where mask is 1 (0
	// elsewhere), as UnFlow normalises: a pixel masked out saves its data
	// term but not its share, so marking pixels occluded is not free.
	allMean := func(x, mask *ts.Tensor) *ts.Tensor {
		m := s.Do(func() (*ts.Tensor, error) { return x.Mul(mask, false) })
		return s.Do(func() (*ts.Tensor, error) { return m.Mean(gotch.Float, false) })
	}
	for sc := 0; sc < len(flows) && s.Err() == nil; sc++ {
		fs, err := shape4("UnFlow", "flow", flows[sc])
		if err != nil {
			return Loss{}, err
		}
		// Each level is scored at its own resolution, on the images
		// averaged down to it, as UnFlow does: a coarse level's census
		// window spans many input pixels, so its gradient reaches a match
		// several pixels away that the finest level cannot see.
		h, w := fs[2], fs[3]
		if h == 0 || w == 0 || H%h != 0 || W%w != 0 || H/h != W/w {
			return Loss{}, fmt.Errorf("%w: UnFlow: flow level %dx%d does not divide the image %dx%d", ErrLossInput, w, h, W, H)
		}
		k := H / h
		al, bl := a, b
		if k > 1 {
			al = s.Do(func() (*ts.Tensor, error) {
				return a.AvgPool2d([]int64{k, k}, []int64{k, k}, []int64{0, 0}, false, true, nil, false)
			})
			bl = s.Do(func() (*ts.Tensor, error) {
				return b.AvgPool2d([]int64{k, k}, []int64{k, k}, []int64{0, 0}, false, true, nil, false)
			})
		}
		f := s.Do(func() (*ts.Tensor, error) { return flows[sc].MulScalar(s.Scalar(1/float64(k)), false) })
		lw := unflowLevelWeight(sc, len(flows))
		visible := s.Do(func() (*ts.Tensor, error) { return InBounds(f) })
		var warpedOther *ts.Tensor
		if bidir {
			// The other direction's flow, [t+1; t] order swapped to line up.
			fw := s.Do(func() (*ts.Tensor, error) { return f.Narrow(0, 0, B, false) })
			bw := s.Do(func() (*ts.Tensor, error) { return f.Narrow(0, B, B, false) })
			other := s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*bw, *fw}, 0) })
			warpedOther = s.Do(func() (*ts.Tensor, error) { return perception.WarpFlow(other, f) })
		}
		if bidir && !o.NoOcclusion {
			fb := s.Do(func() (*ts.Tensor, error) { return FBMask(f, warpedOther) })
			frac := s.Do(func() (*ts.Tensor, error) { return fb.Mean(gotch.Float, false) })
			frac = s.Do(func() (*ts.Tensor, error) { return frac.Neg(false) })
			frac = s.Do(func() (*ts.Tensor, error) { return frac.AddScalar(s.Scalar(1), false) })
			occ = add(occ, frac, lw)
			visible = s.Do(func() (*ts.Tensor, error) { return visible.Mul(fb, false) })
		}
		ca := s.Do(func() (*ts.Tensor, error) { return Census(al) })
		wb := s.Do(func() (*ts.Tensor, error) { return perception.WarpFlow(bl, f) })
		cw := s.Do(func() (*ts.Tensor, error) { return Census(wb) })
		d := s.Do(func() (*ts.Tensor, error) { return CensusDistance(ca, cw) })
		d = s.Do(func() (*ts.Tensor, error) { return charbonnier(d) })
		census = add(census, allMean(d, visible), lw)
		if bidir && o.FBWeight > 0 {
			sum := s.Do(func() (*ts.Tensor, error) { return f.Add(warpedOther, false) })
			c := s.Do(func() (*ts.Tensor, error) { return charbonnier(sum) })
			c = s.Do(func() (*ts.Tensor, error) { return c.SumDimIntlist([]int64{1}, true, gotch.Float, false) })
			fbc = add(fbc, allMean(c, visible), lw)
		}
		if o.SmoothWeight > 0 && h >= 3 && w >= 3 {
			sm := s.Do(func() (*ts.Tensor, error) { return SecondOrderSmoothness(f, al) })
			smooth = add(smooth, sm, lw)
		}
	}
	if s.Err() != nil {
		return Loss{}, s.Err()
	}
	scale := func(x *ts.Tensor, w float64) *ts.Tensor {
		return s.Do(func() (*ts.Tensor, error) { return x.MulScalar(s.Scalar(w), false) })
	}
	total := census
	terms := []Term{{TermCensus, census}}
	for _, x := range []struct {
		name string
		v    *ts.Tensor
		w    float64
	}{{TermFBConsistent, fbc, o.FBWeight}, {TermOcclusion, occ, o.OcclusionWeight}, {TermSmooth2, smooth, o.SmoothWeight}} {
		if x.v == nil || x.w == 0 {
			continue
		}
		v := scale(x.v, x.w)
		total = s.Do(func() (*ts.Tensor, error) { return total.Add(v, false) })
		terms = append(terms, Term{x.name, v})
	}
	return Loss{Total: total, Terms: terms}, s.Err()
}

// unflowLevels are UnFlow's weights of its pyramid levels, finest first.
var unflowLevels = [...]float64{12.7, 4.35, 3.9, 3.4, 1.1}

// unflowLevelWeight is the weight of level l (0 the finest) of n: UnFlow's,
// divided by the sum over the n levels so the loss keeps the scale of one
// level; levels beyond UnFlow's five take the coarsest's.
func unflowLevelWeight(l, n int) float64 {
	w := func(i int) float64 { return unflowLevels[min(i, len(unflowLevels)-1)] }
	sum := 0.0
	for i := range n {
		sum += w(i)
	}
	return w(l) / sum
}

// charbonnier is UnFlow's robust penalty (x² + 0.001²)^0.45 per element.
func charbonnier(x *ts.Tensor) (*ts.Tensor, error) {
	s := perception.NewScope("charbonnier")
	defer s.Free()
	q := s.Do(func() (*ts.Tensor, error) { return x.Mul(x, false) })
	q = s.Do(func() (*ts.Tensor, error) { return q.AddScalar(s.Scalar(1e-6), false) })
	out := s.Do(func() (*ts.Tensor, error) { return q.PowTensorScalar(s.Scalar(0.45), false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// censusKernel is the [48,1,7,7] convolution that gives, for every pixel,
// each neighbour of the 7x7 window minus the pixel itself.
func censusKernel(dev gotch.Device) (*ts.Tensor, error) {
	const n = CensusSize * CensusSize
	c := n / 2
	w := make([]float32, 0, (n-1)*n)
	for k := 0; k < n; k++ {
		if k == c {
			continue
		}
		row := make([]float32, n)
		row[k] = 1
		row[c] = -1
		w = append(w, row...)
	}
	return perception.FloatTensor(w, []int64{n - 1, 1, CensusSize, CensusSize}, dev)
}

// Census returns the soft census transform of images [B,3,H,W] in [0,1],
// [B,48,H,W]: for each neighbour of the 7x7 window of the grey image (in
// 0..255), d/sqrt(0.81 + d²) with d the neighbour minus the centre, as
// UnFlow computes it (zero padding at the border).
func Census(img *ts.Tensor) (out *ts.Tensor, err error) {
	const fn = "Census"
	defer perception.Recover("learner", fn, &err)
	sz, err := shape4(fn, "image", img)
	if err != nil {
		return nil, err
	}
	if sz[1] != 3 {
		return nil, fmt.Errorf("%w: %s: image has %d channels, want 3", ErrLossInput, fn, sz[1])
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	grey := s.Do(func() (*ts.Tensor, error) { return img.MeanDim([]int64{1}, true, gotch.Float, false) })
	grey = s.Do(func() (*ts.Tensor, error) { return grey.MulScalar(s.Scalar(255), false) })
	k := s.Do(func() (*ts.Tensor, error) { return censusKernel(img.MustDevice()) })
	p := int64(CensusSize / 2)
	// gotch's Conv2d dereferences its bias: pass zeros.
	bias := s.Do(func() (*ts.Tensor, error) {
		return ts.Zeros([]int64{CensusSize*CensusSize - 1}, gotch.Float, img.MustDevice())
	})
	d := s.Do(func() (*ts.Tensor, error) {
		return ts.Conv2d(grey, k, bias, []int64{1, 1}, []int64{p, p}, []int64{1, 1}, 1)
	})
	q := s.Do(func() (*ts.Tensor, error) { return d.Mul(d, false) })
	q = s.Do(func() (*ts.Tensor, error) { return q.AddScalar(s.Scalar(0.81), false) })
	q = s.Do(func() (*ts.Tensor, error) { return q.Rsqrt(false) })
	out = s.Do(func() (*ts.Tensor, error) { return d.Mul(q, false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// CensusDistance is UnFlow's soft Hamming distance of two census
// transforms [B,48,H,W]: the sum over the window of (a-b)²/(0.1+(a-b)²),
// [B,1,H,W], 0 for equal windows, up to 48 for unrelated ones. A sum, as
// UnFlow's _hamming_distance: the data term is the Charbonnier penalty of
// it (UnFlow's weights — census 1, second-order smoothness 3 — assume
// that scale), and a mean over the 48 neighbours made it ~48x too weak
// against the smoothness, which then held the flow at zero.
func CensusDistance(a, b *ts.Tensor) (out *ts.Tensor, err error) {
	const fn = "CensusDistance"
	defer perception.Recover("learner", fn, &err)
	if _, err := sameShape(fn, "a", a, "b", b); err != nil {
		return nil, err
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	d := s.Do(func() (*ts.Tensor, error) { return a.Sub(b, false) })
	q := s.Do(func() (*ts.Tensor, error) { return d.Mul(d, false) })
	den := s.Do(func() (*ts.Tensor, error) { return q.AddScalar(s.Scalar(0.1), false) })
	r := s.Do(func() (*ts.Tensor, error) { return q.Div(den, false) })
	out = s.Do(func() (*ts.Tensor, error) { return r.SumDimIntlist([]int64{1}, true, gotch.Float, false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// FBMask is UnFlow's forward-backward check: 1 where a pixel's flow f and
// the other direction's flow at its destination, fb (WarpFlow of the
// backward flow by f), cancel, |f+fb|² <= α1(|f|²+|fb|²) + α2, else 0
// (occluded), [B,1,H,W], without gradient.
func FBMask(f, fb *ts.Tensor) (out *ts.Tensor, err error) {
	const fn = "FBMask"
	defer perception.Recover("learner", fn, &err)
	sz, err := sameShape(fn, "f", f, "fb", fb)
	if err != nil {
		return nil, err
	}
	if sz[1] != 2 {
		return nil, fmt.Errorf("%w: %s: flows have %d channels, want 2", ErrLossInput, fn, sz[1])
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	sq := func(x *ts.Tensor) *ts.Tensor {
		y := s.Do(func() (*ts.Tensor, error) { return x.Mul(x, false) })
		return s.Do(func() (*ts.Tensor, error) { return y.SumDimIntlist([]int64{1}, true, gotch.Float, false) })
	}
	fd := s.Do(func() (*ts.Tensor, error) { return f.Detach(false) })
	bd := s.Do(func() (*ts.Tensor, error) { return fb.Detach(false) })
	sum := s.Do(func() (*ts.Tensor, error) { return fd.Add(bd, false) })
	lhs := sq(sum)
	mag := s.Do(func() (*ts.Tensor, error) { return sq(fd).Add(sq(bd), false) })
	rhs := s.Do(func() (*ts.Tensor, error) { return mag.MulScalar(s.Scalar(FBAlpha1), false) })
	rhs = s.Do(func() (*ts.Tensor, error) { return rhs.AddScalar(s.Scalar(FBAlpha2), false) })
	le := s.Do(func() (*ts.Tensor, error) { return lhs.LeTensor(rhs, false) })
	out = s.Do(func() (*ts.Tensor, error) { return le.Totype(gotch.Float, false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// InBounds is 1 where p + flow lies inside the image, [B,1,H,W], without
// gradient: pixels that leave the frame have no data term.
func InBounds(flow *ts.Tensor) (out *ts.Tensor, err error) {
	const fn = "InBounds"
	defer perception.Recover("learner", fn, &err)
	sz, err := shape4(fn, "flow", flow)
	if err != nil {
		return nil, err
	}
	if sz[1] != 2 {
		return nil, fmt.Errorf("%w: %s: flow has %d channels, want 2", ErrLossInput, fn, sz[1])
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	H, W := sz[2], sz[3]
	fd := s.Do(func() (*ts.Tensor, error) { return flow.Detach(false) })
	dev := flow.MustDevice()
	xs := make([]float32, 2*H*W)
	for y := int64(0); y < H; y++ {
		for x := int64(0); x < W; x++ {
			xs[y*W+x] = float32(x) + 0.5
			xs[H*W+y*W+x] = float32(y) + 0.5
		}
	}
	base := s.Do(func() (*ts.Tensor, error) { return perception.FloatTensor(xs, []int64{1, 2, H, W}, dev) })
	p := s.Do(func() (*ts.Tensor, error) { return fd.Add(base, false) })
	px := s.Do(func() (*ts.Tensor, error) { return p.Narrow(1, 0, 1, false) })
	py := s.Do(func() (*ts.Tensor, error) { return p.Narrow(1, 1, 1, false) })
	in := func(v *ts.Tensor, hi float64) *ts.Tensor {
		a := s.Do(func() (*ts.Tensor, error) { return v.Ge(s.Scalar(0), false) })
		b := s.Do(func() (*ts.Tensor, error) { return v.Le(s.Scalar(hi), false) })
		a = s.Do(func() (*ts.Tensor, error) { return a.Totype(gotch.Float, false) })
		b = s.Do(func() (*ts.Tensor, error) { return b.Totype(gotch.Float, false) })
		return s.Do(func() (*ts.Tensor, error) { return a.Mul(b, false) })
	}
	out = s.Do(func() (*ts.Tensor, error) { return in(px, float64(W)).Mul(in(py, float64(H)), false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// SecondOrderSmoothness is UnFlow's second-order smoothness of a flow
// [B,2,H,W] made edge-aware as Monodepth2's (weights exp(-|∇I|) of the
// image [B,3,H,W] mean over channels): the mean of |f(x-1) - 2f(x) +
// f(x+1)| along x and along y, a scalar. A flow that is affine in the image
// (a plane's motion, a zoom) costs nothing, so it does not flatten the
// expansion of approaching surfaces as a first-order term does.
func SecondOrderSmoothness(flow, img *ts.Tensor) (out *ts.Tensor, err error) {
	const fn = "SecondOrderSmoothness"
	defer perception.Recover("learner", fn, &err)
	fs, err := shape4(fn, "flow", flow)
	if err != nil {
		return nil, err
	}
	is, err := shape4(fn, "image", img)
	if err != nil {
		return nil, err
	}
	if fs[0] != is[0] || fs[2] != is[2] || fs[3] != is[3] || fs[2] < 3 || fs[3] < 3 {
		return nil, fmt.Errorf("%w: %s: flow %v and image %v (want one size, at least 3x3)", ErrLossInput, fn, fs, is)
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	H, W := fs[2], fs[3]
	term := func(dim int64, n int64) *ts.Tensor {
		a := s.Do(func() (*ts.Tensor, error) { return flow.Narrow(dim, 0, n-2, false) })
		b := s.Do(func() (*ts.Tensor, error) { return flow.Narrow(dim, 1, n-2, false) })
		c := s.Do(func() (*ts.Tensor, error) { return flow.Narrow(dim, 2, n-2, false) })
		d2 := s.Do(func() (*ts.Tensor, error) { return a.Add(c, false) })
		b2 := s.Do(func() (*ts.Tensor, error) { return b.MulScalar(s.Scalar(2), false) })
		d2 = s.Do(func() (*ts.Tensor, error) { return d2.Sub(b2, false) })
		d2 = s.Do(func() (*ts.Tensor, error) { return d2.Abs(false) })
		d2 = s.Do(func() (*ts.Tensor, error) { return d2.MeanDim([]int64{1}, true, gotch.Float, false) })
		ia := s.Do(func() (*ts.Tensor, error) { return img.Narrow(dim, 0, n-2, false) })
		ic := s.Do(func() (*ts.Tensor, error) { return img.Narrow(dim, 2, n-2, false) })
		g := s.Do(func() (*ts.Tensor, error) { return ia.Sub(ic, false) })
		g = s.Do(func() (*ts.Tensor, error) { return g.Abs(false) })
		g = s.Do(func() (*ts.Tensor, error) { return g.MeanDim([]int64{1}, true, gotch.Float, false) })
		g = s.Do(func() (*ts.Tensor, error) { return g.MulScalar(s.Scalar(-10), false) })
		g = s.Do(func() (*ts.Tensor, error) { return g.Exp(false) })
		m := s.Do(func() (*ts.Tensor, error) { return d2.Mul(g, false) })
		return s.Do(func() (*ts.Tensor, error) { return m.Mean(gotch.Float, false) })
	}
	tx, ty := term(3, W), term(2, H)
	out = s.Do(func() (*ts.Tensor, error) { return tx.Add(ty, false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}
