//go:build !nocv

package cv

// #cgo pkg-config: opencv4
// #cgo CXXFLAGS: -std=c++17 -O2
// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"fmt"
	"image"
	"math"
	"unsafe"

	"gocv.io/x/gocv"

	"github.com/parallax-robotics/parallax/calibration"
)

// Available reports whether this build links OpenCV.
const Available = true

// errBuf is the size of the shim's error message buffer.
const errBuf = 512

// ptr is a gocv Mat as the shim's cv::Mat*.
func ptr(m *gocv.Mat) unsafe.Pointer { return unsafe.Pointer(m.Ptr()) }

// call runs a shim function with an error buffer and turns a failure into
// ErrOpenCV with OpenCV's message.
func call(what string, f func(err *C.char, n C.int) C.int) error {
	buf := (*C.char)(C.malloc(errBuf))
	defer C.free(unsafe.Pointer(buf))
	*buf = 0
	if f(buf, errBuf) == 0 {
		return fmt.Errorf("%w: %s: %s", ErrOpenCV, what, C.GoString(buf))
	}
	return nil
}

// matOf returns a CV_64F rows x cols Mat holding v (row-major).
func matOf(rows, cols int, v []float64) gocv.Mat {
	m := gocv.NewMatWithSize(rows, cols, gocv.MatTypeCV64F)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			m.SetDoubleAt(i, j, v[i*cols+j])
		}
	}
	return m
}

// values returns a Mat's values as float64, row-major (any depth, one
// channel or several).
func values(m gocv.Mat) []float64 {
	if m.Empty() {
		return nil
	}
	d := gocv.NewMat()
	defer d.Close()
	src := m
	if m.Channels() > 1 {
		src = m.Reshape(1, m.Rows()*m.Cols())
		defer src.Close()
	}
	src.ConvertTo(&d, gocv.MatTypeCV64F)
	out := make([]float64, 0, d.Rows()*d.Cols())
	for i := 0; i < d.Rows(); i++ {
		for j := 0; j < d.Cols(); j++ {
			out = append(out, d.GetDoubleAt(i, j))
		}
	}
	return out
}

// DecodeGray decodes a JPEG or PNG to grey with OpenCV's imdecode: the
// pixels python's cv2.imread(path, IMREAD_GRAYSCALE) gives.
func DecodeGray(data []byte) (Gray, error) {
	m, err := gocv.IMDecode(data, gocv.IMReadGrayScale)
	if err != nil {
		return Gray{}, fmt.Errorf("%w: %v", ErrImage, err)
	}
	defer m.Close()
	if m.Empty() {
		return Gray{}, fmt.Errorf("%w: not an image OpenCV decodes", ErrImage)
	}
	return Gray{Width: m.Cols(), Height: m.Rows(), Pix: m.ToBytes()}, nil
}

// DecodeRGB decodes a JPEG or PNG to packed RGB with OpenCV's imdecode:
// the pixels python's cv2.imread(path) gives (there in BGR order).
func DecodeRGB(data []byte) (Image, error) {
	m, err := gocv.IMDecode(data, gocv.IMReadColor)
	if err != nil {
		return Image{}, fmt.Errorf("%w: %v", ErrImage, err)
	}
	defer m.Close()
	if m.Empty() {
		return Image{}, fmt.Errorf("%w: not an image OpenCV decodes", ErrImage)
	}
	rgb := gocv.NewMat()
	defer rgb.Close()
	gocv.CvtColor(m, &rgb, gocv.ColorBGRToRGB)
	return Image{Width: rgb.Cols(), Height: rgb.Rows(), Channels: 3, Pix: rgb.ToBytes()}, nil
}

// GrayFromRGB converts packed RGB to grey as OpenCV's cvtColor does.
func GrayFromRGB(w, h int, rgb []byte) (Gray, error) {
	if w <= 0 || h <= 0 || len(rgb) != w*h*3 {
		return Gray{}, fmt.Errorf("%w: %d bytes for %dx%d RGB", ErrImage, len(rgb), w, h)
	}
	src, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, rgb)
	if err != nil {
		return Gray{}, fmt.Errorf("%w: %v", ErrImage, err)
	}
	defer src.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	gocv.CvtColor(src, &dst, gocv.ColorRGBToGray)
	return Gray{Width: w, Height: h, Pix: dst.ToBytes()}, nil
}

