package calibration

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/parallax-robotics/parallax/msgs"
)

// Model is a lens distortion model, named as ROS's camera_info names it.
type Model string

// The distortion models. Coefficients are in OpenCV's order.
const (
	// PlumbBob is OpenCV's standard radial-tangential model, D = k1 k2 p1
	// p2 k3. Kalibr's radtan is the same without k3.
	PlumbBob Model = "plumb_bob"
	// RationalPolynomial is OpenCV's CALIB_RATIONAL_MODEL, D = k1 k2 p1 p2
	// k3 k4 k5 k6: the radial factor is (1 + k1 r² + k2 r⁴ + k3 r⁶) /
	// (1 + k4 r² + k5 r⁴ + k6 r⁶).
	RationalPolynomial Model = "rational_polynomial"
	// Equidistant is the fisheye model of OpenCV's cv::fisheye and Kalibr
	// (ROS 2 and Foxglove call it kannala_brandt), D = k1 k2 k3 k4:
	// θd = θ (1 + k1 θ² + k2 θ⁴ + k3 θ⁶ + k4 θ⁸).
	Equidistant Model = "equidistant"
)

// Coeffs returns how many coefficients D holds for the model, 0 for an
// unknown model.
func (m Model) Coeffs() int {
	switch m {
	case PlumbBob:
		return 5
	case RationalPolynomial:
		return 8
	case Equidistant:
		return 4
	}
	return 0
}

// ParseModel reads a distortion model name as the formats write it:
// plumb_bob (also radtan, radial-tangential, pinhole), rational_polynomial,
// equidistant (also fisheye, kannala_brandt). Case does not matter.
func ParseModel(name string) (Model, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "plumb_bob", "radtan", "radial-tangential", "radial_tangential", "pinhole", "opencv":
		return PlumbBob, nil
	case "rational_polynomial":
		return RationalPolynomial, nil
	case "equidistant", "fisheye", "kannala_brandt", "equi":
		return Equidistant, nil
	}
	return "", fmt.Errorf("%w: distortion model %q (want plumb_bob, rational_polynomial or equidistant)", ErrUnsupported, name)
}

// Camera is one camera's calibration: its raw (distorted) image model and,
// when known, the rectification that turns its images into an ideal
// pinhole image (a stereo pair's rectified views, a mono camera's
// undistorted one). Matrices are row-major, in pixels, in the ROS/OpenCV
// pixel convention (the centre of pixel (0,0) at (0,0)); Intrinsics and
// RectifiedIntrinsics convert to msgs' (msgs.FromROSPixel).
type Camera struct {
	// Name is the camera's name in the file (camera_name, "cam0", "02");
	// "" when the file names none.
	Name string
	// Width and Height are the raw image size in pixels; 0 when the file
	// does not say (OpenCV's stereo_calib writes none): the frames' size
	// is used.
	Width, Height int
	// K is the raw image's camera matrix [fx s cx; 0 fy cy; 0 0 1].
	K [9]float64
	// Model is the distortion model of D.
	Model Model
	// D holds Model.Coeffs() coefficients; all zero for a distortion-free
	// lens.
	D []float64
	// R is the rectification rotation: it rotates the camera frame into
	// the rectified frame (ROS's rectification_matrix, OpenCV's R1/R2).
	// The identity when the camera is not part of a rectified pair.
	R [9]float64
	// P is the projection matrix of the rectified image [fx' 0 cx' Tx; 0
	// fy' cy' Ty; 0 0 1 0], Tx = -fx'*baseline for a right camera. The
	// zero matrix when the file gives none: Rectify then picks [K|0].
	P [12]float64
	// RectWidth and RectHeight are the rectified image size; 0 means the
	// raw size (KITTI's S_rect_0N differs from S_0N).
	RectWidth, RectHeight int
}

// NewCamera returns a distortion-free camera of the given size and
// intrinsics (ROS convention), R the identity and no rectification.
func NewCamera(width, height int, fx, fy, cx, cy float64) Camera {
	return Camera{Width: width, Height: height, K: [9]float64{fx, 0, cx, 0, fy, cy, 0, 0, 1},
		Model: PlumbBob, D: make([]float64, 5), R: identity3}
}

// CameraFromIntrinsics returns the distortion-free camera of msgs
// intrinsics.
func CameraFromIntrinsics(k msgs.Intrinsics) Camera {
	return NewCamera(k.Width, k.Height, k.Fx, k.Fy, msgs.ToROSPixel(k.Cx), msgs.ToROSPixel(k.Cy))
}

// HasRectification reports whether P is set.
func (c *Camera) HasRectification() bool { return c.P != [12]float64{} }

