package perception

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// poseScale scales the pose network's raw output, as SfMLearner and
// Monodepth2 do, so the untrained network predicts near-zero motion.
const poseScale = 0.01

// poseWidths are the channel widths of the pose encoder's 7 convolutions.
var poseWidths = map[string][7]int64{
	SizeSmall:   {8, 16, 32, 64, 128, 128, 128},
	SizeDefault: {16, 32, 64, 128, 256, 256, 256},
}

// poseKernels are the kernel sizes of the pose encoder (Monodepth2 PoseCNN).
var poseKernels = [7]int64{7, 5, 3, 3, 3, 3, 3}

// PoseConfig configures the pose network. Its fields are part of the
// architecture a checkpoint records.
type PoseConfig struct {
	// Size picks the channel widths: "small" (8 .. 128) or "default"
	// (16 .. 256, Monodepth2's PoseCNN). It defaults to "default".
	Size string
	// ForwardPrior is the initial forward motion in metres between the two
	// input frames: it sets the bias of the output that drives translation
	// along the optical axis so the untrained network predicts the camera
	// moving forward by this much from frame a to frame b. Plain monocular
	// training collapsed to a constant minimum depth without such a prior;
	// it stays learnable (it is only the initial bias). It defaults to 0
	// (off); a robot driving forward at v m/s and f frames/s would use
	// about v/f.
	ForwardPrior float64
}

func (c *PoseConfig) fill() {
	if c.Size == "" {
		c.Size = SizeDefault
	}
}

// Kind is "pose".
func (PoseConfig) Kind() string { return NetPose }

// Filled returns c with defaults filled in.
func (c PoseConfig) Filled() NetConfig { c.fill(); return c }

// ArchDiff compares the widths (ForwardPrior only initialises).
func (c PoseConfig) ArchDiff(other NetConfig) string {
	o, ok := other.(PoseConfig)
	switch {
	case !ok:
		return fmt.Sprintf("kind %s != %s", c.Kind(), other.Kind())
	case c.Size != o.Size:
		return fmt.Sprintf("size %s != %s", c.Size, o.Size)
	}
	return ""
}

// Build makes a PoseNet.
func (c PoseConfig) Build(p *nn.Path, width, height int) (Net, error) { return NewPoseNet(p, c) }

// Validate checks a filled configuration.
func (c PoseConfig) Validate() error {
	if _, ok := poseWidths[c.Size]; !ok {
		return fmt.Errorf("%w: pose size %q (want small or default)", ErrConfig, c.Size)
	}
	if math.IsNaN(c.ForwardPrior) || math.Abs(c.ForwardPrior) > 10 {
		return fmt.Errorf("%w: pose forward prior %g m (want |prior| <= 10)", ErrConfig, c.ForwardPrior)
	}
	return nil
}

// PoseNet is Monodepth2's separate pose CNN: the two frames concatenated
// (6 channels), 7 stride-2 convolutions with ReLU, a 1x1 convolution to 6
// values per pixel, averaged over the image and scaled by 0.01.
type PoseNet struct {
	cfg   PoseConfig
	convs [7]*conv2d
	out   *conv2d
}

// NewPoseNet makes a pose network with its variables under p.
func NewPoseNet(p *nn.Path, cfg PoseConfig) (*PoseNet, error) {
	cfg.fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &PoseNet{cfg: cfg}
	in := int64(6)
	var err error
	for i, w := range poseWidths[cfg.Size] {
		if n.convs[i], err = newConv(p.Sub(fmt.Sprintf("conv%d", i)), in, w, poseKernels[i], 2, false); err != nil {
			return nil, err
		}
		in = w
	}
	if n.out, err = newConv(p.Sub("pose"), in, 6, 1, 1, false); err != nil {
		return nil, err
	}
	// Small output weights (the raw output is scaled by 0.01 anyway), and the
	// forward prior on translation z. The output is the warp from frame a's
	// camera into frame b's: a camera moving forward by d sees points move
	// by -d along z.
	if err := scaleInit(n.out, 0.1, 0); err != nil {
		return nil, err
	}
	if cfg.ForwardPrior != 0 {
		b := make([]float32, 6)
		b[5] = float32(-cfg.ForwardPrior / poseScale)
		err := NoGrad(func() error { return AssignValues(n.out.b, b) })
		if err != nil {
			return nil, fmt.Errorf("perception: pose prior: %w", err)
		}
	}
	return n, nil
}

// Config returns the network's configuration with defaults filled in.
func (n *PoseNet) Config() PoseConfig { return n.cfg }

// NetConfig returns Config as a NetConfig.
func (n *PoseNet) NetConfig() NetConfig { return n.cfg }

