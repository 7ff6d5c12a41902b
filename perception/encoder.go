package perception

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// NetEncoder is the name pre-training models give their stand-alone
// Encoder, the network whose weights LoadEncoder moves into a depth net.
const NetEncoder = "encoder"

// EncoderStages is the number of stride-2 stages of the depth encoder.
const EncoderStages = 5

// MinEncoderInput is the smallest input side an Encoder accepts: one
// pixel at its coarsest stage (1/32). DepthNet needs MinInputSize for its
// decoder.
const MinEncoderInput = 32

// EncoderConfig configures a stand-alone Encoder: DepthNet's encoder
// without the decoder, for pre-training (a model of an encoder and heads).
// Its variables are named like DepthNet's encoder variables under the
// network's name ("encoder.enc0.conv0.weight" for the depth net's
// "depth.enc0.conv0.weight"), so LoadEncoder copies them one to one.
type EncoderConfig struct {
	// Size picks the widths as DepthConfig.Size: "small" (16-32-64-96-128)
	// or "default" (32-64-128-256-256). It defaults to "default".
	Size string
}

// Kind is "encoder".
func (EncoderConfig) Kind() string { return NetEncoder }

// Filled returns c with defaults filled in.
func (c EncoderConfig) Filled() NetConfig {
	if c.Size == "" {
		c.Size = SizeDefault
	}
	return c
}

// Validate checks a filled configuration.
func (c EncoderConfig) Validate() error {
	if _, ok := depthWidths[c.Size]; !ok {
		return fmt.Errorf("%w: encoder size %q (want small or default)", ErrConfig, c.Size)
	}
	return nil
}

// ArchDiff compares the widths.
func (c EncoderConfig) ArchDiff(other NetConfig) string {
	o, ok := other.(EncoderConfig)
	switch {
	case !ok:
		return fmt.Sprintf("kind %s != %s", c.Kind(), other.Kind())
	case c.Size != o.Size:
		return fmt.Sprintf("size %s != %s", c.Size, o.Size)
	}
	return ""
}

// Build makes an Encoder (any input size: it has no decoder).
func (c EncoderConfig) Build(p *nn.Path, width, height int) (Net, error) {
	c = c.Filled().(EncoderConfig)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return newEncoder(p, c)
}

// EncoderWidths returns the channel widths of the 5 encoder stages of a
// network size ("small", "default").
func EncoderWidths(size string) ([EncoderStages]int64, error) {
	wd, ok := depthWidths[size]
	if !ok {
		return [EncoderStages]int64{}, fmt.Errorf("%w: size %q (want small or default)", ErrConfig, size)
	}
	return wd.enc, nil
}

// Encoder is DepthNet's encoder: 5 stages, each a 3x3 stride-2
// convolution and a 3x3 convolution, both with ELU and zero padding, on the
// input normalised as DepthNet normalises it. DepthNet runs one for its
// skips; a pre-training model holds one alone (EncoderConfig).
type Encoder struct {
	cfg    EncoderConfig
	stages [EncoderStages][2]*conv2d
	width  [EncoderStages]int64
}

// newEncoder makes the encoder's variables under p: p.enc0.conv0 ..
// p.enc4.conv1, in that order (the order fixes the seeded initial values).
func newEncoder(p *nn.Path, cfg EncoderConfig) (*Encoder, error) {
	wd, err := EncoderWidths(cfg.Size)
	if err != nil {
		return nil, err
	}
	e := &Encoder{cfg: cfg, width: wd}
	in := int64(3)
	for i := range EncoderStages {
		s := p.Sub(fmt.Sprintf("enc%d", i))
		if e.stages[i][0], err = newConv(s.Sub("conv0"), in, wd[i], 3, 2, false); err != nil {
			return nil, err
		}
		if e.stages[i][1], err = newConv(s.Sub("conv1"), wd[i], wd[i], 3, 1, false); err != nil {
			return nil, err
		}
		in = wd[i]
	}
	return e, nil
}

// NetConfig returns the encoder's configuration.
func (e *Encoder) NetConfig() NetConfig { return e.cfg }

// Widths returns the channel widths of the 5 stages' features.
func (e *Encoder) Widths() [EncoderStages]int64 { return e.width }

// Encoder returns e itself (DepthNet.Encoder returns its own).
func (e *Encoder) Encoder() *Encoder { return e }

// checkEncoderInput verifies x is [B,3,H,W] float32 with H and W multiples
// of 32, at least MinEncoderInput.
func checkEncoderInput(x *ts.Tensor) ([]int64, error) {
	if x == nil {
		return nil, fmt.Errorf("%w: nil tensor", ErrInputShape)
	}
	sz, err := x.Size()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInputShape, err)
	}
	if len(sz) != 4 || sz[0] < 1 || sz[1] != 3 {
		return nil, fmt.Errorf("%w: got %v, want [B,3,H,W]", ErrInputShape, sz)
	}
	if sz[2] < MinEncoderInput || sz[3] < MinEncoderInput || sz[2]%32 != 0 || sz[3]%32 != 0 {
		return nil, fmt.Errorf("%w: %dx%d (W x H): each side must be a multiple of 32 and at least %d", ErrInputShape, sz[3], sz[2], MinEncoderInput)
	}
	if x.DType() != gotch.Float {
		return nil, fmt.Errorf("%w: dtype %v, want float32", ErrInputShape, x.DType())
	}
	return sz, nil
}

// Forward runs the encoder on x, [B,3,H,W] float32 in [0,1] with H and W
// multiples of 32 (at least 32), and returns the 5 stages' features, finest
// first: [B,w0,H/2,W/2] .. [B,w4,H/32,W/32]. The caller drops them. Run it
// on a Worker.
func (e *Encoder) Forward(x *ts.Tensor) ([]*ts.Tensor, error) {
	if _, err := checkEncoderInput(x); err != nil {
		return nil, err
	}
	feats, err := e.forward(x)
	if err != nil {
		return nil, fmt.Errorf("perception: encoder forward: %w", err)
	}
	return feats, nil
}

