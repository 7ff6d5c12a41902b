package perception

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// NetFlow is the conventional name of the optical flow sub-network.
const NetFlow = "flow"

// flowWidths are the channel widths of the flow encoder's 4 levels
// (strides 2, 4, 8, 16).
var flowWidths = map[string][4]int64{
	SizeSmall:   {12, 24, 32, 48},
	SizeDefault: {16, 32, 64, 96},
}

// flowLevels is the number of pyramid levels of FlowNet.
const flowLevels = pyramidLevels

// CorrRange is the largest displacement, in pixels of each pyramid level,
// of FlowNet's cost volume (PWC-Net's 4): (2*4+1)² = 81 channels; ±64
// input pixels at the coarsest level (stride 16), ±8 at the finest.
const CorrRange = 4

// corrChannels is the number of displacements the cost volume scores.
const corrChannels = (2*CorrRange + 1) * (2*CorrRange + 1)

// FlowConfig configures the optical flow network (kind "flow"). Its fields
// are part of the architecture a checkpoint records.
type FlowConfig struct {
	// Size picks the channel widths: "small" (12 .. 48) or "default"
	// (16 .. 96). It defaults to "default".
	Size string
}

func (c *FlowConfig) fill() {
	if c.Size == "" {
		c.Size = SizeDefault
	}
}

// Kind is "flow".
func (FlowConfig) Kind() string { return NetFlow }

// Filled returns c with defaults filled in.
func (c FlowConfig) Filled() NetConfig { c.fill(); return c }

// ArchDiff compares the widths.
func (c FlowConfig) ArchDiff(other NetConfig) string {
	o, ok := other.(FlowConfig)
	switch {
	case !ok:
		return fmt.Sprintf("kind %s != %s", c.Kind(), other.Kind())
	case c.Size != o.Size:
		return fmt.Sprintf("size %s != %s", c.Size, o.Size)
	}
	return ""
}

// Validate checks a filled configuration.
func (c FlowConfig) Validate() error {
	if _, ok := flowWidths[c.Size]; !ok {
		return fmt.Errorf("%w: flow size %q (want small or default)", ErrConfig, c.Size)
	}
	return nil
}

// Build makes a FlowNet.
func (c FlowConfig) Build(p *nn.Path, width, height int) (Net, error) { return NewFlowNet(p, c) }

func init() { RegisterNet(FlowConfig{}.Kind(), decodeAs[FlowConfig]) }

// FlowNet is a light PWC-Net-style optical flow network (Sun et al. 2018,
// as UnFlow's successors use it): a shared (siamese) 4-level feature
// pyramid of both images; coarse to fine, each level warps the second
// image's features by the upsampled flow of the level below, correlates
// them with the first image's features over ±CorrRange pixels of that
// level (PWC-Net's cost volume: without it the decoder sees two feature
// maps but not which displacement matches, and an unsupervised loss with
// no hint of the displacement settles on zero flow), concatenates the
// cost volume with the first image's features, the warped features and
// that flow, and a small decoder predicts the residual flow. It keeps a
// few hundred thousand parameters and is fast on a CPU.
type FlowNet struct {
	cfg FlowConfig
	enc pyramid
	dec [flowLevels]estimator
}

