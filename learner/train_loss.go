package learner

import (
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// lossParts are the scalar tensors of one batch's loss (total and its
// terms, each already averaged over the scales and weighted).
type lossParts struct {
	total, photo, smooth, lr *ts.Tensor
}

// computeLoss runs the networks on a batch and builds Monodepth2's loss
// (see the package comment, Training). Intermediates go to s; the returned
// tensors are in s as well (the caller keeps what it needs).
func (t *Trainer) computeLoss(s *scope, sc *scalars, bt *batchTensors) lossParts {
	cfg := t.m.Config()
	H, W := cfg.Height, cfg.Width
	temporal, stereo := SampleNeeds(t.cfg.Mode)
	B := int64(bt.b)
	minD, maxD := cfg.Depth.MinDepth, cfg.Depth.MaxDepth

	// Depth of the left view, and of the right view in stereo modes (one
	// forward over both views: [2B,...]).
	input := bt.tgt
	if stereo {
		input = s.do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*bt.tgt, *bt.right}, 0) })
	}
	var disps []*ts.Tensor
	if s.err == nil {
		var err error
		disps, err = t.m.Depth().Forward(input, true)
		if err != nil {
			s.err = err
			return lossParts{}
		}
		s.tmp = append(s.tmp, disps...)
	}

	// Poses: a = [prev; tgt], b = [tgt; next] in one forward, in temporal
	// order as the Estimator calls it. Forward(a, b) maps points of a's
	// camera into b's, so M[:B] is T_tgt<-prev (inverted to T_prev<-tgt,
	// Monodepth2's invert flag) and M[B:] is T_next<-tgt.
	var Tsrc []*ts.Tensor
	var srcs []*ts.Tensor
	if temporal && s.err == nil {
		a := s.do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*bt.prev, *bt.tgt}, 0) })
		b := s.do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*bt.tgt, *bt.next}, 0) })
		vec := s.do(func() (*ts.Tensor, error) { return t.m.Pose().Forward(a, b) })
		M := s.do(func() (*ts.Tensor, error) { return perception.PoseMatrix(vec) })
		mPrev := s.do(func() (*ts.Tensor, error) { return M.Narrow(0, 0, B, false) })
		mNext := s.do(func() (*ts.Tensor, error) { return M.Narrow(0, B, B, false) })
		tPrev := rigidInverse(s, mPrev)
		Tsrc = append(Tsrc, tPrev, mNext)
		srcs = append(srcs, bt.prev, bt.next)
	}

	// Identity (un-warped) errors for the automask, once per batch.
	automask := !t.cfg.NoAutomask
	var idL, idR []*ts.Tensor
	if automask {
		for _, src := range srcs {
			idL = append(idL, s.do(func() (*ts.Tensor, error) { return Photometric(src, bt.tgt) }))
		}
		if stereo {
			idL = append(idL, s.do(func() (*ts.Tensor, error) { return Photometric(bt.right, bt.tgt) }))
			idR = append(idR, s.do(func() (*ts.Tensor, error) { return Photometric(bt.tgt, bt.right) }))
		}
	}

	var photo, smooth, lrc *ts.Tensor
	add := func(acc, x *ts.Tensor) *ts.Tensor {
		if acc == nil {
			return x
		}
		return s.do(func() (*ts.Tensor, error) { return acc.Add(x, false) })
	}
	nScales := len(disps)
	for sc0 := 0; sc0 < nScales && s.err == nil; sc0++ {
		disp := disps[sc0]
		up := s.do(func() (*ts.Tensor, error) { return UpsampleToInput(disp, H, W) })
		depth := s.do(func() (*ts.Tensor, error) { return perception.DispToDepth(up, minD, maxD) })
		depthL, depthR := depth, (*ts.Tensor)(nil)
		if stereo {
			depthL = s.do(func() (*ts.Tensor, error) { return depth.Narrow(0, 0, B, false) })
			depthR = s.do(func() (*ts.Tensor, error) { return depth.Narrow(0, B, B, false) })
		}
		if s.err != nil {
			break
		}
		// Left (target) view: temporal sources and the right view.
		var errs []*ts.Tensor
		if temporal {
			warped, valid, err := ViewSynthesis(bt.tgt, srcs, depthL, bt.K, bt.invK, Tsrc)
			if err != nil {
				s.err = err
				break
			}
			s.tmp = append(s.tmp, warped...)
			s.tmp = append(s.tmp, valid...)
			for i := range warped {
				e := s.do(func() (*ts.Tensor, error) { return Photometric(warped[i], bt.tgt) })
				errs = append(errs, s.do(func() (*ts.Tensor, error) { return MaskOutside(e, valid[i]) }))
			}
		}
		if stereo {
			errs = append(errs, stereoError(s, bt.right, bt.tgt, depthL, bt.K, bt.invK, bt.stereoT))
		}
		l := reprojectionLoss(s, errs, idL, automask)
		if stereo {
			// Right view: the left image is its source, through the mirrored
			// transform, with the right view's own depth.
			e := stereoError(s, bt.tgt, bt.right, depthR, bt.K, bt.invK, bt.stereoTInv)
			lr := reprojectionLoss(s, []*ts.Tensor{e}, idR, automask)
			l = s.do(func() (*ts.Tensor, error) { return l.Add(lr, false) })
			l = s.do(func() (*ts.Tensor, error) { return l.MulScalar(sc.f(0.5), false) })
		}
		photo = add(photo, l)

		// Smoothness on this scale's own disparity and image.
		img := input
		if sc0 > 0 {
			k := int64(1) << uint(sc0)
			img = s.do(func() (*ts.Tensor, error) {
				return input.AvgPool2d([]int64{k, k}, []int64{k, k}, []int64{0, 0}, false, true, nil, false)
			})
		}
		sm := s.do(func() (*ts.Tensor, error) { return Smoothness(disp, img) })
		sm = s.do(func() (*ts.Tensor, error) {
			return sm.MulScalar(sc.f(t.cfg.SmoothWeight*SmoothnessScaleWeight(sc0)), false)
		})
		smooth = add(smooth, sm)

		// Left-right consistency of the pixel disparities, in units of the
		// image width (Monodepth's disparity units).
		if stereo && t.cfg.LRWeight > 0 {
			dl := pixelDisparity(s, depthL, bt.fxB)
			dr := pixelDisparity(s, depthR, bt.fxB)
			c := s.do(func() (*ts.Tensor, error) { return LRConsistency(dl, dr) })
			c = s.do(func() (*ts.Tensor, error) { return c.MulScalar(sc.f(t.cfg.LRWeight/float64(W)), false) })
			lrc = add(lrc, c)
		}
	}
	if s.err != nil {
		return lossParts{}
	}
	inv := sc.f(1 / float64(nScales))
	photo = s.do(func() (*ts.Tensor, error) { return photo.MulScalar(inv, false) })
	smooth = s.do(func() (*ts.Tensor, error) { return smooth.MulScalar(inv, false) })
	total := s.do(func() (*ts.Tensor, error) { return photo.Add(smooth, false) })
	if lrc != nil {
		lrc = s.do(func() (*ts.Tensor, error) { return lrc.MulScalar(inv, false) })
		total = s.do(func() (*ts.Tensor, error) { return total.Add(lrc, false) })
	}
	return lossParts{total: total, photo: photo, smooth: smooth, lr: lrc}
}

