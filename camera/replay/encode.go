package replay

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs"
)

// Recorded is one message to record: its topic and content.
type Recorded struct {
	Topic   string
	Message proto.Message
}

// Encode returns the messages that record frame f of namespace ns, the
// inverse of Frames.Frame: the image (foxglove.RawImage rgb8, lossless),
// its camera_info when f has intrinsics (baseline: the stereo baseline for
// the right camera, else 0), and, when truth is set and f has ground truth,
// the true depth (32FC1) and pose. Everything is stamped and logged at
// f.Stamp. Keeping both directions in this package keeps the recorder and
// the replay in agreement on the topics.
func Encode(ns string, f *msgs.Frame, baseline float64, truth bool) ([]Recorded, error) {
	img, err := msgs.FrameImage(f)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	out := []Recorded{{Topic(ns, f.Camera, SuffixImage), img}}
	if k := f.Intrinsics; k != nil {
		cal, err := msgs.CameraCalibration(f.Stamp, f.Camera, *k, baseline)
		if err != nil {
			return nil, fmt.Errorf("replay: camera %s: %w", f.Camera, err)
		}
		out = append(out, Recorded{Topic(ns, f.Camera, SuffixCameraInfo), cal})
	}
	if gt := f.Truth; truth && gt != nil {
		if len(gt.Depth) == f.Width*f.Height {
			d, err := msgs.DepthImage(f.Stamp, f.Camera, f.Width, f.Height, gt.Depth)
			if err != nil {
				return nil, fmt.Errorf("replay: camera %s: %w", f.Camera, err)
			}
			out = append(out, Recorded{Topic(ns, f.Camera, SuffixTruthDepth), d})
		}
		out = append(out, Recorded{Topic(ns, f.Camera, SuffixTruthPose), msgs.PoseInFrame(f.Stamp, TruthFrame, gt.Pose)})
	}
	return out, nil
}
