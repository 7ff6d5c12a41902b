package msgs

import (
	"fmt"
	"math"
)

// RotationFromQuaternion returns the row-major rotation matrix of the
// quaternion (x, y, z, w), w the scalar part: the inverse of
// Pose.Quaternion. The quaternion is normalised first, because senders round
// and some do not normalise at all; a zero or non-finite quaternion returns
// ErrInvalidPose.
func RotationFromQuaternion(x, y, z, w float64) ([9]float64, error) {
	// Scale by the largest component first so that the squares neither
	// overflow nor underflow; a quaternion whose largest component is tiny
	// is an unset or garbage field rather than a rotation.
	m := max(math.Abs(x), math.Abs(y), math.Abs(z), math.Abs(w))
	if !finite(m) || m < 1e-9 {
		return [9]float64{}, fmt.Errorf("%w: quaternion (%g, %g, %g, %g) is not a rotation", ErrInvalidPose, x, y, z, w)
	}
	x, y, z, w = x/m, y/m, z/m, w/m
	n := math.Sqrt(x*x + y*y + z*z + w*w)
	x, y, z, w = x/n, y/n, z/n, w/n
	return [9]float64{
		1 - 2*(y*y+z*z), 2 * (x*y - z*w), 2 * (x*z + y*w),
		2 * (x*y + z*w), 1 - 2*(x*x+z*z), 2 * (y*z - x*w),
		2 * (x*z - y*w), 2 * (y*z + x*w), 1 - 2*(x*x+y*y),
	}, nil
}

// PoseFromQuaternion returns the pose with rotation (x, y, z, w) and
// translation t; see RotationFromQuaternion.
func PoseFromQuaternion(x, y, z, w float64, t [3]float64) (Pose, error) {
	r, err := RotationFromQuaternion(x, y, z, w)
	if err != nil {
		return Pose{}, err
	}
	for i, v := range t {
		if !finite(v) {
			return Pose{}, fmt.Errorf("%w: translation[%d] is %g", ErrInvalidPose, i, v)
		}
	}
	return Pose{R: r, T: t}, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
