package perception

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/msgs"
)

// FlowField is a dense optical flow at a network's input size: 2 values
// (dx, dy) a pixel, interleaved, in pixels of that size, row-major — the
// layout of msgs.GroundTruth.Flow, so the two compare value by value.
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
	err = NoGrad(func() error {
		x, _, err := FramesTensor([]*msgs.Frame{a, b}, cfg.Width, cfg.Height, m.Device())
		if err != nil {
			return err
		}
		defer x.MustDrop()
		out, err = flowBetween(fn, x, 0, 1)
		return err
	})
	return out, err
}

// flowBetween runs the flow network from image i to image j of the batch
// x [N,3,H,W] (no gradient; on the worker) and returns the
// full-resolution flow, interleaved.
func flowBetween(fn *FlowNet, x *ts.Tensor, i, j int64) (out FlowField, err error) {
	sz, err := x.Size()
	if err != nil {
		return FlowField{}, err
	}
	W, H := int(sz[3]), int(sz[2])
	err = NoGrad(func() error {
		s := NewScope("perception: flow")
		defer s.Free()
		xa := s.Do(func() (*ts.Tensor, error) { return x.Narrow(0, i, 1, false) })
		xb := s.Do(func() (*ts.Tensor, error) { return x.Narrow(0, j, 1, false) })
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
		out = FlowField{Width: W, Height: H, Flow: InterleaveFlow(v, W, H)}
		return nil
	})
	return out, err
}

// SceneFlowFromDepth derives camera-relative 3D scene flow from a flow
// field and the depth maps of its two frames, all at one size with d0's
// intrinsics: each pixel p of the first frame back-projects at depth
// d0(p); its match p+flow(p) back-projects at d1 sampled bilinearly there,
// in the second frame's camera; the difference (metres, 3 values a pixel,
// interleaved) is the scene point's position in the second camera minus
// its position in the first — msgs.GroundTruth.SceneFlow's and
// parallax.v1.SceneFlow's convention with ego_motion_removed false. It is
// what depth and flow networks imply, not a scene-flow network's estimate:
// it inherits both networks' errors. NaN where the match leaves the image
// or a depth is unknown (not positive).
func SceneFlowFromDepth(d0, d1 msgs.DepthMap, flow FlowField) ([]float32, error) {
	w, h := flow.Width, flow.Height
	switch {
	case d0.Intrinsics == nil:
		return nil, fmt.Errorf("%w: scene flow needs the depth map's intrinsics", ErrConfig)
	case d0.Width != w || d0.Height != h || d1.Width != w || d1.Height != h || len(flow.Flow) != 2*w*h || len(d0.Depth) != w*h || len(d1.Depth) != w*h:
		return nil, fmt.Errorf("%w: scene flow of %dx%d flow (%d values), depth maps %dx%d and %dx%d", ErrInputShape, w, h, len(flow.Flow), d0.Width, d0.Height, d1.Width, d1.Height)
	}
	k := d0.Intrinsics
	nan := float32(math.NaN())
	out := make([]float32, 3*w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			u0, v0 := float64(x)+0.5, float64(y)+0.5
			u1, v1 := u0+float64(flow.Flow[2*i]), v0+float64(flow.Flow[2*i+1])
			z0 := float64(d0.Depth[i])
			z1 := bilinear(d1.Depth, w, h, u1-0.5, v1-0.5)
			if !(z0 > 0) || !(z1 > 0) {
				out[3*i], out[3*i+1], out[3*i+2] = nan, nan, nan
				continue
			}
			out[3*i] = float32((u1-k.Cx)/k.Fx*z1 - (u0-k.Cx)/k.Fx*z0)
			out[3*i+1] = float32((v1-k.Cy)/k.Fy*z1 - (v0-k.Cy)/k.Fy*z0)
			out[3*i+2] = float32(z1 - z0)
		}
	}
	return out, nil
}

// bilinear samples img (w x h, row-major) at (x, y) in pixel indices; NaN
// outside [0, w-1] x [0, h-1] or next to a non-positive value.
func bilinear(img []float32, w, h int, x, y float64) float64 {
	if !(x >= 0 && y >= 0 && x <= float64(w-1) && y <= float64(h-1)) {
		return math.NaN()
	}
	x0, y0 := min(int(x), w-2), min(int(y), h-2)
	if w == 1 || h == 1 {
		x0, y0 = min(int(x), max(w-2, 0)), min(int(y), max(h-2, 0))
	}
	fx, fy := x-float64(x0), y-float64(y0)
	at := func(xx, yy int) float64 {
		v := float64(img[min(yy, h-1)*w+min(xx, w-1)])
		if !(v > 0) {
			return math.NaN()
		}
		return v
	}
	return (1-fy)*((1-fx)*at(x0, y0)+fx*at(x0+1, y0)) + fy*((1-fx)*at(x0, y0+1)+fx*at(x0+1, y0+1))
}

// InterleaveFlow turns a planar flow (the network's [2,H,W]: all dx, then
// all dy) into the interleaved layout of FlowField and the ground truth
// (dx, dy a pixel). Reading one layout as the other pairs unrelated
// values, so evaluation goes through this one conversion.
func InterleaveFlow(planar []float32, w, h int) []float32 {
	n := w * h
	out := make([]float32, 2*n)
	for i := 0; i < n; i++ {
		out[2*i], out[2*i+1] = planar[i], planar[n+i]
	}
	return out
}
