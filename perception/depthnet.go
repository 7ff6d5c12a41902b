package perception

import (
	"errors"
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

var (
	// ErrInputShape is returned when a network input is not [B,C,H,W] with
	// the expected channels and H, W positive multiples of 32.
	ErrInputShape = errors.New("perception: bad input shape")
	// ErrConfig is returned for an invalid network configuration.
	ErrConfig = errors.New("perception: bad network config")
)

// Network sizes: DepthConfig.Size and PoseConfig.Size.
const (
	SizeSmall   = "small"
	SizeDefault = "default"
)

// MinInputSize is the smallest input side: the coarsest decoder level (1/32)
// must be at least 2 pixels for its reflection padding.
const MinInputSize = 64

// NumScales is the number of disparity maps DepthNet returns: scales 1, 1/2,
// 1/4 and 1/8 of the input.
const NumScales = 4

// Monodepth2's input normalisation, applied inside the network so callers
// pass images in [0,1].
const (
	inputMean = 0.45
	inputStd  = 0.225
)

// depthWidths are the encoder channel widths of the 5 stride-2 stages and the
// decoder widths at scales 1 .. 1/16, per size.
var depthWidths = map[string]struct{ enc, dec [5]int64 }{
	SizeSmall:   {enc: [5]int64{16, 32, 64, 96, 128}, dec: [5]int64{16, 16, 32, 48, 64}},
	SizeDefault: {enc: [5]int64{32, 64, 128, 256, 256}, dec: [5]int64{16, 32, 64, 128, 128}},
}

// DepthConfig configures the depth network. Its fields are part of the
// architecture a checkpoint records.
type DepthConfig struct {
	// Size picks the channel widths: "small" (encoder 16-32-64-96-128) or
	// "default" (32-64-128-256-256). It defaults to "default".
	Size string
	// MinDepth is the depth in metres a disparity of 1 maps to. It defaults to 0.1.
	MinDepth float64
	// MaxDepth is the depth in metres a disparity of 0 maps to. It defaults to 100.
	MaxDepth float64
	// InitDepth is the depth in metres the untrained network predicts
	// everywhere (the disparity heads' bias). It defaults to 10: with a
	// default init ~70% of pixels were auto-masked and learning stalled.
	InitDepth float64
}

func (c *DepthConfig) fill() {
	if c.Size == "" {
		c.Size = SizeDefault
	}
	if c.MinDepth == 0 {
		c.MinDepth = 0.1
	}
	if c.MaxDepth == 0 {
		c.MaxDepth = 100
	}
	if c.InitDepth == 0 {
		c.InitDepth = 10
	}
}

// Kind is "depth".
func (DepthConfig) Kind() string { return NetDepth }

// Filled returns c with defaults filled in.
func (c DepthConfig) Filled() NetConfig { c.fill(); return c }

// ArchDiff compares the widths and the depth range (InitDepth only
// initialises).
func (c DepthConfig) ArchDiff(other NetConfig) string {
	o, ok := other.(DepthConfig)
	switch {
	case !ok:
		return fmt.Sprintf("kind %s != %s", c.Kind(), other.Kind())
	case c.Size != o.Size:
		return fmt.Sprintf("size %s != %s", c.Size, o.Size)
	case c.MinDepth != o.MinDepth:
		return fmt.Sprintf("min depth %g != %g", c.MinDepth, o.MinDepth)
	case c.MaxDepth != o.MaxDepth:
		return fmt.Sprintf("max depth %g != %g", c.MaxDepth, o.MaxDepth)
	}
	return ""
}

// Build makes a DepthNet (any input size that NewModel accepts).
func (c DepthConfig) Build(p *nn.Path, width, height int) (Net, error) { return NewDepthNet(p, c) }

// Validate checks a filled configuration.
func (c DepthConfig) Validate() error {
	if _, ok := depthWidths[c.Size]; !ok {
		return fmt.Errorf("%w: depth size %q (want small or default)", ErrConfig, c.Size)
	}
	if !(c.MinDepth > 0 && c.MaxDepth > c.MinDepth) || math.IsInf(c.MaxDepth, 0) {
		return fmt.Errorf("%w: depth range %g..%g m (want 0 < min < max)", ErrConfig, c.MinDepth, c.MaxDepth)
	}
	if !(c.InitDepth > c.MinDepth && c.InitDepth < c.MaxDepth) {
		return fmt.Errorf("%w: init depth %g m outside %g..%g", ErrConfig, c.InitDepth, c.MinDepth, c.MaxDepth)
	}
	return nil
}

// conv2d is a convolution whose weights live in a VarStore. Forward calls the
// error-returning libtorch op, so a bad input is an error, not a panic.
type conv2d struct {
	w, b        *ts.Tensor
	stride, pad int64
	reflect     bool // pad by reflection (Monodepth2 decoder) instead of zeros
}

// newConv makes a k x k convolution with He-uniform weights (suited to ELU
// and ReLU without normalisation layers) and zero bias.
func newConv(p *nn.Path, in, out, k, stride int64, reflect bool) (*conv2d, error) {
	fanIn := float64(in * k * k)
	bound := math.Sqrt(6 / fanIn)
	w, err := p.Uniform("weight", []int64{out, in, k, k}, -bound, bound)
	if err != nil {
		return nil, fmt.Errorf("perception: conv %s: %w", p.Paths(), err)
	}
	b, err := p.Zeros("bias", []int64{out})
	if err != nil {
		return nil, fmt.Errorf("perception: conv %s: %w", p.Paths(), err)
	}
	return &conv2d{w: w, b: b, stride: stride, pad: (k - 1) / 2, reflect: reflect}, nil
}

func (c *conv2d) forward(x *ts.Tensor) (*ts.Tensor, error) {
	pad := c.pad
	if c.reflect && pad > 0 {
		p, err := x.ReflectionPad2d([]int64{pad, pad, pad, pad}, false)
		if err != nil {
			return nil, err
		}
		defer p.MustDrop()
		x, pad = p, 0
	}
	return ts.Conv2d(x, c.w, c.b, []int64{c.stride, c.stride}, []int64{pad, pad}, []int64{1, 1}, 1)
}

// forwardELU is conv then ELU. Not in place: gotch v0.7.0's in-place
// wrappers (Elu_, Relu_, ...) replace the Go tensor's handle with a new one
// and leak the old, which keeps the whole activation alive.
func (c *conv2d) forwardELU(x *ts.Tensor) (*ts.Tensor, error) {
	y, err := c.forward(x)
	if err != nil {
		return nil, err
	}
	return y.Elu(true)
}

// DepthNet is a Monodepth2-like encoder-decoder: 5 encoder stages, each a
// 3x3 stride-2 convolution and a 3x3 convolution with ELU (zero padding);
// a decoder that at each scale runs a 3x3 convolution, nearest-neighbour
// upsampling x2, concatenation with the encoder feature of that resolution
// (skip), and a second 3x3 convolution, ELU and reflection padding as in
// Monodepth2; sigmoid disparity heads at scales 1, 1/2, 1/4 and 1/8.
//
// It has no BatchNorm, by choice: online adaptation trains on batches of one
// or two samples where batch statistics are noise, and Monodepth2/CoMoDA
// must freeze BN for that reason; without it there is nothing to freeze and
// train and eval behave the same.
type DepthNet struct {
	cfg  DepthConfig
	enc  *Encoder
	up   [5][2]*conv2d
	disp [NumScales]*conv2d
}

// NewDepthNet makes a depth network with its variables under p.
func NewDepthNet(p *nn.Path, cfg DepthConfig) (*DepthNet, error) {
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	wd := depthWidths[cfg.Size]
	n := &DepthNet{cfg: cfg}
	// The encoder's variables come first, under p itself (depth.enc0.conv0
	// ...), as they always did: names and seeded initial values unchanged.
	var err error
	if n.enc, err = newEncoder(p, EncoderConfig{Size: cfg.Size}); err != nil {
		return nil, err
	}
	for i := 4; i >= 0; i-- {
		s := p.Sub(fmt.Sprintf("dec%d", i))
		in0 := wd.enc[4]
		if i < 4 {
			in0 = wd.dec[i+1]
		}
		if n.up[i][0], err = newConv(s.Sub("upconv0"), in0, wd.dec[i], 3, 1, true); err != nil {
			return nil, err
		}
		in1 := wd.dec[i]
		if i > 0 {
			in1 += wd.enc[i-1]
		}
		if n.up[i][1], err = newConv(s.Sub("upconv1"), in1, wd.dec[i], 3, 1, true); err != nil {
			return nil, err
		}
	}
	// Disparity heads: small weights and a bias that makes every pixel start
	// at InitDepth, so the photometric loss has a gradient from step one.
	bias := initDispBias(cfg)
	for i := 0; i < NumScales; i++ {
		s := p.Sub(fmt.Sprintf("disp%d", i))
		c, err := newConv(s, wd.dec[i], 1, 3, 1, true)
		if err != nil {
			return nil, err
		}
		if err := scaleInit(c, 0.05, bias); err != nil {
			return nil, err
		}
		n.disp[i] = c
	}
	return n, nil
}

// initDispBias is logit(d) for the sigmoid output d that DispToDepth maps to
// cfg.InitDepth.
func initDispBias(cfg DepthConfig) float64 {
	lo, hi := 1/cfg.MaxDepth, 1/cfg.MinDepth
	d := (1/cfg.InitDepth - lo) / (hi - lo)
	return math.Log(d / (1 - d))
}

// scaleInit multiplies c's weights by k and sets its bias to bias, outside
// autograd.
func scaleInit(c *conv2d, k, bias float64) error {
	return NoGrad(func() error {
		ks := ts.FloatScalar(k)
		defer ks.MustDrop()
		w, err := c.w.MulScalar(ks, false)
		if err != nil {
			return err
		}
		defer w.MustDrop()
		if err := Assign(c.w, w); err != nil {
			return err
		}
		n, err := c.b.Size()
		if err != nil {
			return err
		}
		vals := make([]float32, n[0])
		for i := range vals {
			vals[i] = float32(bias)
		}
		return AssignValues(c.b, vals)
	})
}

// Config returns the network's configuration with defaults filled in.
func (n *DepthNet) Config() DepthConfig { return n.cfg }

// NetConfig returns Config as a NetConfig.
func (n *DepthNet) NetConfig() NetConfig { return n.cfg }

// Encoder returns the network's encoder: its variables are the depth
// net's own (depth.enc0 .. depth.enc4), and Encoder.Forward returns the
// features Forward's decoder reads.
func (n *DepthNet) Encoder() *Encoder { return n.enc }

// checkInput verifies x is [B,channels,H,W] with H and W multiples of 32
// (5 stride-2 stages) and at least MinInputSize.
func checkInput(x *ts.Tensor, channels int64) ([]int64, error) {
	if x == nil {
		return nil, fmt.Errorf("%w: nil tensor", ErrInputShape)
	}
	sz, err := x.Size()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInputShape, err)
	}
	if len(sz) != 4 || sz[0] < 1 || sz[1] != channels {
		return nil, fmt.Errorf("%w: got %v, want [B,%d,H,W]", ErrInputShape, sz, channels)
	}
	if sz[2] < MinInputSize || sz[3] < MinInputSize || sz[2]%32 != 0 || sz[3]%32 != 0 {
		return nil, fmt.Errorf("%w: %dx%d (W x H): each side must be a multiple of 32 and at least %d", ErrInputShape, sz[3], sz[2], MinInputSize)
	}
	if x.DType() != gotch.Float {
		return nil, fmt.Errorf("%w: dtype %v, want float32", ErrInputShape, x.DType())
	}
	return sz, nil
}