// FindCorners finds the board's inner corners: findChessboardCorners with
// adaptive thresholding and normalisation, refined by cornerSubPix (11x11
// window, 30 iterations or 0.01 px), as OpenCV's stereo_calib sample and
// scripts/calib_reference.py do. ok is false when the board is not found.
func FindCorners(img Gray, b Board) (pts []Point, ok bool, err error) {
	if img.Width <= 0 || img.Height <= 0 || len(img.Pix) != img.Width*img.Height {
		return nil, false, fmt.Errorf("%w: %d bytes for %dx%d grey", ErrImage, len(img.Pix), img.Width, img.Height)
	}
	m, err := gocv.NewMatFromBytes(img.Height, img.Width, gocv.MatTypeCV8U, img.Pix)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrImage, err)
	}
	defer m.Close()
	corners := gocv.NewMat()
	defer corners.Close()
	size := image.Pt(b.Cols, b.Rows)
	if !gocv.FindChessboardCorners(m, size, &corners, gocv.CalibCBAdaptiveThresh|gocv.CalibCBNormalizeImage) {
		return nil, false, nil
	}
	gocv.CornerSubPix(m, &corners, image.Pt(11, 11), image.Pt(-1, -1), gocv.NewTermCriteria(gocv.Count|gocv.EPS, 30, 0.01))
	v := values(corners)
	if len(v) != 2*b.Cols*b.Rows {
		return nil, false, fmt.Errorf("%w: findChessboardCorners returned %d values for a %dx%d board", ErrOpenCV, len(v), b.Cols, b.Rows)
	}
	pts = make([]Point, b.Cols*b.Rows)
	for i := range pts {
		pts[i] = Point{v[2*i], v[2*i+1]}
	}
	return pts, true, nil
}

// flatViews packs views of the board for the shim.
func flatViews(b Board, views ...[][]Point) (obj []float32, imgs [][]float32, counts []C.int) {
	corners := b.Corners()
	imgs = make([][]float32, len(views))
	for v := range views[0] {
		counts = append(counts, C.int(len(corners)))
		for _, c := range corners {
			obj = append(obj, float32(c[0]), float32(c[1]), float32(c[2]))
		}
		for k, vs := range views {
			for _, p := range vs[v] {
				imgs[k] = append(imgs[k], float32(p.X), float32(p.Y))
			}
		}
	}
	return obj, imgs, counts
}

func checkViews(b Board, w, h int, views ...[][]Point) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w: image size %dx%d", ErrImage, w, h)
	}
	for _, vs := range views {
		if len(vs) != len(views[0]) {
			return fmt.Errorf("%w: %d left views and %d right", ErrViews, len(views[0]), len(vs))
		}
		if len(vs) < 3 {
			return fmt.Errorf("%w: %d views with the board found, want at least 3 (10 to 20 is usual)", ErrViews, len(vs))
		}
		for i, v := range vs {
			if len(v) != b.Cols*b.Rows {
				return fmt.Errorf("%w: view %d has %d corners, the %dx%d board %d", ErrViews, i, len(v), b.Cols, b.Rows, b.Cols*b.Rows)
			}
		}
	}
	return nil
}

// calibFlags returns OpenCV's flags for a model.
func calibFlags(m calibration.Model) (flags int, fisheye bool, err error) {
	switch m {
	case calibration.PlumbBob, "":
		return 0, false, nil
	case calibration.RationalPolynomial:
		return int(C.int(1 << 14)), false, nil // CALIB_RATIONAL_MODEL
	case calibration.Equidistant:
		// fisheye::CALIB_RECOMPUTE_EXTRINSIC | CALIB_FIX_SKEW
		return 1<<1 | 1<<3, true, nil
	}
	return 0, false, fmt.Errorf("%w: distortion model %q", calibration.ErrUnsupported, m)
}

