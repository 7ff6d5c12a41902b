package perception

import (
	"errors"
	"fmt"
	"sync"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

var (
	// ErrFrame is returned for a frame the estimator cannot use (no pixels,
	// a pixel buffer that does not match its size).
	ErrFrame = errors.New("perception: bad frame")
)

// Estimator runs a Model's networks on frames, on a Worker. Its methods are
// safe for concurrent use (the worker serialises them); SetModel swaps the
// model between calls, never during one.
type Estimator struct {
	w  *Worker
	mu sync.Mutex
	m  *Model
}

// NewEstimator makes an estimator running m on w.
func NewEstimator(m *Model, w *Worker) *Estimator {
	return &Estimator{w: w, m: m}
}

// Model returns the current model.
func (e *Estimator) Model() *Model {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.m
}

// SetModel replaces the model used by later calls and returns the previous
// one (the caller closes it, on the worker, once no call uses it). The new
// model must have the same input size to keep msgs.DepthMap sizes stable; that is
// not enforced.
func (e *Estimator) SetModel(m *Model) *Model {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.m
	e.m = m
	return old
}

// CropFor returns the centred crop of a w x h image with the aspect ratio of
// mw x mh: the largest such window, so resizing it keeps the aspect.
func CropFor(w, h, mw, mh int) (x0, y0, cw, ch int) {
	// Compare w/h with mw/mh in integers.
	if w*mh > h*mw { // wider than the model: cut the sides
		cw = (h*mw + mh/2) / mh
		return (w - cw) / 2, 0, cw, h
	}
	ch = (w*mh + mw/2) / mw
	return 0, (h - ch) / 2, w, ch
}

// CropIntrinsics returns the intrinsics of a w x h image's centred crop
// with the aspect ratio of mw x mh (CropFor) resized to mw x mh: what the
// networks see of a frame, and what stereo matching at the model's size
// sees. Nil for nil.
func CropIntrinsics(k *msgs.Intrinsics, w, h, mw, mh int) *msgs.Intrinsics {
	if k == nil {
		return nil
	}
	x0, y0, cw, ch := CropFor(w, h, mw, mh)
	in := *k
	in.Cx -= float64(x0)
	in.Cy -= float64(y0)
	in.Width, in.Height = cw, ch
	s := in.Scaled(mw, mh)
	return &s
}

// frameTensor converts a frame to [1,3,mh,mw] float32 in [0,1]: the centred
// crop with the model's aspect ratio (so objects keep their shape and the
// intrinsics stay a pinhole model), resized with bilinear interpolation
// (align_corners=false, no antialiasing: downscaling by more than 2x
// aliases). It returns the intrinsics of the result.
func frameTensor(f *msgs.Frame, mw, mh int, dev gotch.Device) (*ts.Tensor, *msgs.Intrinsics, error) {
	if f == nil {
		return nil, nil, fmt.Errorf("%w: nil frame", ErrFrame)
	}
	if f.Width < 1 || f.Height < 1 || len(f.Pix) != 3*f.Width*f.Height {
		return nil, nil, fmt.Errorf("%w: %s #%d: %dx%d with %d bytes (want 3*W*H packed RGB)", ErrFrame, f.Camera, f.Seq, f.Width, f.Height, len(f.Pix))
	}
	x0, y0, cw, ch := CropFor(f.Width, f.Height, mw, mh)
	if cw < 1 || ch < 1 {
		return nil, nil, fmt.Errorf("%w: %s #%d: %dx%d too small", ErrFrame, f.Camera, f.Seq, f.Width, f.Height)
	}
	k := CropIntrinsics(f.Intrinsics, f.Width, f.Height, mw, mh)
	// Crop rows in Go (a contiguous slice), columns in torch.
	pix := f.Pix[3*f.Width*y0 : 3*f.Width*(y0+ch)]
	t, err := BytesTensor(pix, []int64{int64(ch), int64(f.Width), 3})
	if err != nil {
		return nil, nil, err
	}
	steps := []func(*ts.Tensor) (*ts.Tensor, error){
		func(t *ts.Tensor) (*ts.Tensor, error) {
			if cw == f.Width {
				return t.Contiguous(false) // a copy, so the step owns it
			}
			return t.Narrow(1, int64(x0), int64(cw), false)
		},
		func(t *ts.Tensor) (*ts.Tensor, error) { return t.Permute([]int64{2, 0, 1}, false) },
		func(t *ts.Tensor) (*ts.Tensor, error) { return t.Unsqueeze(0, false) },
		func(t *ts.Tensor) (*ts.Tensor, error) {
			if dev.IsCuda() {
				return t.To(dev, false)
			}
			return t.Contiguous(false)
		},
		func(t *ts.Tensor) (*ts.Tensor, error) { return t.Totype(gotch.Float, false) },
		func(t *ts.Tensor) (*ts.Tensor, error) {
			s := ts.FloatScalar(1.0 / 255)
			defer s.MustDrop()
			return t.MulScalar(s, false)
		},
		func(t *ts.Tensor) (*ts.Tensor, error) {
			if cw == mw && ch == mh {
				return t.Contiguous(false)
			}
			return t.UpsampleBilinear2d([]int64{int64(mh), int64(mw)}, false, nil, nil, false)
		},
	}
	for _, st := range steps {
		next, err := st(t)
		t.MustDrop()
		if err != nil {
			return nil, nil, fmt.Errorf("perception: frame %s #%d to tensor: %w", f.Camera, f.Seq, err)
		}
		t = next
	}
	return t, k, nil
}

// FramesTensor stacks frames into [B,3,mh,mw] float32 in [0,1] on dev, each
// centre-cropped to the model's aspect ratio (CropFor) and resized, and
// returns each frame's intrinsics scaled to that input (nil where a frame
// has none). Inference and training both use it, so the networks learn on
// exactly the pixels they later see.
func FramesTensor(frames []*msgs.Frame, mw, mh int, dev gotch.Device) (*ts.Tensor, []*msgs.Intrinsics, error) {
	list := make([]ts.Tensor, 0, len(frames))
	ks := make([]*msgs.Intrinsics, 0, len(frames))
	defer func() {
		for i := range list {
			list[i].MustDrop()
		}
	}()
	for _, f := range frames {
		t, k, err := frameTensor(f, mw, mh, dev)
		if err != nil {
			return nil, nil, err
		}
		list = append(list, *t)
		ks = append(ks, k)
	}
	if len(list) == 1 {
		x, err := list[0].Contiguous(false)
		return x, ks, err
	}
	x, err := ts.Cat(list, 0)
	return x, ks, err
}

// Depth estimates depth for each frame in one batch and returns one map
// per frame at the model's input resolution. Frames of any size are
// centre-cropped to the model's aspect ratio and resized (see DepthMap's
// Intrinsics).
func (e *Estimator) Depth(frames ...*msgs.Frame) ([]msgs.DepthMap, error) {
	if len(frames) == 0 {
		return nil, nil
	}
	m := e.Model()
	var out []msgs.DepthMap
	err := e.w.Do(func() error {
		cfg := m.Config()
		x, ks, err := FramesTensor(frames, cfg.Width, cfg.Height, m.Device())
		if err != nil {
			return err
		}
		defer x.MustDrop()
		out, err = depthMaps(m, x, ks)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// depthMaps runs the depth network on the prepared batch x, one map per
// image. Run it on the worker.
func depthMaps(m *Model, x *ts.Tensor, ks []*msgs.Intrinsics) ([]msgs.DepthMap, error) {
	net := m.Depth()
	if net == nil {
		return nil, fmt.Errorf("%w: the model has no %s network", ErrConfig, NetDepth)
	}
	dc := net.Config()
	var disps []*ts.Tensor
	err := NoGrad(func() (err error) {
		disps, err = net.Forward(x, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, d := range disps[1:] {
		d.MustDrop()
	}
	depth, err := DispToDepth(disps[0], dc.MinDepth, dc.MaxDepth)
	disps[0].MustDrop()
	if err != nil {
		return nil, err
	}
	vals, err := TensorFloat32s(depth)
	depth.MustDrop()
	if err != nil {
		return nil, err
	}
	cfg := m.Config()
	n := cfg.Width * cfg.Height
	out := make([]msgs.DepthMap, len(ks))
	for i := range ks {
		out[i] = msgs.DepthMap{Width: cfg.Width, Height: cfg.Height, Depth: vals[i*n : (i+1)*n : (i+1)*n], Intrinsics: ks[i]}
	}
	return out, nil
}

// Pose estimates the camera motion from frame a to frame b: the pose of
// camera b in camera a's frame (p_a = R p_b + T), the same convention as
// msgs.Pose with a as the world. A monocular network's translation has the
// scale it was trained with (metric when trained with a stereo baseline).
func (e *Estimator) Pose(a, b *msgs.Frame) (msgs.Pose, error) {
	m := e.Model()
	var pose msgs.Pose
	err := e.w.Do(func() error {
		cfg := m.Config()
		x, _, err := FramesTensor([]*msgs.Frame{a, b}, cfg.Width, cfg.Height, m.Device())
		if err != nil {
			return err
		}
		defer x.MustDrop()
		ta, err := x.Narrow(0, 0, 1, false)
		if err != nil {
			return err
		}
		defer ta.MustDrop()
		tb, err := x.Narrow(0, 1, 1, false)
		if err != nil {
			return err
		}
		defer tb.MustDrop()
		pose, err = motion(m, ta, tb)
		return err
	})
	return pose, err
}

// motion runs the pose network on two prepared images [1,3,H,W] and returns
// the pose of b's camera in a's frame. Run it on the worker.
func motion(m *Model, a, b *ts.Tensor) (msgs.Pose, error) {
	net := m.Pose()
	if net == nil {
		return msgs.Pose{}, fmt.Errorf("%w: the model has no %s network", ErrConfig, NetPose)
	}
	var v []float32
	err := NoGrad(func() error {
		vec, err := net.Forward(a, b)
		if err != nil {
			return err
		}
		mat, err := PoseMatrix(vec)
		vec.MustDrop()
		if err != nil {
			return err
		}
		v, err = TensorFloat32s(mat)
		mat.MustDrop()
		return err
	})
	if err != nil {
		return msgs.Pose{}, err
	}
	// mat maps points from camera a to camera b; camera b's pose in a is
	// its inverse.
	var warp msgs.Pose
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			warp.R[i*3+j] = float64(v[i*4+j])
		}
		warp.T[i] = float64(v[i*4+3])
	}
	return warp.Inverse(), nil
}

// Estimate is what the networks make of one frame of a Sequence.
type Estimate struct {
	// Depth is the frame's depth map.
	Depth msgs.DepthMap
	// Motion is the pose of this frame's camera in the previous frame's
	// camera (Estimator.Pose's convention); nil for the first frame or
	// when motion was not asked for.
	Motion *msgs.Pose
	// Flow is the optical flow from the previous frame to this one, at
	// the model's input size; nil for the first frame or without
	// Sequence.WithFlow.
	Flow *FlowField
}

// Sequence runs depth and ego-motion over consecutive frames of one
// camera, turning each frame into a tensor once: the tensor that gives the
// depth map is kept as the next frame's pose input. It is not safe for
// concurrent use (one stream group's inference goroutine owns it); Close
// frees the kept tensor.
type Sequence struct {
	e    *Estimator
	prev *ts.Tensor // the previous frame's input, on the worker's device
	size [2]int     // its width and height
	flow string     // the flow network's name, "" for no flow
}

// WithFlow makes Next also run the model's flow network named net from
// the previous frame to each frame (Estimate.Flow), on the same kept
// tensor. It returns s.
func (s *Sequence) WithFlow(net string) *Sequence { s.flow = net; return s }

// Sequence starts a sequence on e's model (whichever is current at each
// frame: hand-overs swap the weights between two frames).
func (e *Estimator) Sequence() *Sequence { return &Sequence{e: e} }

// Next estimates f's depth and, when withMotion is set and a previous
// frame exists, the motion from the previous frame to f.
func (s *Sequence) Next(f *msgs.Frame, withMotion bool) (Estimate, error) {
	return s.next(f, true, withMotion)
}

// Motion is Next without the depth network: the motion from the previous
// frame to f (nil for the first), f kept for the next. A stream group whose
// depth comes from elsewhere (stereo matching) still gets its odometry
// from the pose network.
func (s *Sequence) Motion(f *msgs.Frame) (*msgs.Pose, error) {
	est, err := s.next(f, false, true)
	return est.Motion, err
}

func (s *Sequence) next(f *msgs.Frame, depth, withMotion bool) (Estimate, error) {
	m := s.e.Model()
	var est Estimate
	err := s.e.w.Do(func() error {
		cfg := m.Config()
		x, ks, err := FramesTensor([]*msgs.Frame{f}, cfg.Width, cfg.Height, m.Device())
		if err != nil {
			return err
		}
		if depth {
			maps, err := depthMaps(m, x, ks)
			if err != nil {
				x.MustDrop()
				return err
			}
			est.Depth = maps[0]
		}
		if withMotion && s.prev != nil && s.size == [2]int{cfg.Width, cfg.Height} {
			p, err := motion(m, s.prev, x)
			if err != nil {
				x.MustDrop()
				return err
			}
			est.Motion = &p
		}
		if s.flow != "" && s.prev != nil && s.size == [2]int{cfg.Width, cfg.Height} {
			f, err := s.flowFrom(m, x)
			if err != nil {
				x.MustDrop()
				return err
			}
			est.Flow = &f
		}
		if s.prev != nil {
			s.prev.MustDrop()
		}
		s.prev, s.size = x, [2]int{cfg.Width, cfg.Height}
		return nil
	})
	return est, err
}

// InputSize is the current model's input size: the size of Next's depth
// maps, and of the frames Motion's networks see.
func (s *Sequence) InputSize() (w, h int) {
	cfg := s.e.Model().Config()
	return cfg.Width, cfg.Height
}

// flowFrom runs the flow network from the kept frame to x [1,3,H,W].
func (s *Sequence) flowFrom(m *Model, x *ts.Tensor) (FlowField, error) {
	fn, _ := m.Net(s.flow).(*FlowNet)
	if fn == nil {
		return FlowField{}, fmt.Errorf("%w: the model has no flow network %q (%v)", ErrConfig, s.flow, m.Config().Names())
	}
	pair, err := ts.Cat([]ts.Tensor{*s.prev, *x}, 0)
	if err != nil {
		return FlowField{}, err
	}
	defer pair.MustDrop()
	return flowBetween(fn, pair, 0, 1)
}

// Reset forgets the previous frame: the next frame has no motion.
func (s *Sequence) Reset() { s.Close() }

// Close frees the kept frame.
func (s *Sequence) Close() {
	if s.prev == nil {
		return
	}
	p := s.prev
	s.prev = nil
	_ = s.e.w.Do(func() error { p.MustDrop(); return nil })
}