// NewFlowNet makes a flow network with its variables under p.
func NewFlowNet(p *nn.Path, cfg FlowConfig) (*FlowNet, error) {
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &FlowNet{cfg: cfg}
	w := flowWidths[cfg.Size]
	var err error
	if n.enc, err = newPyramid(p, w); err != nil {
		return nil, err
	}
	for l := range n.dec {
		// An untrained network predicts (nearly) zero flow, the best guess
		// without information, as the pose network starts near no motion.
		if n.dec[l], err = newEstimator(p.Sub(fmt.Sprintf("dec%d", l)), 2*w[l]+corrChannels+2, w[l], 2, "flow"); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Config returns the network's configuration with defaults filled in.
func (n *FlowNet) Config() FlowConfig { return n.cfg }

// NetConfig returns Config as a NetConfig.
func (n *FlowNet) NetConfig() NetConfig { return n.cfg }

// Forward takes two batches of frames a and b, each [B,3,H,W] float32 in
// [0,1] (H, W multiples of 32, at least 64), and returns the optical flow
// from a to b at flowLevels scales, finest first: [B,2,H/2,W/2] ..
// [B,2,H/16,W/16], each in pixels of the full input resolution (channel 0
// along x, 1 along y): pixel p of a shows what pixel p+flow of b shows.
// FlowFull upsamples the finest to the input size. The caller drops them.
func (n *FlowNet) Forward(a, b *ts.Tensor) (out []*ts.Tensor, err error) {
	sa, err := checkInput(a, 3)
	if err != nil {
		return nil, err
	}
	sb, err := checkInput(b, 3)
	if err != nil {
		return nil, err
	}
	for i := range sa {
		if sa[i] != sb[i] {
			return nil, fmt.Errorf("%w: flow inputs differ: %v and %v", ErrInputShape, sa, sb)
		}
	}
	defer Recover("perception", "flow forward", &err)
	s := NewScope("perception: flow forward")
	defer s.Free()
	B := sa[0]
	feats := n.enc.features(s, a, b, -1)
	out = make([]*ts.Tensor, flowLevels)
	var flow *ts.Tensor
	for l := flowLevels - 1; l >= 0 && s.Err() == nil; l-- {
		f := feats[l]
		fa := s.Do(func() (*ts.Tensor, error) { return f.Narrow(0, 0, B, false) })
		fb := s.Do(func() (*ts.Tensor, error) { return f.Narrow(0, B, B, false) })
		sz, err := fa.Size()
		if err != nil {
			return nil, err
		}
		scale := float64(int64(1) << uint(l+1)) // full-resolution pixels per pixel of this level
		if flow == nil {
			flow = s.Do(func() (*ts.Tensor, error) { return ts.Zeros([]int64{B, 2, sz[2], sz[3]}, gotch.Float, a.MustDevice()) })
		} else {
			flow = s.Do(func() (*ts.Tensor, error) {
				return flow.UpsampleBilinear2d([]int64{sz[2], sz[3]}, false, nil, nil, false)
			})
		}
		lvl := s.Do(func() (*ts.Tensor, error) { return flow.MulScalar(s.Scalar(1/scale), false) })
		wb := s.Do(func() (*ts.Tensor, error) { return WarpFlow(fb, lvl) })
		// The flow enters the decoder in units of this level's pixels,
		// scaled down so it stays O(1).
		fin := s.Do(func() (*ts.Tensor, error) { return lvl.MulScalar(s.Scalar(0.25), false) })
		// The cost volume of unit-length features is the cosine similarity
		// of each displacement (the mean over channels times C).
		ua := s.Do(func() (*ts.Tensor, error) { return unitChannels(fa) })
		ub := s.Do(func() (*ts.Tensor, error) { return unitChannels(wb) })
		cv := s.Do(func() (*ts.Tensor, error) { return Correlation(ua, ub, CorrRange) })
		cv = s.Do(func() (*ts.Tensor, error) { return cv.MulScalar(s.Scalar(float64(sz[1])), false) })
		h := s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*fa, *wb, *cv, *fin}, 1) })
		h = n.dec[l].forward(s, h)
		// The residual is predicted in this level's pixels.
		res := s.Do(func() (*ts.Tensor, error) { return h.MulScalar(s.Scalar(scale), false) })
		flow = s.Do(func() (*ts.Tensor, error) { return flow.Add(res, false) })
		out[l] = flow
	}
	if s.Err() != nil {
		return nil, s.Err()
	}
	for _, o := range out {
		s.Keep(o)
	}
	return out, nil
}

// FlowFull upsamples a flow [B,2,h,w] (in input pixels) bilinearly to
// [B,2,H,W]; the caller drops the result.
func FlowFull(flow *ts.Tensor, H, W int) (*ts.Tensor, error) {
	return flow.UpsampleBilinear2d([]int64{int64(H), int64(W)}, false, nil, nil, false)
}