// Distorted reports whether any distortion coefficient is non-zero.
func (c *Camera) Distorted() bool {
	return slices.ContainsFunc(c.D, func(v float64) bool { return v != 0 })
}

// RectSize returns the rectified image size (RectWidth, RectHeight, or the
// raw size when those are 0).
func (c *Camera) RectSize() (w, h int) {
	if c.RectWidth > 0 && c.RectHeight > 0 {
		return c.RectWidth, c.RectHeight
	}
	return c.Width, c.Height
}

// NeedsRemap reports whether the raw images differ from the rectified
// ones: distortion, a rectification rotation, another projection or size.
// A camera that needs none (KITTI's rectified drives, a distortion-free
// camera) only has its intrinsics taken from P.
func (c *Camera) NeedsRemap() bool {
	if c.Distorted() || rotationDiffers(c.R, identity3) {
		return true
	}
	if !c.HasRectification() {
		return false
	}
	w, h := c.RectSize()
	if w != c.Width || h != c.Height {
		return true
	}
	p := c.P
	pk := [9]float64{p[0], p[1], p[2], p[4], p[5], p[6], p[8], p[9], p[10]}
	for i := range pk {
		if math.Abs(pk[i]-c.K[i]) > 1e-9*math.Max(1, math.Abs(c.K[i])) {
			return true
		}
	}
	return false
}

func rotationDiffers(a, b mat3) bool {
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-12 {
			return true
		}
	}
	return false
}

// WithDefaultRectification returns c with R the identity when unset and P
// [K|0] when unset: a mono camera undistorted to its own camera matrix.
func (c Camera) WithDefaultRectification() Camera {
	if c.R == ([9]float64{}) {
		c.R = identity3
	}
	if !c.HasRectification() {
		k := c.K
		c.P = [12]float64{k[0], k[1], k[2], 0, k[3], k[4], k[5], 0, k[6], k[7], k[8], 0}
	}
	c.D = slices.Clone(c.D)
	return c
}

// Intrinsics returns the pinhole part of K as msgs.Intrinsics (msgs pixel
// convention) for the raw image size. Skew is dropped.
func (c *Camera) Intrinsics() msgs.Intrinsics {
	return msgs.Intrinsics{Width: c.Width, Height: c.Height, Fx: c.K[0], Fy: c.K[4],
		Cx: msgs.FromROSPixel(c.K[2]), Cy: msgs.FromROSPixel(c.K[5])}
}

// RectifiedIntrinsics returns the model of the rectified image, from P
// (from K when P is unset), as msgs.Intrinsics, and the baseline P encodes
// (-Tx/fx', 0 for a left or mono camera).
func (c *Camera) RectifiedIntrinsics() (msgs.Intrinsics, float64) {
	cc := c.WithDefaultRectification()
	p := cc.P
	w, h := cc.RectSize()
	k := msgs.Intrinsics{Width: w, Height: h, Fx: p[0], Fy: p[5],
		Cx: msgs.FromROSPixel(p[2]), Cy: msgs.FromROSPixel(p[6])}
	b := 0.0
	if p[3] != 0 {
		b = -p[3] / p[0]
	}
	return k, b
}

