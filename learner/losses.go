package learner

import (
	"errors"
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// Self-supervised losses of Monodepth2 (Godard et al. 2019) and Monodepth
// (Godard et al. 2017) on gotch tensors. Every function is differentiable,
// batched ([B,..] first), checks its inputs (an error, never a panic) and
// frees every intermediate tensor before returning; the caller owns and
// frees what is returned. Images are float32 [B,C,H,W] in [0,1]; run them on
// a goroutine that called runtime.LockOSThread (perception.Worker.Do).

var (
	// ErrLossInput is returned when a loss gets a nil tensor, a tensor of the
	// wrong rank, size or dtype, or inconsistent lists.
	ErrLossInput = errors.New("learner: bad loss input")
)

// Monodepth2's SSIM constants (for images in [0,1]) and photometric weights.
const (
	SSIMC1 = 0.01 * 0.01
	SSIMC2 = 0.03 * 0.03
	// PhotoAlpha weighs the SSIM term against the L1 term.
	PhotoAlpha = 0.85
	// OutsideError is the reprojection error MaskOutside gives pixels that
	// project outside a source: above any photometric error of [0,1] images
	// (at most 1), so the per-pixel minimum prefers any valid source, and
	// MinReprojection recognises pixels with no valid source at all.
	OutsideError = 10.0
)

// shape4 checks x is a defined float32 [B,C,H,W] tensor.
func shape4(fn, name string, x *ts.Tensor) ([]int64, error) {
	if x == nil {
		return nil, fmt.Errorf("%w: %s: %s is nil", ErrLossInput, fn, name)
	}
	sz, err := x.Size()
	if err != nil {
		return nil, fmt.Errorf("learner: %s: %s: %w", fn, name, err)
	}
	if dt := x.DType(); dt != gotch.Float {
		return nil, fmt.Errorf("%w: %s: %s must be float32, got %v", ErrLossInput, fn, name, dt)
	}
	if len(sz) != 4 || sz[0] < 1 || sz[1] < 1 || sz[2] < 1 || sz[3] < 1 {
		return nil, fmt.Errorf("%w: %s: %s must be [B,C,H,W], got %v", ErrLossInput, fn, name, sz)
	}
	return sz, nil
}

// sameShape checks a and b are [B,C,H,W] of one size.
func sameShape(fn, an string, a *ts.Tensor, bn string, b *ts.Tensor) ([]int64, error) {
	as, err := shape4(fn, an, a)
	if err != nil {
		return nil, err
	}
	bs, err := shape4(fn, bn, b)
	if err != nil {
		return nil, err
	}
	for i := range as {
		if as[i] != bs[i] {
			return nil, fmt.Errorf("%w: %s: %s %v and %s %v differ", ErrLossInput, fn, an, as, bn, bs)
		}
	}
	return as, nil
}

// SSIM returns Monodepth2's per-pixel structural dissimilarity
// clamp((1-SSIM(x,y))/2, 0, 1) of two [B,C,H,W] images, per channel:
// [B,C,H,W]. The local statistics are 3x3 means (avg-pool, stride 1) over
// the images padded by reflection of 1 pixel, with C1 = 0.01², C2 = 0.03²
// (images in [0,1]). Monodepth2 averages this map over channels only when it
// combines it with L1 (Photometric); SSIM keeps the channels so the reference
// comparison is exact. SSIM(x,x) is 0; images with opposite structure reach 1.
func SSIM(x, y *ts.Tensor) (out *ts.Tensor, err error) {
	const fn = "SSIM"
	defer perception.Recover("learner", fn, &err)
	if _, err := sameShape(fn, "x", x, "y", y); err != nil {
		return nil, err
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	pad := []int64{1, 1, 1, 1}
	pool := func(t *ts.Tensor) *ts.Tensor {
		return s.Do(func() (*ts.Tensor, error) {
			return t.AvgPool2d([]int64{3, 3}, []int64{1, 1}, []int64{0, 0}, false, true, nil, false)
		})
	}
	xp := s.Do(func() (*ts.Tensor, error) { return x.ReflectionPad2d(pad, false) })
	yp := s.Do(func() (*ts.Tensor, error) { return y.ReflectionPad2d(pad, false) })
	muX, muY := pool(xp), pool(yp)
	xx := s.Do(func() (*ts.Tensor, error) { return xp.Mul(xp, false) })
	yy := s.Do(func() (*ts.Tensor, error) { return yp.Mul(yp, false) })
	xy := s.Do(func() (*ts.Tensor, error) { return xp.Mul(yp, false) })
	exx, eyy, exy := pool(xx), pool(yy), pool(xy)
	muXX := s.Do(func() (*ts.Tensor, error) { return muX.Mul(muX, false) })
	muYY := s.Do(func() (*ts.Tensor, error) { return muY.Mul(muY, false) })
	muXY := s.Do(func() (*ts.Tensor, error) { return muX.Mul(muY, false) })
	sigX := s.Do(func() (*ts.Tensor, error) { return exx.Sub(muXX, false) })
	sigY := s.Do(func() (*ts.Tensor, error) { return eyy.Sub(muYY, false) })
	sigXY := s.Do(func() (*ts.Tensor, error) { return exy.Sub(muXY, false) })
	// n = (2 muX muY + C1)(2 sigXY + C2); d = (muX² + muY² + C1)(sigX + sigY + C2)
	n1 := s.Do(func() (*ts.Tensor, error) { return muXY.MulScalar(s.Scalar(2), false) })
	n1 = s.Do(func() (*ts.Tensor, error) { return n1.AddScalar(s.Scalar(SSIMC1), false) })
	n2 := s.Do(func() (*ts.Tensor, error) { return sigXY.MulScalar(s.Scalar(2), false) })
	n2 = s.Do(func() (*ts.Tensor, error) { return n2.AddScalar(s.Scalar(SSIMC2), false) })
	n := s.Do(func() (*ts.Tensor, error) { return n1.Mul(n2, false) })
	d1 := s.Do(func() (*ts.Tensor, error) { return muXX.Add(muYY, false) })
	d1 = s.Do(func() (*ts.Tensor, error) { return d1.AddScalar(s.Scalar(SSIMC1), false) })
	d2 := s.Do(func() (*ts.Tensor, error) { return sigX.Add(sigY, false) })
	d2 = s.Do(func() (*ts.Tensor, error) { return d2.AddScalar(s.Scalar(SSIMC2), false) })
	d := s.Do(func() (*ts.Tensor, error) { return d1.Mul(d2, false) })
	q := s.Do(func() (*ts.Tensor, error) { return n.Div(d, false) })
	// (1 - q)/2 = 0.5 - 0.5 q
	r := s.Do(func() (*ts.Tensor, error) { return q.MulScalar(s.Scalar(-0.5), false) })
	r = s.Do(func() (*ts.Tensor, error) { return r.AddScalar(s.Scalar(0.5), false) })
	out = s.Do(func() (*ts.Tensor, error) { return r.Clamp(s.Scalar(0), s.Scalar(1), false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// Photometric returns Monodepth2's reprojection error of a synthesised
// image pred against target, both [B,C,H,W]: per pixel
// 0.85*SSIM(pred,target) + 0.15*|pred-target|, each averaged over the
// channels, [B,1,H,W]. SSIM is already (1-SSIM)/2, so the map lies in [0,1]
// for images in [0,1].
func Photometric(pred, target *ts.Tensor) (out *ts.Tensor, err error) {
	const fn = "Photometric"
	defer perception.Recover("learner", fn, &err)
	if _, err := sameShape(fn, "pred", pred, "target", target); err != nil {
		return nil, err
	}
	ss, err := SSIM(pred, target)
	if err != nil {
		return nil, err
	}
	s := perception.NewScope("learner: " + fn)
	s.Add(ss)
	defer s.Free()
	diff := s.Do(func() (*ts.Tensor, error) { return pred.Sub(target, false) })
	l1 := s.Do(func() (*ts.Tensor, error) { return diff.Abs(false) })
	l1m := s.Do(func() (*ts.Tensor, error) { return l1.MeanDim([]int64{1}, true, gotch.Float, false) })
	ssm := s.Do(func() (*ts.Tensor, error) { return ss.MeanDim([]int64{1}, true, gotch.Float, false) })
	a := s.Do(func() (*ts.Tensor, error) { return ssm.MulScalar(s.Scalar(PhotoAlpha), false) })
	b := s.Do(func() (*ts.Tensor, error) { return l1m.MulScalar(s.Scalar(1-PhotoAlpha), false) })
	out = s.Do(func() (*ts.Tensor, error) { return a.Add(b, false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// MaskOutside returns err [B,1,H,W] where valid [B,1,H,W] (perception.Project's
// mask: 1 inside the source image and in front of it) is 1, and OutsideError
// where it is 0: err*valid + OutsideError*(1-valid). The gradient of the
// outside pixels is zero, and MinReprojection then takes the minimum over
// the sources that do see the pixel, and masks pixels no source sees.
func MaskOutside(errMap, valid *ts.Tensor) (out *ts.Tensor, err error) {
	const fn = "MaskOutside"
	defer perception.Recover("learner", fn, &err)
	if _, err := sameShape(fn, "error", errMap, "valid", valid); err != nil {
		return nil, err
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	a := s.Do(func() (*ts.Tensor, error) { return errMap.Mul(valid, false) })
	inv := s.Do(func() (*ts.Tensor, error) { return valid.MulScalar(s.Scalar(-OutsideError), false) })
	inv = s.Do(func() (*ts.Tensor, error) { return inv.AddScalar(s.Scalar(OutsideError), false) })
	out = s.Do(func() (*ts.Tensor, error) { return a.Add(inv, false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// minOver stacks maps [B,1,H,W] along dim 1 and takes the per-pixel minimum.
func minOver(s *perception.Scope, maps []*ts.Tensor) *ts.Tensor {
	if len(maps) == 1 {
		return s.Do(func() (*ts.Tensor, error) { return maps[0].ShallowClone() })
	}
	list := make([]ts.Tensor, len(maps))
	for i, m := range maps {
		list[i] = *m
	}
	cat := s.Do(func() (*ts.Tensor, error) { return ts.Cat(list, 1) })
	return s.Do(func() (*ts.Tensor, error) {
		v, idx, err := cat.MinDim(1, true, false)
		if idx != nil {
			idx.MustDrop()
		}
		return v, err
	})
}

// MinReprojection is Monodepth2's per-pixel minimum reprojection with
// auto-masking. errors are the warped sources' reprojection errors
// [B,1,H,W] (Photometric, optionally through MaskOutside); identityErrors
// the errors of the un-warped sources against the target (needed only when
// automask). It returns the per-pixel minimum over errors, lossMap
// [B,1,H,W], and mask [B,1,H,W] (float 1 = the pixel counts): with automask
// a pixel is masked out where an identity error is strictly lower than the
// warped minimum (a static scene, or an object moving with the camera);
// pixels whose minimum is OutsideError (no source sees them, MaskOutside)
// are masked out always. The loss is MaskedMean(lossMap, mask).
//
// Monodepth2 breaks ties with random noise of 1e-5 on the identity errors
// and averages the minimum over all pixels, identity ones included (they
// are constants for depth and pose). Here ties keep the pixel (deterministic:
// a textureless pixel with equal errors is kept, as with half of Monodepth2's
// noise draws), and the mean runs over the kept pixels only, so the loss
// does not shrink as the masked share grows; the gradient direction is the
// same.
func MinReprojection(errs []*ts.Tensor, identityErrors []*ts.Tensor, automask bool) (lossMap, mask *ts.Tensor, err error) {
	const fn = "MinReprojection"
	defer perception.Recover("learner", fn, &err)
	if len(errs) == 0 {
		return nil, nil, fmt.Errorf("%w: %s: no reprojection errors", ErrLossInput, fn)
	}
	if automask && len(identityErrors) == 0 {
		return nil, nil, fmt.Errorf("%w: %s: automask needs identity errors", ErrLossInput, fn)
	}
	all := append([]*ts.Tensor{}, errs...)
	if automask {
		all = append(all, identityErrors...)
	}
	for i, e := range all {
		if _, err := sameShape(fn, "errors[0]", errs[0], fmt.Sprintf("error %d", i), e); err != nil {
			return nil, nil, err
		}
		if sz, _ := e.Size(); sz[1] != 1 {
			return nil, nil, fmt.Errorf("%w: %s: error %d must be [B,1,H,W], got %v", ErrLossInput, fn, i, sz)
		}
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	lossMap = minOver(s, errs)
	ok := s.Do(func() (*ts.Tensor, error) { return lossMap.Lt(s.Scalar(OutsideError), false) })
	if automask {
		idMin := minOver(s, identityErrors)
		keep := s.Do(func() (*ts.Tensor, error) { return lossMap.LeTensor(idMin, false) })
		ok = s.Do(func() (*ts.Tensor, error) { return ok.LogicalAnd(keep, false) })
	}
	mask = s.Do(func() (*ts.Tensor, error) { return ok.Totype(gotch.Float, false) })
	if s.Err() != nil {
		return nil, nil, s.Err()
	}
	return s.Keep(lossMap), s.Keep(mask), nil
}

// MaskedMean returns the scalar sum(x*mask)/max(sum(mask), 1) over all of
// x [B,1,H,W] and mask [B,1,H,W] (1 = counts): the mean over the valid
// pixels; with no valid pixel it is 0 (and so is its gradient) rather than
// NaN, so one fully masked batch cannot poison training.
func MaskedMean(x, mask *ts.Tensor) (out *ts.Tensor, err error) {
	const fn = "MaskedMean"
	defer perception.Recover("learner", fn, &err)
	if _, err := sameShape(fn, "x", x, "mask", mask); err != nil {
		return nil, err
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	m := s.Do(func() (*ts.Tensor, error) { return x.Mul(mask, false) })
	num := s.Do(func() (*ts.Tensor, error) { return m.Sum(gotch.Float, false) })
	den := s.Do(func() (*ts.Tensor, error) { return mask.Sum(gotch.Float, false) })
	den = s.Do(func() (*ts.Tensor, error) { return den.ClampMin(s.Scalar(1), false) })
	out = s.Do(func() (*ts.Tensor, error) { return num.Div(den, false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// UpsampleToInput resizes a disparity (or depth) map [B,1,h',w'] of a
// decoder scale bilinearly (align_corners=false) to the input resolution
// h x w: Monodepth2 computes every scale's photometric loss at full
// resolution, which removes the texture-copy holes of low-resolution losses.
// The multi-scale total averages the per-scale losses.
func UpsampleToInput(disp *ts.Tensor, h, w int) (out *ts.Tensor, err error) {
	const fn = "UpsampleToInput"
	defer perception.Recover("learner", fn, &err)
	if _, err := shape4(fn, "disp", disp); err != nil {
		return nil, err
	}
	if h < 1 || w < 1 {
		return nil, fmt.Errorf("%w: %s: size %dx%d", ErrLossInput, fn, w, h)
	}
	out, err = disp.UpsampleBilinear2d([]int64{int64(h), int64(w)}, false, nil, nil, false)
	if err != nil {
		return nil, fmt.Errorf("learner: %s: %w", fn, err)
	}
	return out, nil
}

// SmoothnessScaleWeight is the weight of scale s's smoothness term,
// 1/2^s: Monodepth2 computes the smoothness on each scale's own disparity
// and image, and coarser scales cover more of the image per pixel.
// Monodepth2's overall smoothness weight (1e-3) multiplies it.
func SmoothnessScaleWeight(s int) float64 { return 1 / float64(int64(1)<<uint(s)) }

// Smoothness is Monodepth2's edge-aware first-order smoothness of a
// disparity disp [B,1,H,W] given the image img [B,C,H,W] at the same
// resolution: disp is divided by its per-image mean (+1e-7) first, so the
// term cannot be lowered by shrinking the disparity; then
// mean(|∂x d| exp(-mean_c|∂x I|)) + mean(|∂y d| exp(-mean_c|∂y I|)), a
// scalar. Strong image edges relax the penalty, where depth edges belong.
func Smoothness(disp, img *ts.Tensor) (out *ts.Tensor, err error) {
	const fn = "Smoothness"
	defer perception.Recover("learner", fn, &err)
	dsz, err := shape4(fn, "disp", disp)
	if err != nil {
		return nil, err
	}
	isz, err := shape4(fn, "img", img)
	if err != nil {
		return nil, err
	}
	if dsz[1] != 1 || dsz[0] != isz[0] || dsz[2] != isz[2] || dsz[3] != isz[3] {
		return nil, fmt.Errorf("%w: %s: disp [B,1,H,W] and img [B,C,H,W] must agree, got %v and %v", ErrLossInput, fn, dsz, isz)
	}
	if dsz[2] < 2 || dsz[3] < 2 {
		return nil, fmt.Errorf("%w: %s: image %v too small for gradients", ErrLossInput, fn, dsz)
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	mean := s.Do(func() (*ts.Tensor, error) { return disp.MeanDim([]int64{2, 3}, true, gotch.Float, false) })
	mean = s.Do(func() (*ts.Tensor, error) { return mean.AddScalar(s.Scalar(1e-7), false) })
	d := s.Do(func() (*ts.Tensor, error) { return disp.Div(mean, false) })
	term := func(dim, n int64) *ts.Tensor {
		grad := func(t *ts.Tensor) *ts.Tensor {
			a := s.Do(func() (*ts.Tensor, error) { return t.Narrow(dim, 0, n-1, false) })
			b := s.Do(func() (*ts.Tensor, error) { return t.Narrow(dim, 1, n-1, false) })
			g := s.Do(func() (*ts.Tensor, error) { return a.Sub(b, false) })
			return s.Do(func() (*ts.Tensor, error) { return g.Abs(false) })
		}
		gd := grad(d)
		gi := grad(img)
		gi = s.Do(func() (*ts.Tensor, error) { return gi.MeanDim([]int64{1}, true, gotch.Float, false) })
		gi = s.Do(func() (*ts.Tensor, error) { return gi.MulScalar(s.Scalar(-1), false) })
		wt := s.Do(func() (*ts.Tensor, error) { return gi.Exp(false) })
		p := s.Do(func() (*ts.Tensor, error) { return gd.Mul(wt, false) })
		return s.Do(func() (*ts.Tensor, error) { return p.Mean(gotch.Float, false) })
	}
	tx := term(3, dsz[3])
	ty := term(2, dsz[2])
	out = s.Do(func() (*ts.Tensor, error) { return tx.Add(ty, false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// ViewSynthesis warps each source image [B,C,H,W] into the target view with
// the target's depth [B,1,H,W], intrinsics K/invK ([B|1,3,3]) and the
// target-to-source transforms T[i] ([B|1,4,4]) through perception.Reproject.
// It returns the warped images and perception.Project's valid masks
// [B,1,H,W], one per source; target only fixes the expected size.
func ViewSynthesis(target *ts.Tensor, sources []*ts.Tensor, depth, K, invK *ts.Tensor, T []*ts.Tensor) (warped, valid []*ts.Tensor, err error) {
	const fn = "ViewSynthesis"
	defer perception.Recover("learner", fn, &err)
	if len(sources) == 0 || len(sources) != len(T) {
		return nil, nil, fmt.Errorf("%w: %s: %d sources and %d transforms", ErrLossInput, fn, len(sources), len(T))
	}
	tsz, err := shape4(fn, "target", target)
	if err != nil {
		return nil, nil, err
	}
	for i, src := range sources {
		if _, err := sameShape(fn, "target", target, fmt.Sprintf("source %d", i), src); err != nil {
			return nil, nil, err
		}
	}
	dsz, err := shape4(fn, "depth", depth)
	if err != nil {
		return nil, nil, err
	}
	if dsz[0] != tsz[0] || dsz[1] != 1 || dsz[2] != tsz[2] || dsz[3] != tsz[3] {
		return nil, nil, fmt.Errorf("%w: %s: depth must be [%d,1,%d,%d], got %v", ErrLossInput, fn, tsz[0], tsz[2], tsz[3], dsz)
	}
	drop := func() {
		for i := range warped {
			warped[i].MustDrop()
			valid[i].MustDrop()
		}
	}
	for i, src := range sources {
		w, v, err := perception.Reproject(src, depth, K, invK, T[i])
		if err != nil {
			drop()
			return nil, nil, fmt.Errorf("learner: %s: source %d: %w", fn, i, err)
		}
		warped, valid = append(warped, w), append(valid, v)
	}
	return warped, valid, nil
}

// StereoReprojection synthesises the left view from the right image
// right [B,C,H,W] of a rectified pair with baseline metres (right camera at
// +baseline along the left camera's x) and the left depth [B,1,H,W]:
// perception.StereoTransform's known pose, then perception.Reproject. It
// returns the warped image and the valid mask [B,1,H,W]. Pass the left image
// and -baseline (and the right depth) for the other direction.
func StereoReprojection(right, depthLeft, K, invK *ts.Tensor, baseline float64) (warped, valid *ts.Tensor, err error) {
	const fn = "StereoReprojection"
	defer perception.Recover("learner", fn, &err)
	rsz, err := shape4(fn, "right", right)
	if err != nil {
		return nil, nil, err
	}
	dev, err := right.Device()
	if err != nil {
		return nil, nil, fmt.Errorf("learner: %s: %w", fn, err)
	}
	T, err := perception.StereoTransform(baseline, int(rsz[0]), dev)
	if err != nil {
		return nil, nil, fmt.Errorf("learner: %s: %w", fn, err)
	}
	defer T.MustDrop()
	warped, valid, err = perception.Reproject(right, depthLeft, K, invK, T)
	if err != nil {
		return nil, nil, fmt.Errorf("learner: %s: %w", fn, err)
	}
	return warped, valid, nil
}

// DepthToPixelDisparity turns a depth map [B,1,H,W] (metres) into the
// horizontal disparity in pixels of a rectified pair, fx*baseline/depth
// (depth clamped to at least perception.ProjectEps).
func DepthToPixelDisparity(depth *ts.Tensor, fx, baseline float64) (out *ts.Tensor, err error) {
	const fn = "DepthToPixelDisparity"
	defer perception.Recover("learner", fn, &err)
	if _, err := shape4(fn, "depth", depth); err != nil {
		return nil, err
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	d := s.Do(func() (*ts.Tensor, error) { return depth.ClampMin(s.Scalar(perception.ProjectEps), false) })
	r := s.Do(func() (*ts.Tensor, error) { return d.Reciprocal(false) })
	out = s.Do(func() (*ts.Tensor, error) { return r.MulScalar(s.Scalar(fx*baseline), false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// shiftX samples x [B,1,H,W] at column u + sign*disp(u) (pixel units, border
// padding): the horizontal warp of a rectified pair.
func shiftX(s *perception.Scope, x, disp *ts.Tensor, sign float64, sz []int64) *ts.Tensor {
	b, h, w := sz[0], sz[2], sz[3]
	dev, err := x.Device()
	if err != nil {
		s.Fail(err)
		return nil
	}
	opts := gotch.Float
	// Base grid of pixel centres, normalised for align_corners=false.
	xs := s.Do(func() (*ts.Tensor, error) { return ts.Arange(s.Scalar(float64(w)), opts, dev) })
	xs = s.Do(func() (*ts.Tensor, error) { return xs.AddScalar(s.Scalar(0.5), false) })
	xs = s.Do(func() (*ts.Tensor, error) { return xs.View([]int64{1, 1, 1, w}, false) })
	ys := s.Do(func() (*ts.Tensor, error) { return ts.Arange(s.Scalar(float64(h)), opts, dev) })
	ys = s.Do(func() (*ts.Tensor, error) { return ys.AddScalar(s.Scalar(0.5), false) })
	ys = s.Do(func() (*ts.Tensor, error) { return ys.View([]int64{1, 1, h, 1}, false) })
	sd := s.Do(func() (*ts.Tensor, error) { return disp.MulScalar(s.Scalar(sign), false) })
	px := s.Do(func() (*ts.Tensor, error) { return sd.Add(xs, false) }) // [B,1,H,W]
	gx := s.Do(func() (*ts.Tensor, error) { return px.MulScalar(s.Scalar(2/float64(w)), false) })
	gx = s.Do(func() (*ts.Tensor, error) { return gx.AddScalar(s.Scalar(-1), false) })
	gy := s.Do(func() (*ts.Tensor, error) { return ys.MulScalar(s.Scalar(2/float64(h)), false) })
	gy = s.Do(func() (*ts.Tensor, error) { return gy.AddScalar(s.Scalar(-1), false) })
	gy = s.Do(func() (*ts.Tensor, error) { return gy.Expand([]int64{b, 1, h, w}, false, false) })
	g := s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*gx, *gy}, 1) })
	g = s.Do(func() (*ts.Tensor, error) { return g.Permute([]int64{0, 2, 3, 1}, false) })
	return s.Do(func() (*ts.Tensor, error) { return perception.Warp(x, g) })
}

// LRConsistency is Monodepth's left-right disparity consistency for
// rectified pairs: dispL and dispR [B,1,H,W] are disparities in pixels
// (DepthToPixelDisparity: fx*baseline/depth; left pixel u matches right
// pixel u - dispL(u)). The right disparity is warped into the left view by
// the left disparity (sampled at u - dispL), the left into the right view
// (at u + dispR), and the scalar loss is
// mean|dispL - warped dispR| + mean|dispR - warped dispL|: zero for a
// consistent pair, such as a fronto-parallel plane (constant disparity).
// Samples outside the image repeat the border (no mask: Monodepth's choice).
func LRConsistency(dispL, dispR *ts.Tensor) (out *ts.Tensor, err error) {
	const fn = "LRConsistency"
	defer perception.Recover("learner", fn, &err)
	sz, err := sameShape(fn, "dispL", dispL, "dispR", dispR)
	if err != nil {
		return nil, err
	}
	if sz[1] != 1 {
		return nil, fmt.Errorf("%w: %s: disparities must be [B,1,H,W], got %v", ErrLossInput, fn, sz)
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	rToL := shiftX(s, dispR, dispL, -1, sz)
	lToR := shiftX(s, dispL, dispR, +1, sz)
	a := s.Do(func() (*ts.Tensor, error) { return dispL.Sub(rToL, false) })
	a = s.Do(func() (*ts.Tensor, error) { return a.Abs(false) })
	a = s.Do(func() (*ts.Tensor, error) { return a.Mean(gotch.Float, false) })
	b := s.Do(func() (*ts.Tensor, error) { return dispR.Sub(lToR, false) })
	b = s.Do(func() (*ts.Tensor, error) { return b.Abs(false) })
	b = s.Do(func() (*ts.Tensor, error) { return b.Mean(gotch.Float, false) })
	out = s.Do(func() (*ts.Tensor, error) { return a.Add(b, false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}
