package perception

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/msgs"
)

// View-synthesis geometry (SfMLearner, Monodepth2): lift the pixels of a
// target view to 3D with a depth map, move them into a source camera, project
// them, and bilinearly sample the source image there. Every function is built
// from libtorch ops so autograd flows through depth, pose and intrinsics, works
// on batches, and frees each intermediate tensor before returning.
//
// Coordinate conventions, used everywhere in this file:
//
//   - Pixel (u, v) is column u, row v of a tensor [.., H, W], u in [0, W),
//     v in [0, H). As in msgs.Intrinsics, it covers [u, u+1) x [v, v+1) of the
//     continuous image plane, so its centre has coordinates (u+0.5, v+0.5).
//     K is msgs.Intrinsics as it is (no half-pixel shift): a camera point
//     (X, Y, Z) lands at x = Fx*X/Z + Cx, y = Fy*Y/Z + Cy.
//   - That plane maps exactly onto grid_sample's align_corners=false grid:
//     gx = 2*x/W - 1, gy = 2*y/H - 1, so -1 is the left edge of pixel 0, +1 the
//     right edge of pixel W-1, and pixel u's centre is at 2*(u+0.5)/W - 1.
//   - Camera axes: x right, y down, z forward (msgs.Pose). Depth is z-depth
//     (along the optical axis), as msgs.GroundTruth.Depth.
//   - T is a [B,4,4] rigid transform taking points from the target camera's
//     frame into the source camera's frame: p_src = R*p_tgt + t. From
//     camera-to-world poses, T_src<-tgt = inv(P_src) * P_tgt (RelativePose).
//
// K, invK and T may have batch size 1 (broadcast over the batch) or B.

var (
	// ErrGeometryShape is returned when a tensor has the wrong rank, size or
	// dtype for a geometry function.
	ErrGeometryShape = errors.New("perception: bad tensor shape")
	// ErrGeometryInput is returned for invalid non-tensor input: bad
	// intrinsics, non-finite poses, a non-positive batch or image size.
	ErrGeometryInput = errors.New("perception: bad geometry input")
)

// ProjectEps is the smallest camera z (metres) Project accepts as "in front
// of the camera"; points nearer or behind are invalid and their division by z
// is clamped to it, so the grid stays finite.
const ProjectEps = 1e-3

// Padding says what Warp samples outside the source image.
type Padding int64

// The values follow libtorch's GridSamplerPadding enum.
const (
	// PaddingZeros reads zeros outside the image.
	PaddingZeros Padding = 0
	// PaddingBorder repeats the nearest edge pixel (Monodepth2's choice: it
	// keeps the photometric error of slightly-outside samples small and
	// their gradient non-zero). Warp uses it.
	PaddingBorder Padding = 1
)

// gridSamplerBilinear is libtorch's GridSamplerInterpolation::Bilinear.
const gridSamplerBilinear = 0

// geoShape returns x's shape after checking it is a defined float32 tensor.
func geoShape(fn, name string, x *ts.Tensor) ([]int64, error) {
	if x == nil {
		return nil, fmt.Errorf("%w: %s: %s is nil", ErrGeometryShape, fn, name)
	}
	sz, err := x.Size()
	if err != nil {
		return nil, fmt.Errorf("perception: %s: %s: %w", fn, name, err)
	}
	if dt := x.DType(); dt != gotch.Float {
		return nil, fmt.Errorf("%w: %s: %s must be float32, got %v", ErrGeometryShape, fn, name, dt)
	}
	return sz, nil
}

// dims formats a shape as [2,3,4].
func geoDims(sz []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range sz {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(d, 10))
	}
	b.WriteByte(']')
	return b.String()
}

// geoCheckMat checks that m is [1 or B, n, n].
func geoCheckMat(fn, name string, m *ts.Tensor, n, b int64) error {
	sz, err := geoShape(fn, name, m)
	if err != nil {
		return err
	}
	if len(sz) != 3 || sz[1] != n || sz[2] != n || (sz[0] != 1 && sz[0] != b) {
		return fmt.Errorf("%w: %s: %s must be [%d,%d,%d] or [1,%d,%d], got %v", ErrGeometryShape, fn, name, b, n, n, n, n, geoDims(sz))
	}
	return nil
}