// Validate checks the model: sizes within msgs.MaxImageSide (or 0), K a
// camera matrix with positive focal lengths, D of the model's length and
// finite, R a rotation, P (when set) a projection [fx' 0 cx' Tx; 0 fy' cy'
// Ty; 0 0 1 0]. Its errors name the field.
func (c *Camera) Validate() error {
	if c.Width < 0 || c.Height < 0 || c.Width > msgs.MaxImageSide || c.Height > msgs.MaxImageSide || (c.Width == 0) != (c.Height == 0) {
		return errAt("", 0, "size", ErrInvalid, "%dx%d is not an image size (1 to %d each way, or both 0 for unknown)", c.Width, c.Height, msgs.MaxImageSide)
	}
	if c.RectWidth < 0 || c.RectHeight < 0 || c.RectWidth > msgs.MaxImageSide || c.RectHeight > msgs.MaxImageSide || (c.RectWidth == 0) != (c.RectHeight == 0) {
		return errAt("", 0, "rectified size", ErrInvalid, "%dx%d is not an image size", c.RectWidth, c.RectHeight)
	}
	k := c.K
	if !allFinite(k[:]) || !(k[0] > 0) || !(k[4] > 0) || k[3] != 0 || k[6] != 0 || k[7] != 0 || k[8] != 1 {
		return errAt("", 0, "K", ErrInvalid, "%v is not a camera matrix [fx s cx; 0 fy cy; 0 0 1] with fx, fy > 0", fmtFloats(k[:]))
	}
	n := c.Model.Coeffs()
	if n == 0 {
		return errAt("", 0, "distortion_model", ErrUnsupported, "%q (want plumb_bob, rational_polynomial or equidistant)", string(c.Model))
	}
	if len(c.D) != n {
		return errAt("", 0, "D", ErrInvalid, "%d coefficients, %s has %d", len(c.D), c.Model, n)
	}
	if !allFinite(c.D) {
		return errAt("", 0, "D", ErrInvalid, "%v is not finite", fmtFloats(c.D))
	}
	for i, d := range c.D {
		if math.Abs(d) > 1e6 {
			return errAt("", 0, "D", ErrInvalid, "coefficient %d is %g: not a lens", i, d)
		}
	}
	if e := rotationError(c.R); !(e < 1e-4) {
		return errAt("", 0, "R", ErrInvalid, "%v is not a rotation (|R^T R - I| + |det R - 1| = %.2g)", fmtFloats(c.R[:]), e)
	}
	if c.HasRectification() {
		p := c.P
		// KITTI's P_rect carry millimetres of Ty and Tz (camera centres
		// slightly off the rectified x axis): allowed.
		if !allFinite(p[:]) || !(p[0] > 0) || !(p[5] > 0) || p[4] != 0 || p[8] != 0 || p[9] != 0 || p[10] != 1 {
			return errAt("", 0, "P", ErrInvalid, "%v is not a rectified projection [fx' 0 cx' Tx; 0 fy' cy' Ty; 0 0 1 Tz]", fmtFloats(p[:]))
		}
	}
	return nil
}

// Scaled returns the camera for images resampled to w x h: K and P scale
// in the msgs pixel convention (area sampling), D and R stay. The aspect
// ratio must match within 1%: another one means a cropped sensor mode,
// which scaling would get wrong. A camera of unknown size returns ErrSize.
func (c Camera) Scaled(w, h int) (Camera, error) {
	if c.Width == w && c.Height == h {
		return c, nil
	}
	if c.Width == 0 || c.Height == 0 {
		return c, fmt.Errorf("%w: the calibration does not give its image size", ErrSize)
	}
	if w <= 0 || h <= 0 {
		return c, fmt.Errorf("%w: %dx%d", ErrSize, w, h)
	}
	sx, sy := float64(w)/float64(c.Width), float64(h)/float64(c.Height)
	if math.Abs(sx/sy-1) > 0.01 {
		return c, fmt.Errorf("%w: frames of %dx%d for a calibration of %dx%d: another aspect ratio (a cropped sensor mode?): calibrate at this resolution",
			ErrSize, w, h, c.Width, c.Height)
	}
	out := c
	out.D = slices.Clone(c.D)
	out.Width, out.Height = w, h
	scaleK := func(m []float64, stride int) {
		m[0] *= sx
		m[1] *= sx
		m[2] = msgs.ToROSPixel(msgs.FromROSPixel(m[2]) * sx)
		m[stride+1] *= sy
		m[stride+2] = msgs.ToROSPixel(msgs.FromROSPixel(m[stride+2]) * sy)
	}
	scaleK(out.K[:], 3)
	if c.HasRectification() {
		scaleK(out.P[:], 4)
		out.P[3] *= sx
		out.P[7] *= sy
	}
	if c.RectWidth > 0 {
		out.RectWidth = int(math.Round(float64(c.RectWidth) * sx))
		out.RectHeight = int(math.Round(float64(c.RectHeight) * sy))
	}
	return out, nil
}

// Extrinsics is the rigid transform between the two cameras of a pair:
// p_right = R p_left + T (OpenCV's stereoCalibrate, Kalibr's T_cn_cnm1),
// T in metres.
type Extrinsics struct {
	R [9]float64
	T [3]float64
}

// Validate checks that R is a rotation and T finite and not zero.
func (e *Extrinsics) Validate() error {
	if err := rotationError(e.R); !(err < 1e-4) {
		return errAt("", 0, "R", ErrInvalid, "%v is not a rotation", fmtFloats(e.R[:]))
	}
	n := math.Sqrt(e.T[0]*e.T[0] + e.T[1]*e.T[1] + e.T[2]*e.T[2])
	if !allFinite(e.T[:]) || !(n > 0) || n > 100 {
		return errAt("", 0, "T", ErrInvalid, "%v: want a baseline of 0 to 100 m", fmtFloats(e.T[:]))
	}
	return nil
}

