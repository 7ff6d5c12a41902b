package msgs

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
)

// Topic suffixes of the recorded inputs: a recording of namespace ns holds
// camera c's frames on ns.c.raw.image, and so on (RecordingTopic). The
// node's outputs keep their NATS subjects (Namespace, Subject), so
// ns.c.camera_info is the depth map's calibration and ns.c.raw.camera_info
// the camera's. The recorder (actors) writes these topics with
// FrameMessages; camera/replay reads them back.
const (
	// SuffixRawImage carries the frames as received, foxglove.RawImage rgb8.
	SuffixRawImage = "raw.image"
	// SuffixRawCameraInfo carries the camera's calibration at the frames'
	// resolution, foxglove.CameraCalibration (the right camera's P holds
	// the stereo baseline).
	SuffixRawCameraInfo = "raw.camera_info"
	// SuffixTruthDepth carries ground-truth z-depth in metres,
	// foxglove.RawImage 32FC1, for sources that know it (synth://).
	SuffixTruthDepth = "truth.depth"
	// SuffixTruthPose carries the ground-truth camera-to-world pose,
	// foxglove.PoseInFrame in frame TruthFrame.
	SuffixTruthPose = "truth.pose"
	// SuffixPreview is the node's JPEG preview subject (KindImage): a
	// recording made over NATS has no raw.image, and its previews are
	// replayed instead, lossily.
	SuffixPreview = "image"
	// SuffixDepthCameraInfo is the node's camera_info subject
	// (KindCameraInfo), the calibration at the depth map's resolution: a
	// replay scales it to the frames' when raw.camera_info is absent.
	SuffixDepthCameraInfo = "camera_info"
)

// TruthFrame is the frame_id of the recorded ground-truth poses.
const TruthFrame = "world"

// The recorder's MCAP metadata record: its name and keys. It describes the
// recording so a replay needs no launch file.
const (
	// MetadataName is the metadata record's name.
	MetadataName = "parallax"
	// MetadataKeyNamespace is the launch namespace.
	MetadataKeyNamespace = "namespace"
	// MetadataKeyCameras lists the camera names, comma-separated.
	MetadataKeyCameras = "cameras"
	// MetadataKeyLeft and MetadataKeyRight name the stereo pair's cameras.
	MetadataKeyLeft, MetadataKeyRight = "stereo.left", "stereo.right"
	// MetadataKeyBaseline is the stereo baseline in metres.
	MetadataKeyBaseline = "stereo.baseline"
	// MetadataKeyRectified lists, comma-separated, the cameras whose frames
	// the node rectified with a calibration before recording them: their
	// raw.image frames are rectified already (a replay must not rectify
	// them again), and <ns>.<camera>.calibration holds the raw camera.
	MetadataKeyRectified = "rectified"
)

// RecordingTopic returns the topic of camera's recorded input of the given
// suffix: <ns>.<camera>.<suffix>. It does not validate the parts (see
// ValidateNamespace and ValidateName).
func RecordingTopic(ns, camera, suffix string) string { return ns + "." + camera + "." + suffix }

// SplitRecordingTopic is the inverse of RecordingTopic: it splits a topic
// ending in .suffix into namespace and camera; ok is false when the topic
// does not end in .suffix or lacks a namespace or a camera before it. The
// camera is the last token before the suffix, so a suffix that ends
// another (SuffixPreview, "image", ends SuffixRawImage) also matches the
// longer one's topics, with camera "raw": test the longer suffix first.
func SplitRecordingTopic(topic, suffix string) (ns, camera string, ok bool) {
	rest, found := strings.CutSuffix(topic, "."+suffix)
	if !found {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// TopicMessage is one message to record: its topic and content.
type TopicMessage struct {
	Topic   string
	Message proto.Message
}

// FrameMessages returns the messages that record frame f of namespace ns,
// the inverse of camera/replay's Frames.Frame: the image on
// SuffixRawImage (foxglove.RawImage rgb8, lossless), its camera_info on
// SuffixRawCameraInfo when f has intrinsics (baseline: the stereo baseline
// for the right camera, else 0), and, when truth is set and f has ground
// truth, the true depth (32FC1, when its size matches the frame's) and
// pose. Everything is stamped at f.Stamp; the recorder logs it at f.Stamp
// too. Keeping the layout here, beside the subjects, keeps the recorder and
// the replay in agreement on the topics.
func FrameMessages(ns string, f *Frame, baseline float64, truth bool) ([]TopicMessage, error) {
	img, err := FrameImage(f)
	if err != nil {
		return nil, err
	}
	out := []TopicMessage{{RecordingTopic(ns, f.Camera, SuffixRawImage), img}}
	if k := f.Intrinsics; k != nil {
		cal, err := CameraCalibration(f.Stamp, f.Camera, *k, baseline)
		if err != nil {
			return nil, fmt.Errorf("camera %s: %w", f.Camera, err)
		}
		out = append(out, TopicMessage{RecordingTopic(ns, f.Camera, SuffixRawCameraInfo), cal})
	}
	if gt := f.Truth; truth && gt != nil {
		if len(gt.Depth) == f.Width*f.Height {
			d, err := DepthImage(f.Stamp, f.Camera, f.Width, f.Height, gt.Depth)
			if err != nil {
				return nil, fmt.Errorf("camera %s: %w", f.Camera, err)
			}
			out = append(out, TopicMessage{RecordingTopic(ns, f.Camera, SuffixTruthDepth), d})
		}
		out = append(out, TopicMessage{RecordingTopic(ns, f.Camera, SuffixTruthPose), PoseInFrame(f.Stamp, TruthFrame, gt.Pose)})
	}
	return out, nil
}