// IntrinsicsTensor returns K [B,3,3] and its exact inverse for the B cameras
// in k, float32 on dev. K is msgs.Intrinsics unchanged (pixel centres at
// +0.5, see the conventions above); scale the intrinsics to the tensor
// resolution first (msgs.Intrinsics.Scaled).
func IntrinsicsTensor(k []msgs.Intrinsics, dev gotch.Device) (K, invK *ts.Tensor, err error) {
	defer Recover("perception", "IntrinsicsTensor", &err)
	if len(k) == 0 {
		return nil, nil, fmt.Errorf("%w: IntrinsicsTensor: no intrinsics", ErrGeometryInput)
	}
	kd := make([]float32, 0, 9*len(k))
	id := make([]float32, 0, 9*len(k))
	for i, c := range k {
		if !(c.Fx > 0) || !(c.Fy > 0) || math.IsInf(c.Fx, 0) || math.IsInf(c.Fy, 0) ||
			math.IsNaN(c.Cx) || math.IsNaN(c.Cy) || math.IsInf(c.Cx, 0) || math.IsInf(c.Cy, 0) {
			return nil, nil, fmt.Errorf("%w: IntrinsicsTensor: camera %d: focal lengths must be positive and finite, principal point finite: %+v", ErrGeometryInput, i, c)
		}
		kd = append(kd, float32(c.Fx), 0, float32(c.Cx), 0, float32(c.Fy), float32(c.Cy), 0, 0, 1)
		// Inverted in float64 so invK is as exact as float32 allows.
		id = append(id, float32(1/c.Fx), 0, float32(-c.Cx/c.Fx), 0, float32(1/c.Fy), float32(-c.Cy/c.Fy), 0, 0, 1)
	}
	shape := []int64{int64(len(k)), 3, 3}
	if K, err = FloatTensor(kd, shape, dev); err != nil {
		return nil, nil, fmt.Errorf("perception: IntrinsicsTensor: %w", err)
	}
	if invK, err = FloatTensor(id, shape, dev); err != nil {
		K.MustDrop()
		return nil, nil, fmt.Errorf("perception: IntrinsicsTensor: %w", err)
	}
	return K, invK, nil
}

// geoPixelCentres returns the homogeneous pixel-centre coordinates (u+0.5, v+0.5, 1)
// of an h x w image, [3, h*w], row-major like a flattened [h, w] tensor.
func geoPixelCentres(s *Scope, h, w int64, dev gotch.Device) *ts.Tensor {
	half, ws, hs := ts.FloatScalar(0.5), ts.FloatScalar(float64(w)), ts.FloatScalar(float64(h))
	defer half.MustDrop()
	defer ws.MustDrop()
	defer hs.MustDrop()
	xs := s.Do(func() (*ts.Tensor, error) { return ts.Arange(ws, gotch.Float, dev) })
	ys := s.Do(func() (*ts.Tensor, error) { return ts.Arange(hs, gotch.Float, dev) })
	xs = s.Do(func() (*ts.Tensor, error) { return xs.AddScalar(half, false) })
	ys = s.Do(func() (*ts.Tensor, error) { return ys.AddScalar(half, false) })
	xg := s.Do(func() (*ts.Tensor, error) { return xs.View([]int64{1, w}, false) })
	yg := s.Do(func() (*ts.Tensor, error) { return ys.View([]int64{h, 1}, false) })
	xg = s.Do(func() (*ts.Tensor, error) { return xg.Expand([]int64{h, w}, false, false) })
	yg = s.Do(func() (*ts.Tensor, error) { return yg.Expand([]int64{h, w}, false, false) })
	one := s.Do(func() (*ts.Tensor, error) { return ts.Ones([]int64{h, w}, gotch.Float, dev) })
	if s.Err() != nil {
		return nil
	}
	st := s.Do(func() (*ts.Tensor, error) { return ts.Stack([]ts.Tensor{*xg, *yg, *one}, 0) })
	return s.Do(func() (*ts.Tensor, error) { return st.View([]int64{3, h * w}, false) })
}

