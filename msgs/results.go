package msgs

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// OdomFrame is the frame_id of the node's odometry: the pose of the
// reference camera at its first processed frame.
const OdomFrame = "odom"

// DepthMap is a z-depth image: metres along the optical axis, Width*Height
// values row-major.
type DepthMap struct {
	// Width and Height are the map's size (a network's input size).
	Width, Height int
	// Depth holds the values, each within the producing model's range.
	Depth []float32
	// Intrinsics is the camera model of the map (the frame's, cropped and
	// scaled to the map), or nil when the frame had none.
	Intrinsics *Intrinsics
	// Scale is the factor perception applied to the network's depth to make
	// it metric: a mono camera's ground-plane scale (its launch file's
	// camera_height). 0 when none was applied; then Relative says whether
	// the depth is known to be only relative (a camera_height but too
	// little ground seen).
	Scale    float64
	Relative bool
}

// Result is what the node's perception makes of one instant of a stream
// group (a stereo pair or a mono camera): what sinks publish and record.
// A Result is shared between sinks read-only.
type Result struct {
	// Frames are the input frames, the reference (left or mono) camera first.
	Frames []*Frame
	// Depth is the reference camera's depth map.
	Depth DepthMap
	// Odom is the reference camera's pose in OdomFrame; nil when the group
	// does not carry odometry.
	Odom *Pose
	// Flow is the reference camera's optical flow from its previous
	// processed frame to this one (stamped at the previous frame), when
	// the node estimates flow; nil otherwise and for the first frame.
	Flow *OpticalFlowField
	// SceneFlow is the 3D motion derived from Flow and the depth maps of
	// the two frames, when asked for; nil otherwise.
	SceneFlow *SceneFlowField
	// Seq counts the group's results from 0.
	Seq uint64
	// Inference is how long the networks took.
	Inference time.Duration
}

// Ref returns the reference frame.
func (r *Result) Ref() *Frame { return r.Frames[0] }

// Rig describes the node's cameras to its sinks: what a sink needs besides
// the outputs themselves (subjects, a recording's metadata).
type Rig struct {
	// Namespace is the launch namespace.
	Namespace Namespace
	// Cameras are the camera names in launch-file order.
	Cameras []string
	// Left and Right name the stereo pair; both "" without one.
	Left, Right string
	// Baselines holds, per right camera, the stereo baseline in metres.
	Baselines map[string]float64
	// Calibrations holds, per camera the node rectifies, the raw camera's
	// calibration (ROS CameraInfo of the raw images: raw K, D and its
	// model, the rectification R, the rectified P), published on
	// <ns>.<camera>.calibration beside camera_info; its timestamp is
	// replaced by each result's. Cameras that are not rectified have none.
	Calibrations map[string]*foxglove.CameraCalibration
	// Model is the checkpoint file the networks started from, "" for
	// random initialisation (a recorder keeps it with the drive).
	Model string
	// OpticalFlow and SceneFlow say the results carry optical flow
	// (launch topics.optical_flow or topics.scene_flow) and scene flow
	// (topics.scene_flow), so sinks that announce their topics up front
	// (the viewer) announce those.
	OpticalFlow, SceneFlow bool
}

// Output is one thing the node hands its sinks. Exactly one field is set.
type Output struct {
	// Frame is a camera frame as the camera delivered it (before stereo
	// sync and perception).
	Frame *Frame
	// Result is a perception result.
	Result *Result
	// Diagnostics is the state of every part of the node.
	Diagnostics *parallaxv1.Diagnostics
	// LearnerStats is the online learner's progress.
	LearnerStats *parallaxv1.LearnerStats
}

// ResultMessages returns the messages of a result as the node publishes
// and records them: the reference camera's depth map, every group camera's
// camera_info at the depth map's resolution (a rectified group shares the
// reference camera's intrinsics; the right camera's carries its baseline
// from rig.Baselines) and, for a camera the node rectifies, its raw
// calibration (rig.Calibrations), with odometry, odom, pose and tf, and,
// where the result has them, optical_flow with its colour-wheel
// optical_flow_image and scene_flow (the node computes those only when its
// launch file asks). depth and odom say which of those topics are wanted.
// One function for every sink keeps NATS and recordings identical.
func ResultMessages(rig *Rig, r *Result, depth, odom bool) ([]TopicMessage, error) {
	ref := r.Ref()
	subj, err := rig.Namespace.Camera(ref.Camera)
	if err != nil {
		return nil, err
	}
	var out []TopicMessage
	if depth {
		img, err := DepthImage(ref.Stamp, ref.Camera, r.Depth.Width, r.Depth.Height, r.Depth.Depth)
		if err != nil {
			return nil, fmt.Errorf("msgs: depth of %s: %w", ref.Camera, err)
		}
		out = append(out, TopicMessage{subj.Depth, img})
	}
	if k := r.Depth.Intrinsics; k != nil {
		for _, f := range r.Frames {
			cal, err := CameraCalibration(ref.Stamp, f.Camera, *k, rig.Baselines[f.Camera])
			if err != nil {
				return nil, fmt.Errorf("msgs: camera_info of %s: %w", f.Camera, err)
			}
			s, err := rig.Namespace.Camera(f.Camera)
			if err != nil {
				return nil, err
			}
			out = append(out, TopicMessage{s.CameraInfo, cal})
			if raw := rig.Calibrations[f.Camera]; raw != nil {
				c := proto.Clone(raw).(*foxglove.CameraCalibration)
				c.Timestamp = Timestamp(ref.Stamp)
				out = append(out, TopicMessage{s.Calibration, c})
			}
		}
	}
	if f := r.Flow; f != nil {
		m, err := f.Proto()
		if err != nil {
			return nil, fmt.Errorf("msgs: optical flow of %s: %w", ref.Camera, err)
		}
		img, err := FlowImage(f, 0)
		if err != nil {
			return nil, fmt.Errorf("msgs: optical flow of %s: %w", ref.Camera, err)
		}
		out = append(out, TopicMessage{subj.OpticalFlow, m}, TopicMessage{subj.OpticalFlowImage, img})
	}
	if f := r.SceneFlow; f != nil {
		m, err := f.Proto()
		if err != nil {
			return nil, fmt.Errorf("msgs: scene flow of %s: %w", ref.Camera, err)
		}
		out = append(out, TopicMessage{subj.SceneFlow, m})
	}
	if r.Odom != nil && odom {
		o := Odometry(ref.Stamp, OdomFrame, ref.Camera, r.Seq, *r.Odom)
		out = append(out, TopicMessage{rig.Namespace.Odom(), o},
			TopicMessage{rig.Namespace.Pose(), PoseInFrameFromOdometry(o)},
			TopicMessage{rig.Namespace.TF(), TransformFromOdometry(o)})
	}
	return out, nil
}
