package msgs

import (
	"fmt"
	"time"

	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

// DistortionPlumbBob is the distortion model Parallax declares: its images
// are undistorted (rectified) before they are published, so D is all zeros.
const DistortionPlumbBob = "plumb_bob"

// CameraCalibration returns the camera_info message of a pinhole camera
// without distortion: K and the left 3x3 of P are the intrinsics, R is the
// identity, D is five zeros of the plumb_bob model. baseline is 0 for a
// monocular camera and the left camera of a stereo pair; for the right camera
// it is the distance between the two optical centres in metres, and P's Tx is
// -fx*baseline as ROS defines it.
//
// msgs.Intrinsics puts the centre of the top-left pixel at (0.5, 0.5); ROS
// and Foxglove put it at (0, 0), so cx and cy go through ToROSPixel here and
// FromROSPixel in IntrinsicsFromCalibration.
func CameraCalibration(stamp time.Time, frameID string, k Intrinsics, baseline float64) (*foxglove.CameraCalibration, error) {
	if err := checkIntrinsics(k); err != nil {
		return nil, err
	}
	if !finite(baseline) {
		return nil, fmt.Errorf("%w: baseline %g", ErrInvalidCalibration, baseline)
	}
	cx, cy := ToROSPixel(k.Cx), ToROSPixel(k.Cy)
	return &foxglove.CameraCalibration{
		Timestamp:       Timestamp(stamp),
		FrameId:         frameID,
		Width:           uint32(k.Width),
		Height:          uint32(k.Height),
		DistortionModel: DistortionPlumbBob,
		D:               []float64{0, 0, 0, 0, 0},
		K:               []float64{k.Fx, 0, cx, 0, k.Fy, cy, 0, 0, 1},
		R:               []float64{1, 0, 0, 0, 1, 0, 0, 0, 1},
		P:               []float64{k.Fx, 0, cx, -k.Fx * baseline, 0, k.Fy, cy, 0, 0, 0, 1, 0},
	}, nil
}

// IntrinsicsFromCalibration returns the pinhole intrinsics in K. A
// calibration with any non-zero distortion coefficient returns
// ErrInvalidCalibration, because Intrinsics cannot express distortion:
// undistort the images (and use the calibration's P) first.
func IntrinsicsFromCalibration(c *foxglove.CameraCalibration) (Intrinsics, error) {
	if c == nil {
		return Intrinsics{}, fmt.Errorf("%w: camera calibration", ErrMissingField)
	}
	for i, d := range c.GetD() {
		if d != 0 {
			return Intrinsics{}, fmt.Errorf("%w: distortion D[%d] = %g (model %q); msgs.Intrinsics is distortion-free",
				ErrInvalidCalibration, i, d, c.GetDistortionModel())
		}
	}
	kk := c.GetK()
	if len(kk) != 9 {
		return Intrinsics{}, fmt.Errorf("%w: K has %d values, want 9", ErrInvalidCalibration, len(kk))
	}
	if kk[1] != 0 || kk[3] != 0 || kk[6] != 0 || kk[7] != 0 || kk[8] != 1 {
		return Intrinsics{}, fmt.Errorf("%w: K = %v is not [fx 0 cx; 0 fy cy; 0 0 1]", ErrInvalidCalibration, kk)
	}
	k := Intrinsics{
		Width: int(c.GetWidth()), Height: int(c.GetHeight()),
		Fx: kk[0], Fy: kk[4], Cx: FromROSPixel(kk[2]), Cy: FromROSPixel(kk[5]),
	}
	if err := checkIntrinsics(k); err != nil {
		return Intrinsics{}, err
	}
	return k, nil
}

// StereoBaseline returns the baseline in metres that P encodes
// (Tx = -fx*baseline): 0 for a monocular or left camera.
func StereoBaseline(c *foxglove.CameraCalibration) (float64, error) {
	if c == nil {
		return 0, fmt.Errorf("%w: camera calibration", ErrMissingField)
	}
	p := c.GetP()
	if len(p) != 12 {
		return 0, fmt.Errorf("%w: P has %d values, want 12", ErrInvalidCalibration, len(p))
	}
	if !(p[0] > 0) || !finite(p[0]) || !finite(p[3]) {
		return 0, fmt.Errorf("%w: P has fx %g and Tx %g", ErrInvalidCalibration, p[0], p[3])
	}
	if p[3] == 0 {
		return 0, nil // avoid -0
	}
	return -p[3] / p[0], nil
}

func checkIntrinsics(k Intrinsics) error {
	if k.Width <= 0 || k.Height <= 0 || k.Width > MaxImageSide || k.Height > MaxImageSide {
		return fmt.Errorf("%w: image size %dx%d, want 1 to %d each way", ErrInvalidCalibration, k.Width, k.Height, MaxImageSide)
	}
	if !(k.Fx > 0) || !(k.Fy > 0) || !finite(k.Fx) || !finite(k.Fy) {
		return fmt.Errorf("%w: focal lengths fx %g, fy %g must be positive and finite", ErrInvalidCalibration, k.Fx, k.Fy)
	}
	if !finite(k.Cx) || !finite(k.Cy) {
		return fmt.Errorf("%w: principal point (%g, %g) is not finite", ErrInvalidCalibration, k.Cx, k.Cy)
	}
	return nil
}
