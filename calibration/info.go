package calibration

import (
	"fmt"
	"slices"

	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

// CameraInfo returns the camera's raw calibration as ROS's CameraInfo lays
// it out, in Foxglove's CameraCalibration: the raw image size, K, D with
// its ROS model name (plumb_bob, rational_polynomial, equidistant), the
// rectification R and the rectified P (the defaults when unset: the
// identity and [K|0]), ROS pixel convention. It is what the node publishes
// on <ns>.<camera>.calibration for a camera it rectifies; the timestamp is
// left for the caller.
func CameraInfo(c Camera, frameID string) *foxglove.CameraCalibration {
	c = c.WithDefaultRectification()
	return &foxglove.CameraCalibration{
		FrameId:         frameID,
		Width:           uint32(c.Width),
		Height:          uint32(c.Height),
		DistortionModel: string(c.Model),
		D:               slices.Clone(c.D),
		K:               slices.Clone(c.K[:]),
		R:               slices.Clone(c.R[:]),
		P:               slices.Clone(c.P[:]),
	}
}

// FromCameraInfo reads a camera back from a CameraCalibration message
// (CameraInfo's inverse); distortion_model names a model ParseModel knows.
func FromCameraInfo(m *foxglove.CameraCalibration) (Camera, error) {
	var c Camera
	if m == nil {
		return c, fmt.Errorf("%w: no message", ErrMissing)
	}
	if len(m.GetK()) != 9 || len(m.GetR()) != 9 || len(m.GetP()) != 12 {
		return c, fmt.Errorf("%w: K, R and P have %d, %d and %d values, want 9, 9 and 12", ErrInvalid, len(m.GetK()), len(m.GetR()), len(m.GetP()))
	}
	model, err := ParseModel(m.GetDistortionModel())
	if err != nil {
		return c, err
	}
	c = Camera{Name: m.GetFrameId(), Width: int(m.GetWidth()), Height: int(m.GetHeight()), Model: model}
	if c.D, err = normalizeD(model, m.GetD()); err != nil {
		return c, err
	}
	copy(c.K[:], m.GetK())
	copy(c.R[:], m.GetR())
	copy(c.P[:], m.GetP())
	return c, c.Validate()
}
