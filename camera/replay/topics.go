package replay

import "strings"

// Topic suffixes of the recorded inputs: a recording of namespace ns holds
// camera c's frames on ns.c.raw.image, and so on. The node's outputs keep
// their NATS subjects (msgs.Subject), so ns.c.camera_info is the depth map's
// calibration and ns.c.raw.camera_info the camera's.
const (
	// SuffixImage carries the frames as received, foxglove.RawImage rgb8.
	SuffixImage = "raw.image"
	// SuffixCameraInfo carries the camera's calibration at the frames'
	// resolution, foxglove.CameraCalibration (the right camera's P holds
	// the stereo baseline).
	SuffixCameraInfo = "raw.camera_info"
	// SuffixTruthDepth carries ground-truth z-depth in metres,
	// foxglove.RawImage 32FC1, for sources that know it (synth://).
	SuffixTruthDepth = "truth.depth"
	// SuffixTruthPose carries the ground-truth camera-to-world pose,
	// foxglove.PoseInFrame in frame TruthFrame.
	SuffixTruthPose = "truth.pose"
	// SuffixPreview is the node's JPEG preview topic (msgs.KindImage):
	// replayed, lossily, from recordings made over NATS that have no
	// raw.image.
	SuffixPreview = "image"
	// SuffixDepthCameraInfo is the node's camera_info topic, the
	// calibration at the depth map's resolution (scaled to the frames').
	SuffixDepthCameraInfo = "camera_info"
)

// TruthFrame is the frame_id of the recorded ground-truth poses.
const TruthFrame = "world"

// Metadata keys of the recorder's "parallax" MCAP metadata record.
const (
	// MetadataName is the metadata record's name.
	MetadataName = "parallax"
	// KeyNamespace is the launch namespace.
	KeyNamespace = "namespace"
	// KeyCameras lists the camera names, comma-separated.
	KeyCameras = "cameras"
	// KeyLeft and KeyRight name the stereo pair's cameras.
	KeyLeft, KeyRight = "stereo.left", "stereo.right"
	// KeyBaseline is the stereo baseline in metres.
	KeyBaseline = "stereo.baseline"
)

// Topic returns the topic of camera's input of the given suffix.
func Topic(ns, camera, suffix string) string { return ns + "." + camera + "." + suffix }

// splitTopic splits a topic ending in .suffix into namespace and camera.
func splitTopic(topic, suffix string) (ns, camera string, ok bool) {
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
