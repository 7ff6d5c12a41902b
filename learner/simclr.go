package learner

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// Names of the pre-training heads and loss terms.
const (
	// NetProjection is the contrastive methods' projection head.
	NetProjection = "projection"
	// TermInfoNCE is SimCLR's, MoCo's and the dense method's loss term.
	TermInfoNCE = "infonce"
)

// SimCLR is the contrastive objective of Chen et al. 2020 on the shared
// encoder: two augmented views of every frame of the batch (Augment), the
// encoder's pooled coarsest feature h, a projection head z = g(h)
// (NetProjection, two-layer MLP) and InfoNCE with cosine/temperature
// scores, the other 2B-2 views of the batch being the negatives. The
// projection is thrown away afterwards: h is the representation. Zero
// fields take the documented defaults.
type SimCLR struct {
	// Temperature divides the cosine scores. It defaults to 0.2 (SimCLR's
	// best at small batches lies between 0.1 and 0.5).
	Temperature float64
	// Hidden and Out are the projection head's widths. They default to
	// 256 and 128.
	Hidden, Out int
	// Augment makes the views. Its zero value is SimCLR's recipe scaled to
	// low resolution (see Augment).
	Augment Augment
	// Seed seeds the views. It defaults to 0.
	Seed uint64
}

func (o SimCLR) filled() SimCLR {
	if o.Temperature == 0 {
		o.Temperature = 0.2
	}
	return o
}

// Validate checks the temperature and the augmentations.
func (o SimCLR) Validate() error {
	o = o.filled()
	if err := validTemperature(o.Temperature); err != nil {
		return err
	}
	return o.Augment.Validate()
}

func validTemperature(t float64) error {
	if !(t >= 0.01 && t <= 10) || math.IsNaN(t) {
		return fmt.Errorf("%w: temperature %v (want 0.01..10)", ErrTrainConfig, t)
	}
	return nil
}

// Name is "pretrain/simclr".
func (SimCLR) Name() string { return "pretrain/" + MethodSimCLR }

// Needs only the frame.
func (SimCLR) Needs() Needs { return Needs{} }

// Trains the encoder and the projection head.
func (o SimCLR) Trains(cfg perception.ModelConfig) ([]string, error) {
	return pretextTrains(o, cfg, NetProjection)
}

// Heads is the projection head.
func (o SimCLR) Heads(size string) (map[string]perception.NetConfig, error) {
	wd, err := encoderWidths(size)
	if err != nil {
		return nil, err
	}
	return map[string]perception.NetConfig{NetProjection: perception.ProjectionConfig{In: int(wd[4]), Hidden: o.Hidden, Out: o.Out, BatchNorm: true}}, nil
}

// Loss is InfoNCE of the two views' projections.
func (o SimCLR) Loss(s *perception.Scope, m *perception.Model, b *Batch) (Loss, error) {
	o = o.filled()
	if err := needPairs(o.Name(), b); err != nil {
		return Loss{}, err
	}
	z1, z2 := projectViews(s, m, o.Augment, b, stepRNG(o.Seed, b, 1))
	l := s.Do(func() (*ts.Tensor, error) { return InfoNCE(z1, z2, o.Temperature) })
	return Loss{Total: l, Terms: []Term{{TermInfoNCE, l}}}, s.Err()
}

// projectViews makes two views of every frame, runs them through the
// encoder in one batch, pools and projects them: z1, z2 [B,Out].
func projectViews(s *perception.Scope, m *perception.Model, a Augment, b *Batch, rng *rand.Rand) (*ts.Tensor, *ts.Tensor) {
	e, err := pretextEncoder(m)
	if err != nil {
		s.Fail(err)
		return nil, nil
	}
	x, _ := twoViews(s, a, b, rng, false)
	z := mlp(s, m, NetProjection, pooled(s, e, x))
	return halves(s, z, int64(b.Size))
}
