package learner

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// Inpainting's head and loss term.
const (
	NetInpaint  = "inpaint"
	TermInpaint = "inpaint"
)

// Inpaint is the context-encoder pretext task of Pathak et al. 2016 on
// the shared encoder, without the adversarial term: a random rectangle of
// every frame (HoleFrac of its area, the frame's aspect ratio) is filled
// with the input mean, the encoder's coarsest feature goes through the
// inpainting decoder (NetInpaint, no skips, so the encoder must carry the
// context) and the loss is the mean squared error over the hole's pixels.
// Zero fields take the documented defaults.
type Inpaint struct {
	// HoleFrac is the hole's area as a fraction of the frame. It defaults
	// to 0.25 (Pathak's random-block masks cover about a quarter).
	HoleFrac float64
	// Seed seeds the holes. It defaults to 0.
	Seed uint64
}

func (o Inpaint) filled() Inpaint {
	if o.HoleFrac == 0 {
		o.HoleFrac = 0.25
	}
	return o
}

// Validate checks the hole's size.
func (o Inpaint) Validate() error {
	if f := o.filled().HoleFrac; !(f >= 0.01 && f <= 0.8) || math.IsNaN(f) {
		return fmt.Errorf("%w: inpaint hole %v of the frame (want 0.01..0.8)", ErrTrainConfig, f)
	}
	return nil
}

// Name is "pretrain/inpaint".
func (Inpaint) Name() string { return "pretrain/" + MethodInpaint }

// Needs only the frame.
func (Inpaint) Needs() Needs { return Needs{} }

// Trains the encoder and the decoder.
func (o Inpaint) Trains(cfg perception.ModelConfig) ([]string, error) {
	return pretextTrains(o, cfg, NetInpaint)
}

// Heads is the inpainting decoder.
func (o Inpaint) Heads(size string) (map[string]perception.NetConfig, error) {
	if _, err := encoderWidths(size); err != nil {
		return nil, err
	}
	if size == "" {
		size = perception.SizeDefault
	}
	return map[string]perception.NetConfig{NetInpaint: perception.InpaintConfig{Size: size}}, nil
}

// Loss is the squared error of the reconstruction over the holes.
func (o Inpaint) Loss(s *perception.Scope, m *perception.Model, b *Batch) (Loss, error) {
	o = o.filled()
	e, err := pretextEncoder(m)
	if err != nil {
		return Loss{}, err
	}
	dec, err := netOf[*perception.InpaintNet](m, NetInpaint)
	if err != nil {
		return Loss{}, err
	}
	rng := stepRNG(o.Seed, b, 6)
	w, h := b.Width, b.Height
	hw := max(1, int(math.Round(math.Sqrt(o.HoleFrac)*float64(w))))
	hh := max(1, int(math.Round(math.Sqrt(o.HoleFrac)*float64(h))))
	mask := make([]float32, b.Size*w*h)
	for i := range b.Size {
		x0, y0 := rng.IntN(w-hw+1), rng.IntN(h-hh+1)
		for y := y0; y < y0+hh; y++ {
			for x := x0; x < x0+hw; x++ {
				mask[(i*h+y)*w+x] = 1
			}
		}
	}
	mt := s.Do(func() (*ts.Tensor, error) {
		return perception.FloatTensor(mask, []int64{int64(b.Size), 1, int64(h), int64(w)}, m.Device())
	})
	// x' = x + mask*(0.45 - x): the hole holds the input mean, 0 after the
	// encoder's normalisation.
	d := s.Do(func() (*ts.Tensor, error) { return b.Target.MulScalar(s.Scalar(-1), false) })
	d = s.Do(func() (*ts.Tensor, error) { return d.AddScalar(s.Scalar(0.45), false) })
	d = s.Do(func() (*ts.Tensor, error) { return d.Mul(mt, false) })
	in := s.Do(func() (*ts.Tensor, error) { return b.Target.Add(d, false) })
	feats := encodeAll(s, e, in)
	if feats == nil {
		return Loss{}, s.Err()
	}
	y := s.Do(func() (*ts.Tensor, error) { return dec.Forward(feats[4]) })
	diff := s.Do(func() (*ts.Tensor, error) { return y.Sub(b.Target, false) })
	sq := s.Do(func() (*ts.Tensor, error) { return diff.Square(false) })
	sq = s.Do(func() (*ts.Tensor, error) { return sq.Mul(mt, false) })
	sum := s.Do(func() (*ts.Tensor, error) { return sq.Sum(gotch.Float, false) })
	l := s.Do(func() (*ts.Tensor, error) {
		return sum.MulScalar(s.Scalar(1/float64(3*b.Size*hw*hh)), false)
	})
	return Loss{Total: l, Terms: []Term{{TermInpaint, l}}}, s.Err()
}
