package learner

import (
	"fmt"
	"math"
	"strconv"

	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// Mode is what Monodepth2 learns from.
type Mode int

const (
	// ModeMono learns from the previous and next frame of one camera
	// (depth up to scale, and PoseNet).
	ModeMono Mode = iota
	// ModeStereo learns from the right view of a rectified pair with its
	// known baseline: metric depth; PoseNet is not trained.
	ModeStereo
	// ModeBoth uses the temporal and the stereo sources together
	// (Monodepth2's MS): metric depth and metric poses.
	ModeBoth
)

var modeNames = [...]string{ModeMono: "mono", ModeStereo: "stereo", ModeBoth: "both"}

// String returns "mono", "stereo" or "both".
func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

func (m Mode) valid() error {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Errorf("%w: mode %d", ErrTrainConfig, int(m))
	}
	return nil
}

// sources reports which neighbours the mode reconstructs the target from:
// the previous and next frame (mono, both) and the right view (stereo,
// both).
func (m Mode) sources() (temporal, stereo bool) {
	return m == ModeMono || m == ModeBoth, m == ModeStereo || m == ModeBoth
}

// ParseMode reads "mono", "stereo" or "both".
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if s == n {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("%w: mode %q (want mono, stereo or both)", ErrTrainConfig, s)
}

// The names of Monodepth2's loss terms (StepStats.Terms, LearnerStats).
const (
	TermPhotometric = "photometric"
	TermSmoothness  = "smoothness"
	TermLeftRight   = "left_right"
)

// Monodepth2 is the self-supervised depth (and ego-motion) objective of
// Godard et al. 2019, with Monodepth's left-right consistency for stereo:
// see the package comment (Training). Zero fields take the documented
// defaults.
type Monodepth2 struct {
	// Mode is what it learns from. It defaults to ModeMono (the zero value).
	Mode Mode
	// SmoothWeight weighs the edge-aware smoothness term. It defaults to
	// 1e-3 (Monodepth2); negative turns it off.
	SmoothWeight float64
	// LRWeight weighs Monodepth's left-right disparity consistency (stereo
	// modes), measured in units of the image width. It defaults to 1;
	// negative turns it off.
	LRWeight float64
	// NoAutomask turns Monodepth2's auto-masking off (it is on by default:
	// pixels whose un-warped source already matches better are ignored).
	NoAutomask bool
}

func (o Monodepth2) filled() Monodepth2 {
	if o.SmoothWeight == 0 {
		o.SmoothWeight = 1e-3
	}
	if o.SmoothWeight < 0 {
		o.SmoothWeight = 0
	}
	if o.LRWeight == 0 {
		o.LRWeight = 1
	}
	return o
}

// Validate checks the mode and that the weights are finite.
func (o Monodepth2) Validate() error {
	if err := o.Mode.valid(); err != nil {
		return err
	}
	for _, v := range []float64{o.SmoothWeight, o.LRWeight} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: monodepth2 smoothness weight %v, left-right weight %v (want finite)", ErrTrainConfig, o.SmoothWeight, o.LRWeight)
		}
	}
	return nil
}

// Name is "monodepth2/" and the mode.
func (o Monodepth2) Name() string { return "monodepth2/" + o.Mode.String() }

// Needs are the neighbours of the mode.
func (o Monodepth2) Needs() Needs {
	temporal, stereo := o.Mode.sources()
	return Needs{Prev: temporal, Next: temporal, Right: stereo}
}

// Trains the depth network, and the pose network in the temporal modes (in
// ModeStereo no gradient reaches it).
func (o Monodepth2) Trains(cfg perception.ModelConfig) ([]string, error) {
	nets := []string{perception.NetDepth}
	if temporal, _ := o.Mode.sources(); temporal {
		nets = append(nets, perception.NetPose)
	}
	return nets, requireNets(o.Name(), cfg, nets...)
}

// GuardTerm is the photometric term: the reprojection error the online
// learner compares across weights.
func (o Monodepth2) GuardTerm() string { return TermPhotometric }