// CalibrateCamera calibrates one camera from views of the board (each
// Cols*Rows corners as FindCorners returns them) in w x h images:
// cv::calibrateCamera (plumb_bob: flags 0; rational_polynomial:
// CALIB_RATIONAL_MODEL) or cv::fisheye::calibrate (equidistant). Per-view
// errors are computed with the calibrated model (calibration.Camera.Project).
func CalibrateCamera(views [][]Point, b Board, w, h int, model calibration.Model) (*Mono, error) {
	if err := checkViews(b, w, h, views); err != nil {
		return nil, err
	}
	if model == "" {
		model = calibration.PlumbBob
	}
	flags, fisheye, err := calibFlags(model)
	if err != nil {
		return nil, err
	}
	obj, imgs, counts := flatViews(b, views)
	K, D := gocv.NewMat(), gocv.NewMat()
	rv, tv := gocv.NewMat(), gocv.NewMat()
	defer K.Close()
	defer D.Close()
	defer rv.Close()
	defer tv.Close()
	var rms C.double
	if err := call("calibrateCamera", func(e *C.char, n C.int) C.int {
		return C.pk_calibrate_camera((*C.float)(&obj[0]), (*C.float)(&imgs[0][0]), &counts[0], C.int(len(counts)),
			C.int(w), C.int(h), ptr(&K), ptr(&D), ptr(&rv), ptr(&tv), C.int(flags), cbool(fisheye), &rms, e, n)
	}); err != nil {
		return nil, err
	}
	cam, err := cameraOf(values(K), values(D), model, w, h)
	if err != nil {
		return nil, err
	}
	out := &Mono{Camera: cam, RMS: float64(rms)}
	r, t := values(rv), values(tv)
	for i := range views {
		out.Rvecs = append(out.Rvecs, [3]float64{r[3*i], r[3*i+1], r[3*i+2]})
		out.Tvecs = append(out.Tvecs, [3]float64{t[3*i], t[3*i+1], t[3*i+2]})
		out.PerView = append(out.PerView, ViewRMS(cam, b, views[i], out.Rvecs[i], out.Tvecs[i]))
	}
	return out, nil
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// cameraOf builds a camera from OpenCV's K and D.
func cameraOf(k, d []float64, model calibration.Model, w, h int) (calibration.Camera, error) {
	if len(k) != 9 {
		return calibration.Camera{}, fmt.Errorf("%w: camera matrix of %d values", ErrOpenCV, len(k))
	}
	c := calibration.Camera{Width: w, Height: h, Model: model, R: [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}}
	copy(c.K[:], k)
	n := model.Coeffs()
	if len(d) < n {
		return c, fmt.Errorf("%w: %d distortion coefficients for %s", ErrOpenCV, len(d), model)
	}
	c.D = append([]float64(nil), d[:n]...)
	return c, c.Validate()
}

// StereoCalibrate calibrates the pair from matched views (left[i] and
// right[i] see the board at once), starting from each camera's own
// calibration: cv::stereoCalibrate with CALIB_FIX_INTRINSIC (refine: with
// CALIB_USE_INTRINSIC_GUESS, all parameters together), or
// cv::fisheye::stereoCalibrate for the equidistant model. The result is
// not rectified yet (StereoRectify).
func StereoCalibrate(left, right [][]Point, b Board, l, r calibration.Camera, refine bool) (*StereoFit, error) {
	w, h := l.Width, l.Height
	if err := checkViews(b, w, h, left, right); err != nil {
		return nil, err
	}
	if l.Model != r.Model {
		return nil, fmt.Errorf("%w: the cameras have %s and %s models", calibration.ErrUnsupported, l.Model, r.Model)
	}
	flags, fisheye, err := calibFlags(l.Model)
	if err != nil {
		return nil, err
	}
	if fisheye {
		flags = 1<<1 | 1<<3 // fisheye::CALIB_RECOMPUTE_EXTRINSIC | CALIB_FIX_SKEW
		if !refine {
			flags |= 1 << 8 // fisheye::CALIB_FIX_INTRINSIC
		} else {
			flags |= 1 << 0 // fisheye::CALIB_USE_INTRINSIC_GUESS
		}
	} else if refine {
		flags |= 1 // CALIB_USE_INTRINSIC_GUESS
	} else {
		flags |= 1 << 8 // CALIB_FIX_INTRINSIC
	}
	obj, imgs, counts := flatViews(b, left, right)
	K1, D1 := matOf(3, 3, l.K[:]), matOf(1, len(l.D), l.D)
	K2, D2 := matOf(3, 3, r.K[:]), matOf(1, len(r.D), r.D)
	R, T, pv := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	for _, m := range []*gocv.Mat{&K1, &D1, &K2, &D2, &R, &T, &pv} {
		defer m.Close()
	}
	var rms C.double
	if err := call("stereoCalibrate", func(e *C.char, n C.int) C.int {
		return C.pk_stereo_calibrate((*C.float)(&obj[0]), (*C.float)(&imgs[0][0]), (*C.float)(&imgs[1][0]), &counts[0], C.int(len(counts)),
			C.int(w), C.int(h), ptr(&K1), ptr(&D1), ptr(&K2), ptr(&D2), ptr(&R), ptr(&T), ptr(&pv), C.int(flags), cbool(fisheye), &rms, e, n)
	}); err != nil {
		return nil, err
	}
	lc, err := cameraOf(values(K1), values(D1), l.Model, w, h)
	if err != nil {
		return nil, err
	}
	rc, err := cameraOf(values(K2), values(D2), r.Model, w, h)
	if err != nil {
		return nil, err
	}
	lc.Name, rc.Name = l.Name, r.Name
	ext := &calibration.Extrinsics{}
	copy(ext.R[:], values(R))
	copy(ext.T[:], values(T))
	out := &StereoFit{Stereo: calibration.Stereo{Left: lc, Right: rc, Extrinsics: ext}, RMS: float64(rms)}
	if p := values(pv); len(p) == 2*len(left) {
		for i := range left {
			out.PerView = append(out.PerView, [2]float64{p[2*i], p[2*i+1]})
		}
	}
	return out, nil
}

// StereoRectify computes the pair's rectification from its extrinsics:
// cv::stereoRectify with CALIB_ZERO_DISPARITY (both views share one
// pinhole model) and alpha (0: the rectified images show valid pixels only,
// 1: every raw pixel, with black borders; -1: OpenCV's default), or
// cv::fisheye::stereoRectify with alpha as the balance. It returns the pair
// with R1/P1 and R2/P2 set.
func StereoRectify(s calibration.Stereo, alpha float64) (calibration.Stereo, error) {
	if s.Extrinsics == nil {
		return s, fmt.Errorf("%w: stereoRectify needs the pair's extrinsics (R, T)", calibration.ErrMissing)
	}
	if s.Left.Width == 0 {
		return s, fmt.Errorf("%w: stereoRectify needs the image size", calibration.ErrSize)
	}
	if s.Left.Model != s.Right.Model {
		return s, fmt.Errorf("%w: the cameras have %s and %s models", calibration.ErrUnsupported, s.Left.Model, s.Right.Model)
	}
	_, fisheye, err := calibFlags(s.Left.Model)
	if err != nil {
		return s, err
	}
	if !finite(alpha) || alpha < -1 || alpha > 1 {
		return s, fmt.Errorf("%w: alpha %g, want -1 (OpenCV's default) or 0 to 1", calibration.ErrInvalid, alpha)
	}
	l, r, e := s.Left, s.Right, s.Extrinsics
	K1, D1 := matOf(3, 3, l.K[:]), matOf(1, len(l.D), l.D)
	K2, D2 := matOf(3, 3, r.K[:]), matOf(1, len(r.D), r.D)
	R, T := matOf(3, 3, e.R[:]), matOf(3, 1, e.T[:])
	R1, R2, P1, P2, Q := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	for _, m := range []*gocv.Mat{&K1, &D1, &K2, &D2, &R, &T, &R1, &R2, &P1, &P2, &Q} {
		defer m.Close()
	}
	const zeroDisparity = 1 << 10 // CALIB_ZERO_DISPARITY (fisheye::CALIB_ZERO_DISPARITY is the same)
	if err := call("stereoRectify", func(er *C.char, n C.int) C.int {
		return C.pk_stereo_rectify(ptr(&K1), ptr(&D1), ptr(&K2), ptr(&D2), C.int(l.Width), C.int(l.Height), ptr(&R), ptr(&T),
			ptr(&R1), ptr(&R2), ptr(&P1), ptr(&P2), ptr(&Q), zeroDisparity, C.double(alpha), cbool(fisheye), er, n)
	}); err != nil {
		return s, err
	}
	out := s
	out.Left.D, out.Right.D = append([]float64(nil), l.D...), append([]float64(nil), r.D...)
	for _, v := range []struct {
		dst  []float64
		src  gocv.Mat
		name string
		n    int
	}{{out.Left.R[:], R1, "R1", 9}, {out.Right.R[:], R2, "R2", 9}, {out.Left.P[:], P1, "P1", 12}, {out.Right.P[:], P2, "P2", 12}} {
		vals := values(v.src)
		if len(vals) != v.n {
			return s, fmt.Errorf("%w: stereoRectify returned %d values for %s", ErrOpenCV, len(vals), v.name)
		}
		copy(v.dst, vals)
	}
	out.Left.RectWidth, out.Left.RectHeight, out.Right.RectWidth, out.Right.RectHeight = 0, 0, 0, 0
	if err := out.Validate(); err != nil {
		return s, fmt.Errorf("calibration/cv: stereoRectify's result: %w", err)
	}
	return out, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// cameraMats returns K, D, R and P of a camera (R and P defaulted) as Mats.
func cameraMats(c calibration.Camera) (K, D, R, P gocv.Mat) {
	c = c.WithDefaultRectification()
	return matOf(3, 3, c.K[:]), matOf(1, len(c.D), c.D), matOf(3, 3, c.R[:]), matOf(3, 4, c.P[:])
}

// InitUndistortRectifyMap returns OpenCV's maps of the camera (its R and P,
// defaulted as calibration.NewMaps does), CV_32FC1, row-major: the
// reference calibration.NewMaps is checked against.
func InitUndistortRectifyMap(c calibration.Camera) (x, y []float32, err error) {
	w, h := c.RectSize()
	if c.Width == 0 || w == 0 {
		return nil, nil, fmt.Errorf("%w: the image size is unknown", calibration.ErrSize)
	}
	K, D, R, P := cameraMats(c)
	mx, my := gocv.NewMat(), gocv.NewMat()
	for _, m := range []*gocv.Mat{&K, &D, &R, &P, &mx, &my} {
		defer m.Close()
	}
	if err := call("initUndistortRectifyMap", func(e *C.char, n C.int) C.int {
		return C.pk_init_map(ptr(&K), ptr(&D), ptr(&R), ptr(&P), C.int(w), C.int(h), cbool(c.Model == calibration.Equidistant), ptr(&mx), ptr(&my), e, n)
	}); err != nil {
		return nil, nil, err
	}
	xs, err := mx.DataPtrFloat32()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrOpenCV, err)
	}
	ys, err := my.DataPtrFloat32()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrOpenCV, err)
	}
	return append([]float32(nil), xs...), append([]float32(nil), ys...), nil
}

