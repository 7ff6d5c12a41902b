package perception

import (
	"fmt"
	"math"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// NetStereo is the conventional name of the stereo matching sub-network.
const NetStereo = "stereo"

// StereoLevels is the number of pyramid levels of StereoNet (strides 2, 4,
// 8 and 16): each level with its disparity estimator is one MAD block.
const StereoLevels = pyramidLevels

// stereoWidths are the channel widths of the feature pyramid's levels.
var stereoWidths = map[string][StereoLevels]int64{
	SizeSmall:   {12, 24, 32, 48},
	SizeDefault: {16, 32, 64, 96},
}

// StereoResidualRange is the search range, in pixels of each finer level,
// of the residual cost volumes around the upsampled disparity of the level
// below (MADNet's ±2 would miss a 2-pixel error of the coarser level after
// the x2 upsampling; ±3 keeps a margin): 7 channels.
const StereoResidualRange = 3

// StereoConfig configures the stereo network (kind "stereo"). Its fields
// are part of the architecture a checkpoint records.
type StereoConfig struct {
	// Size picks the channel widths: "small" (12 .. 48) or "default"
	// (16 .. 96). It defaults to "default".
	Size string
	// CoarseRange is the number of disparities, 0 .. CoarseRange, the
	// coarsest level's cost volume scores, in pixels of that level (stride
	// 16): 12 covers 0 .. 192 input pixels, more than a third of a 320 or
	// 640 pixel wide input. It defaults to 12.
	CoarseRange int
}

func (c *StereoConfig) fill() {
	if c.Size == "" {
		c.Size = SizeDefault
	}
	if c.CoarseRange == 0 {
		c.CoarseRange = 12
	}
}

// Kind is "stereo".
func (StereoConfig) Kind() string { return NetStereo }

// Filled returns c with defaults filled in.
func (c StereoConfig) Filled() NetConfig { c.fill(); return c }

// ArchDiff compares the widths and the coarse range.
func (c StereoConfig) ArchDiff(other NetConfig) string {
	o, ok := other.(StereoConfig)
	switch {
	case !ok:
		return fmt.Sprintf("kind %s != %s", c.Kind(), other.Kind())
	case c.Size != o.Size:
		return fmt.Sprintf("size %s != %s", c.Size, o.Size)
	case c.CoarseRange != o.CoarseRange:
		return fmt.Sprintf("coarse range %d != %d", c.CoarseRange, o.CoarseRange)
	}
	return ""
}

// Validate checks a filled configuration.
func (c StereoConfig) Validate() error {
	if _, ok := stereoWidths[c.Size]; !ok {
		return fmt.Errorf("%w: stereo size %q (want small or default)", ErrConfig, c.Size)
	}
	if c.CoarseRange < 1 || c.CoarseRange > 64 {
		return fmt.Errorf("%w: stereo coarse range %d (want 1 to 64)", ErrConfig, c.CoarseRange)
	}
	return nil
}

// Build makes a StereoNet.
func (c StereoConfig) Build(p *nn.Path, width, height int) (Net, error) { return NewStereoNet(p, c) }

func init() { RegisterNet(StereoConfig{}.Kind(), decodeAs[StereoConfig]) }

// StereoNet is a light MADNet-style stereo network (Tonioni et al. 2019):
// a feature pyramid shared by both views (4 levels, strides 2 .. 16, two
// 3x3 convolutions and leaky ReLU each), and coarse to fine one disparity
// estimator per level. The coarsest level correlates the left features with
// the right ones shifted by every disparity 0 .. CoarseRange and starts
// from the soft-argmax of that cost volume (so the coarse answer is
// differentiable and bounded even untrained; an untrained network's random
// features are not discriminative enough for it to be right); each finer level warps the right features
// by the upsampled disparity, correlates over ±StereoResidualRange and
// predicts a residual from the left features, the cost volume and the
// disparity. No normalisation layer (online adaptation trains on batches
// of one to four).
//
// Block l (pyramid level l and its estimator, BlockVariables) is what MAD
// adapts in one step: ForwardBlock runs the levels down to l only and cuts
// the gradient at the block's inputs, so a step's backward pass and update
// touch that block alone.
type StereoNet struct {
	cfg StereoConfig
	enc pyramid
	dec [StereoLevels]estimator
}

// NewStereoNet makes a stereo network with its variables under p.
func NewStereoNet(p *nn.Path, cfg StereoConfig) (*StereoNet, error) {
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &StereoNet{cfg: cfg}
	w := stereoWidths[cfg.Size]
	var err error
	if n.enc, err = newPyramid(p, w); err != nil {
		return nil, err
	}
	for l := range n.dec {
		// Residuals start near zero: the untrained network answers with
		// roughly the coarse cost volume's soft-argmax.
		if n.dec[l], err = newEstimator(p.Sub(fmt.Sprintf("dec%d", l)), w[l]+n.costChannels(l)+1, w[l], 1, "disp"); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// costChannels is the number of disparities level l's cost volume scores.
func (n *StereoNet) costChannels(l int) int64 {
	if l == StereoLevels-1 {
		return int64(n.cfg.CoarseRange) + 1
	}
	return 2*StereoResidualRange + 1
}

// Config returns the network's configuration with defaults filled in.
func (n *StereoNet) Config() StereoConfig { return n.cfg }

// NetConfig returns Config as a NetConfig.
func (n *StereoNet) NetConfig() NetConfig { return n.cfg }

// BlockVariables reports whether the variable (its name inside the model,
// "stereo.enc2.conv0.weight", with the network's name net) belongs to MAD
// block l: pyramid level l ("enc<l>") or its estimator ("dec<l>").
func BlockVariables(net string, l int) func(name string) bool {
	enc, dec := fmt.Sprintf("%s.enc%d.", net, l), fmt.Sprintf("%s.dec%d.", net, l)
	return func(name string) bool { return strings.HasPrefix(name, enc) || strings.HasPrefix(name, dec) }
}

// Forward takes rectified left and right views [B,3,H,W] float32 in [0,1]
// (H, W multiples of 32, at least 64) and returns the left view's
// disparity at StereoLevels scales, finest first: [B,1,H/2,W/2] ..
// [B,1,H/16,W/16], each in pixels of the input (left pixel u shows what
// right pixel u - d shows). DispFull upsamples one to the input size. The
// caller drops them.
func (n *StereoNet) Forward(left, right *ts.Tensor) ([]*ts.Tensor, error) {
	return n.forward(left, right, -1)
}

// ForwardBlock is Forward for a MAD step on block l: levels finer than l are
// not computed (nil in the result), and the gradient is cut at the block's
// inputs (the features of level l-1 and the disparity of level l+1), so
// only block l's variables get a gradient from a loss on out[l].
func (n *StereoNet) ForwardBlock(left, right *ts.Tensor, l int) ([]*ts.Tensor, error) {
	if l < 0 || l >= StereoLevels {
		return nil, fmt.Errorf("%w: stereo block %d (want 0 to %d)", ErrConfig, l, StereoLevels-1)
	}
	return n.forward(left, right, l)
}

func (n *StereoNet) forward(left, right *ts.Tensor, block int) (out []*ts.Tensor, err error) {
	sa, err := checkInput(left, 3)
	if err != nil {
		return nil, err
	}
	sb, err := checkInput(right, 3)
	if err != nil {
		return nil, err
	}
	for i := range sa {
		if sa[i] != sb[i] {
			return nil, fmt.Errorf("%w: stereo inputs differ: %v and %v", ErrInputShape, sa, sb)
		}
	}
	defer Recover("perception", "stereo forward", &err)
	s := NewScope("perception: stereo forward")
	defer s.Free()
	B := sa[0]
	feats := n.enc.features(s, left, right, block)
	stop := 0
	if block >= 0 {
		stop = block
	}
	out = make([]*ts.Tensor, StereoLevels)
	var disp *ts.Tensor
	for l := StereoLevels - 1; l >= stop && s.Err() == nil; l-- {
		f := feats[l]
		fa := s.Do(func() (*ts.Tensor, error) { return f.Narrow(0, 0, B, false) })
		fb := s.Do(func() (*ts.Tensor, error) { return f.Narrow(0, B, B, false) })
		sz, err := fa.Size()
		if err != nil {
			return nil, err
		}
		scale := float64(int64(1) << uint(l+1)) // input pixels per pixel of this level
		ua := s.Do(func() (*ts.Tensor, error) { return centredUnit(fa) })
		var lvl, cv *ts.Tensor
		if disp == nil {
			// Coarsest: every disparity 0 .. R, and the soft-argmax of the
			// similarity (a sharp softmax: cosine similarities times 10).
			ub := s.Do(func() (*ts.Tensor, error) { return centredUnit(fb) })
			R := int64(n.cfg.CoarseRange)
			cv = s.Do(func() (*ts.Tensor, error) { return Correlation1D(ua, ub, -R, 0) })
			cv = s.Do(func() (*ts.Tensor, error) { return cv.MulScalar(s.Scalar(float64(sz[1])), false) })
			// Channel k scores displacement k-R, that is disparity R-k.
			cv = s.Do(func() (*ts.Tensor, error) { return cv.Flip([]int64{1}, false) })
			p := s.Do(func() (*ts.Tensor, error) { return cv.MulScalar(s.Scalar(stereoSharpness), false) })
			p = s.Do(func() (*ts.Tensor, error) { return p.Softmax(1, gotch.Float, false) })
			ds := s.Do(func() (*ts.Tensor, error) { return ts.Arange(s.Scalar(float64(R+1)), gotch.Float, left.MustDevice()) })
			ds = s.Do(func() (*ts.Tensor, error) { return ds.View([]int64{1, R + 1, 1, 1}, false) })
			p = s.Do(func() (*ts.Tensor, error) { return p.Mul(ds, false) })
			lvl = s.Do(func() (*ts.Tensor, error) { return p.SumDimIntlist([]int64{1}, true, gotch.Float, false) })
		} else {
			up := s.Do(func() (*ts.Tensor, error) {
				return disp.UpsampleBilinear2d([]int64{sz[2], sz[3]}, false, nil, nil, false)
			})
			if l == block {
				up = s.Do(func() (*ts.Tensor, error) { return up.Detach(false) })
			}
			lvl = s.Do(func() (*ts.Tensor, error) { return up.MulScalar(s.Scalar(1/scale), false) })
			wb := s.Do(func() (*ts.Tensor, error) { return WarpDisparity(fb, lvl) })
			ub := s.Do(func() (*ts.Tensor, error) { return centredUnit(wb) })
			// Channel k scores displacement k-r: disparity lvl + r - k.
			r := int64(StereoResidualRange)
			cv = s.Do(func() (*ts.Tensor, error) { return Correlation1D(ua, ub, -r, r) })
			cv = s.Do(func() (*ts.Tensor, error) { return cv.MulScalar(s.Scalar(float64(sz[1])), false) })
		}
		// The disparity enters the estimator in this level's pixels, scaled
		// down so it stays O(1).
		din := s.Do(func() (*ts.Tensor, error) { return lvl.MulScalar(s.Scalar(0.25), false) })
		h := s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*fa, *cv, *din}, 1) })
		h = n.dec[l].forward(s, h)
		d := s.Do(func() (*ts.Tensor, error) { return lvl.Add(h, false) })
		disp = s.Do(func() (*ts.Tensor, error) { return d.MulScalar(s.Scalar(scale), false) })
		out[l] = disp
	}
	if s.Err() != nil {
		return nil, s.Err()
	}
	for _, o := range out {
		if o != nil {
			s.Keep(o)
		}
	}
	return out, nil
}

