package cv

import (
	"fmt"
	"math"
	"strings"

	"github.com/parallax-robotics/parallax/calibration"
)

// ViewRMS is one view's RMS reprojection error in pixels: the board's
// corners put at the view's pose (rvec, tvec) and projected through the
// camera (calibration.Camera.Project, OpenCV's formulas), against the
// corners found.
func ViewRMS(c calibration.Camera, b Board, found []Point, rvec, tvec [3]float64) float64 {
	r := calibration.Rodrigues(rvec)
	sum, n := 0.0, 0
	for i, p := range b.Corners() {
		if i >= len(found) {
			break
		}
		q := [3]float64{
			r[0]*p[0] + r[1]*p[1] + r[2]*p[2] + tvec[0],
			r[3]*p[0] + r[4]*p[1] + r[5]*p[2] + tvec[1],
			r[6]*p[0] + r[7]*p[1] + r[8]*p[2] + tvec[2],
		}
		u, v, ok := c.Project(q)
		if !ok {
			return math.Inf(1)
		}
		sum += (u-found[i].X)*(u-found[i].X) + (v-found[i].Y)*(v-found[i].Y)
		n++
	}
	if n == 0 {
		return 0
	}
	return math.Sqrt(sum / float64(n))
}

// Epipolar returns the rectified epipolar error of matched corners: each
// corner rectified in its camera (undistorted, rotated by R, projected by
// P: calibration.Camera.RectifyPixel) and the mean |y_left - y_right| over
// every corner of every view, in rectified pixels. 0 for a perfect
// rectification; corners that do not rectify are skipped.
func Epipolar(s calibration.Stereo, left, right [][]Point) (mean float64, n int) {
	sum := 0.0
	for v := range left {
		if v >= len(right) {
			break
		}
		for i := range left[v] {
			if i >= len(right[v]) {
				break
			}
			_, yl, ok1 := s.Left.RectifyPixel(left[v][i].X, left[v][i].Y)
			_, yr, ok2 := s.Right.RectifyPixel(right[v][i].X, right[v][i].Y)
			if !ok1 || !ok2 {
				continue
			}
			sum += math.Abs(yl - yr)
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return sum / float64(n), n
}

// Options configure Calibrate.
type Options struct {
	// Board is the chessboard. It is required.
	Board Board
	// Model is the distortion model to fit. It defaults to
	// calibration.PlumbBob.
	Model calibration.Model
	// Alpha is stereoRectify's free scaling: 0 keeps valid pixels only, 1
	// every raw pixel. It defaults to 0.
	Alpha float64
	// Refine refines both cameras' intrinsics in stereoCalibrate
	// (CALIB_USE_INTRINSIC_GUESS) instead of keeping each camera's own
	// calibration (CALIB_FIX_INTRINSIC, ROS camera_calibration's way). It
	// defaults to false.
	Refine bool
	// HoldOut holds every HoldOut-th view (the HoldOut-th, 2*HoldOut-th,
	// ...) out of the calibration, for the epipolar check on views it has
	// not seen. It defaults to 0: none held out.
	HoldOut int
	// MaxViewError rejects outliers: a training view whose RMS
	// reprojection error is above MaxViewError pixels in either camera's
	// own calibration or in the stereo fit (a corner detection gone wrong,
	// a blurred frame, a left and right image of different moments) is
	// dropped, the worst first, and the calibration redone without it,
	// until every view fits; rejecting more than half the views is an
	// error (ErrViews). It defaults to 0: every view is kept.
	MaxViewError float64
}

// Rejection is a view MaxViewError left out of the calibration.
type Rejection struct {
	// Name is the view's name.
	Name string
	// Fit is the fit the view did not fit: "left", "right" (or "camera"
	// for mono) or "stereo".
	Fit string
	// RMS is the view's RMS reprojection error in pixels in that fit, when
	// it was dropped.
	RMS float64
}

func (r Rejection) String() string {
	return fmt.Sprintf("%s (%s RMS %.3f px)", r.Name, r.Fit, r.RMS)
}

// View is one view of the board: its corners in the left (or mono) image
// and, for a stereo rig, in the right image.
type View struct {
	// Name identifies the view (the left image's file) in reports.
	Name        string
	Left, Right []Point
}

// Report is what Calibrate found.
type Report struct {
	// Left is the left (or mono) camera's own calibration; Right the right
	// camera's (nil for mono).
	Left, Right *Mono
	// Stereo is the pair's calibration, rectified; nil for mono.
	Stereo *StereoFit
	// Train and HeldOut name the views used and held out, in the order of
	// the per-view errors.
	Train, HeldOut []string
	// Rejected lists the training views MaxViewError dropped, in the
	// order they were dropped.
	Rejected []Rejection
	// EpipolarTrain and EpipolarHeldOut are the rectified epipolar errors
	// (mean |y_left - y_right| in pixels) on the training and held-out
	// views; -1 without held-out views.
	EpipolarTrain, EpipolarHeldOut float64
}

// Calibrate calibrates a mono camera (views with no Right) or a stereo pair
// from views of the board in w x h images: each camera with
// CalibrateCamera, then, for a pair, StereoCalibrate and StereoRectify, and
// the epipolar error on the training and held-out views. The same steps,
// with the same parameters, as scripts/calib_reference.py.
func Calibrate(views []View, w, h int, o Options) (*Report, error) {
	if o.Model == "" {
		o.Model = calibration.PlumbBob
	}
	stereo := len(views) > 0 && views[0].Right != nil
	rep := &Report{EpipolarTrain: -1, EpipolarHeldOut: -1}
	var trL, trR, hoL, hoR [][]Point
	for i, v := range views {
		if (v.Right != nil) != stereo {
			return nil, fmt.Errorf("%w: view %s has %s right image", ErrViews, v.Name, map[bool]string{true: "a", false: "no"}[v.Right != nil])
		}
		if o.HoldOut > 0 && (i+1)%o.HoldOut == 0 {
			rep.HeldOut = append(rep.HeldOut, v.Name)
			hoL, hoR = append(hoL, v.Left), append(hoR, v.Right)
			continue
		}
		rep.Train = append(rep.Train, v.Name)
		trL, trR = append(trL, v.Left), append(trR, v.Right)
	}
	for {
		if err := fit(rep, trL, trR, w, h, o, stereo); err != nil {
			return nil, err
		}
		worst := worstView(rep, o.MaxViewError, stereo)
		if worst < 0 {
			break
		}
		// Rejecting most views says the limit is wrong for this lens (or
		// the board's size is), not that the views are bad.
		if len(rep.Train) <= 3 || 2*(len(rep.Rejected)+1) > len(rep.Train)+len(rep.Rejected) {
			return nil, fmt.Errorf("%w: more than half the %d training views have an RMS reprojection error above %g px: raise the limit (rejected: %s)",
				ErrViews, len(rep.Train)+len(rep.Rejected), o.MaxViewError, rejectedList(append(rep.Rejected, rep.viewError(worst, stereo))))
		}
		rep.Rejected = append(rep.Rejected, rep.viewError(worst, stereo))
		rep.Train = append(rep.Train[:worst:worst], rep.Train[worst+1:]...)
		trL = append(trL[:worst:worst], trL[worst+1:]...)
		trR = append(trR[:worst:worst], trR[worst+1:]...)
	}
	if !stereo {
		return rep, nil
	}
	rep.EpipolarTrain, _ = Epipolar(rep.Stereo.Stereo, trL, trR)
	if len(hoL) > 0 {
		rep.EpipolarHeldOut, _ = Epipolar(rep.Stereo.Stereo, hoL, hoR)
	}
	return rep, nil
}

// fit runs the calibration proper on the training views: each camera,
// then for a pair stereoCalibrate and stereoRectify.
func fit(rep *Report, trL, trR [][]Point, w, h int, o Options, stereo bool) error {
	var err error
	if rep.Left, err = CalibrateCamera(trL, o.Board, w, h, o.Model); err != nil {
		return fmt.Errorf("left camera: %w", err)
	}
	rep.Left.Camera.Name = "left"
	if !stereo {
		rep.Left.Camera.Name = "camera"
		return nil
	}
	if rep.Right, err = CalibrateCamera(trR, o.Board, w, h, o.Model); err != nil {
		return fmt.Errorf("right camera: %w", err)
	}
	rep.Right.Camera.Name = "right"
	if rep.Stereo, err = StereoCalibrate(trL, trR, o.Board, rep.Left.Camera, rep.Right.Camera, o.Refine); err != nil {
		return err
	}
	rep.Stereo.Stereo, err = StereoRectify(rep.Stereo.Stereo, o.Alpha)
	return err
}

// viewError is training view i's largest RMS reprojection error over the
// fits (each camera's, and the stereo fit's both images).
func (rep *Report) viewError(i int, stereo bool) Rejection {
	r := Rejection{Name: rep.Train[i], Fit: rep.Left.Camera.Name, RMS: rep.Left.PerView[i]}
	if !stereo {
		return r
	}
	if e := rep.Right.PerView[i]; e > r.RMS {
		r.Fit, r.RMS = "right", e
	}
	if i < len(rep.Stereo.PerView) {
		if e := max(rep.Stereo.PerView[i][0], rep.Stereo.PerView[i][1]); e > r.RMS {
			r.Fit, r.RMS = "stereo", e
		}
	}
	return r
}

// worstView returns the training view with the largest error above limit,
// or -1 when every view fits (or limit is 0).
func worstView(rep *Report, limit float64, stereo bool) int {
	if limit <= 0 {
		return -1
	}
	worst, e := -1, limit
	for i := range rep.Train {
		if v := rep.viewError(i, stereo); v.RMS > e || math.IsNaN(v.RMS) {
			worst, e = i, v.RMS
			if math.IsNaN(e) {
				return i
			}
		}
	}
	return worst
}

func rejectedList(rs []Rejection) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return strings.Join(out, ", ")
}