// Forward takes two batches of frames a and b, each [B,3,H,W] float32 in
// [0,1] (H, W multiples of 32, at least 64), and returns [B,6]: an axis-angle rotation
// (3) and a translation (3) for PoseMatrix, the rigid transform that maps a
// point in frame a's camera coordinates to frame b's (the warp used to
// reconstruct a from b). The caller drops the result.
func (n *PoseNet) Forward(a, b *ts.Tensor) (out *ts.Tensor, err error) {
	sa, err := checkInput(a, 3)
	if err != nil {
		return nil, err
	}
	sb, err := checkInput(b, 3)
	if err != nil {
		return nil, err
	}
	for i := range sa {
		if sa[i] != sb[i] {
			return nil, fmt.Errorf("%w: pose inputs differ: %v and %v", ErrInputShape, sa, sb)
		}
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("perception: pose forward: %w", err)
		}
	}()
	x, err := ts.Cat([]ts.Tensor{*a, *b}, 1)
	if err != nil {
		return nil, err
	}
	h, err := normalise(x)
	x.MustDrop()
	if err != nil {
		return nil, err
	}
	for _, c := range n.convs {
		y, err := c.forward(h)
		h.MustDrop()
		if err != nil {
			return nil, err
		}
		// Not Relu_: gotch's in-place wrappers leak a handle (see forwardELU).
		if h, err = y.Relu(true); err != nil {
			return nil, err
		}
	}
	y, err := n.out.forward(h)
	h.MustDrop()
	if err != nil {
		return nil, err
	}
	m, err := y.MeanDim([]int64{2, 3}, false, gotch.Float, true)
	if err != nil {
		return nil, err
	}
	s := ts.FloatScalar(poseScale)
	defer s.MustDrop()
	return m.MulScalar(s, true)
}

// PoseMatrix turns [B,6] pose vectors (axis-angle rotation, translation)
// into [B,4,4] rigid transforms [R t; 0 1] with Rodrigues' formula, as
// Monodepth2's rot_from_axisangle (angle = |v|, axis = v/(angle+1e-7)): a
// zero vector gives the identity. Differentiable; the caller drops the
// result.
func PoseMatrix(vec *ts.Tensor) (out *ts.Tensor, err error) {
	if vec == nil {
		return nil, fmt.Errorf("%w: PoseMatrix: nil tensor", ErrInputShape)
	}
	sz, err := vec.Size()
	if err != nil || len(sz) != 2 || sz[1] != 6 || sz[0] < 1 {
		return nil, fmt.Errorf("%w: PoseMatrix: got %v, want [B,6]", ErrInputShape, sz)
	}
	bsz := sz[0]
	var free []*ts.Tensor
	keep := func(t *ts.Tensor) *ts.Tensor { free = append(free, t); return t }
	defer func() {
		for _, t := range free {
			t.MustDrop()
		}
		if err != nil {
			err = fmt.Errorf("perception: PoseMatrix: %w", err)
		}
	}()
	// Each step appends its result to free; a failing step stops the chain.
	var e error
	step := func(t *ts.Tensor, err error) *ts.Tensor {
		if e != nil {
			if t != nil {
				t.MustDrop()
			}
			return nil
		}
		if err != nil {
			e = err
			return nil
		}
		return keep(t)
	}
	two := ts.FloatScalar(2)
	defer two.MustDrop()
	eps := ts.FloatScalar(1e-7)
	defer eps.MustDrop()
	one := ts.FloatScalar(1)
	defer one.MustDrop()

	rot := step(vec.Narrow(1, 0, 3, false))
	angle := step(rot.LinalgNorm(two, []int64{1}, true, gotch.Float, false))
	den := step(angle.AddScalar(eps, false))
	axis := step(rot.Div(den, false))
	ca := step(angle.Cos(false))
	sa := step(angle.Sin(false))
	nca := step(ca.Neg(false))
	c := step(nca.AddScalar(one, false)) // 1 - cos
	if e != nil {
		return nil, e
	}
	x := step(axis.Narrow(1, 0, 1, false))
	y := step(axis.Narrow(1, 1, 1, false))
	z := step(axis.Narrow(1, 2, 1, false))
	mul := func(a, b *ts.Tensor) *ts.Tensor {
		if e != nil {
			return nil
		}
		return step(a.Mul(b, false))
	}
	add := func(a, b *ts.Tensor) *ts.Tensor {
		if e != nil {
			return nil
		}
		return step(a.Add(b, false))
	}
	sub := func(a, b *ts.Tensor) *ts.Tensor {
		if e != nil {
			return nil
		}
		return step(a.Sub(b, false))
	}
	xs, ys, zs := mul(x, sa), mul(y, sa), mul(z, sa)
	xC, yC, zC := mul(x, c), mul(y, c), mul(z, c)
	xyC, yzC, zxC := mul(x, yC), mul(y, zC), mul(z, xC)
	t := func(i int64) *ts.Tensor {
		if e != nil {
			return nil
		}
		return step(vec.Narrow(1, 3+i, 1, false))
	}
	dev, err := vec.Device()
	if err != nil {
		return nil, err
	}
	zero := step(ts.Zeros([]int64{bsz, 1}, vec.DType(), dev))
	ones := step(ts.Ones([]int64{bsz, 1}, vec.DType(), dev))
	elems := []*ts.Tensor{
		add(mul(x, xC), ca), sub(xyC, zs), add(zxC, ys), t(0),
		add(xyC, zs), add(mul(y, yC), ca), sub(yzC, xs), t(1),
		sub(zxC, ys), add(yzC, xs), add(mul(z, zC), ca), t(2),
		zero, zero, zero, ones,
	}
	if e != nil {
		return nil, e
	}
	list := make([]ts.Tensor, len(elems))
	for i, el := range elems {
		list[i] = *el
	}
	flat := step(ts.Cat(list, 1))
	if e != nil {
		return nil, e
	}
	return flat.View([]int64{bsz, 4, 4}, false)
}