// Loss runs the networks on a batch and builds Monodepth2's loss (see the
// package comment, Training). Every tensor it makes is in s.
func (o Monodepth2) Loss(s *perception.Scope, m *perception.Model, bt *Batch) (Loss, error) {
	o = o.filled()
	H, W := bt.Height, bt.Width
	temporal, stereo := o.Mode.sources()
	B := int64(bt.Size)
	depthNet := m.Depth()
	if depthNet == nil || (temporal && m.Pose() == nil) {
		return Loss{}, fmt.Errorf("%w: objective %s: the model lacks a network it needs (%v)", ErrTrainConfig, o.Name(), m.Config().Names())
	}
	dc := depthNet.Config()
	minD, maxD := dc.MinDepth, dc.MaxDepth

	// Depth of the left view, and of the right view in stereo modes (one
	// forward over both views: [2B,...]).
	input := bt.Target
	if stereo {
		input = s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*bt.Target, *bt.Right}, 0) })
	}
	if s.Err() != nil {
		return Loss{}, s.Err()
	}
	disps, err := depthNet.Forward(input, true)
	if err != nil {
		return Loss{}, err
	}
	s.Add(disps...)

	// Poses: a = [prev; tgt], b = [tgt; next] in one forward, in temporal
	// order as the Estimator calls it. Forward(a, b) maps points of a's
	// camera into b's, so M[:B] is T_tgt<-prev (inverted to T_prev<-tgt,
	// Monodepth2's invert flag) and M[B:] is T_next<-tgt.
	var Tsrc []*ts.Tensor
	var srcs []*ts.Tensor
	if temporal && s.Err() == nil {
		a := s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*bt.Prev, *bt.Target}, 0) })
		b := s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*bt.Target, *bt.Next}, 0) })
		vec := s.Do(func() (*ts.Tensor, error) { return m.Pose().Forward(a, b) })
		M := s.Do(func() (*ts.Tensor, error) { return perception.PoseMatrix(vec) })
		mPrev := s.Do(func() (*ts.Tensor, error) { return M.Narrow(0, 0, B, false) })
		mNext := s.Do(func() (*ts.Tensor, error) { return M.Narrow(0, B, B, false) })
		tPrev := rigidInverse(s, mPrev)
		Tsrc = append(Tsrc, tPrev, mNext)
		srcs = append(srcs, bt.Prev, bt.Next)
	}

	// Identity (un-warped) errors for the automask, once per batch.
	automask := !o.NoAutomask
	var idL, idR []*ts.Tensor
	if automask {
		for _, src := range srcs {
			idL = append(idL, s.Do(func() (*ts.Tensor, error) { return Photometric(src, bt.Target) }))
		}
		if stereo {
			idL = append(idL, s.Do(func() (*ts.Tensor, error) { return Photometric(bt.Right, bt.Target) }))
			idR = append(idR, s.Do(func() (*ts.Tensor, error) { return Photometric(bt.Target, bt.Right) }))
		}
	}

	var photo, smooth, lrc *ts.Tensor
	add := func(acc, x *ts.Tensor) *ts.Tensor {
		if acc == nil {
			return x
		}
		return s.Do(func() (*ts.Tensor, error) { return acc.Add(x, false) })
	}
	nScales := len(disps)
	for sc0 := 0; sc0 < nScales && s.Err() == nil; sc0++ {
		disp := disps[sc0]
		up := s.Do(func() (*ts.Tensor, error) { return UpsampleToInput(disp, H, W) })
		depth := s.Do(func() (*ts.Tensor, error) { return perception.DispToDepth(up, minD, maxD) })
		depthL, depthR := depth, (*ts.Tensor)(nil)
		if stereo {
			depthL = s.Do(func() (*ts.Tensor, error) { return depth.Narrow(0, 0, B, false) })
			depthR = s.Do(func() (*ts.Tensor, error) { return depth.Narrow(0, B, B, false) })
		}
		if s.Err() != nil {
			break
		}
		// Left (target) view: temporal sources and the right view.
		var errs []*ts.Tensor
		if temporal {
			warped, valid, err := ViewSynthesis(bt.Target, srcs, depthL, bt.K, bt.InvK, Tsrc)
			if err != nil {
				s.Fail(err)
				break
			}
			s.Add(warped...)
			s.Add(valid...)
			for i := range warped {
				e := s.Do(func() (*ts.Tensor, error) { return Photometric(warped[i], bt.Target) })
				errs = append(errs, s.Do(func() (*ts.Tensor, error) { return MaskOutside(e, valid[i]) }))
			}
		}
		if stereo {
			errs = append(errs, stereoError(s, bt.Right, bt.Target, depthL, bt.K, bt.InvK, bt.StereoT))
		}
		l := reprojectionLoss(s, errs, idL, automask)
		if stereo {
			// Right view: the left image is its source, through the mirrored
			// transform, with the right view's own depth.
			e := stereoError(s, bt.Target, bt.Right, depthR, bt.K, bt.InvK, bt.StereoTInv)
			lr := reprojectionLoss(s, []*ts.Tensor{e}, idR, automask)
			l = s.Do(func() (*ts.Tensor, error) { return l.Add(lr, false) })
			l = s.Do(func() (*ts.Tensor, error) { return l.MulScalar(s.Scalar(0.5), false) })
		}
		photo = add(photo, l)

		// Smoothness on this scale's own disparity and image.
		img := input
		if sc0 > 0 {
			k := int64(1) << uint(sc0)
			img = s.Do(func() (*ts.Tensor, error) {
				return input.AvgPool2d([]int64{k, k}, []int64{k, k}, []int64{0, 0}, false, true, nil, false)
			})
		}
		sm := s.Do(func() (*ts.Tensor, error) { return Smoothness(disp, img) })
		sm = s.Do(func() (*ts.Tensor, error) {
			return sm.MulScalar(s.Scalar(o.SmoothWeight*SmoothnessScaleWeight(sc0)), false)
		})
		smooth = add(smooth, sm)

		// Left-right consistency of the pixel disparities, in units of the
		// image width (Monodepth's disparity units).
		if stereo && o.LRWeight > 0 {
			dl := pixelDisparity(s, depthL, bt.FxB)
			dr := pixelDisparity(s, depthR, bt.FxB)
			c := s.Do(func() (*ts.Tensor, error) { return LRConsistency(dl, dr) })
			c = s.Do(func() (*ts.Tensor, error) { return c.MulScalar(s.Scalar(o.LRWeight/float64(W)), false) })
			lrc = add(lrc, c)
		}
	}
	if s.Err() != nil {
		return Loss{}, s.Err()
	}
	inv := s.Scalar(1 / float64(nScales))
	photo = s.Do(func() (*ts.Tensor, error) { return photo.MulScalar(inv, false) })
	smooth = s.Do(func() (*ts.Tensor, error) { return smooth.MulScalar(inv, false) })
	total := s.Do(func() (*ts.Tensor, error) { return photo.Add(smooth, false) })
	if lrc != nil {
		lrc = s.Do(func() (*ts.Tensor, error) { return lrc.MulScalar(inv, false) })
		total = s.Do(func() (*ts.Tensor, error) { return total.Add(lrc, false) })
	}
	terms := []Term{{TermPhotometric, photo}, {TermSmoothness, smooth}}
	if lrc != nil {
		terms = append(terms, Term{TermLeftRight, lrc})
	}
	return Loss{Total: total, Terms: terms}, s.Err()
}

