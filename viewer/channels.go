package viewer

import (
	"encoding/base64"
	"fmt"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// Topic suffixes of what only the viewer publishes, beside the node's NATS
// subjects (which keep their names, so one Foxglove layout fits a live node
// and its MCAP recordings).
const (
	// SuffixDepthColor is <ns>.<camera>.depth_color: the depth map coloured
	// with Turbo (inverse depth), foxglove.CompressedImage JPEG.
	SuffixDepthColor = "depth_color"
	// SuffixDepthMM is <ns>.<camera>.depth_mm: the depth map as
	// foxglove.RawImage 16UC1, millimetres.
	SuffixDepthMM = "depth_mm"
	// SuffixPoints is <ns>.<camera>.points: the depth map as a subsampled
	// foxglove.PointCloud in the camera's frame, coloured by the image.
	SuffixPoints = "points"
	// SuffixPath is <ns>.path: the odometry trajectory,
	// foxglove.PosesInFrame in "odom".
	SuffixPath = "path"
	// SuffixTFStatic is <ns>.tf_static: the stereo rig's transform from the
	// right camera's frame to the left's, foxglove.FrameTransform.
	SuffixTFStatic = "tf_static"
)

// scope says which cameras a channel exists for.
type scope int

const (
	scopeGlobal      scope = iota // one channel
	scopeCamera                   // one per camera
	scopeReference                // one per reference camera (the ones with depth)
	scopeStereo                   // one, when the rig has a stereo pair
	scopeOpticalFlow              // one per reference camera, when results carry optical flow
	scopeSceneFlow                // one per reference camera, when results carry scene flow
)

// channelKinds are the channels the viewer advertises, in advertise order.
// large channels are latest-only in each client's queue; latched ones keep
// their last message for clients that subscribe later.
var channelKinds = []struct {
	suffix  string
	scope   scope
	msg     proto.Message
	large   bool
	latched bool
}{
	{msgs.KindDepth.String(), scopeReference, &foxglove.RawImage{}, true, false},
	{SuffixDepthColor, scopeReference, &foxglove.CompressedImage{}, true, false},
	{SuffixDepthMM, scopeReference, &foxglove.RawImage{}, true, false},
	{SuffixPoints, scopeReference, &foxglove.PointCloud{}, true, false},
	{msgs.KindOpticalFlowImage.String(), scopeOpticalFlow, &foxglove.RawImage{}, true, false},
	{msgs.KindOpticalFlow.String(), scopeOpticalFlow, &parallaxv1.OpticalFlow{}, true, false},
	{msgs.KindSceneFlow.String(), scopeSceneFlow, &parallaxv1.SceneFlow{}, true, false},
	{msgs.KindImage.String(), scopeCamera, &foxglove.CompressedImage{}, true, false},
	{msgs.KindCameraInfo.String(), scopeCamera, &foxglove.CameraCalibration{}, false, true},
	{msgs.KindOdom.String(), scopeGlobal, &parallaxv1.Odometry{}, false, false},
	{msgs.KindPose.String(), scopeGlobal, &foxglove.PoseInFrame{}, false, false},
	{msgs.KindTF.String(), scopeGlobal, &foxglove.FrameTransform{}, false, true},
	{SuffixTFStatic, scopeStereo, &foxglove.FrameTransform{}, false, true},
	{SuffixPath, scopeGlobal, &foxglove.PosesInFrame{}, true, true},
	{msgs.KindLearnerStats.String(), scopeGlobal, &parallaxv1.LearnerStats{}, false, true},
	{msgs.KindDiagnostics.String(), scopeGlobal, &parallaxv1.Diagnostics{}, false, true},
}

// channel is one advertised topic.
type channel struct {
	ID             uint32 `json:"id"`
	Topic          string `json:"topic"`
	Encoding       string `json:"encoding"`
	SchemaName     string `json:"schemaName"`
	Schema         string `json:"schema"`
	SchemaEncoding string `json:"schemaEncoding"`

	camera  string
	large   bool
	latched bool
	subs    atomic.Int32 // Foxglove subscriptions to it, all clients

	mu        sync.Mutex
	last      []byte // latched: the last payload
	lastStamp uint64
}

// latch keeps payload as the channel's last message, when it is latched.
func (c *channel) latch(stamp uint64, payload []byte) {
	if !c.latched {
		return
	}
	c.mu.Lock()
	c.last, c.lastStamp = payload, stamp
	c.mu.Unlock()
}

func (c *channel) latest() (uint64, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastStamp, c.last
}

// channels are the channels of one rig, by id (from 1) and topic.
type channels struct {
	list    []*channel
	byTopic map[string]*channel
}

// newChannels builds the channels of rig, schemas included (base64 of the
// binary FileDescriptorSet, imports first, as MCAP recordings carry it).
func newChannels(rig *msgs.Rig) (*channels, error) {
	cs := &channels{byTopic: map[string]*channel{}}
	schemas := map[string]string{}
	add := func(topic, camera string, m proto.Message, large, latched bool) error {
		name := string(m.ProtoReflect().Descriptor().FullName())
		schema, ok := schemas[name]
		if !ok {
			b, err := proto.Marshal(msgs.FileDescriptorSet(m))
			if err != nil {
				return fmt.Errorf("viewer: schema of %s: %w", name, err)
			}
			schema = base64.StdEncoding.EncodeToString(b)
			schemas[name] = schema
		}
		c := &channel{ID: uint32(len(cs.list) + 1), Topic: topic, Encoding: "protobuf", SchemaName: name,
			Schema: schema, SchemaEncoding: "protobuf", camera: camera, large: large, latched: latched}
		cs.list = append(cs.list, c)
		cs.byTopic[topic] = c
		return nil
	}
	ns := string(rig.Namespace)
	for _, k := range channelKinds {
		var cams []string
		switch k.scope {
		case scopeGlobal:
			if err := add(ns+"."+k.suffix, "", k.msg, k.large, k.latched); err != nil {
				return nil, err
			}
			continue
		case scopeStereo:
			if rig.Left != "" && rig.Right != "" {
				if err := add(ns+"."+k.suffix, "", k.msg, k.large, k.latched); err != nil {
					return nil, err
				}
			}
			continue
		case scopeCamera:
			cams = rig.Cameras
		case scopeReference:
			cams = referenceCameras(rig)
		case scopeOpticalFlow:
			if rig.OpticalFlow {
				cams = referenceCameras(rig)
			}
		case scopeSceneFlow:
			if rig.SceneFlow {
				cams = referenceCameras(rig)
			}
		}
		for _, c := range cams {
			if err := msgs.ValidateName(c); err != nil {
				return nil, err
			}
			if err := add(msgs.RecordingTopic(ns, c, k.suffix), c, k.msg, k.large, k.latched); err != nil {
				return nil, err
			}
		}
	}
	return cs, nil
}

// byID returns the channel with id, or nil.
func (cs *channels) byID(id uint32) *channel {
	if id == 0 || int(id) > len(cs.list) {
		return nil
	}
	return cs.list[id-1]
}

// referenceCameras are the cameras whose results carry depth: every camera
// but the right one of the stereo pair.
func referenceCameras(rig *msgs.Rig) []string {
	var out []string
	for _, c := range rig.Cameras {
		if c != rig.Right || rig.Left == "" {
			out = append(out, c)
		}
	}
	return out
}
