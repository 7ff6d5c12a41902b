package perception

import (
	"fmt"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// pyramidLevels is the depth of the coarse-to-fine networks' feature
// pyramids (strides 2 .. 16).
const pyramidLevels = 4

// pyramid is the siamese feature pyramid of the two-view networks (FlowNet,
// StereoNet): per level a stride-2 and a stride-1 3x3 convolution, each
// followed by a leaky ReLU, the same weights for both images. Its variables
// are enc<l>.conv0 and enc<l>.conv1 under the network's path.
type pyramid [pyramidLevels][2]*conv2d

func newPyramid(p *nn.Path, widths [pyramidLevels]int64) (pyramid, error) {
	var py pyramid
	in := int64(3)
	for l, w := range widths {
		ep := p.Sub(fmt.Sprintf("enc%d", l))
		var err error
		if py[l][0], err = newConv(ep.Sub("conv0"), in, w, 3, 2, false); err != nil {
			return py, err
		}
		if py[l][1], err = newConv(ep.Sub("conv1"), w, w, 3, 1, false); err != nil {
			return py, err
		}
		in = w
	}
	return py, nil
}

// features runs a and b, [B,3,H,W] in [0,1], through the pyramid as one
// batch of 2B and returns each level's features, a's in the first B rows
// and b's in the last. A level cut > 0 gets its input detached, so no
// gradient reaches the levels below it (MAD's block step); -1 cuts nothing.
// The tensors belong to s.
func (py *pyramid) features(s *Scope, a, b *ts.Tensor, cut int) [pyramidLevels]*ts.Tensor {
	x := s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*a, *b}, 0) })
	h := s.Do(func() (*ts.Tensor, error) { return normalise(x) })
	var feats [pyramidLevels]*ts.Tensor
	for l := range py {
		if l == cut && l > 0 {
			h = s.Do(func() (*ts.Tensor, error) { return h.Detach(false) })
		}
		for _, c := range py[l] {
			y := s.Do(func() (*ts.Tensor, error) { return c.forward(h) })
			h = s.Do(func() (*ts.Tensor, error) { return y.LeakyRelu(false) })
		}
		feats[l] = h
	}
	return feats
}

// estimator is one pyramid level's small decoder: two 3x3 convolutions
// with leaky ReLU and a linear 3x3 head whose weights start scaled down, so
// an untrained estimator's residual is near zero. Its variables are conv0,
// conv1 and head under p.
type estimator [3]*conv2d

func newEstimator(p *nn.Path, in, width, out int64, head string) (estimator, error) {
	var e estimator
	var err error
	w := max(width, 24)
	if e[0], err = newConv(p.Sub("conv0"), in, w, 3, 1, false); err != nil {
		return e, err
	}
	if e[1], err = newConv(p.Sub("conv1"), w, w/2, 3, 1, false); err != nil {
		return e, err
	}
	if e[2], err = newConv(p.Sub(head), w/2, out, 3, 1, false); err != nil {
		return e, err
	}
	return e, scaleInit(e[2], 0.05, 0)
}

// forward runs the estimator on h; the result belongs to s.
func (e *estimator) forward(s *Scope, h *ts.Tensor) *ts.Tensor {
	for i, c := range e {
		y := s.Do(func() (*ts.Tensor, error) { return c.forward(h) })
		if i < len(e)-1 {
			h = s.Do(func() (*ts.Tensor, error) { return y.LeakyRelu(false) })
		} else {
			h = y
		}
	}
	return h
}
