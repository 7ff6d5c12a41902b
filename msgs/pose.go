package msgs

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// FoxglovePose converts a pose (child-to-parent, metres) to foxglove.Pose.
// The quaternion has w >= 0, as Pose.Quaternion returns it.
func FoxglovePose(p Pose) *foxglove.Pose {
	x, y, z, w := p.Quaternion()
	return &foxglove.Pose{
		Position:    &foxglove.Vector3{X: p.T[0], Y: p.T[1], Z: p.T[2]},
		Orientation: &foxglove.Quaternion{X: x, Y: y, Z: z, W: w},
	}
}

// PoseFromFoxglove converts a foxglove.Pose back. An unset position reads as
// the origin (proto3 has no other way to send a zero vector of messages
// that were never filled in); an unset or zero orientation is not a
// rotation and returns ErrInvalidPose.
func PoseFromFoxglove(p *foxglove.Pose) (Pose, error) {
	if p == nil {
		return Pose{}, fmt.Errorf("%w: pose", ErrMissingField)
	}
	return poseFrom(p.GetPosition(), p.GetOrientation())
}

func poseFrom(t *foxglove.Vector3, q *foxglove.Quaternion) (Pose, error) {
	if q == nil {
		return Pose{}, fmt.Errorf("%w: orientation", ErrMissingField)
	}
	return PoseFromQuaternion(q.GetX(), q.GetY(), q.GetZ(), q.GetW(),
		[3]float64{t.GetX(), t.GetY(), t.GetZ()})
}

// PoseInFrame returns p at stamp as a foxglove.PoseInFrame expressed in
// frameID (the parent frame).
func PoseInFrame(stamp time.Time, frameID string, p Pose) *foxglove.PoseInFrame {
	return &foxglove.PoseInFrame{Timestamp: Timestamp(stamp), FrameId: frameID, Pose: FoxglovePose(p)}
}

// FrameTransform returns p, the pose of child in parent, at stamp as a
// foxglove.FrameTransform.
func FrameTransform(stamp time.Time, parent, child string, p Pose) *foxglove.FrameTransform {
	fp := FoxglovePose(p)
	return &foxglove.FrameTransform{
		Timestamp:     Timestamp(stamp),
		ParentFrameId: parent,
		ChildFrameId:  child,
		Translation:   fp.Position,
		Rotation:      fp.Orientation,
	}
}

// PoseFromFrameTransform returns the child-to-parent pose of a transform.
func PoseFromFrameTransform(t *foxglove.FrameTransform) (Pose, error) {
	if t == nil {
		return Pose{}, fmt.Errorf("%w: frame transform", ErrMissingField)
	}
	return poseFrom(t.GetTranslation(), t.GetRotation())
}

// Odometry returns an Odometry message with the pose of child in frameID at
// stamp; velocities and covariances are left for the caller to fill in.
func Odometry(stamp time.Time, frameID, childFrameID string, seq uint64, p Pose) *parallaxv1.Odometry {
	return &parallaxv1.Odometry{
		Timestamp:    Timestamp(stamp),
		FrameId:      frameID,
		ChildFrameId: childFrameID,
		Seq:          seq,
		Pose:         FoxglovePose(p),
	}
}

// OdometryPose validates an Odometry message (pose, covariance sizes and
// values) and returns its pose.
func OdometryPose(o *parallaxv1.Odometry) (Pose, error) {
	if o == nil {
		return Pose{}, fmt.Errorf("%w: odometry", ErrMissingField)
	}
	if err := checkCovariance("pose_covariance", o.GetPoseCovariance()); err != nil {
		return Pose{}, err
	}
	if err := checkCovariance("twist_covariance", o.GetTwistCovariance()); err != nil {
		return Pose{}, err
	}
	return PoseFromFoxglove(o.GetPose())
}

func checkCovariance(name string, c []float64) error {
	if len(c) != 0 && len(c) != 36 {
		return fmt.Errorf("%w: %s has %d values, want 0 or 36", ErrInvalidCovariance, name, len(c))
	}
	for i, v := range c {
		if !finite(v) {
			return fmt.Errorf("%w: %s[%d] is %g", ErrInvalidCovariance, name, i, v)
		}
	}
	return nil
}

// TransformFromOdometry returns the odometry pose as the transform from
// child_frame_id to frame_id, for the <ns>.tf subject.
func TransformFromOdometry(o *parallaxv1.Odometry) *foxglove.FrameTransform {
	p := o.GetPose()
	return &foxglove.FrameTransform{
		Timestamp:     proto.CloneOf(o.GetTimestamp()),
		ParentFrameId: o.GetFrameId(),
		ChildFrameId:  o.GetChildFrameId(),
		Translation:   proto.CloneOf(p.GetPosition()),
		Rotation:      proto.CloneOf(p.GetOrientation()),
	}
}

// PoseInFrameFromOdometry returns the odometry pose as a PoseInFrame, for
// the <ns>.pose subject.
func PoseInFrameFromOdometry(o *parallaxv1.Odometry) *foxglove.PoseInFrame {
	return &foxglove.PoseInFrame{
		Timestamp: proto.CloneOf(o.GetTimestamp()),
		FrameId:   o.GetFrameId(),
		Pose:      proto.CloneOf(o.GetPose()),
	}
}
