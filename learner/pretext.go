package learner

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// Pretext is a pre-training objective: an Objective that trains the
// shared encoder (the sub-network perception.NetEncoder, DepthNet's
// encoder alone, whose weights perception.Model.LoadEncoder moves into a
// depth net) and heads of its own, from single unlabeled frames.
type Pretext interface {
	Objective
	// Heads returns the sub-networks the objective adds next to an encoder
	// of the given size ("small", "default"), by name.
	Heads(size string) (map[string]perception.NetConfig, error)
}

// The pre-training methods (NewPretext, `parallax pretrain --method`).
const (
	MethodSimCLR   = "simclr"
	MethodMoCo     = "moco"
	MethodBarlow   = "barlow"
	MethodRotation = "rotation"
	MethodJigsaw   = "jigsaw"
	MethodInpaint  = "inpaint"
	MethodDense    = "dense"
)

// PretextMethods lists the methods in the order the documentation gives
// them.
func PretextMethods() []string {
	return []string{MethodSimCLR, MethodMoCo, MethodBarlow, MethodRotation, MethodJigsaw, MethodInpaint, MethodDense}
}

// PretextOptions are the settings `parallax pretrain` exposes; zero
// fields keep each objective's defaults.
type PretextOptions struct {
	// Seed seeds the augmentations, masks and permutations drawn. It
	// defaults to 0.
	Seed uint64
	// Temperature is the contrastive methods' (simclr, moco, dense). It
	// defaults to the objective's.
	Temperature float64
	// Queue is MoCo's number of queued keys. It defaults to MoCo's.
	Queue int
	// Momentum is MoCo's key-encoder momentum. It defaults to MoCo's.
	Momentum float64
	// Lambda is Barlow Twins' redundancy weight. It defaults to
	// BarlowTwins'.
	Lambda float64
}