// WarpFlow samples src [B,C,H,W] bilinearly at p + flow for every pixel p,
// flow [B,2,H,W] in pixels of src (border padding): the backward warp of
// optical flow, differentiable in src and flow. The caller drops the result.
func WarpFlow(src, flow *ts.Tensor) (out *ts.Tensor, err error) {
	const fn = "WarpFlow"
	defer Recover("perception", fn, &err)
	ss, err := geoShape(fn, "src", src)
	if err != nil {
		return nil, err
	}
	fs, err := geoShape(fn, "flow", flow)
	if err != nil {
		return nil, err
	}
	if len(ss) != 4 || len(fs) != 4 || fs[1] != 2 || fs[0] != ss[0] || fs[2] != ss[2] || fs[3] != ss[3] {
		return nil, fmt.Errorf("%w: %s: src %v and flow %v (want [B,C,H,W] and [B,2,H,W])", ErrGeometryShape, fn, geoDims(ss), geoDims(fs))
	}
	s := NewScope("perception: " + fn)
	defer s.Free()
	H, W := ss[2], ss[3]
	base := geoPixelCentres(s, H, W, src.MustDevice()) // [3,H*W]: x+0.5, y+0.5, 1
	xy := s.Do(func() (*ts.Tensor, error) { return base.Narrow(0, 0, 2, false) })
	xy = s.Do(func() (*ts.Tensor, error) { return xy.View([]int64{1, 2, H, W}, false) })
	p := s.Do(func() (*ts.Tensor, error) { return flow.Add(xy, false) })
	// Normalised coordinates for align_corners=false: 2*(u)/W - 1 with u
	// measured from the image's left edge.
	norm := make([]float32, 2)
	norm[0], norm[1] = float32(2/float64(W)), float32(2/float64(H))
	k := s.Do(func() (*ts.Tensor, error) { return FloatTensor(norm, []int64{1, 2, 1, 1}, src.MustDevice()) })
	g := s.Do(func() (*ts.Tensor, error) { return p.Mul(k, false) })
	g = s.Do(func() (*ts.Tensor, error) { return g.AddScalar(s.Scalar(-1), false) })
	g = s.Do(func() (*ts.Tensor, error) { return g.Permute([]int64{0, 2, 3, 1}, false) })
	out = s.Do(func() (*ts.Tensor, error) {
		return ts.GridSampler(src, g, gridSamplerBilinear, int64(PaddingBorder), false)
	})
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// Correlation is PWC-Net's cost volume: for features a and b [B,C,H,W] and
// every displacement (dx, dy) in [-r, r]², the mean over channels of
// a(p)·b(p+(dx,dy)) (zero outside b), [B,(2r+1)²,H,W] with displacement
// index (dy+r)*(2r+1) + dx+r. It is built with im2col (one op, gradients
// through libtorch) rather than a hand-written kernel: libtorch has no
// correlation op, and the coarse levels it runs on are small. The caller
// drops the result.
func Correlation(a, b *ts.Tensor, r int64) (out *ts.Tensor, err error) {
	const fn = "Correlation"
	defer Recover("perception", fn, &err)
	sa, err := geoShape(fn, "a", a)
	if err != nil {
		return nil, err
	}
	sb, err := geoShape(fn, "b", b)
	if err != nil {
		return nil, err
	}
	if len(sa) != 4 || len(sb) != 4 || sa[0] != sb[0] || sa[1] != sb[1] || sa[2] != sb[2] || sa[3] != sb[3] || r < 0 {
		return nil, fmt.Errorf("%w: %s: a %v and b %v, range %d (want one [B,C,H,W] size, range >= 0)", ErrGeometryShape, fn, geoDims(sa), geoDims(sb), r)
	}
	s := NewScope("perception: " + fn)
	defer s.Free()
	B, C, H, W := sa[0], sa[1], sa[2], sa[3]
	k := 2*r + 1
	// [B, C*k*k, H*W]: channel c*k*k + ky*k + kx holds b at p + (kx-r, ky-r).
	cols := s.Do(func() (*ts.Tensor, error) {
		return b.Im2col([]int64{k, k}, []int64{1, 1}, []int64{r, r}, []int64{1, 1}, false)
	})
	cols = s.Do(func() (*ts.Tensor, error) { return cols.View([]int64{B, C, k * k, H, W}, false) })
	av := s.Do(func() (*ts.Tensor, error) { return a.Unsqueeze(2, false) })
	prod := s.Do(func() (*ts.Tensor, error) { return cols.Mul(av, false) })
	out = s.Do(func() (*ts.Tensor, error) { return prod.MeanDim([]int64{1}, false, gotch.Float, false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// unitChannels scales each pixel's feature vector [B,C,H,W] to unit
// length (zero vectors stay near zero). The caller drops the result.
func unitChannels(x *ts.Tensor) (*ts.Tensor, error) {
	s := NewScope("perception: unitChannels")
	defer s.Free()
	q := s.Do(func() (*ts.Tensor, error) { return x.Mul(x, false) })
	q = s.Do(func() (*ts.Tensor, error) { return q.SumDimIntlist([]int64{1}, true, gotch.Float, false) })
	q = s.Do(func() (*ts.Tensor, error) { return q.AddScalar(s.Scalar(1e-6), false) })
	q = s.Do(func() (*ts.Tensor, error) { return q.Rsqrt(false) })
	out := s.Do(func() (*ts.Tensor, error) { return x.Mul(q, false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}
