package learner

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// DenseContrast is the pixel-level variant of SimCLR (in the spirit of
// VADeR, DenseCL and PixPro, which the literature finds suits dense
// prediction such as depth better than image-level contrast): two
// augmented views of the same frame whose crops overlap (Augment, crops
// redrawn until they share at least a fifth of the frame in each
// direction), Points points per frame drawn in the overlap, the encoder's
// features of stages 3 and 4 (1/16 and 1/32) sampled bilinearly at each
// point in each view (the crops are known, so a point's place in either
// view is too), concatenated, projected (NetProjection) and contrasted
// with InfoNCE: a point's positive is the same scene point in the other
// view, its negatives every other point of the batch, of its own frame
// included. Zero fields take the documented defaults.
type DenseContrast struct {
	// Temperature divides the cosine scores. It defaults to 0.2.
	Temperature float64
	// Points is the number of points a frame. It defaults to 16.
	Points int
	// Hidden and Out are the projection head's widths. They default to 256
	// and 128.
	Hidden, Out int
	// Augment makes the views.
	Augment Augment
	// Seed seeds the views and points. It defaults to 0.
	Seed uint64
}

func (o DenseContrast) filled() DenseContrast {
	if o.Temperature == 0 {
		o.Temperature = 0.2
	}
	if o.Points == 0 {
		o.Points = 16
	}
	return o
}

// Validate checks the settings.
func (o DenseContrast) Validate() error {
	o = o.filled()
	if err := validTemperature(o.Temperature); err != nil {
		return err
	}
	if o.Points < 1 || o.Points > 1024 {
		return fmt.Errorf("%w: dense contrast %d points a frame (want 1..1024)", ErrTrainConfig, o.Points)
	}
	return o.Augment.Validate()
}

// Name is "pretrain/dense".
func (DenseContrast) Name() string { return "pretrain/" + MethodDense }

// Needs only the frame.
func (DenseContrast) Needs() Needs { return Needs{} }

// Trains the encoder and the projection head.
func (o DenseContrast) Trains(cfg perception.ModelConfig) ([]string, error) {
	return pretextTrains(o, cfg, NetProjection)
}

// Heads is the projection of the sampled stage-3 and stage-4 features.
func (o DenseContrast) Heads(size string) (map[string]perception.NetConfig, error) {
	wd, err := encoderWidths(size)
	if err != nil {
		return nil, err
	}
	return map[string]perception.NetConfig{NetProjection: perception.ProjectionConfig{In: int(wd[3] + wd[4]), Hidden: o.Hidden, Out: o.Out, BatchNorm: true}}, nil
}

// Loss is InfoNCE over the points of the batch.
func (o DenseContrast) Loss(s *perception.Scope, m *perception.Model, b *Batch) (Loss, error) {
	o = o.filled()
	if b.Size*o.Points < 2 {
		return Loss{}, fmt.Errorf("%w: %s needs at least 2 points a batch", ErrTrainInput, o.Name())
	}
	e, err := pretextEncoder(m)
	if err != nil {
		return Loss{}, err
	}
	rng := stepRNG(o.Seed, b, 7)
	x, geoms := twoViews(s, o.Augment, b, rng, true)
	// The points, in source coordinates in both crops' overlap, then in
	// each view's coordinates: grid [2B,1,P,2], views in x's order.
	p := o.Points
	grid := make([]float32, 2*b.Size*p*2)
	for i := range b.Size {
		g1, g2 := geoms[0][i], geoms[1][i]
		ax0, ay0, ax1, ay1 := g1.Box()
		bx0, by0, bx1, by1 := g2.Box()
		x0, y0, x1, y1 := max(ax0, bx0), max(ay0, by0), min(ax1, bx1), min(ay1, by1)
		for j := range p {
			sx, sy := x0+(x1-x0)*rng.Float64(), y0+(y1-y0)*rng.Float64()
			for v, g := range []ViewGeom{g1, g2} {
				vx, vy := g.ToView(sx, sy)
				o := ((v*b.Size+i)*p + j) * 2
				grid[o], grid[o+1] = float32(vx), float32(vy)
			}
		}
	}
	feats := encodeAll(s, e, x)
	if feats == nil {
		return Loss{}, s.Err()
	}
	n2 := int64(2 * b.Size)
	gt := s.Do(func() (*ts.Tensor, error) {
		return perception.FloatTensor(grid, []int64{n2, 1, int64(p), 2}, m.Device())
	})
	sample := func(f *ts.Tensor) *ts.Tensor {
		// [2B,C,1,P] -> [2B,P,C]
		v := s.Do(func() (*ts.Tensor, error) { return ts.GridSampler(f, gt, gridBilinear, gridBorder, false) })
		v = s.Do(func() (*ts.Tensor, error) { return v.Select(2, 0, false) })
		return s.Do(func() (*ts.Tensor, error) { return v.Transpose(1, 2, false) })
	}
	f3, f4 := sample(feats[3]), sample(feats[4])
	fc := s.Do(func() (*ts.Tensor, error) {
		if s.Err() != nil {
			return nil, s.Err()
		}
		return ts.Cat([]ts.Tensor{*f3, *f4}, 2)
	})
	fc = s.Do(func() (*ts.Tensor, error) { return fc.Reshape([]int64{n2 * int64(p), -1}, false) })
	z := mlp(s, m, NetProjection, fc)
	z1, z2 := halves(s, z, int64(b.Size*p))
	l := s.Do(func() (*ts.Tensor, error) { return InfoNCE(z1, z2, o.Temperature) })
	return Loss{Total: l, Terms: []Term{{TermInfoNCE, l}}}, s.Err()
}