// Stereo is a calibrated stereo pair. When Left.P and Right.P are set the
// pair is rectified (ROS files, OpenCV's R1 R2 P1 P2, KITTI's R_rect and
// P_rect); else Extrinsics must be known, and calibration/cv's
// StereoRectify computes the rectification.
type Stereo struct {
	Left, Right Camera
	// Extrinsics is the pose of the left camera in the right one's frame,
	// nil when the files give only the rectification (two ROS files).
	Extrinsics *Extrinsics
}

// Rectified reports whether both cameras carry a rectification.
func (s *Stereo) Rectified() bool { return s.Left.HasRectification() && s.Right.HasRectification() }

// Baseline returns the rectified baseline in metres, from the right
// camera's P (its Tx relative to the left's); from |T| when not rectified.
func (s *Stereo) Baseline() float64 {
	if s.Rectified() {
		l, r := s.Left.P, s.Right.P
		return -(r[3]/r[0] - l[3]/l[0])
	}
	if e := s.Extrinsics; e != nil {
		return math.Sqrt(e.T[0]*e.T[0] + e.T[1]*e.T[1] + e.T[2]*e.T[2])
	}
	return 0
}

// Validate checks both cameras and, when rectified, that the rectified
// views form a horizontal pair: one image size, equal fx', fy', cx' and
// cy' (OpenCV's CALIB_ZERO_DISPARITY), zero Ty, and the right camera to
// the right (a positive baseline up to 100 m). Errors name the camera.
func (s *Stereo) Validate() error {
	for _, c := range []struct {
		name string
		cam  *Camera
	}{{"left", &s.Left}, {"right", &s.Right}} {
		if err := c.cam.Validate(); err != nil {
			return withFile(err, "", 0, c.name)
		}
	}
	if (s.Left.Width != 0 && s.Right.Width != 0) && (s.Left.Width != s.Right.Width || s.Left.Height != s.Right.Height) {
		return errAt("", 0, "right.size", ErrSize, "%dx%d, but the left camera is %dx%d: a stereo pair has one image size",
			s.Right.Width, s.Right.Height, s.Left.Width, s.Left.Height)
	}
	if e := s.Extrinsics; e != nil {
		if err := e.Validate(); err != nil {
			return withFile(err, "", 0, "extrinsics")
		}
	}
	if s.Left.HasRectification() != s.Right.HasRectification() {
		return errAt("", 0, "P", ErrMissing, "one camera of the pair has a rectified projection P and the other not")
	}
	if !s.Rectified() {
		if s.Extrinsics == nil {
			return errAt("", 0, "extrinsics", ErrMissing, "the pair has neither a rectification (R1 R2 P1 P2) nor extrinsics (R, T) to compute one")
		}
		return nil
	}
	l, r := s.Left.P, s.Right.P
	for _, f := range []struct {
		name string
		i    int
	}{{"fx'", 0}, {"cx'", 2}, {"fy'", 5}, {"cy'", 6}} {
		if math.Abs(l[f.i]-r[f.i]) > 1e-6*math.Max(1, math.Abs(l[f.i])) {
			return errAt("", 0, "right.P", ErrInvalid, "%s is %g, the left camera's %g: the rectified views must share one pinhole model (rectify with zero disparity, OpenCV's CALIB_ZERO_DISPARITY)",
				f.name, r[f.i], l[f.i])
		}
	}
	b := s.Baseline()
	if math.Abs(r[7]/r[5]-l[7]/l[5]) > 0.05*math.Abs(b) {
		return errAt("", 0, "right.P", ErrInvalid, "Ty puts the right camera %g m below the left one for a baseline of %g m: not a horizontal pair",
			r[7]/r[5]-l[7]/l[5], b)
	}
	lw, lh := s.Left.RectSize()
	rw, rh := s.Right.RectSize()
	if lw != rw || lh != rh {
		return errAt("", 0, "right.size", ErrSize, "rectified %dx%d, but the left camera's is %dx%d", rw, rh, lw, lh)
	}
	if !(b > 0) || b > 100 {
		return errAt("", 0, "right.P", ErrInvalid, "Tx gives a baseline of %g m: want the right camera 0 to 100 m to the right of the left one", b)
	}
	return nil
}

// Q returns the rectified pair's disparity-to-depth matrix (OpenCV's
// stereoRectify Q, 4x4 row-major, ROS/OpenCV pixel convention):
// [X Y Z W] = Q [u v disparity 1].
func (s *Stereo) Q() [16]float64 {
	l, r := s.Left.P, s.Right.P
	tx := -s.Baseline()
	return [16]float64{
		1, 0, 0, -l[2],
		0, 1, 0, -l[6],
		0, 0, 0, l[0],
		0, 0, -1 / tx, (l[2] - r[2]) / tx,
	}
}

func fmtFloats(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.6g", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