// ProjectPoints projects board-frame points with a board pose through the
// camera with OpenCV (projectPoints, or the fisheye one).
func ProjectPoints(c calibration.Camera, pts [][3]float64, rvec, tvec [3]float64) ([]Point, error) {
	if len(pts) == 0 {
		return nil, nil
	}
	obj := make([]float32, 0, 3*len(pts))
	for _, p := range pts {
		obj = append(obj, float32(p[0]), float32(p[1]), float32(p[2]))
	}
	K, D, R, P := cameraMats(c)
	for _, m := range []*gocv.Mat{&K, &D, &R, &P} {
		defer m.Close()
	}
	img := make([]float64, 2*len(pts))
	if err := call("projectPoints", func(e *C.char, n C.int) C.int {
		return C.pk_project_points((*C.float)(&obj[0]), C.int(len(pts)), (*C.double)(&rvec[0]), (*C.double)(&tvec[0]),
			ptr(&K), ptr(&D), cbool(c.Model == calibration.Equidistant), (*C.double)(&img[0]), e, n)
	}); err != nil {
		return nil, err
	}
	out := make([]Point, len(pts))
	for i := range out {
		out[i] = Point{img[2*i], img[2*i+1]}
	}
	return out, nil
}

// UndistortPoints maps raw pixels into the camera's rectified image with
// OpenCV's undistortPoints (R and P defaulted as calibration does).
func UndistortPoints(c calibration.Camera, pts []Point) ([]Point, error) {
	if len(pts) == 0 {
		return nil, nil
	}
	in := make([]float64, 0, 2*len(pts))
	for _, p := range pts {
		in = append(in, p.X, p.Y)
	}
	K, D, R, P := cameraMats(c)
	for _, m := range []*gocv.Mat{&K, &D, &R, &P} {
		defer m.Close()
	}
	out := make([]float64, len(in))
	if err := call("undistortPoints", func(e *C.char, n C.int) C.int {
		return C.pk_undistort_points((*C.double)(&in[0]), C.int(len(pts)), ptr(&K), ptr(&D), ptr(&R), ptr(&P),
			cbool(c.Model == calibration.Equidistant), (*C.double)(&out[0]), e, n)
	}); err != nil {
		return nil, err
	}
	res := make([]Point, len(pts))
	for i := range res {
		res[i] = Point{out[2*i], out[2*i+1]}
	}
	return res, nil
}