// forward is Forward without the input check; on error nothing is left
// allocated.
func (e *Encoder) forward(x *ts.Tensor) (feats []*ts.Tensor, err error) {
	feats = make([]*ts.Tensor, 0, EncoderStages)
	defer func() {
		if err != nil {
			for _, f := range feats {
				f.MustDrop()
			}
			feats = nil
		}
	}()
	h, err := normalise(x)
	if err != nil {
		return nil, err
	}
	for i := range EncoderStages {
		a, err := e.stages[i][0].forwardELU(h)
		if i == 0 {
			h.MustDrop() // the normalised input; later h are feats
		}
		if err != nil {
			return nil, err
		}
		f, err := e.stages[i][1].forwardELU(a)
		a.MustDrop()
		if err != nil {
			return nil, err
		}
		feats = append(feats, f)
		h = f
	}
	return feats, nil
}

// encoderNet is a sub-network with a depth encoder: DepthNet and Encoder.
type encoderNet interface {
	Encoder() *Encoder
}

// EncoderOf returns the encoder of the named sub-network (a DepthNet's or
// a stand-alone Encoder), or nil.
func (m *Model) EncoderOf(net string) *Encoder {
	if n, ok := m.nets[net].(encoderNet); ok {
		return n.Encoder()
	}
	return nil
}

// encoderSize returns the size of the encoder a network configuration has,
// or "" when it has none.
func encoderSize(c NetConfig) string {
	switch c := c.Filled().(type) {
	case DepthConfig:
		return c.Size
	case EncoderConfig:
		return c.Size
	}
	return ""
}

// EncoderSource returns the name of the sub-network of a checkpoint
// architecture whose encoder LoadEncoder takes: the one named NetEncoder,
// else NetDepth, else the only network with an encoder.
func EncoderSource(arch ModelConfig) (string, error) {
	var cands []string
	for _, name := range arch.Names() {
		if encoderSize(arch.Nets[name]) != "" {
			cands = append(cands, name)
		}
	}
	for _, pref := range []string{NetEncoder, NetDepth} {
		if slices.Contains(cands, pref) {
			return pref, nil
		}
	}
	if len(cands) == 1 {
		return cands[0], nil
	}
	if len(cands) == 0 {
		return "", fmt.Errorf("%w: the checkpoint has no network with an encoder (it has %v)", ErrArchMismatch, arch.Names())
	}
	return "", fmt.Errorf("%w: the checkpoint has several encoders %v and none named %s or %s", ErrArchMismatch, cands, NetEncoder, NetDepth)
}

// LoadEncoder copies the encoder weights of a checkpoint (its sub-network
// EncoderSource picks: a pre-training model's encoder, or a depth net's
// encoder) into the encoder of m's sub-network net (a DepthNet or an
// Encoder), in place; every other variable of m keeps its value (a fresh
// decoder and pose net stay as initialised). The encoders must be of one
// size; the input sizes may differ (convolutions do not depend on them).
// Everything is checked before the first weight is written, so on error m
// is unchanged. It returns the name of the source network. Run it on a
// Worker.
func (m *Model) LoadEncoder(c *Checkpoint, net string) (string, error) {
	if m == nil || m.vs == nil || c == nil {
		return "", fmt.Errorf("%w: LoadEncoder on a closed model or nil checkpoint", ErrConfig)
	}
	dstCfg, ok := m.cfg.Nets[net]
	if !ok || m.EncoderOf(net) == nil {
		return "", fmt.Errorf("%w: the model has no network %s with an encoder (it has %v)", ErrArchMismatch, net, m.cfg.Names())
	}
	src, err := EncoderSource(c.Header.Arch)
	if err != nil {
		return "", err
	}
	if a, b := encoderSize(c.Header.Arch.Nets[src]), encoderSize(dstCfg); a != b {
		return "", fmt.Errorf("%w: encoder size %s in the checkpoint's %s, %s in the model's %s", ErrArchMismatch, a, src, b, net)
	}
	data, ok := c.Section(sectionWeights)
	if !ok {
		return "", fmt.Errorf("%w: no weights section", ErrCheckpointCorrupt)
	}
	stored, err := decodeWeights(data)
	if err != nil {
		return "", err
	}
	type pair struct {
		dst *ts.Tensor
		src storedTensor
	}
	var pairs []pair
	for _, nv := range m.NamedVariables(net) {
		rest := strings.TrimPrefix(nv.Name, net+".")
		if !strings.HasPrefix(rest, "enc") {
			continue // the depth net's decoder and heads
		}
		st, ok := stored[src+"."+rest]
		if !ok {
			return "", fmt.Errorf("%w: the checkpoint has no %s.%s for %s", ErrArchMismatch, src, rest, nv.Name)
		}
		shape, err := nv.Tensor.Size()
		if err != nil {
			return "", err
		}
		if !slices.Equal(shape, st.shape) {
			return "", fmt.Errorf("%w: %s.%s shape %v != %s %v", ErrArchMismatch, src, rest, st.shape, nv.Name, shape)
		}
		pairs = append(pairs, pair{nv.Tensor, st})
	}
	if len(pairs) != 2*2*EncoderStages {
		return "", fmt.Errorf("%w: %d encoder variables in %s, want %d", ErrArchMismatch, len(pairs), net, 4*EncoderStages)
	}
	err = NoGrad(func() error {
		for _, p := range pairs {
			if err := AssignValues(p.dst, p.src.vals); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("perception: load encoder: %w", err)
	}
	return src, nil
}
