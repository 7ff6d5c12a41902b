package kitti

import (
	"fmt"
	"io"

	"github.com/parallax-robotics/parallax/calibration"
	"github.com/parallax-robotics/parallax/msgs"
)

// Calib is a KITTI calibration file: "key: v1 v2 ..." lines
// (calib_cam_to_cam.txt, calib_velo_to_cam.txt, calib_imu_to_velo.txt),
// parsed by package calibration (calibration.KITTIFile), which also reads
// calib_cam_to_cam.txt as a camera calibration for launch files. Its
// errors here wrap ErrCalib.
type Calib struct {
	*calibration.KITTIFile
}

// ParseCalib reads a KITTI calibration file. name is used in errors.
func ParseCalib(r io.Reader, name string) (*Calib, error) {
	f, err := calibration.ParseKITTI(r, name)
	if err != nil {
		return nil, wrap(err)
	}
	return &Calib{f}, nil
}

func wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrCalib, err)
}

// get returns key's values, which must number n.
func (c *Calib) get(key string, n int) ([]float64, error) {
	v, err := c.Get(key, n)
	return v, wrap(err)
}

// Intrinsics returns rectified camera cam's (2: left colour, 3: right
// colour; 0 and 1 grey) pinhole model from P_rect_0N and its image size
// from S_rect_0N, in the msgs convention.
func (c *Calib) Intrinsics(cam int) (msgs.Intrinsics, error) {
	k, err := c.RectifiedIntrinsics(cam)
	return k, wrap(err)
}

// offset returns camera cam's centre along the rectified x axis, in metres.
func (c *Calib) offset(cam int) (float64, error) {
	o, err := c.Offset(cam)
	return o, wrap(err)
}

// Baseline returns the distance in metres from camera left's centre to
// camera right's along the rectified x axis (2 and 3: about 0.54 m).
func (c *Calib) Baseline(left, right int) (float64, error) {
	b, err := c.KITTIFile.Baseline(left, right)
	return b, wrap(err)
}

// Rigid returns the transform of a calib_velo_to_cam / calib_imu_to_velo
// file (R: 9 values row-major, T: 3 values).
func (c *Calib) Rigid() (msgs.Pose, error) {
	p, err := c.KITTIFile.Rigid()
	return p, wrap(err)
}

// clip shortens text quoted in errors.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