// normalise maps x in [0,1] to (x - 0.45) / 0.225.
func normalise(x *ts.Tensor) (*ts.Tensor, error) {
	m := ts.FloatScalar(-inputMean)
	defer m.MustDrop()
	y, err := x.AddScalar(m, false)
	if err != nil {
		return nil, err
	}
	s := ts.FloatScalar(1 / inputStd)
	defer s.MustDrop()
	return y.MulScalar(s, true)
}

// Forward runs the network on x, [B,3,H,W] float32 in [0,1] with H and W
// multiples of 32 and at least 64, and returns NumScales sigmoid disparity maps, finest
// first: [B,1,H,W], [B,1,H/2,W/2], [B,1,H/4,W/4], [B,1,H/8,W/8]. The caller
// drops them. train is accepted for layers that differ between training and
// inference; this network has none (no BatchNorm, no dropout), so both modes
// compute the same thing. Run it on a Worker.
func (n *DepthNet) Forward(x *ts.Tensor, train bool) (out []*ts.Tensor, err error) {
	if _, err := checkInput(x, 3); err != nil {
		return nil, err
	}
	var feats []*ts.Tensor
	defer func() {
		for _, f := range feats {
			f.MustDrop()
		}
		if err != nil {
			for _, d := range out {
				d.MustDrop()
			}
			out = nil
			err = fmt.Errorf("perception: depth forward: %w", err)
		}
	}()
	if feats, err = n.enc.forward(x); err != nil {
		return nil, err
	}
	out = make([]*ts.Tensor, NumScales)
	d := feats[4] // not dropped below: feats owns it
	for i := 4; i >= 0; i-- {
		a, err := n.up[i][0].forwardELU(d)
		if i < 4 {
			d.MustDrop()
		}
		if err != nil {
			return compact(out), err
		}
		u, err := upsample2(a)
		if err != nil {
			return compact(out), err
		}
		if i > 0 {
			c, err := ts.Cat([]ts.Tensor{*u, *feats[i-1]}, 1)
			u.MustDrop()
			if err != nil {
				return compact(out), err
			}
			u = c
		}
		d, err = n.up[i][1].forwardELU(u)
		u.MustDrop()
		if err != nil {
			return compact(out), err
		}
		if i < NumScales {
			logit, err := n.disp[i].forward(d)
			if err != nil {
				d.MustDrop()
				return compact(out), err
			}
			if out[i], err = logit.Sigmoid(true); err != nil {
				d.MustDrop()
				return compact(out), err
			}
		}
	}
	d.MustDrop()
	return out, nil
}

