//go:build nocv

package cv

// This file replaces the OpenCV half of the package (opencv.go, shim.cpp)
// in a `-tags nocv` build, for a computer without OpenCV: every function
// that needs OpenCV returns ErrNoOpenCV. The declarations both builds share,
// and the pure-Go parts (ViewRMS, Epipolar, Calibrate's flow), are in
// types.go and flow.go.

import (
	"fmt"

	"github.com/parallax-robotics/parallax/calibration"
)

// Available reports whether this build links OpenCV.
const Available = false

// DecodeGray returns ErrNoOpenCV.
func DecodeGray(data []byte) (Gray, error) {
	return Gray{}, fmt.Errorf("%w (decoding an image)", ErrNoOpenCV)
}

// DecodeRGB returns ErrNoOpenCV.
func DecodeRGB(data []byte) (Image, error) {
	return Image{}, fmt.Errorf("%w (decoding an image)", ErrNoOpenCV)
}

// GrayFromRGB returns ErrNoOpenCV.
func GrayFromRGB(w, h int, rgb []byte) (Gray, error) {
	return Gray{}, fmt.Errorf("%w (converting to grey)", ErrNoOpenCV)
}

// FindCorners returns ErrNoOpenCV.
func FindCorners(img Gray, b Board) ([]Point, bool, error) {
	return nil, false, fmt.Errorf("%w (findChessboardCorners)", ErrNoOpenCV)
}

// CalibrateCamera returns ErrNoOpenCV.
func CalibrateCamera(views [][]Point, b Board, w, h int, model calibration.Model) (*Mono, error) {
	return nil, fmt.Errorf("%w (calibrateCamera)", ErrNoOpenCV)
}

// StereoCalibrate returns ErrNoOpenCV.
func StereoCalibrate(left, right [][]Point, b Board, l, r calibration.Camera, refine bool) (*StereoFit, error) {
	return nil, fmt.Errorf("%w (stereoCalibrate)", ErrNoOpenCV)
}

// StereoRectify returns ErrNoOpenCV.
func StereoRectify(s calibration.Stereo, alpha float64) (calibration.Stereo, error) {
	return s, fmt.Errorf("%w (stereoRectify: the pair's file gives R and T but no rectification R1 R2 P1 P2; parallax calibrate writes one)", ErrNoOpenCV)
}

// InitUndistortRectifyMap returns ErrNoOpenCV.
func InitUndistortRectifyMap(c calibration.Camera) (x, y []float32, err error) {
	return nil, nil, fmt.Errorf("%w (initUndistortRectifyMap; calibration.NewMaps computes the same maps in Go)", ErrNoOpenCV)
}

// ProjectPoints returns ErrNoOpenCV.
func ProjectPoints(c calibration.Camera, pts [][3]float64, rvec, tvec [3]float64) ([]Point, error) {
	return nil, fmt.Errorf("%w (projectPoints)", ErrNoOpenCV)
}

// UndistortPoints returns ErrNoOpenCV.
func UndistortPoints(c calibration.Camera, pts []Point) ([]Point, error) {
	return nil, fmt.Errorf("%w (undistortPoints)", ErrNoOpenCV)
}

// Remapper is not available in a nocv build (calibration.Maps.Remap is).
type Remapper struct{}

// NewRemapper returns ErrNoOpenCV.
func NewRemapper(m *calibration.Maps) (*Remapper, error) {
	return nil, fmt.Errorf("%w (remap; calibration.Maps.Remap does it in Go)", ErrNoOpenCV)
}

// Remap returns ErrNoOpenCV.
func (r *Remapper) Remap(dst, src []byte) error { return ErrNoOpenCV }

// Close does nothing.
func (r *Remapper) Close() {}

// SGBM returns ErrNoOpenCV.
func SGBM(left, right Image, p SGBMParams) (Disparity, error) {
	return Disparity{}, fmt.Errorf("%w (StereoSGBM: depth.method sgbm and parallax depth --method sgbm need OpenCV; --method mono works without it)", ErrNoOpenCV)
}

// Resize returns ErrNoOpenCV.
func Resize(m Image, w, h int) (Image, error) {
	return Image{}, fmt.Errorf("%w (resize)", ErrNoOpenCV)
}