// reprojectionLoss is MaskedMean of MinReprojection over errs.
func reprojectionLoss(s *scope, errs, ids []*ts.Tensor, automask bool) *ts.Tensor {
	if s.err != nil {
		return nil
	}
	lm, mask, err := MinReprojection(errs, ids, automask)
	if err != nil {
		s.err = err
		return nil
	}
	s.tmp = append(s.tmp, lm, mask)
	return s.do(func() (*ts.Tensor, error) { return MaskedMean(lm, mask) })
}

// stereoError is the photometric error of the target reconstructed from
// src with depth and the known stereo transform T, masked outside src.
func stereoError(s *scope, src, tgt, depth, K, invK, T *ts.Tensor) *ts.Tensor {
	if s.err != nil {
		return nil
	}
	w, v, err := perception.Reproject(src, depth, K, invK, T)
	if err != nil {
		s.err = err
		return nil
	}
	s.tmp = append(s.tmp, w, v)
	e := s.do(func() (*ts.Tensor, error) { return Photometric(w, tgt) })
	return s.do(func() (*ts.Tensor, error) { return MaskOutside(e, v) })
}

// pixelDisparity is fx*baseline/depth per sample ([B,1,1,1] fxB).
func pixelDisparity(s *scope, depth, fxB *ts.Tensor) *ts.Tensor {
	var sc scalars
	defer sc.free()
	d := s.do(func() (*ts.Tensor, error) { return depth.ClampMin(sc.f(perception.ProjectEps), false) })
	r := s.do(func() (*ts.Tensor, error) { return d.Reciprocal(false) })
	return s.do(func() (*ts.Tensor, error) { return r.Mul(fxB, false) })
}

// rigidInverse inverts [B,4,4] rigid transforms: [R t] -> [Rᵀ -Rᵀt],
// differentiably.
func rigidInverse(s *scope, m *ts.Tensor) *ts.Tensor {
	top := s.do(func() (*ts.Tensor, error) { return m.Narrow(1, 0, 3, false) })
	R := s.do(func() (*ts.Tensor, error) { return top.Narrow(2, 0, 3, false) })
	t := s.do(func() (*ts.Tensor, error) { return top.Narrow(2, 3, 1, false) })
	bottom := s.do(func() (*ts.Tensor, error) { return m.Narrow(1, 3, 1, false) })
	Rt := s.do(func() (*ts.Tensor, error) { return R.Transpose(1, 2, false) })
	ti := s.do(func() (*ts.Tensor, error) { return Rt.Matmul(t, false) })
	ti = s.do(func() (*ts.Tensor, error) { return ti.Neg(false) })
	nt := s.do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*Rt, *ti}, 2) })
	return s.do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*nt, *bottom}, 1) })
}
