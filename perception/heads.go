package perception

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// Heads: the small networks pre-training puts on top of an Encoder (a
// projection MLP for the contrastive losses, classifiers for the pretext
// tasks, a decoder for inpainting). Each is a kind of sub-network like the
// depth and pose nets, so a pre-training model is an encoder and its heads
// in one checkpoint. None has a normalisation layer, like the rest of the
// networks.

// The kinds of the heads.
const (
	KindProjection = "projection"
	KindClassifier = "classifier"
	KindInpaint    = "inpaint"
)

// maxHeadWidth bounds the widths of the MLP heads.
const maxHeadWidth = 1 << 16

// ProjectionConfig is a projection head: a two-layer MLP, Linear(In,
// Hidden), ReLU, Linear(Hidden, Out), from an encoder's pooled (or
// sampled) feature to the embedding a contrastive loss compares (SimCLR's
// g(h)).
type ProjectionConfig struct {
	// In is the input width (the encoder feature's channels). It has no
	// default: it must be set.
	In int
	// Hidden is the hidden layer's width. It defaults to 256.
	Hidden int
	// Out is the embedding width. It defaults to 128.
	Out int
	// BatchNorm normalises the hidden layer over the batch before the
	// ReLU (zero mean and unit variance per unit, batch statistics always,
	// no affine parameters), as SimCLR's and Barlow Twins' projectors do:
	// it keeps the embedding from being a large common component plus
	// small differences. The head needs batches of 2 or more then; it only
	// serves pre-training, and the encoder keeps no normalisation. It
	// defaults to false.
	BatchNorm bool
}

// Kind is "projection".
func (ProjectionConfig) Kind() string { return KindProjection }

// Filled returns c with defaults filled in.
func (c ProjectionConfig) Filled() NetConfig {
	if c.Hidden == 0 {
		c.Hidden = 256
	}
	if c.Out == 0 {
		c.Out = 128
	}
	return c
}

// Validate checks a filled configuration.
func (c ProjectionConfig) Validate() error {
	for _, v := range []int{c.In, c.Hidden, c.Out} {
		if v < 1 || v > maxHeadWidth {
			return fmt.Errorf("%w: projection %d -> %d -> %d (want widths 1..%d)", ErrConfig, c.In, c.Hidden, c.Out, maxHeadWidth)
		}
	}
	return nil
}

// ArchDiff compares the widths.
func (c ProjectionConfig) ArchDiff(other NetConfig) string {
	o, ok := other.(ProjectionConfig)
	if !ok {
		return fmt.Sprintf("kind %s != %s", c.Kind(), other.Kind())
	}
	if c.In != o.In || c.Hidden != o.Hidden || c.Out != o.Out {
		return fmt.Sprintf("widths %d-%d-%d != %d-%d-%d", c.In, c.Hidden, c.Out, o.In, o.Hidden, o.Out)
	}
	if c.BatchNorm != o.BatchNorm {
		return fmt.Sprintf("batch norm %v != %v", c.BatchNorm, o.BatchNorm)
	}
	return ""
}

// Build makes the MLP.
func (c ProjectionConfig) Build(p *nn.Path, width, height int) (Net, error) {
	c = c.Filled().(ProjectionConfig)
	m, err := newMLP(p, c, []int{c.In, c.Hidden, c.Out})
	if err != nil {
		return nil, err
	}
	m.batchNorm = c.BatchNorm
	return m, nil
}

// ClassifierConfig is a classification head on an encoder feature:
// Linear(In, Classes) when Hidden is 0, else Linear(In, Hidden), ReLU,
// Linear(Hidden, Classes). It returns logits.
type ClassifierConfig struct {
	// In is the input width. It has no default: it must be set.
	In int
	// Hidden is the hidden layer's width; 0 makes a linear classifier. It
	// defaults to 0.
	Hidden int
	// Classes is the number of classes, at least 2. It has no default.
	Classes int
}

// Kind is "classifier".
func (ClassifierConfig) Kind() string { return KindClassifier }

// Filled returns c (nothing to fill).
func (c ClassifierConfig) Filled() NetConfig { return c }

// Validate checks a filled configuration.
func (c ClassifierConfig) Validate() error {
	if c.In < 1 || c.In > maxHeadWidth || c.Hidden < 0 || c.Hidden > maxHeadWidth || c.Classes < 2 || c.Classes > maxHeadWidth {
		return fmt.Errorf("%w: classifier %d -> %d -> %d classes (want widths 1..%d, hidden 0 for linear, at least 2 classes)", ErrConfig, c.In, c.Hidden, c.Classes, maxHeadWidth)
	}
	return nil
}