// upsample2 is nearest-neighbour upsampling by 2; it drops x.
func upsample2(x *ts.Tensor) (*ts.Tensor, error) {
	sz, err := x.Size()
	if err != nil {
		x.MustDrop()
		return nil, err
	}
	return x.UpsampleNearest2d([]int64{2 * sz[2], 2 * sz[3]}, []float64{2}, []float64{2}, true)
}

// compact drops nil entries so the error path frees only what exists.
func compact(xs []*ts.Tensor) []*ts.Tensor {
	var out []*ts.Tensor
	for _, t := range xs {
		if t != nil {
			out = append(out, t)
		}
	}
	return out
}

// DispToDepth maps sigmoid disparity to depth in metres as Monodepth2 does:
// scaled = 1/maxDepth + (1/minDepth - 1/maxDepth) * disp, depth = 1/scaled.
// disp 0 gives maxDepth, disp 1 gives minDepth, monotonically between. The
// caller drops the result.
func DispToDepth(disp *ts.Tensor, minDepth, maxDepth float64) (*ts.Tensor, error) {
	if !(minDepth > 0 && maxDepth > minDepth) {
		return nil, fmt.Errorf("%w: depth range %g..%g m (want 0 < min < max)", ErrConfig, minDepth, maxDepth)
	}
	lo, hi := 1/maxDepth, 1/minDepth
	k := ts.FloatScalar(hi - lo)
	defer k.MustDrop()
	b := ts.FloatScalar(lo)
	defer b.MustDrop()
	s, err := disp.MulScalar(k, false)
	if err != nil {
		return nil, fmt.Errorf("perception: DispToDepth: %w", err)
	}
	s, err = s.AddScalar(b, true)
	if err != nil {
		return nil, fmt.Errorf("perception: DispToDepth: %w", err)
	}
	d, err := s.Reciprocal(true)
	if err != nil {
		return nil, fmt.Errorf("perception: DispToDepth: %w", err)
	}
	return d, nil
}