// reprojectionLoss is MaskedMean of MinReprojection over errs.
func reprojectionLoss(s *perception.Scope, errs, ids []*ts.Tensor, automask bool) *ts.Tensor {
	if s.Err() != nil {
		return nil
	}
	lm, mask, err := MinReprojection(errs, ids, automask)
	if err != nil {
		s.Fail(err)
		return nil
	}
	s.Add(lm, mask)
	return s.Do(func() (*ts.Tensor, error) { return MaskedMean(lm, mask) })
}

// stereoError is the photometric error of the target reconstructed from
// src with depth and the known stereo transform T, masked outside src.
func stereoError(s *perception.Scope, src, tgt, depth, K, invK, T *ts.Tensor) *ts.Tensor {
	if s.Err() != nil {
		return nil
	}
	w, v, err := perception.Reproject(src, depth, K, invK, T)
	if err != nil {
		s.Fail(err)
		return nil
	}
	s.Add(w, v)
	e := s.Do(func() (*ts.Tensor, error) { return Photometric(w, tgt) })
	return s.Do(func() (*ts.Tensor, error) { return MaskOutside(e, v) })
}

// pixelDisparity is fx*baseline/depth per sample ([B,1,1,1] fxB).
func pixelDisparity(s *perception.Scope, depth, fxB *ts.Tensor) *ts.Tensor {
	d := s.Do(func() (*ts.Tensor, error) { return depth.ClampMin(s.Scalar(perception.ProjectEps), false) })
	r := s.Do(func() (*ts.Tensor, error) { return d.Reciprocal(false) })
	return s.Do(func() (*ts.Tensor, error) { return r.Mul(fxB, false) })
}

// rigidInverse inverts [B,4,4] rigid transforms: [R t] -> [Rᵀ -Rᵀt],
// differentiably.
func rigidInverse(s *perception.Scope, m *ts.Tensor) *ts.Tensor {
	top := s.Do(func() (*ts.Tensor, error) { return m.Narrow(1, 0, 3, false) })
	R := s.Do(func() (*ts.Tensor, error) { return top.Narrow(2, 0, 3, false) })
	t := s.Do(func() (*ts.Tensor, error) { return top.Narrow(2, 3, 1, false) })
	bottom := s.Do(func() (*ts.Tensor, error) { return m.Narrow(1, 3, 1, false) })
	Rt := s.Do(func() (*ts.Tensor, error) { return R.Transpose(1, 2, false) })
	ti := s.Do(func() (*ts.Tensor, error) { return Rt.Matmul(t, false) })
	ti = s.Do(func() (*ts.Tensor, error) { return ti.Neg(false) })
	nt := s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*Rt, *ti}, 2) })
	return s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*nt, *bottom}, 1) })
}