// BackProject lifts every pixel of depth [B,1,H,W] (z-depth, float32) to a 3D
// point in its camera frame: points [B,3,H*W] (not homogeneous; Project adds
// the translation itself), point n = v*W + u for pixel (u, v), equal to
// depth(u,v) * invK * (u+0.5, v+0.5, 1). invK is [B,3,3] or [1,3,3].
func BackProject(depth, invK *ts.Tensor) (points *ts.Tensor, err error) {
	const fn = "BackProject"
	defer Recover("perception", fn, &err)
	dsz, err := geoShape(fn, "depth", depth)
	if err != nil {
		return nil, err
	}
	if len(dsz) != 4 || dsz[1] != 1 || dsz[0] < 1 || dsz[2] < 1 || dsz[3] < 1 {
		return nil, fmt.Errorf("%w: %s: depth must be [B,1,H,W], got %v", ErrGeometryShape, fn, geoDims(dsz))
	}
	b, h, w := dsz[0], dsz[2], dsz[3]
	if err := geoCheckMat(fn, "invK", invK, 3, b); err != nil {
		return nil, err
	}
	dev, err := depth.Device()
	if err != nil {
		return nil, fmt.Errorf("perception: %s: %w", fn, err)
	}
	s := NewScope("perception: " + fn)
	defer s.Free()
	pix := geoPixelCentres(s, h, w, dev)
	rays := s.Do(func() (*ts.Tensor, error) { return invK.Matmul(pix, false) }) // [b|1,3,N]
	d := s.Do(func() (*ts.Tensor, error) { return depth.Reshape([]int64{b, 1, h * w}, false) })
	out := s.Do(func() (*ts.Tensor, error) { return rays.Mul(d, false) }) // broadcasts to [B,3,N]
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// Project maps camera points [B,3,N] (N = h*w, from BackProject) through
// T [B,4,4] (target to source) and K [B,3,3] (either may have batch 1) into
// source pixel coordinates, normalised for grid_sample with
// align_corners=false: grid [B,h,w,2] holds (2*x/w - 1, 2*y/h - 1) with
// x = Fx*X/Z + Cx on the pixel-centre-at-+0.5 plane, so an identity T gives
// each pixel's own centre. valid [B,1,h,w] is float32 1 where the point is in
// front of the source camera (Z > ProjectEps) and inside the image
// (|gx| <= 1 and |gy| <= 1, i.e. 0 <= x <= w, 0 <= y <= h), else 0; it carries
// no gradient. Points with Z <= ProjectEps are divided by ProjectEps instead,
// so grid stays finite (they are invalid anyway).
func Project(points, K, T *ts.Tensor, h, w int) (grid, valid *ts.Tensor, err error) {
	const fn = "Project"
	defer Recover("perception", fn, &err)
	if h < 1 || w < 1 {
		return nil, nil, fmt.Errorf("%w: %s: image size %dx%d", ErrGeometryInput, fn, w, h)
	}
	psz, err := geoShape(fn, "points", points)
	if err != nil {
		return nil, nil, err
	}
	H, W := int64(h), int64(w)
	if len(psz) != 3 || psz[1] != 3 || psz[0] < 1 || psz[2] != H*W {
		return nil, nil, fmt.Errorf("%w: %s: points must be [B,3,%d] for %dx%d, got %v", ErrGeometryShape, fn, H*W, w, h, geoDims(psz))
	}
	b := psz[0]
	if err := geoCheckMat(fn, "K", K, 3, b); err != nil {
		return nil, nil, err
	}
	if err := geoCheckMat(fn, "T", T, 4, b); err != nil {
		return nil, nil, err
	}
	s := NewScope("perception: " + fn)
	defer s.Free()
	// P = K * T[:3,:] ([b|1,3,4]): one 3x3 matmul over the N points instead of two.
	top := s.Do(func() (*ts.Tensor, error) { return T.Narrow(1, 0, 3, false) })
	P := s.Do(func() (*ts.Tensor, error) { return K.Matmul(top, false) })
	M := s.Do(func() (*ts.Tensor, error) { return P.Narrow(2, 0, 3, false) })
	t := s.Do(func() (*ts.Tensor, error) { return P.Narrow(2, 3, 1, false) })
	mp := s.Do(func() (*ts.Tensor, error) { return M.Matmul(points, false) })
	cam := s.Do(func() (*ts.Tensor, error) { return mp.Add(t, false) }) // [B,3,N]: (Z*x, Z*y, Z)
	xy := s.Do(func() (*ts.Tensor, error) { return cam.Narrow(1, 0, 2, false) })
	z := s.Do(func() (*ts.Tensor, error) { return cam.Narrow(1, 2, 1, false) })
	eps := ts.FloatScalar(ProjectEps)
	defer eps.MustDrop()
	zs := s.Do(func() (*ts.Tensor, error) { return z.ClampMin(eps, false) })
	pix := s.Do(func() (*ts.Tensor, error) { return xy.Div(zs, false) }) // [B,2,N] pixel-plane x, y
	// Normalise: g = pix * (2/w, 2/h) - 1.
	scale := s.Do(func() (*ts.Tensor, error) {
		dev, err := points.Device()
		if err != nil {
			return nil, err
		}
		return FloatTensor([]float32{float32(2 / float64(w)), float32(2 / float64(h))}, []int64{1, 2, 1}, dev)
	})
	one := ts.FloatScalar(1)
	defer one.MustDrop()
	g := s.Do(func() (*ts.Tensor, error) { return pix.Mul(scale, false) })
	g = s.Do(func() (*ts.Tensor, error) { return g.SubScalar(one, false) })
	g = s.Do(func() (*ts.Tensor, error) { return g.Permute([]int64{0, 2, 1}, false) }) // [B,N,2]
	grid = s.Do(func() (*ts.Tensor, error) { return g.Reshape([]int64{b, H, W, 2}, false) })

	// The mask, from detached values: a comparison has no gradient anyway.
	gd := s.Do(func() (*ts.Tensor, error) { return g.Detach(false) })
	ga := s.Do(func() (*ts.Tensor, error) { return gd.Abs(false) })
	in := s.Do(func() (*ts.Tensor, error) { return ga.Le(one, false) })             // [B,N,2] bool
	inAll := s.Do(func() (*ts.Tensor, error) { return in.AllDim(2, false, false) }) // [B,N]
	front := s.Do(func() (*ts.Tensor, error) { return z.Gt(eps, false) })           // [B,1,N]
	frontN := s.Do(func() (*ts.Tensor, error) { return front.View([]int64{b, H * W}, false) })
	ok := s.Do(func() (*ts.Tensor, error) { return inAll.LogicalAnd(frontN, false) })
	okf := s.Do(func() (*ts.Tensor, error) { return ok.Totype(gotch.Float, false) })
	valid = s.Do(func() (*ts.Tensor, error) { return okf.View([]int64{b, 1, H, W}, false) })
	if s.Err() != nil {
		return nil, nil, s.Err()
	}
	return s.Keep(grid), s.Keep(valid), nil
}

// Warp samples src [B,C,Hs,Ws] bilinearly at grid [B,H,W,2] (from Project,
// align_corners=false), with PaddingBorder: it synthesises the target view,
// [B,C,H,W]. The gradient flows to src and to grid (hence to depth and pose).
func Warp(src, grid *ts.Tensor) (*ts.Tensor, error) {
	return WarpPadding(src, grid, PaddingBorder)
}

// WarpPadding is Warp with a chosen padding for samples outside src.
func WarpPadding(src, grid *ts.Tensor, pad Padding) (out *ts.Tensor, err error) {
	const fn = "Warp"
	defer Recover("perception", fn, &err)
	ssz, err := geoShape(fn, "src", src)
	if err != nil {
		return nil, err
	}
	if len(ssz) != 4 || ssz[0] < 1 || ssz[1] < 1 || ssz[2] < 1 || ssz[3] < 1 {
		return nil, fmt.Errorf("%w: %s: src must be [B,C,H,W], got %v", ErrGeometryShape, fn, geoDims(ssz))
	}
	gsz, err := geoShape(fn, "grid", grid)
	if err != nil {
		return nil, err
	}
	if len(gsz) != 4 || gsz[0] != ssz[0] || gsz[3] != 2 || gsz[1] < 1 || gsz[2] < 1 {
		return nil, fmt.Errorf("%w: %s: grid must be [%d,H,W,2] for src %v, got %v", ErrGeometryShape, fn, ssz[0], geoDims(ssz), geoDims(gsz))
	}
	if pad != PaddingZeros && pad != PaddingBorder {
		return nil, fmt.Errorf("%w: %s: unknown padding %d", ErrGeometryInput, fn, pad)
	}
	out, err = ts.GridSampler(src, grid, gridSamplerBilinear, int64(pad), false)
	if err != nil {
		return nil, fmt.Errorf("perception: %s: %w", fn, err)
	}
	return out, nil
}

// Reproject synthesises the target view from src [B,C,H,W]: BackProject the
// target depth [B,1,H,W] with invK, Project through T (target to source) and
// K, Warp src. It returns the warped image [B,C,H,W] and Project's validity
// mask [B,1,H,W]. Source and target have the same size and intrinsics.
func Reproject(src, depthTarget, K, invK, T *ts.Tensor) (warped, valid *ts.Tensor, err error) {
	const fn = "Reproject"
	defer Recover("perception", fn, &err)
	ssz, err := geoShape(fn, "src", src)
	if err != nil {
		return nil, nil, err
	}
	dsz, err := geoShape(fn, "depth", depthTarget)
	if err != nil {
		return nil, nil, err
	}
	if len(ssz) != 4 || len(dsz) != 4 || ssz[0] != dsz[0] || ssz[2] != dsz[2] || ssz[3] != dsz[3] {
		return nil, nil, fmt.Errorf("%w: %s: src [B,C,H,W] and depth [B,1,H,W] must agree, got %v and %v", ErrGeometryShape, fn, geoDims(ssz), geoDims(dsz))
	}
	pts, err := BackProject(depthTarget, invK)
	if err != nil {
		return nil, nil, err
	}
	defer pts.MustDrop()
	grid, valid, err := Project(pts, K, T, int(dsz[2]), int(dsz[3]))
	if err != nil {
		return nil, nil, err
	}
	defer grid.MustDrop()
	warped, err = Warp(src, grid)
	if err != nil {
		valid.MustDrop()
		return nil, nil, err
	}
	return warped, valid, nil
}

// geoPoseMatrix appends the 4x4 row-major matrix of p to dst.
func geoPoseMatrix(dst []float32, p msgs.Pose) []float32 {
	r := p.R
	return append(dst,
		float32(r[0]), float32(r[1]), float32(r[2]), float32(p.T[0]),
		float32(r[3]), float32(r[4]), float32(r[5]), float32(p.T[1]),
		float32(r[6]), float32(r[7]), float32(r[8]), float32(p.T[2]),
		0, 0, 0, 1)
}

func geoPoseFinite(p msgs.Pose) bool {
	for _, v := range p.R {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	for _, v := range p.T {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// PoseTensor returns the poses as [B,4,4] float32 matrices on dev (the
// rigid transform p_parent = R*p + T, homogeneous).
func PoseTensor(poses []msgs.Pose, dev gotch.Device) (m *ts.Tensor, err error) {
	defer Recover("perception", "PoseTensor", &err)
	if len(poses) == 0 {
		return nil, fmt.Errorf("%w: PoseTensor: no poses", ErrGeometryInput)
	}
	d := make([]float32, 0, 16*len(poses))
	for i, p := range poses {
		if !geoPoseFinite(p) {
			return nil, fmt.Errorf("%w: PoseTensor: pose %d is not finite: %+v", ErrGeometryInput, i, p)
		}
		d = geoPoseMatrix(d, p)
	}
	m, err = FloatTensor(d, []int64{int64(len(poses)), 4, 4}, dev)
	if err != nil {
		return nil, fmt.Errorf("perception: PoseTensor: %w", err)
	}
	return m, nil
}

// RelativePose returns T_src<-tgt = inv(src) * tgt for two camera-to-world
// poses: the transform Project needs to synthesise the target view from the
// source camera.
func RelativePose(src, tgt msgs.Pose) msgs.Pose {
	return src.Inverse().Compose(tgt)
}

// RelativeTransform returns [B,4,4] T_src<-tgt for B pairs of
// camera-to-world poses (src[i], tgt[i]).
func RelativeTransform(src, tgt []msgs.Pose, dev gotch.Device) (*ts.Tensor, error) {
	if len(src) != len(tgt) {
		return nil, fmt.Errorf("%w: RelativeTransform: %d source poses, %d target poses", ErrGeometryInput, len(src), len(tgt))
	}
	rel := make([]msgs.Pose, len(src))
	for i := range src {
		if !geoPoseFinite(src[i]) || !geoPoseFinite(tgt[i]) {
			return nil, fmt.Errorf("%w: RelativeTransform: pose pair %d is not finite", ErrGeometryInput, i)
		}
		rel[i] = RelativePose(src[i], tgt[i])
	}
	return PoseTensor(rel, dev)
}

// StereoTransform returns [B,4,4] copies of the target-to-source transform of
// a rectified stereo pair whose source camera sits baseline metres to the
// right (+x) of the target: p_src = p_tgt - (baseline, 0, 0), a translation
// of -baseline along x. So with target = left and source = right (camera/synth:
// the right camera is the left shifted by +Baseline along its x axis) pass
// the positive baseline: left pixel x samples the right image at
// x - Fx*baseline/Z (the usual disparity). To synthesise the right view from
// the left, pass -baseline.
func StereoTransform(baseline float64, B int, dev gotch.Device) (*ts.Tensor, error) {
	if B < 1 {
		return nil, fmt.Errorf("%w: StereoTransform: batch size %d", ErrGeometryInput, B)
	}
	if math.IsNaN(baseline) || math.IsInf(baseline, 0) {
		return nil, fmt.Errorf("%w: StereoTransform: baseline %v", ErrGeometryInput, baseline)
	}
	p := msgs.Identity()
	p.T[0] = -baseline
	poses := make([]msgs.Pose, B)
	for i := range poses {
		poses[i] = p
	}
	return PoseTensor(poses, dev)
}

// TransformFromAxisAngle builds differentiable [B,4,4] rigid transforms from
// a pose network's output: axisAngle [B,3] (rotation axis times angle in
// radians, Rodrigues) and translation [B,3], both float32. The gradient flows
// to both, and is finite at zero rotation: R = I + a*S + b*S^2 with S the
// skew matrix of axisAngle (not of the unit axis), a = sin(θ)/θ,
// b = (1-cos θ)/θ², θ = sqrt(|axisAngle|² + 1e-12).
func TransformFromAxisAngle(axisAngle, translation *ts.Tensor) (T *ts.Tensor, err error) {
	const fn = "TransformFromAxisAngle"
	defer Recover("perception", fn, &err)
	asz, err := geoShape(fn, "axisAngle", axisAngle)
	if err != nil {
		return nil, err
	}
	tsz, err := geoShape(fn, "translation", translation)
	if err != nil {
		return nil, err
	}
	if len(asz) != 2 || asz[1] != 3 || asz[0] < 1 {
		return nil, fmt.Errorf("%w: %s: axisAngle must be [B,3], got %v", ErrGeometryShape, fn, geoDims(asz))
	}
	if len(tsz) != 2 || tsz[1] != 3 || tsz[0] != asz[0] {
		return nil, fmt.Errorf("%w: %s: translation must be [%d,3], got %v", ErrGeometryShape, fn, asz[0], geoDims(tsz))
	}
	b := asz[0]
	dev, err := axisAngle.Device()
	if err != nil {
		return nil, fmt.Errorf("perception: %s: %w", fn, err)
	}
	s := NewScope("perception: " + fn)
	defer s.Free()
	vx := s.Do(func() (*ts.Tensor, error) { return axisAngle.Narrow(1, 0, 1, false) })
	vy := s.Do(func() (*ts.Tensor, error) { return axisAngle.Narrow(1, 1, 1, false) })
	vz := s.Do(func() (*ts.Tensor, error) { return axisAngle.Narrow(1, 2, 1, false) })
	zero := s.Do(func() (*ts.Tensor, error) { return ts.Zeros([]int64{b, 1}, gotch.Float, dev) })
	nx := s.Do(func() (*ts.Tensor, error) { return vx.Neg(false) })
	ny := s.Do(func() (*ts.Tensor, error) { return vy.Neg(false) })
	nz := s.Do(func() (*ts.Tensor, error) { return vz.Neg(false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	sk := s.Do(func() (*ts.Tensor, error) {
		return ts.Cat([]ts.Tensor{*zero, *nz, *vy, *vz, *zero, *nx, *ny, *vx, *zero}, 1)
	})
	S := s.Do(func() (*ts.Tensor, error) { return sk.View([]int64{b, 3, 3}, false) })
	S2 := s.Do(func() (*ts.Tensor, error) { return S.Matmul(S, false) })
	sq := s.Do(func() (*ts.Tensor, error) { return axisAngle.Square(false) })
	th2 := s.Do(func() (*ts.Tensor, error) { return sq.SumDimIntlist([]int64{1}, true, gotch.Float, false) }) // [B,1]
	tiny := ts.FloatScalar(1e-12)
	defer tiny.MustDrop()
	th2 = s.Do(func() (*ts.Tensor, error) { return th2.AddScalar(tiny, false) })
	th := s.Do(func() (*ts.Tensor, error) { return th2.Sqrt(false) })
	sin := s.Do(func() (*ts.Tensor, error) { return th.Sin(false) })
	cos := s.Do(func() (*ts.Tensor, error) { return th.Cos(false) })
	one := ts.FloatScalar(1)
	defer one.MustDrop()
	a := s.Do(func() (*ts.Tensor, error) { return sin.Div(th, false) })
	omc := s.Do(func() (*ts.Tensor, error) { return cos.RsubScalar(one, false) })
	bb := s.Do(func() (*ts.Tensor, error) { return omc.Div(th2, false) })
	a3 := s.Do(func() (*ts.Tensor, error) { return a.View([]int64{b, 1, 1}, false) })
	b3 := s.Do(func() (*ts.Tensor, error) { return bb.View([]int64{b, 1, 1}, false) })
	aS := s.Do(func() (*ts.Tensor, error) { return S.Mul(a3, false) })
	bS2 := s.Do(func() (*ts.Tensor, error) { return S2.Mul(b3, false) })
	eye := s.Do(func() (*ts.Tensor, error) { return ts.Eye(3, gotch.Float, dev) })
	R := s.Do(func() (*ts.Tensor, error) { return aS.Add(bS2, false) })
	R = s.Do(func() (*ts.Tensor, error) { return R.Add(eye, false) })
	tcol := s.Do(func() (*ts.Tensor, error) { return translation.View([]int64{b, 3, 1}, false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	top := s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*R, *tcol}, 2) }) // [B,3,4]
	last := s.Do(func() (*ts.Tensor, error) {
		return FloatTensor([]float32{0, 0, 0, 1}, []int64{1, 1, 4}, dev)
	})
	lastB := s.Do(func() (*ts.Tensor, error) { return last.Expand([]int64{b, 1, 4}, false, false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	T = s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*top, *lastB}, 1) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(T), nil
}