// ArchDiff compares the widths.
func (c ClassifierConfig) ArchDiff(other NetConfig) string {
	o, ok := other.(ClassifierConfig)
	if !ok {
		return fmt.Sprintf("kind %s != %s", c.Kind(), other.Kind())
	}
	if c != o {
		return fmt.Sprintf("widths %d-%d-%d != %d-%d-%d", c.In, c.Hidden, c.Classes, o.In, o.Hidden, o.Classes)
	}
	return ""
}

// Build makes the classifier.
func (c ClassifierConfig) Build(p *nn.Path, width, height int) (Net, error) {
	widths := []int{c.In, c.Hidden, c.Classes}
	if c.Hidden == 0 {
		widths = []int{c.In, c.Classes}
	}
	return newMLP(p, c, widths)
}

// linear is a fully connected layer whose weights live in a VarStore.
type linear struct{ w, b *ts.Tensor }

// newLinear makes Linear(in, out) with uniform weights of bound
// sqrt(gain/in) (gain 6: He-uniform for a ReLU after it; 1: PyTorch's
// default bound 1/sqrt(in) for an output layer) and zero bias.
func newLinear(p *nn.Path, in, out int, gain float64) (*linear, error) {
	bound := math.Sqrt(gain / float64(in))
	w, err := p.Uniform("weight", []int64{int64(out), int64(in)}, -bound, bound)
	if err != nil {
		return nil, fmt.Errorf("perception: linear %s: %w", p.Paths(), err)
	}
	b, err := p.Zeros("bias", []int64{int64(out)})
	if err != nil {
		return nil, fmt.Errorf("perception: linear %s: %w", p.Paths(), err)
	}
	return &linear{w: w, b: b}, nil
}

// MLP is a stack of linear layers with ReLU between them: the projection
// and classifier heads.
type MLP struct {
	cfg       NetConfig
	layers    []*linear
	in        int64
	batchNorm bool // normalise hidden layers over the batch
}

// newMLP makes layers widths[0] -> widths[1] -> ... named fc0, fc1, ...
func newMLP(p *nn.Path, cfg NetConfig, widths []int) (*MLP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &MLP{cfg: cfg, in: int64(widths[0])}
	for i := 0; i+1 < len(widths); i++ {
		gain := 6.0
		if i+2 == len(widths) {
			gain = 1
		}
		l, err := newLinear(p.Sub(fmt.Sprintf("fc%d", i)), widths[i], widths[i+1], gain)
		if err != nil {
			return nil, err
		}
		m.layers = append(m.layers, l)
	}
	return m, nil
}

// NetConfig returns the head's configuration.
func (m *MLP) NetConfig() NetConfig { return m.cfg }

// Forward maps x, [N,In] float32, to [N,Out]. The caller drops the
// result. Run it on a Worker.
func (m *MLP) Forward(x *ts.Tensor) (out *ts.Tensor, err error) {
	if x == nil {
		return nil, fmt.Errorf("%w: MLP: nil tensor", ErrInputShape)
	}
	sz, err := x.Size()
	if err != nil || len(sz) != 2 || sz[0] < 1 || sz[1] != m.in || x.DType() != gotch.Float {
		return nil, fmt.Errorf("%w: MLP input %v %v, want [N,%d] float32", ErrInputShape, sz, x.DType(), m.in)
	}
	h := x
	for i, l := range m.layers {
		y, err := ts.Linear(h, l.w, l.b)
		if h != x {
			h.MustDrop()
		}
		if err != nil {
			return nil, fmt.Errorf("perception: MLP layer %d: %w", i, err)
		}
		if i+1 < len(m.layers) {
			if m.batchNorm {
				if y, err = batchNormRows(y); err != nil {
					return nil, fmt.Errorf("perception: MLP layer %d: %w", i, err)
				}
			}
			if y, err = y.Relu(true); err != nil {
				return nil, fmt.Errorf("perception: MLP layer %d: %w", i, err)
			}
		}
		h = y
	}
	return h, nil
}

// batchNormEps is added to the batch variance (BatchNorm's eps).
const batchNormEps = 1e-5