// NewPretext returns the objective of a method with opts. MoCo's is a
// fresh *MoCo (it has state); the others are values.
func NewPretext(method string, opts PretextOptions) (Pretext, error) {
	var o Pretext
	switch method {
	case MethodSimCLR:
		o = SimCLR{Temperature: opts.Temperature, Seed: opts.Seed}
	case MethodMoCo:
		o = &MoCo{Temperature: opts.Temperature, Queue: opts.Queue, Momentum: opts.Momentum, Seed: opts.Seed}
	case MethodBarlow:
		o = BarlowTwins{Lambda: opts.Lambda, Seed: opts.Seed}
	case MethodRotation:
		o = Rotation{Seed: opts.Seed}
	case MethodJigsaw:
		o = Jigsaw{Seed: opts.Seed}
	case MethodInpaint:
		o = Inpaint{Seed: opts.Seed}
	case MethodDense:
		o = DenseContrast{Temperature: opts.Temperature, Seed: opts.Seed}
	default:
		return nil, fmt.Errorf("%w: pre-training method %q (want one of %v)", ErrTrainConfig, method, PretextMethods())
	}
	if v, ok := o.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// PretrainModel is the model o trains: an encoder of size (NetEncoder)
// and o's heads, for w x h inputs.
func PretrainModel(o Pretext, w, h int, size string) (perception.ModelConfig, error) {
	heads, err := o.Heads(size)
	if err != nil {
		return perception.ModelConfig{}, err
	}
	nets := map[string]perception.NetConfig{perception.NetEncoder: perception.EncoderConfig{Size: size}}
	for name, c := range heads {
		if name == perception.NetEncoder {
			return perception.ModelConfig{}, fmt.Errorf("%w: %s names a head %s", ErrTrainConfig, o.Name(), name)
		}
		nets[name] = c
	}
	cfg := perception.ModelConfig{Width: w, Height: h, Nets: nets}.Fill()
	return cfg, cfg.Validate()
}

// encoderWidths returns the stage widths of an encoder size.
func encoderWidths(size string) ([perception.EncoderStages]int64, error) {
	if size == "" {
		size = perception.SizeDefault
	}
	wd, err := perception.EncoderWidths(size)
	if err != nil {
		return wd, fmt.Errorf("%w: %w", ErrTrainConfig, err)
	}
	return wd, nil
}

// pretextTrains is Trains of a Pretext: the encoder and the named heads.
func pretextTrains(o Objective, cfg perception.ModelConfig, heads ...string) ([]string, error) {
	nets := append([]string{perception.NetEncoder}, heads...)
	if err := requireNets(o.Name(), cfg, nets...); err != nil {
		return nil, err
	}
	if cfg.Nets[perception.NetEncoder].Kind() != perception.NetEncoder {
		return nil, fmt.Errorf("%w: %s trains a network %s of kind encoder, the model's is %s", ErrTrainConfig, o.Name(), perception.NetEncoder, cfg.Nets[perception.NetEncoder].Kind())
	}
	return nets, nil
}

// stepRNG is the random source of one Loss call: a pure function of the
// objective's seed, a stream (one per use) and the batch's step, so a
// resumed run draws what the uninterrupted one drew. Validation batches
// always draw the same numbers (a held-out loss comparable across steps).
func stepRNG(seed uint64, b *Batch, stream uint64) *rand.Rand {
	step := uint64(b.Step)
	if b.Validation {
		step = math.MaxUint64
	}
	return rand.New(rand.NewPCG(seed^(stream*0x9e3779b97f4a7c15), step))
}

// encoder returns the model's NetEncoder network.
func pretextEncoder(m *perception.Model) (*perception.Encoder, error) {
	e := m.EncoderOf(perception.NetEncoder)
	if e == nil {
		return nil, fmt.Errorf("%w: the model has no %s network", ErrTrainInput, perception.NetEncoder)
	}
	return e, nil
}

// netOf returns the named sub-network as a T.
func netOf[T any](m *perception.Model, name string) (T, error) {
	n, ok := m.Net(name).(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("%w: the model has no %s network of the kind wanted (it has %v)", ErrTrainInput, name, slices.Sorted(maps.Keys(m.Config().Nets)))
	}
	return n, nil
}

// encodeAll runs the encoder on x and returns its 5 features, owned by s.
func encodeAll(s *perception.Scope, e *perception.Encoder, x *ts.Tensor) []*ts.Tensor {
	if s.Err() != nil {
		return nil
	}
	feats, err := e.Forward(x)
	if err != nil {
		s.Fail(err)
		return nil
	}
	s.Add(feats...)
	return feats
}

// pooled is the global average of the encoder's coarsest feature of x:
// [N, width of stage 4], owned by s.
func pooled(s *perception.Scope, e *perception.Encoder, x *ts.Tensor) *ts.Tensor {
	feats := encodeAll(s, e, x)
	if feats == nil {
		return nil
	}
	return s.Do(func() (*ts.Tensor, error) { return feats[4].MeanDim([]int64{2, 3}, false, gotch.Float, false) })
}

// mlp runs the named MLP head on x, owned by s.
func mlp(s *perception.Scope, m *perception.Model, name string, x *ts.Tensor) *ts.Tensor {
	if s.Err() != nil {
		return nil
	}
	h, err := netOf[*perception.MLP](m, name)
	if err != nil {
		s.Fail(err)
		return nil
	}
	return s.Do(func() (*ts.Tensor, error) { return h.Forward(x) })
}

// needPairs checks a contrastive batch has negatives.
func needPairs(name string, b *Batch) error {
	if b.Size < 2 {
		return fmt.Errorf("%w: %s needs at least 2 samples a batch (the other samples are the negatives), got %d", ErrTrainInput, name, b.Size)
	}
	return nil
}

// twoViews draws two augmented views of every image of b.Target and
// returns them concatenated, [2B,3,H,W] (view 1 first), with their crops.
func twoViews(s *perception.Scope, a Augment, b *Batch, rng *rand.Rand, overlap bool) (*ts.Tensor, [2][]ViewGeom) {
	var geoms [2][]ViewGeom
	for range b.Size {
		g1, g2 := a.DrawGeom(rng), a.DrawGeom(rng)
		for try := 0; overlap && try < 10 && !overlaps(g1, g2); try++ {
			g2 = a.DrawGeom(rng)
		}
		if overlap && !overlaps(g1, g2) {
			g2 = ViewGeom{Sx: 1, Sy: 1}
		}
		geoms[0], geoms[1] = append(geoms[0], g1), append(geoms[1], g2)
	}
	v1 := a.Apply(s, b.Target, geoms[0], rng)
	v2 := a.Apply(s, b.Target, geoms[1], rng)
	x := s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*v1, *v2}, 0) })
	return x, geoms
}

// overlaps reports whether two crops share at least a fifth of the image
// in each direction (the dense method samples its points there).
func overlaps(a, b ViewGeom) bool {
	ax0, ay0, ax1, ay1 := a.Box()
	bx0, by0, bx1, by1 := b.Box()
	return math.Min(ax1, bx1)-math.Max(ax0, bx0) >= 0.4 && math.Min(ay1, by1)-math.Max(ay0, by0) >= 0.4
}

// halves splits x [2N,...] into its first and second N rows.
func halves(s *perception.Scope, x *ts.Tensor, n int64) (*ts.Tensor, *ts.Tensor) {
	a := s.Do(func() (*ts.Tensor, error) { return x.Narrow(0, 0, n, false) })
	b := s.Do(func() (*ts.Tensor, error) { return x.Narrow(0, n, n, false) })
	return a, b
}
