package cv

// The declarations both builds share: the OpenCV one (opencv.go, shim.cpp)
// and the stand-in of `-tags nocv` (nocv.go).

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/parallax-robotics/parallax/calibration"
)

// Errors of this package, wrapped with details; test with errors.Is.
var (
	// ErrNoOpenCV is returned by everything that needs OpenCV in a build
	// with the nocv tag (nocv.go).
	ErrNoOpenCV = errors.New("calibration/cv: this binary was built with -tags nocv, without OpenCV: finding chessboards, calibrating and rectifying a stereo pair from R and T need it (rebuild without -tags nocv, after make deps installs libopencv-dev); reading calibration files and rectifying with their R and P work without it")
	// ErrOpenCV reports an OpenCV failure (its exception's message follows).
	ErrOpenCV = errors.New("calibration/cv: OpenCV failed")
	// ErrImage reports an image OpenCV cannot decode, or of the wrong size.
	ErrImage = errors.New("calibration/cv: bad image")
	// ErrViews reports too few usable views, or views that do not agree
	// (another board, left and right lists of different lengths).
	ErrViews = errors.New("calibration/cv: not enough usable views")
	// ErrBoard reports a board description that is not COLSxROWS.
	ErrBoard = errors.New("calibration/cv: bad board")
)

// Board is a chessboard target: its inner corners (Cols along a row, Rows
// down) and the side of a square in metres.
type Board struct {
	Cols, Rows int
	Square     float64
}

// ParseBoard reads "9x6" (inner corners: OpenCV's sample boards are 9x6).
func ParseBoard(s string, square float64) (Board, error) {
	a, b, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "x")
	c, err1 := strconv.Atoi(a)
	r, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || c < 2 || r < 2 || c > 100 || r > 100 {
		return Board{}, fmt.Errorf("%w: %q: want COLSxROWS inner corners, 2 to 100 each (9x6)", ErrBoard, s)
	}
	if !(square > 0) || square > 10 {
		return Board{}, fmt.Errorf("%w: square size %g m: want above 0 and up to 10", ErrBoard, square)
	}
	return Board{Cols: c, Rows: r, Square: square}, nil
}

// Corners returns the board's corners in its own frame (z = 0), in the
// order FindCorners returns image corners: row by row.
func (b Board) Corners() [][3]float64 {
	out := make([][3]float64, 0, b.Cols*b.Rows)
	for r := 0; r < b.Rows; r++ {
		for c := 0; c < b.Cols; c++ {
			out = append(out, [3]float64{float64(c) * b.Square, float64(r) * b.Square, 0})
		}
	}
	return out
}

// Point is an image point in the ROS/OpenCV pixel convention.
type Point struct{ X, Y float64 }

// Gray is an 8-bit grey image, row-major.
type Gray struct {
	Width, Height int
	Pix           []byte
}

// Mono is one camera's calibration.
type Mono struct {
	// Camera is the calibrated model (R the identity, no rectification).
	Camera calibration.Camera
	// RMS is OpenCV's overall reprojection error in pixels.
	RMS float64
	// PerView is each view's RMS reprojection error in pixels.
	PerView []float64
	// Rvecs and Tvecs are the board's pose in each view (board to camera,
	// axis-angle and metres).
	Rvecs, Tvecs [][3]float64
}

// StereoFit is a stereo calibration's result.
type StereoFit struct {
	// Stereo is the pair with its extrinsics, rectified by StereoRectify.
	Stereo calibration.Stereo
	// RMS is stereoCalibrate's overall reprojection error in pixels.
	RMS float64
	// PerView holds each view's left and right RMS error in pixels
	// (OpenCV's perViewErrors; nil for the fisheye model).
	PerView [][2]float64
}