// batchNormRows normalises each column of x [N,D] over the N rows (biased
// variance plus batchNormEps); it drops x. A single row becomes 0.
func batchNormRows(x *ts.Tensor) (*ts.Tensor, error) {
	defer x.MustDrop()
	s := NewScope("batch norm")
	defer s.Free()
	m := s.Do(func() (*ts.Tensor, error) { return x.MeanDim([]int64{0}, true, gotch.Float, false) })
	c := s.Do(func() (*ts.Tensor, error) { return x.Sub(m, false) })
	v := s.Do(func() (*ts.Tensor, error) { return c.Square(false) })
	v = s.Do(func() (*ts.Tensor, error) { return v.MeanDim([]int64{0}, true, gotch.Float, false) })
	v = s.Do(func() (*ts.Tensor, error) { return v.AddScalar(s.Scalar(batchNormEps), false) })
	v = s.Do(func() (*ts.Tensor, error) { return v.Sqrt(false) })
	out := s.Do(func() (*ts.Tensor, error) { return c.Div(v, false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// InpaintConfig is the inpainting head of Context Encoders (Pathak et al.
// 2016) without the adversarial part: a decoder from the encoder's
// coarsest feature (1/32) back to the image, five stages of a 3x3
// convolution (reflection padding, ELU) and nearest upsampling x2 with the
// depth decoder's widths, then a 3x3 convolution to RGB and a sigmoid. It
// has no skip connections on purpose: the encoder must carry the context.
type InpaintConfig struct {
	// Size is the size of the encoder it decodes (its channels and the
	// decoder's widths), as DepthConfig.Size. It defaults to "default".
	Size string
}

// Kind is "inpaint".
func (InpaintConfig) Kind() string { return KindInpaint }

// Filled returns c with defaults filled in.
func (c InpaintConfig) Filled() NetConfig {
	if c.Size == "" {
		c.Size = SizeDefault
	}
	return c
}

// Validate checks a filled configuration.
func (c InpaintConfig) Validate() error {
	if _, ok := depthWidths[c.Size]; !ok {
		return fmt.Errorf("%w: inpaint size %q (want small or default)", ErrConfig, c.Size)
	}
	return nil
}

// ArchDiff compares the sizes.
func (c InpaintConfig) ArchDiff(other NetConfig) string {
	o, ok := other.(InpaintConfig)
	switch {
	case !ok:
		return fmt.Sprintf("kind %s != %s", c.Kind(), other.Kind())
	case c.Size != o.Size:
		return fmt.Sprintf("size %s != %s", c.Size, o.Size)
	}
	return ""
}

// Build makes the decoder.
func (c InpaintConfig) Build(p *nn.Path, width, height int) (Net, error) {
	c = c.Filled().(InpaintConfig)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	wd := depthWidths[c.Size]
	n := &InpaintNet{cfg: c, in: wd.enc[4]}
	in := wd.enc[4]
	var err error
	for i := 4; i >= 0; i-- {
		if n.up[i], err = newConv(p.Sub(fmt.Sprintf("up%d", i)), in, wd.dec[i], 3, 1, true); err != nil {
			return nil, err
		}
		in = wd.dec[i]
	}
	if n.rgb, err = newConv(p.Sub("rgb"), in, 3, 3, 1, true); err != nil {
		return nil, err
	}
	return n, nil
}

// InpaintNet is the InpaintConfig decoder.
type InpaintNet struct {
	cfg InpaintConfig
	up  [5]*conv2d
	rgb *conv2d
	in  int64
}

// NetConfig returns the head's configuration.
func (n *InpaintNet) NetConfig() NetConfig { return n.cfg }

// Forward decodes f, the encoder's coarsest feature [B,C,h,w] (h, w at
// least 2: reflection padding), into an image [B,3,32h,32w] in (0,1). The
// caller drops the result. Run it on a Worker.
func (n *InpaintNet) Forward(f *ts.Tensor) (out *ts.Tensor, err error) {
	if f == nil {
		return nil, fmt.Errorf("%w: inpaint: nil tensor", ErrInputShape)
	}
	sz, err := f.Size()
	if err != nil || len(sz) != 4 || sz[1] != n.in || sz[2] < 2 || sz[3] < 2 || f.DType() != gotch.Float {
		return nil, fmt.Errorf("%w: inpaint input %v, want [B,%d,h,w] float32 with h, w >= 2", ErrInputShape, sz, n.in)
	}
	h := f
	for i := 4; i >= 0; i-- {
		a, err := n.up[i].forwardELU(h)
		if h != f {
			h.MustDrop()
		}
		if err != nil {
			return nil, fmt.Errorf("perception: inpaint stage %d: %w", i, err)
		}
		if h, err = upsample2(a); err != nil {
			return nil, fmt.Errorf("perception: inpaint stage %d: %w", i, err)
		}
	}
	y, err := n.rgb.forward(h)
	h.MustDrop()
	if err != nil {
		return nil, fmt.Errorf("perception: inpaint rgb: %w", err)
	}
	return y.Sigmoid(true)
}
