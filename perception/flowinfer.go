package perception

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/msgs"
)

// FlowField is a dense optical flow at a network's input size: 2 values
// (dx, dy) a pixel, in pixels of that size, row-major.
type FlowField struct {
	Width, Height int
	Flow          []float32
}

// EstimateFlow runs the model's flow network named net on frames a (the
// reference) and b (the next frame), each prepared as the Estimator
// prepares frames (centre crop to the model's aspect, resize), and returns
// the full-resolution flow from a to b at the model's input size. Run it on
// the model's Worker.
func EstimateFlow(m *Model, net string, a, b *msgs.Frame) (out FlowField, err error) {
	defer Recover("perception", "EstimateFlow", &err)
	fn, _ := m.Net(net).(*FlowNet)
	if fn == nil {
		return FlowField{}, fmt.Errorf("%w: the model has no flow network %q (%v)", ErrConfig, net, m.Config().Names())
	}
	if a == nil || b == nil {
		return FlowField{}, fmt.Errorf("%w: EstimateFlow needs two frames", ErrInputShape)
	}
	cfg := m.Config()
	W, H := cfg.Width, cfg.Height
	err = NoGrad(func() error {
		s := NewScope("perception: EstimateFlow")
		defer s.Free()
		x, _, err := FramesTensor([]*msgs.Frame{a, b}, W, H, m.Device())
		if err != nil {
			return err
		}
		s.Add(x)
		xa := s.Do(func() (*ts.Tensor, error) { return x.Narrow(0, 0, 1, false) })
		xb := s.Do(func() (*ts.Tensor, error) { return x.Narrow(0, 1, 1, false) })
		if s.Err() != nil {
			return s.Err()
		}
		flows, err := fn.Forward(xa, xb)
		if err != nil {
			return err
		}
		s.Add(flows...)
		full := s.Do(func() (*ts.Tensor, error) { return FlowFull(flows[0], H, W) })
		if s.Err() != nil {
			return s.Err()
		}
		v, err := TensorFloat32s(full)
		if err != nil {
			return err
		}
		out = FlowField{Width: W, Height: H, Flow: v}
		return nil
	})
	return out, err
}