// DispFull upsamples a disparity [B,1,h,w] (in input pixels) bilinearly to
// [B,1,H,W]; the caller drops the result.
func DispFull(disp *ts.Tensor, H, W int) (*ts.Tensor, error) {
	return disp.UpsampleBilinear2d([]int64{int64(H), int64(W)}, false, nil, nil, false)
}

// WarpDisparity samples src [B,C,H,W] at column u - disp(u) of every pixel
// (disp [B,1,H,W] in pixels of src, bilinear, border padding): the right
// view's features or image seen from the left view of a rectified pair.
// The caller drops the result.
func WarpDisparity(src, disp *ts.Tensor) (out *ts.Tensor, err error) {
	const fn = "WarpDisparity"
	defer Recover("perception", fn, &err)
	ds, err := geoShape(fn, "disp", disp)
	if err != nil {
		return nil, err
	}
	if len(ds) != 4 || ds[1] != 1 {
		return nil, fmt.Errorf("%w: %s: disp %v (want [B,1,H,W])", ErrGeometryShape, fn, geoDims(ds))
	}
	s := NewScope("perception: " + fn)
	defer s.Free()
	dx := s.Do(func() (*ts.Tensor, error) { return disp.Neg(false) })
	dy := s.Do(func() (*ts.Tensor, error) { return disp.ZerosLike(false) })
	flow := s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*dx, *dy}, 1) })
	out = s.Do(func() (*ts.Tensor, error) { return WarpFlow(src, flow) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// Correlation1D is the horizontal cost volume of rectified stereo: for
// features a and b [B,C,H,W] and every displacement t in lo .. hi (lo <= 0
// <= hi), the mean over channels of a(u,v)·b(u+t,v) (zero outside b),
// [B,hi-lo+1,H,W] with channel t-lo. Like Correlation it is one im2col
// (gradients through libtorch). The caller drops the result.
func Correlation1D(a, b *ts.Tensor, lo, hi int64) (out *ts.Tensor, err error) {
	const fn = "Correlation1D"
	defer Recover("perception", fn, &err)
	sa, err := geoShape(fn, "a", a)
	if err != nil {
		return nil, err
	}
	sb, err := geoShape(fn, "b", b)
	if err != nil {
		return nil, err
	}
	if len(sa) != 4 || len(sb) != 4 || sa[0] != sb[0] || sa[1] != sb[1] || sa[2] != sb[2] || sa[3] != sb[3] || lo > 0 || hi < 0 {
		return nil, fmt.Errorf("%w: %s: a %v and b %v, range %d..%d (want one [B,C,H,W] size, lo <= 0 <= hi)", ErrGeometryShape, fn, geoDims(sa), geoDims(sb), lo, hi)
	}
	s := NewScope("perception: " + fn)
	defer s.Free()
	B, C, H, W := sa[0], sa[1], sa[2], sa[3]
	k := hi - lo + 1
	// Pad b by -lo columns on the left and hi on the right: column u+j of
	// the padded b is b at u + lo + j.
	pb := s.Do(func() (*ts.Tensor, error) { return b.ConstantPadNd([]int64{-lo, hi, 0, 0}, false) })
	cols := s.Do(func() (*ts.Tensor, error) {
		return pb.Im2col([]int64{1, k}, []int64{1, 1}, []int64{0, 0}, []int64{1, 1}, false)
	})
	cols = s.Do(func() (*ts.Tensor, error) { return cols.View([]int64{B, C, k, H, W}, false) })
	av := s.Do(func() (*ts.Tensor, error) { return a.Unsqueeze(2, false) })
	prod := s.Do(func() (*ts.Tensor, error) { return cols.Mul(av, false) })
	out = s.Do(func() (*ts.Tensor, error) { return prod.MeanDim([]int64{1}, false, gotch.Float, false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// StereoDisparityToDepth turns a disparity (input pixels) into metric depth
// fx*baseline/d; disparities below minDisp (no match, or a point beyond the
// usable range) give NaN, never a made-up depth. It works on Go slices.
func StereoDisparityToDepth(disp []float32, fx, baseline, minDisp float64) []float32 {
	out := make([]float32, len(disp))
	for i, d := range disp {
		if float64(d) < minDisp || math.IsNaN(float64(d)) {
			out[i] = float32(math.NaN())
			continue
		}
		out[i] = float32(fx * baseline / float64(d))
	}
	return out
}

// centredUnit subtracts every pixel's mean over channels and scales its
// feature vector to unit length: the correlation of two such vectors is a
// centred cosine. Without centring, the features of a random (untrained)
// pyramid after leaky ReLU are mostly positive and all alike, every
// disparity scores near 1 and the coarse soft-argmax is the middle of the
// range.
func centredUnit(x *ts.Tensor) (*ts.Tensor, error) {
	s := NewScope("perception: centredUnit")
	defer s.Free()
	m := s.Do(func() (*ts.Tensor, error) { return x.MeanDim([]int64{1}, true, gotch.Float, false) })
	c := s.Do(func() (*ts.Tensor, error) { return x.Sub(m, false) })
	out := s.Do(func() (*ts.Tensor, error) { return unitChannels(c) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// stereoSharpness multiplies the coarse level's centred cosines before the
// softmax of its soft-argmax.
const stereoSharpness = 10
