package learner

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// TermBarlow is Barlow Twins' loss term.
const TermBarlow = "barlow"

// BarlowTwins is the objective of Zbontar et al. 2021 on the shared
// encoder: two augmented views of every frame (Augment), the pooled
// coarsest feature, a projection head (NetProjection) and
// BarlowTwinsLoss of the two views' embeddings, each normalised along the
// batch. It needs no negatives and no momentum encoder: the
// redundancy-reduction term keeps the embedding from collapsing. Zero
// fields take the documented defaults.
type BarlowTwins struct {
	// Lambda weighs the off-diagonal (redundancy) term. It defaults to
	// 5e-3 (the paper's).
	Lambda float64
	// Hidden and Out are the projection head's widths (Out is the
	// dimension D of the cross-correlation). They default to 256 and 128.
	Hidden, Out int
	// Augment makes the views.
	Augment Augment
	// Seed seeds the views. It defaults to 0.
	Seed uint64
}

func (o BarlowTwins) filled() BarlowTwins {
	if o.Lambda == 0 {
		o.Lambda = 5e-3
	}
	return o
}

// Validate checks lambda and the augmentations.
func (o BarlowTwins) Validate() error {
	o = o.filled()
	if !(o.Lambda > 0 && o.Lambda <= 1) || math.IsNaN(o.Lambda) {
		return fmt.Errorf("%w: barlow lambda %v (want 0 < lambda <= 1)", ErrTrainConfig, o.Lambda)
	}
	return o.Augment.Validate()
}

// Name is "pretrain/barlow".
func (BarlowTwins) Name() string { return "pretrain/" + MethodBarlow }

// Needs only the frame.
func (BarlowTwins) Needs() Needs { return Needs{} }

// Trains the encoder and the projection head.
func (o BarlowTwins) Trains(cfg perception.ModelConfig) ([]string, error) {
	return pretextTrains(o, cfg, NetProjection)
}

// Heads is the projection head.
func (o BarlowTwins) Heads(size string) (map[string]perception.NetConfig, error) {
	return SimCLR{Hidden: o.Hidden, Out: o.Out}.Heads(size)
}

// Loss is BarlowTwinsLoss of the two views' projections.
func (o BarlowTwins) Loss(s *perception.Scope, m *perception.Model, b *Batch) (Loss, error) {
	o = o.filled()
	if err := needPairs(o.Name(), b); err != nil {
		return Loss{}, err
	}
	z1, z2 := projectViews(s, m, o.Augment, b, stepRNG(o.Seed, b, 2))
	l := s.Do(func() (*ts.Tensor, error) { return BarlowTwinsLoss(z1, z2, o.Lambda) })
	return Loss{Total: l, Terms: []Term{{TermBarlow, l}}}, s.Err()
}
