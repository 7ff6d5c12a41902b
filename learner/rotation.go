package learner

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// Rotation's head and loss term.
const (
	NetRotation  = "rotation"
	TermRotation = "rotation"
)

// Rotation is the rotation-prediction pretext task of Gidaris et al. 2018
// on the shared encoder: every frame of the batch is shown at 0, 90, 180
// and 270 degrees and a classifier on the pooled coarsest feature
// (NetRotation, 4 classes) names the rotation, cross-entropy over the 4B
// images. Telling up from down needs the scene's layout (ground below,
// facades and lid above), which is what depth needs too. Against shortcuts
// the views are square crops (side the frame's height, at a random column)
// rotated by exact transposes and flips: the shape of the image and its
// borders say nothing of the rotation, and no interpolation leaves a
// trace. Zero fields take the documented defaults.
type Rotation struct {
	// Hidden is the classifier's hidden width; 0 makes it linear on the
	// pooled feature, so the encoder does the work. It defaults to 0.
	Hidden int
	// Seed seeds the crops. It defaults to 0.
	Seed uint64
}

// Name is "pretrain/rotation".
func (Rotation) Name() string { return "pretrain/" + MethodRotation }

// Needs only the frame.
func (Rotation) Needs() Needs { return Needs{} }

// Trains the encoder and the classifier.
func (o Rotation) Trains(cfg perception.ModelConfig) ([]string, error) {
	return pretextTrains(o, cfg, NetRotation)
}

// Heads is the 4-way classifier.
func (o Rotation) Heads(size string) (map[string]perception.NetConfig, error) {
	wd, err := encoderWidths(size)
	if err != nil {
		return nil, err
	}
	return map[string]perception.NetConfig{NetRotation: perception.ClassifierConfig{In: int(wd[4]), Hidden: o.Hidden, Classes: 4}}, nil
}

// Loss is the 4-way cross-entropy.
func (o Rotation) Loss(s *perception.Scope, m *perception.Model, b *Batch) (Loss, error) {
	e, err := pretextEncoder(m)
	if err != nil {
		return Loss{}, err
	}
	side := int64(min(b.Width, b.Height))
	if side%32 != 0 {
		return Loss{}, fmt.Errorf("%w: %s: square crops of %d pixels (want a multiple of 32)", ErrTrainInput, o.Name(), side)
	}
	rng := stepRNG(o.Seed, b, 4)
	crops := make([]ts.Tensor, 0, b.Size)
	for i := range b.Size {
		x0 := int64(rng.IntN(b.Width - int(side) + 1))
		y0 := int64(rng.IntN(b.Height - int(side) + 1))
		c := s.Do(func() (*ts.Tensor, error) { return b.Target.Narrow(0, int64(i), 1, false) })
		c = s.Do(func() (*ts.Tensor, error) { return c.Narrow(3, x0, side, false) })
		c = s.Do(func() (*ts.Tensor, error) { return c.Narrow(2, y0, side, false) })
		if s.Err() != nil {
			return Loss{}, s.Err()
		}
		crops = append(crops, *c)
	}
	sq := s.Do(func() (*ts.Tensor, error) { return ts.Cat(crops, 0) })
	rots := []ts.Tensor{}
	labels := make([]int, 0, 4*b.Size)
	for k := range int64(4) {
		r := sq
		if k > 0 {
			r = s.Do(func() (*ts.Tensor, error) { return sq.Rot90(k, []int64{2, 3}, false) })
		}
		if s.Err() != nil {
			return Loss{}, s.Err()
		}
		rots = append(rots, *r)
		for range b.Size {
			labels = append(labels, int(k))
		}
	}
	x := s.Do(func() (*ts.Tensor, error) { return ts.Cat(rots, 0) })
	logits := mlp(s, m, NetRotation, pooled(s, e, x))
	l := crossEntropy(s, logits, labels)
	return Loss{Total: l, Terms: []Term{{TermRotation, l}}}, s.Err()
}