// Remapper remaps frames with OpenCV's remap from calibration.Maps turned
// into OpenCV's fixed-point maps (convertMaps to CV_16SC2: 1/32-pixel
// steps, SIMD, on OpenCV's threads). It is what camera/rectify uses when
// OpenCV is linked. Close releases it; a Remapper is not safe for
// concurrent Remap calls.
type Remapper struct {
	m          *calibration.Maps
	map1, map2 gocv.Mat
}

// NewRemapper prepares OpenCV's maps from m.
func NewRemapper(m *calibration.Maps) (*Remapper, error) {
	if m == nil || len(m.X) != m.Width*m.Height || m.Width == 0 {
		return nil, fmt.Errorf("%w: empty maps", calibration.ErrSize)
	}
	mx, err := gocv.NewMatFromBytes(m.Height, m.Width, gocv.MatTypeCV32F, unsafe.Slice((*byte)(unsafe.Pointer(&m.X[0])), 4*len(m.X)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOpenCV, err)
	}
	defer mx.Close()
	my, err := gocv.NewMatFromBytes(m.Height, m.Width, gocv.MatTypeCV32F, unsafe.Slice((*byte)(unsafe.Pointer(&m.Y[0])), 4*len(m.Y)))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOpenCV, err)
	}
	defer my.Close()
	r := &Remapper{m: m, map1: gocv.NewMat(), map2: gocv.NewMat()}
	if err := call("convertMaps", func(e *C.char, n C.int) C.int {
		return C.pk_convert_maps(ptr(&mx), ptr(&my), ptr(&r.map1), ptr(&r.map2), e, n)
	}); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Remap writes the rectified image of src (packed RGB, the maps' raw size)
// into dst (packed RGB, the rectified size).
func (r *Remapper) Remap(dst, src []byte) error {
	m := r.m
	if len(src) != m.SrcWidth*m.SrcHeight*3 || len(dst) != m.Width*m.Height*3 {
		return fmt.Errorf("%w: Remap of %d bytes into %d, want %dx%d RGB into %dx%d", calibration.ErrSize, len(src), len(dst),
			m.SrcWidth, m.SrcHeight, m.Width, m.Height)
	}
	return call("remap", func(e *C.char, n C.int) C.int {
		return C.pk_remap((*C.uchar)(&src[0]), C.int(m.SrcWidth), C.int(m.SrcHeight), (*C.uchar)(&dst[0]), C.int(m.Width), C.int(m.Height),
			ptr(&r.map1), ptr(&r.map2), e, n)
	})
}

// Close releases OpenCV's maps. It is safe to call more than once.
func (r *Remapper) Close() {
	if r.map1.Ptr() != nil {
		r.map1.Close()
		r.map2.Close()
	}
}
