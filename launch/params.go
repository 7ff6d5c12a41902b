package launch

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/msgs"
)

// Param describes one launch file parameter: the rows of PARAMETERS.md. The
// same table drives Parse (which keys exist, their types) and Validate
// (ranges and choices), so the documentation cannot drift from the checks.
type Param struct {
	// Name is the key path: "model.width", "cameras[].url" ("[]" marks the
	// elements of a list).
	Name string
	// Type is the value type: string, int, float, bool, duration, url, path,
	// map (a section of keys) or list (of maps).
	Type string
	// Default is the default as the file would write it; "" for none.
	Default string
	// Range says which values are accepted.
	Range string
	// Description says what the parameter does.
	Description string

	kind     kind
	camera   bool                            // under cameras[]
	def      any                             // typed default, nil for none
	ptr      func(l *Launch, c *Camera) any  // leaves: pointer to the field, nil when its section is absent
	open     func(l *Launch, c *Camera)      // sections: allocate (with defaults) when the file has them
	present  func(l *Launch, c *Camera) bool // optional sections: whether set
	enum     []string                        // accepted strings
	lo, hi   float64                         // numeric range, inclusive, when hi > lo
	zeroOK   bool                            // 0 is accepted besides [lo, hi] (meaning "unset")
	multiple int                             // ints: must be a multiple of this
	check    func(v any) error               // further value check
	required bool                            // must be given when its section is
	rosPixel bool                            // floats: a pixel coordinate written in the ROS convention (stored msgs.FromROSPixel)
	secret   bool                            // never shown
}

type kind int

const (
	kindMap kind = iota + 1
	kindList
	kindString
	kindInt
	kindFloat
	kindBool
	kindDuration
)

// Params returns the parameter table, in file order. The returned slice is
// a copy.
func Params() []Param {
	out := make([]Param, len(params))
	for i, p := range params {
		out[i] = *p
	}
	return out
}

// Choices, the single source of the enums.
var (
	transports  = []string{"tcp", "udp"}
	roles       = []string{RoleMono, RoleLeft, RoleRight}
	sizes       = []string{"small", "default"}
	natsSchemes = []string{"nats", "tls", "ws", "wss"}
	learnModes  = []string{"auto", "mono", "stereo", "both"}
	// DepthMethods are the depth methods of a stereo pair; package actors
	// registers one implementation per name (its test checks they agree).
	DepthMethods = []string{DepthMono, DepthSGBM}
)

// field makes a parameter's accessor from a typed one: it returns nil (an
// untyped nil any) when the section holding the field is absent, so
// callers can test v == nil.
func field[T any](f func(l *Launch, c *Camera) *T) func(*Launch, *Camera) any {
	return func(l *Launch, c *Camera) any {
		if p := f(l, c); p != nil {
			return p
		}
		return nil
	}
}

func intr(c *Camera) *msgs.Intrinsics { return c.Intrinsics }

var params = []*Param{
	{Name: "namespace", Type: "string", Default: "parallax", kind: kindString, def: "parallax",
		Range:       "tokens of [A-Za-z0-9_-] joined by dots, at most 128 bytes",
		Description: "NATS subject namespace: every subject starts with it (`<ns>.<camera>.depth`).",
		ptr:         field(func(l *Launch, _ *Camera) *string { return &l.Namespace }),
		check:       func(v any) error { return msgs.ValidateNamespace(*v.(*string)) }},

	{Name: "cameras", Type: "list", Range: fmt.Sprintf("1 to %d cameras, unique names", MaxCameras), kind: kindList, required: true,
		Description: "The camera streams. Roles `left` and `right` (one each) make the stereo pair."},
	{Name: "cameras[].name", Type: "string", camera: true, kind: kindString, required: true,
		Range:       "one token of [A-Za-z0-9_-], unique",
		Description: "Camera name: the `<camera>` of its subjects and the frame id of its messages.",
		ptr:         field(func(_ *Launch, c *Camera) *string { return &c.Name }),
		check:       func(v any) error { return msgs.ValidateName(*v.(*string)) }},
	{Name: "cameras[].url", Type: "url", camera: true, kind: kindString, required: true,
		Range: "rtsp://, rtsps://, synth://, mcap://, kitti://",
		Description: "Where the frames come from. rtsp(s)://[user:pass@]host[:port]/path is a live camera (the password is never printed); " +
			"synth://?key=value... the built-in synthetic camera; mcap://path and kitti://path replay recordings (relative to the launch file).",
		ptr:   field(func(_ *Launch, c *Camera) *string { return &c.URL }),
		check: func(v any) error { return checkCameraURL(*v.(*string)) }},
	{Name: "cameras[].transport", Type: "string", Default: "tcp", camera: true, kind: kindString, enum: transports,
		Range:       "tcp, udp",
		Description: "RTSP transport (rtsp:// and rtsps:// only). TCP is the default because UDP loses packets at high bitrates.",
		ptr:         field(func(_ *Launch, c *Camera) *string { return &c.Transport })},
	{Name: "cameras[].role", Type: "string", Default: RoleMono, def: RoleMono, camera: true, kind: kindString, enum: roles,
		Range:       "mono, left, right",
		Description: "Role in the rig: at most one left and one right, and a left needs a right.",
		ptr:         field(func(_ *Launch, c *Camera) *string { return &c.Role })},
	{Name: "cameras[].intrinsics", Type: "map", camera: true, kind: kindMap,
		Description: "Pinhole intrinsics inline, as camera_info K (distortion-free, i.e. rectified images). Exclusive with `calibration`.",
		open:        func(_ *Launch, c *Camera) { c.Intrinsics = &msgs.Intrinsics{} },
		present:     func(_ *Launch, c *Camera) bool { return c.Intrinsics != nil }},
	{Name: "cameras[].intrinsics.width", Type: "int", camera: true, kind: kindInt, required: true, lo: 1, hi: msgs.MaxImageSide,
		Range: fmt.Sprintf("1 to %d", msgs.MaxImageSide), Description: "Image width in pixels the intrinsics are for.",
		ptr: field(func(_ *Launch, c *Camera) *int {
			if k := intr(c); k != nil {
				return &k.Width
			}
			return nil
		})},
	{Name: "cameras[].intrinsics.height", Type: "int", camera: true, kind: kindInt, required: true, lo: 1, hi: msgs.MaxImageSide,
		Range: fmt.Sprintf("1 to %d", msgs.MaxImageSide), Description: "Image height in pixels.",
		ptr: field(func(_ *Launch, c *Camera) *int {
			if k := intr(c); k != nil {
				return &k.Height
			}
			return nil
		})},
	{Name: "cameras[].intrinsics.fx", Type: "float", camera: true, kind: kindFloat, required: true, check: positive,
		Range: "> 0", Description: "Focal length along x in pixels.",
		ptr: field(func(_ *Launch, c *Camera) *float64 {
			if k := intr(c); k != nil {
				return &k.Fx
			}
			return nil
		})},
	{Name: "cameras[].intrinsics.fy", Type: "float", camera: true, kind: kindFloat, required: true, check: positive,
		Range: "> 0", Description: "Focal length along y in pixels.",
		ptr: field(func(_ *Launch, c *Camera) *float64 {
			if k := intr(c); k != nil {
				return &k.Fy
			}
			return nil
		})},
	{Name: "cameras[].intrinsics.cx", Type: "float", camera: true, kind: kindFloat, required: true, rosPixel: true,
		Range: "finite", Description: "Principal point x in pixels, ROS/OpenCV convention (centre of the top-left pixel at 0).",
		ptr: field(func(_ *Launch, c *Camera) *float64 {
			if k := intr(c); k != nil {
				return &k.Cx
			}
			return nil
		})},
	{Name: "cameras[].intrinsics.cy", Type: "float", camera: true, kind: kindFloat, required: true, rosPixel: true,
		Range: "finite", Description: "Principal point y in pixels, ROS/OpenCV convention.",
		ptr: field(func(_ *Launch, c *Camera) *float64 {
			if k := intr(c); k != nil {
				return &k.Cy
			}
			return nil
		})},
	{Name: "cameras[].calibration", Type: "path", camera: true, kind: kindString,
		Range: "an existing calibration file (read by CheckFiles and at start-up)",
		Description: "Calibration file, relative to the launch file, in any format package calibration reads (told by content and extension): " +
			"ROS camera_info YAML, OpenCV FileStorage YAML or XML, KITTI calib_cam_to_cam.txt, Kalibr camchain. " +
			"The node undistorts and rectifies the camera's frames with it; a file of a stereo pair gives the left camera to role left (and mono) and the right to role right. " +
			"Exclusive with `intrinsics`; rtsp cameras need one of the two (or `stereo.calibration`); synth:// cameras need none, but take one when their URL renders a lens (k1=...); " +
			"kitti:// reads it as the drive's calib_cam_to_cam.txt.",
		ptr: field(func(_ *Launch, c *Camera) *string { return &c.Calibration })},
	{Name: "cameras[].camera_height", Type: "float", Default: "0", def: 0.0, camera: true, kind: kindFloat, lo: 0.05, hi: 100, zeroOK: true,
		Range: "0 (unknown) or 0.05 to 100",
		Description: "Height of a mono camera's optical centre above the ground, metres: the node recovers the metric scale of its depth from the ground plane " +
			"(diagnostics and learner stats report it) and publishes relative depth, flagged, when it sees too little ground. Mono cameras only.",
		ptr: field(func(_ *Launch, c *Camera) *float64 { return &c.CameraHeight })},
	{Name: "cameras[].fps", Type: "float", Default: "0", def: 0.0, camera: true, kind: kindFloat, lo: 0.1, hi: 1000, zeroOK: true,
		Range: "0 (not checked) or 0.1 to 1000", Description: "Expected frame rate; diagnostics warn when the stream falls behind it.",
		ptr: field(func(_ *Launch, c *Camera) *float64 { return &c.FPS })},

	{Name: "stereo", Type: "map", kind: kindMap,
		Description: "The stereo pair. Optional: cameras with roles left and right pair by themselves with these defaults.",
		open: func(l *Launch, _ *Camera) {
			l.Stereo = &Stereo{SyncTolerance: 10 * time.Millisecond, MonoAfter: time.Second}
		},
		present: func(l *Launch, _ *Camera) bool { return l.Stereo != nil }},
	{Name: "stereo.left", Type: "string", kind: kindString,
		Range: "a camera with role left", Default: "the left camera",
		Description: "Left (reference) camera of the pair.",
		ptr: field(func(l *Launch, _ *Camera) *string {
			if l.Stereo != nil {
				return &l.Stereo.Left
			}
			return nil
		})},
	{Name: "stereo.right", Type: "string", kind: kindString,
		Range: "a camera with role right", Default: "the right camera",
		Description: "Right camera of the pair.",
		ptr: field(func(l *Launch, _ *Camera) *string {
			if l.Stereo != nil {
				return &l.Stereo.Right
			}
			return nil
		})},
	{Name: "stereo.baseline", Type: "float", Default: "0", kind: kindFloat, lo: 0.005, hi: 10, zeroOK: true,
		Range:       "0 (from the right camera's calibration or synth:// URL) or 0.005 to 10",
		Description: "Distance between the optical centres in metres; needed when the right camera's intrinsics are inline.",
		ptr: field(func(l *Launch, _ *Camera) *float64 {
			if l.Stereo != nil {
				return &l.Stereo.Baseline
			}
			return nil
		})},
	{Name: "stereo.calibration", Type: "path", kind: kindString,
		Range:       "an existing calibration file (read by CheckFiles and at start-up)",
		Description: "One calibration file for the pair instead of one per camera: OpenCV's stereo layout (M1 D1 M2 D2 R T, with or without R1 R2 P1 P2), a Kalibr camchain (cam0, cam1), KITTI calib_cam_to_cam.txt (02, 03). Relative to the launch file; exclusive with the pair's `cameras[].calibration` and `intrinsics`.",
		ptr: field(func(l *Launch, _ *Camera) *string {
			if l.Stereo != nil {
				return &l.Stereo.Calibration
			}
			return nil
		})},
	{Name: "stereo.extrinsics", Type: "path", kind: kindString,
		Range:       "an existing OpenCV FileStorage file",
		Description: "A second OpenCV file read together with `stereo.calibration`: OpenCV's stereo_calib sample writes intrinsics.yml (M1 D1 M2 D2) and extrinsics.yml (R T R1 R2 P1 P2 Q).",
		ptr: field(func(l *Launch, _ *Camera) *string {
			if l.Stereo != nil {
				return &l.Stereo.Extrinsics
			}
			return nil
		})},
	{Name: "stereo.alpha", Type: "float", Default: "0", kind: kindFloat, lo: -1, hi: 1,
		Range:       "-1 (OpenCV's default) or 0 to 1",
		Description: "OpenCV stereoRectify's free scaling when the pair's calibration has extrinsics but no rectification: 0 shows only valid pixels, 1 every raw pixel (black borders). Needs a build with OpenCV.",
		ptr: field(func(l *Launch, _ *Camera) *float64 {
			if l.Stereo != nil {
				return &l.Stereo.Alpha
			}
			return nil
		})},
	{Name: "stereo.sync_tolerance", Type: "duration", Default: "10ms", kind: kindDuration, lo: 0, hi: float64(time.Second),
		Range:       "0 to 1s",
		Description: "Largest stamp difference of a left and a right frame that still pair.",
		ptr: field(func(l *Launch, _ *Camera) *time.Duration {
			if l.Stereo != nil {
				return &l.Stereo.SyncTolerance
			}
			return nil
		})},

	{Name: "stereo.mono_after", Type: "duration", Default: "1s", kind: kindDuration, lo: 0, hi: float64(time.Hour),
		Range:       "0 (never) to 1h",
		Description: "How long the right camera may be silent while the left streams before the node publishes the left camera's depth alone (monocular) instead of nothing; pairing resumes when the right camera returns, and diagnostics say which.",
		ptr: field(func(l *Launch, _ *Camera) *time.Duration {
			if l.Stereo != nil {
				return &l.Stereo.MonoAfter
			}
			return nil
		})},

	{Name: "serve", Type: "map", kind: kindMap,
		Description: "Optional: the node serves a synthetic camera over RTSP itself (the demo), for the cameras to read.",
		open:        func(l *Launch, _ *Camera) { l.Serve = &Serve{World: "synth://?stereo=1", Listen: "127.0.0.1:8554"} },
		present:     func(l *Launch, _ *Camera) bool { return l.Serve != nil }},
	{Name: "serve.world", Type: "url", Default: "synth://?stereo=1", kind: kindString,
		Range: "synth://", Description: "The synthetic world and rig; views are served on /left and /right (stereo) or /mono.",
		ptr: field(func(l *Launch, _ *Camera) *string {
			if l.Serve != nil {
				return &l.Serve.World
			}
			return nil
		}),
		check: func(v any) error { return checkSynthURL(*v.(*string)) }},
	{Name: "serve.listen", Type: "string", Default: "127.0.0.1:8554", kind: kindString,
		Range: "host:port, port 0 to 65535 (0: any free port)", Description: "Address of the RTSP server.",
		ptr: field(func(l *Launch, _ *Camera) *string {
			if l.Serve != nil {
				return &l.Serve.Listen
			}
			return nil
		}),
		check: func(v any) error { return checkListen(*v.(*string)) }},

	{Name: "model", Type: "map", kind: kindMap, Description: "The depth network."},
	{Name: "model.checkpoint", Type: "path", Default: `""`, def: "", kind: kindString,
		Range: `"" or an existing file (checked by CheckFiles)`, Description: "Weights to start from, relative to the launch file; empty: random initialisation.",
		ptr: field(func(l *Launch, _ *Camera) *string { return &l.Model.Checkpoint })},
	{Name: "model.encoder_init", Type: "path", Default: `""`, def: "", kind: kindString,
		Range: `"" or an existing file (checked by CheckFiles)`, Description: "A pre-trained encoder (parallax pretrain's checkpoint) the depth net starts from when there is no model.checkpoint, relative to the launch file; decoder and pose net start fresh.",
		ptr: field(func(l *Launch, _ *Camera) *string { return &l.Model.EncoderInit })},
	{Name: "model.width", Type: "int", Default: "320", def: 320, kind: kindInt, lo: 32, hi: 4096, multiple: 32,
		Range: "32 to 4096, a multiple of 32", Description: "Network input width; frames are resized to it.",
		ptr: field(func(l *Launch, _ *Camera) *int { return &l.Model.Width })},
	{Name: "model.height", Type: "int", Default: "96", def: 96, kind: kindInt, lo: 32, hi: 4096, multiple: 32,
		Range: "32 to 4096, a multiple of 32", Description: "Network input height.",
		ptr: field(func(l *Launch, _ *Camera) *int { return &l.Model.Height })},
	{Name: "model.min_depth", Type: "float", Default: "0.1", def: 0.1, kind: kindFloat, lo: 0.001, hi: 1000,
		Range: "0.001 to 1000, below max_depth", Description: "Nearest depth the network predicts, metres.",
		ptr: field(func(l *Launch, _ *Camera) *float64 { return &l.Model.MinDepth })},
	{Name: "model.max_depth", Type: "float", Default: "100", def: 100.0, kind: kindFloat, lo: 0.01, hi: 10000,
		Range: "0.01 to 10000, above min_depth", Description: "Farthest depth the network predicts, metres.",
		ptr: field(func(l *Launch, _ *Camera) *float64 { return &l.Model.MaxDepth })},
	{Name: "model.size", Type: "string", Default: "small", def: "small", kind: kindString, enum: sizes,
		Range: "small, default", Description: "Network size: small runs in real time on CPU; default is the full Monodepth2-like net.",
		ptr: field(func(l *Launch, _ *Camera) *string { return &l.Model.Size })},

	{Name: "depth", Type: "map", kind: kindMap, Description: "How the stereo pair's depth is made (its stream group's depth method); mono cameras always use the network."},
	{Name: "depth.method", Type: "string", Default: DepthMono, def: DepthMono, kind: kindString, enum: DepthMethods,
		Range:       "mono, sgbm",
		Description: "`mono`: the depth network on the left image. `sgbm`: OpenCV's semi-global block matching (3-way mode) on the rectified pair, at the model's input size (each view centre-cropped and resized as the network's input is), metric depth fx*baseline/disparity; pixels without a match are NaN in the 32FC1 map, never a made-up value. `sgbm` needs a stereo pair and a build with OpenCV; odometry and the learner still use the network, whose depth also serves while the right camera is missing (`stereo.mono_after`).",
		ptr:         field(func(l *Launch, _ *Camera) *string { return &l.Depth.Method })},
	{Name: "depth.sgbm", Type: "map", kind: kindMap, Description: "OpenCV StereoSGBM's parameters, for `depth.method: sgbm` (the others are OpenCV's stereo_match sample's)."},
	{Name: "depth.sgbm.num_disparities", Type: "int", Default: "64", def: 64, kind: kindInt, lo: 16, hi: 1024, multiple: 16,
		Range: "16 to 1024, a multiple of 16", Description: "Disparities searched, 0 to N-1 pixels: points nearer than fx*baseline/(N-1) are not seen, and the left N pixels of each row have no match (NaN).",
		ptr: field(func(l *Launch, _ *Camera) *int { return &l.Depth.SGBM.NumDisparities })},
	{Name: "depth.sgbm.block_size", Type: "int", Default: "5", def: 5, kind: kindInt, lo: 1, hi: 11,
		Range: "odd, 1 to 11", Description: "Side of the matched block in pixels (P1 and P2 follow it: 8*3*size², 32*3*size²).",
		ptr: field(func(l *Launch, _ *Camera) *int { return &l.Depth.SGBM.BlockSize }),
		check: func(v any) error {
			if *v.(*int)%2 == 0 {
				return fmt.Errorf("%d is even: want an odd block side", *v.(*int))
			}
			return nil
		}},
	{Name: "depth.sgbm.uniqueness", Type: "int", Default: "10", def: 10, kind: kindInt, lo: 0, hi: 100,
		Range: "0 to 100 (percent)", Description: "Margin by which the best match must beat the second best; ambiguous pixels become NaN.",
		ptr: field(func(l *Launch, _ *Camera) *int { return &l.Depth.SGBM.Uniqueness })},
	{Name: "depth.sgbm.speckle_window", Type: "int", Default: "100", def: 100, kind: kindInt, lo: 0, hi: 100000,
		Range: "0 (off) to 100000 pixels", Description: "Largest blob of disparities differing from its surroundings that is removed as noise (NaN).",
		ptr: field(func(l *Launch, _ *Camera) *int { return &l.Depth.SGBM.SpeckleWindow })},
	{Name: "depth.sgbm.speckle_range", Type: "int", Default: "2", def: 2, kind: kindInt, lo: 0, hi: 1024,
		Range: "0 to 1024 pixels", Description: "Largest disparity variation within one blob of the speckle filter.",
		ptr: field(func(l *Launch, _ *Camera) *int { return &l.Depth.SGBM.SpeckleRange })},
	{Name: "depth.sgbm.wls_lambda", Type: "float", Default: "0", def: 0.0, kind: kindFloat, lo: 0, hi: 1e6,
		Range: "0 (off) to 1e6", Description: "Filter the disparity with OpenCV ximgproc's weighted-least-squares filter guided by the left image (8000 is usual): it fills most holes with smoothed values, so far fewer pixels are NaN. Costs a second (right-view) matching.",
		ptr: field(func(l *Launch, _ *Camera) *float64 { return &l.Depth.SGBM.WLSLambda })},
	{Name: "depth.sgbm.wls_sigma", Type: "float", Default: "1.5", def: 1.5, kind: kindFloat, lo: 0.01, hi: 100,
		Range: "0.01 to 100", Description: "The WLS filter's colour sensitivity (0.8 to 2 usual).",
		ptr: field(func(l *Launch, _ *Camera) *float64 { return &l.Depth.SGBM.WLSSigma })},

	{Name: "device", Type: "string", Default: "auto", def: "auto", kind: kindString,
		Range: "auto, cpu, cuda, cuda:N", Description: "Where the networks run; auto picks the first CUDA device when there is one.",
		ptr:   field(func(l *Launch, _ *Camera) *string { return &l.Device }),
		check: checkDevice},

	{Name: "topics", Type: "map", kind: kindMap, Description: "What is published."},
	{Name: "topics.depth", Type: "bool", Default: "true", def: true, kind: kindBool,
		Range: "true, false", Description: "Publish `<ns>.<camera>.depth` (foxglove.RawImage 32FC1, metres).",
		ptr: field(func(l *Launch, _ *Camera) *bool { return &l.Topics.Depth })},
	{Name: "topics.image", Type: "bool", Default: "false", def: false, kind: kindBool,
		Range: "true, false", Description: "Publish JPEG previews on `<ns>.<camera>.image` for viewers.",
		ptr: field(func(l *Launch, _ *Camera) *bool { return &l.Topics.Image })},
	{Name: "topics.image_rate", Type: "float", Default: "2", def: 2.0, kind: kindFloat, lo: 0.01, hi: 60,
		Range: "0.01 to 60", Description: "Previews a second and camera.",
		ptr: field(func(l *Launch, _ *Camera) *float64 { return &l.Topics.ImageRate })},
	{Name: "topics.odom", Type: "bool", Default: "true", def: true, kind: kindBool,
		Range: "true, false", Description: "Publish `<ns>.odom`, `<ns>.pose` and `<ns>.tf`.",
		ptr: field(func(l *Launch, _ *Camera) *bool { return &l.Topics.Odom })},
	{Name: "topics.scene_flow", Type: "bool", Default: "false", def: false, kind: kindBool,
		Range: "true, false", Description: "Publish `<ns>.<camera>.scene_flow` (parallax.v1.SceneFlow, metres, camera-relative): derived from the flow network's optical flow and the depth maps of consecutive frames, not a scene-flow network. Needs a flow network, as topics.optical_flow.",
		ptr: field(func(l *Launch, _ *Camera) *bool { return &l.Topics.SceneFlow })},
	{Name: "topics.optical_flow", Type: "bool", Default: "false", def: false, kind: kindBool,
		Range: "true, false", Description: "Publish `<ns>.<camera>.optical_flow` (parallax.v1.OpticalFlow, pixels, from the previous frame) and a colour-wheel preview `<ns>.<camera>.optical_flow_image` (foxglove.RawImage rgb8). Needs a flow network: a random-init model gets one, a checkpoint must have one.",
		ptr: field(func(l *Launch, _ *Camera) *bool { return &l.Topics.OpticalFlow })},

	{Name: "nats", Type: "map", kind: kindMap, Description: "The NATS connection."},
	{Name: "nats.url", Type: "url", Default: `""`, def: "", kind: kindString,
		Range:       `"" or nats://, tls://, ws://, wss:// URLs, comma-separated`,
		Description: "External server(s), credentials allowed (nats://user:pass@host:4222; never printed); empty: run an embedded server.",
		ptr:         field(func(l *Launch, _ *Camera) *string { return &l.NATS.URL }),
		check:       func(v any) error { return checkNATSURL(*v.(*string)) }},
	{Name: "nats.embedded", Type: "map", kind: kindMap, Description: "The embedded server, used when `url` is empty.",
		present: func(l *Launch, _ *Camera) bool { return l.NATS.URL == "" }},
	{Name: "nats.embedded.listen", Type: "string", Default: "127.0.0.1:4222", def: "127.0.0.1:4222", kind: kindString,
		Range: "host:port, port 0 to 65535 (0: any free port)", Description: "Address of the embedded server. It has no authentication: keep it on 127.0.0.1 unless the network is trusted.",
		ptr:   field(func(l *Launch, _ *Camera) *string { return &l.NATS.Embedded.Listen }),
		check: func(v any) error { return checkListen(*v.(*string)) }},
	{Name: "nats.credentials", Type: "path", Default: `""`, def: "", kind: kindString,
		Range: "an existing file", Description: "NATS .creds file (user JWT and nkey seed). At most one of credentials, token, nkey_file and a password in url.",
		ptr: field(func(l *Launch, _ *Camera) *string { return &l.NATS.Credentials })},
	{Name: "nats.token", Type: "string", Default: `""`, def: "", kind: kindString, secret: true,
		Range: "any", Description: "Authentication token (a secret: never printed).",
		ptr: field(func(l *Launch, _ *Camera) *string { return &l.NATS.Token })},
	{Name: "nats.nkey_file", Type: "path", Default: `""`, def: "", kind: kindString,
		Range: "an existing file", Description: "File holding an nkey seed.",
		ptr: field(func(l *Launch, _ *Camera) *string { return &l.NATS.NkeyFile })},
	{Name: "nats.tls", Type: "map", kind: kindMap, Description: "TLS client files, for tls:// servers or servers that require TLS.",
		open:    func(l *Launch, _ *Camera) { l.NATS.TLS = &TLS{} },
		present: func(l *Launch, _ *Camera) bool { return l.NATS.TLS != nil }},
	{Name: "nats.tls.cert", Type: "path", kind: kindString,
		Range: "an existing PEM file; with key", Description: "Client certificate.",
		ptr: field(func(l *Launch, _ *Camera) *string {
			if l.NATS.TLS != nil {
				return &l.NATS.TLS.Cert
			}
			return nil
		})},
	{Name: "nats.tls.key", Type: "path", kind: kindString,
		Range: "an existing PEM file; with cert", Description: "Client certificate's private key.",
		ptr: field(func(l *Launch, _ *Camera) *string {
			if l.NATS.TLS != nil {
				return &l.NATS.TLS.Key
			}
			return nil
		})},
	{Name: "nats.tls.ca", Type: "path", kind: kindString,
		Range: "an existing PEM file", Description: "CA bundle for the server's certificate; empty: the system roots.",
		ptr: field(func(l *Launch, _ *Camera) *string {
			if l.NATS.TLS != nil {
				return &l.NATS.TLS.CA
			}
			return nil
		})},

	{Name: "learner", Type: "map", kind: kindMap, Description: "Online adaptation (self-supervised training while serving)."},
	{Name: "learner.adapt", Type: "bool", Default: "true", def: true, kind: kindBool,
		Range: "true, false", Description: "Keep training the networks on the incoming video.",
		ptr: field(func(l *Launch, _ *Camera) *bool { return &l.Learner.Adapt })},
	{Name: "learner.steps_per_s", Type: "float", Default: "1", def: 1.0, kind: kindFloat, lo: 0.01, hi: 1000,
		Range: "0.01 to 1000", Description: "Most optimisation steps a second: the compute budget of adaptation.",
		ptr: field(func(l *Launch, _ *Camera) *float64 { return &l.Learner.StepsPerS })},
	{Name: "learner.compute_share", Type: "float", Default: "0.5", def: 0.5, kind: kindFloat, lo: 0.01, hi: 1,
		Range: "0.01 to 1", Description: "Most share of wall time spent in optimisation steps (the learner rests step time x (1-share)/share after each); inference has its own thread and priority.",
		ptr: field(func(l *Launch, _ *Camera) *float64 { return &l.Learner.ComputeShare })},
	{Name: "learner.nice", Type: "int", Default: "10", def: 10, kind: kindInt, lo: 0, hi: 19,
		Range: "0 to 19", Description: "Linux nice value of the learner's torch thread: at 10 it gets about a tenth of a nice-0 thread's share of a contended core, so inference and the rest of the robot come first and the learner uses what is left; 0 lets it compete as an equal (a computer that has nothing else to do, or one so loaded that the learner would starve).",
		ptr: field(func(l *Launch, _ *Camera) *int { return &l.Learner.Nice })},
	{Name: "learner.mode", Type: "string", Default: "auto", def: "auto", kind: kindString, enum: learnModes,
		Range: "auto, mono, stereo, both", Description: "Training signal: stereo (the pair's known baseline, metric scale), mono (frame triplets), both; auto is stereo with a stereo pair, else mono.",
		ptr: field(func(l *Launch, _ *Camera) *string { return &l.Learner.Mode })},
	{Name: "learner.lr", Type: "float", Default: "5e-05", def: 5e-5, kind: kindFloat, lo: 1e-7, hi: 0.1,
		Range: "1e-7 to 0.1", Description: "Learning rate (Adam); the drift guard scales it down after a rollback.",
		ptr: field(func(l *Launch, _ *Camera) *float64 { return &l.Learner.LR })},
	{Name: "learner.buffer", Type: "int", Default: "32", def: 32, kind: kindInt, lo: 2, hi: 4096,
		Range: "2 to 4096", Description: "Replay buffer capacity in training tuples: half the most recent, half a uniform sample of the whole drive (each tuple holds up to 4 frames).",
		ptr: field(func(l *Launch, _ *Camera) *int { return &l.Learner.Buffer })},
	{Name: "learner.replay", Type: "int", Default: "3", def: 3, kind: kindInt, lo: 0, hi: 63,
		Range: "0 to 63, below buffer", Description: "Replayed tuples mixed with the fresh one in each step (CoMoDA); the batch is replay+1.",
		ptr: field(func(l *Launch, _ *Camera) *int { return &l.Learner.Replay })},
	{Name: "learner.hand_over_every", Type: "int", Default: "8", def: 8, kind: kindInt, lo: 1, hi: 100000,
		Range: "1 to 100000", Description: "Steps between weight hand-overs to perception (only weights that passed a drift check are handed over).",
		ptr: field(func(l *Launch, _ *Camera) *int { return &l.Learner.HandOverEvery })},
	{Name: "learner.check_every", Type: "int", Default: "8", def: 8, kind: kindInt, lo: 1, hi: 100000,
		Range: "1 to 100000", Description: "Steps between drift checks (held-out photometric error, current against last good weights).",
		ptr: field(func(l *Launch, _ *Camera) *int { return &l.Learner.CheckEvery })},
	{Name: "learner.min_translation", Type: "float", Default: "0.05", def: 0.05, kind: kindFloat, lo: 0, hi: 100,
		Range: "0 to 100", Description: "Translation gate, metres: tuples whose previous and next frames are closer than this (by the pose network) are not trained on, so a parked robot leaves the weights untouched. Used in the modes that train the pose network (mono, both); 0 turns it off.",
		ptr: field(func(l *Launch, _ *Camera) *float64 { return &l.Learner.MinTranslation })},
	{Name: "learner.min_pixel_change", Type: "float", Default: "1.5", def: 1.5, kind: kindFloat, lo: 0.01, hi: 255,
		Range: "0.01 to 255", Description: "Image gate, grey levels: tuples whose previous and next frames' 8x8 block means differ by less than this on average are not trained on (a frozen, black or parked camera; block means average sensor noise away).",
		ptr: field(func(l *Launch, _ *Camera) *float64 { return &l.Learner.MinPixelChange })},
	{Name: "learner.drift_threshold", Type: "float", Default: "0.05", def: 0.05, kind: kindFloat, lo: 0.001, hi: 10,
		Range: "0.001 to 10", Description: "Relative rise of the held-out photometric error (current against last good weights) that rolls back to the last good weights and halves the learning rate.",
		ptr: field(func(l *Launch, _ *Camera) *float64 { return &l.Learner.DriftThreshold })},
	{Name: "learner.anomaly_threshold", Type: "float", Default: "1", def: 1.0, kind: kindFloat, lo: 0.01, hi: 100,
		Range: "0.01 to 100", Description: "A fresh tuple whose photometric error exceeds its running mean by this share (1: twice the mean) is not trained on (noise, a covered lens), until 20 in a row make it the new normal.",
		ptr: field(func(l *Launch, _ *Camera) *float64 { return &l.Learner.AnomalyThreshold })},
	{Name: "learner.partial", Type: "bool", Default: "false", def: false, kind: kindBool,
		Range: "true, false", Description: "Train only the depth decoder and disparity heads (MAD-style partial adaptation); the encoder and pose network keep their weights.",
		ptr: field(func(l *Launch, _ *Camera) *bool { return &l.Learner.Partial })},
	{Name: "learner.checkpoint", Type: "path", Default: `""`, def: "", kind: kindString,
		Range: `"" or a file path in an existing folder`, Description: "Where the learner saves weights and optimiser state (atomically), and what the node starts from when the file exists (before model.checkpoint); empty: nothing is saved.",
		ptr: field(func(l *Launch, _ *Camera) *string { return &l.Learner.Checkpoint })},
	{Name: "learner.checkpoint_every", Type: "duration", Default: "1m0s", def: time.Minute, kind: kindDuration, lo: float64(time.Second), hi: float64(24 * time.Hour),
		Range: "1s to 24h", Description: "Time between periodic checkpoints; one is also written on shutdown.",
		ptr: field(func(l *Launch, _ *Camera) *time.Duration { return &l.Learner.CheckpointEvery })},

	{Name: "fleet", Type: "map", kind: kindMap,
		Description: "Optional: follow a model family of the fleet's JetStream registry (needs nats.url with JetStream, and learner.adapt: the candidate is validated on the learner's held-out frames).",
		open: func(l *Launch, _ *Camera) {
			l.Fleet = &Fleet{Bucket: "parallax-models", Poll: 10 * time.Second, Budget: 512 << 10}
		},
		present: func(l *Launch, _ *Camera) bool { return l.Fleet != nil }},
	{Name: "fleet.model", Type: "string", kind: kindString, required: true,
		Range: "1 to 64 of a-z 0-9 _ -, starting with a letter or digit", Description: "The model family followed: each version promoted to it (parallax model promote) is pulled, validated on this node's held-out frames, and served when not worse; a worse one is refused and reported on diagnostics.",
		ptr: field(func(l *Launch, _ *Camera) *string {
			if l.Fleet != nil {
				return &l.Fleet.Model
			}
			return nil
		}),
		check: func(v any) error { return checkFamily(*v.(*string)) }},
	{Name: "fleet.bucket", Type: "string", Default: "parallax-models", kind: kindString,
		Range: "1 to 64 of A-Z a-z 0-9 _ -", Description: "The registry's JetStream Object Store and KeyValue bucket.",
		ptr: field(func(l *Launch, _ *Camera) *string {
			if l.Fleet != nil {
				return &l.Fleet.Bucket
			}
			return nil
		}),
		check: func(v any) error { return checkBucket(*v.(*string)) }},
	{Name: "fleet.tolerance", Type: "float", Default: "0", kind: kindFloat, lo: 0, hi: 1,
		Range: "0 to 1", Description: "How much higher (relatively) a candidate's held-out photometric error may be than the served weights' and still be served; 0: never worse.",
		ptr: field(func(l *Launch, _ *Camera) *float64 {
			if l.Fleet != nil {
				return &l.Fleet.Tolerance
			}
			return nil
		})},
	{Name: "fleet.poll", Type: "duration", Default: "10s", kind: kindDuration, lo: float64(100 * time.Millisecond), hi: float64(time.Hour),
		Range: "100ms to 1h", Description: "How often the family's pointer is also read directly, under the watch (and a missing registry retried).",
		ptr: field(func(l *Launch, _ *Camera) *time.Duration {
			if l.Fleet != nil {
				return &l.Fleet.Poll
			}
			return nil
		})},
	{Name: "fleet.upload", Type: "bool", Default: "false", kind: kindBool,
		Range: "true, false", Description: "Publish the learner's replay-buffer picks (frames as PNG, intrinsics, baseline, pose when known) to the JetStream stream FLEET_SAMPLES on fleet.samples.<fleet.robot>, within fleet.budget, for `parallax fleet-train`; picks over the budget are dropped, never queued.",
		ptr: field(func(l *Launch, _ *Camera) *bool {
			if l.Fleet != nil {
				return &l.Fleet.Upload
			}
			return nil
		})},
	{Name: "fleet.robot", Type: "string", Default: `""`, kind: kindString,
		Range: `"" or 1 to 64 of a-z 0-9 _ -, starting with a letter or digit`, Description: "This robot's name on the fleet's subjects (fleet.samples.<robot>, fleet.deltas.<robot>: what its NATS account may publish); required with fleet.upload or fleet.delta_every.",
		ptr: field(func(l *Launch, _ *Camera) *string {
			if l.Fleet != nil {
				return &l.Fleet.Robot
			}
			return nil
		}),
		check: func(v any) error {
			if s := *v.(*string); s != "" {
				return checkFamily(s)
			}
			return nil
		}},
	{Name: "fleet.budget", Type: "int", Default: "524288", kind: kindInt, lo: 1024, hi: 1 << 30,
		Range: "1024 to 1073741824", Description: "Upload budget in bytes a second (a token bucket with one second of burst).",
		ptr: field(func(l *Launch, _ *Camera) *int {
			if l.Fleet != nil {
				return &l.Fleet.Budget
			}
			return nil
		})},
	{Name: "fleet.delta_every", Type: "duration", Default: "0s", kind: kindDuration, lo: 0, hi: float64(24 * time.Hour),
		Range: "0 (off), or up to 24h", Description: "Federated option: publish the learner's weight delta (its weights minus the fleet version it started from, with the samples behind it) on fleet.deltas.<fleet.robot> this often; `parallax fleet-train --fedavg` averages them. 0: off.",
		ptr: field(func(l *Launch, _ *Camera) *time.Duration {
			if l.Fleet != nil {
				return &l.Fleet.DeltaEvery
			}
			return nil
		})},
	{Name: "viewer", Type: "map", kind: kindMap,
		Description: "Optional: the built-in viewer, a Foxglove WebSocket server, a web page, `/metrics` and `/healthz` on one listener (package viewer). Absent: no viewer (`parallax run --viewer-listen ADDR` turns it on); the demo has one.",
		open: func(l *Launch, _ *Camera) {
			l.Viewer = &Viewer{Listen: "127.0.0.1:8765", CloudStep: 4, ImageRate: 10}
		},
		present: func(l *Launch, _ *Camera) bool { return l.Viewer != nil }},
	{Name: "viewer.listen", Type: "string", Default: "127.0.0.1:8765", kind: kindString,
		Range:       "host:port, port 0 to 65535 (0: any free port)",
		Description: "Address of the viewer: open `http://ADDR/` in a browser, `ws://ADDR` in Foxglove Studio. Beyond loopback `viewer.tls` and `viewer.token` are required.",
		ptr: field(func(l *Launch, _ *Camera) *string {
			if l.Viewer != nil {
				return &l.Viewer.Listen
			}
			return nil
		}),
		check: func(v any) error { return checkListen(*v.(*string)) }},
	{Name: "viewer.token", Type: "string", Default: `""`, kind: kindString, secret: true,
		Range:       "any (a secret: never printed)",
		Description: "Token every client must give, as `?token=TOKEN` in the URL (Foxglove Studio, a browser) or an `Authorization: Bearer TOKEN` header (Prometheus); `/healthz` needs none.",
		ptr: field(func(l *Launch, _ *Camera) *string {
			if l.Viewer != nil {
				return &l.Viewer.Token
			}
			return nil
		})},
	{Name: "viewer.tls", Type: "map", kind: kindMap, Description: "The viewer's TLS certificate and key: it then serves https and wss only.",
		open: func(l *Launch, _ *Camera) {
			if l.Viewer != nil {
				l.Viewer.TLS = &ServerTLS{}
			}
		},
		present: func(l *Launch, _ *Camera) bool { return l.Viewer != nil && l.Viewer.TLS != nil }},
	{Name: "viewer.tls.cert", Type: "path", kind: kindString, required: true,
		Range: "an existing PEM file", Description: "Server certificate (with its chain).",
		ptr: field(func(l *Launch, _ *Camera) *string {
			if l.Viewer != nil && l.Viewer.TLS != nil {
				return &l.Viewer.TLS.Cert
			}
			return nil
		})},
	{Name: "viewer.tls.key", Type: "path", kind: kindString, required: true,
		Range: "an existing PEM file", Description: "Server certificate's private key.",
		ptr: field(func(l *Launch, _ *Camera) *string {
			if l.Viewer != nil && l.Viewer.TLS != nil {
				return &l.Viewer.TLS.Key
			}
			return nil
		})},
	{Name: "viewer.depth_min", Type: "float", Default: "0", kind: kindFloat, lo: 0.001, hi: 10000, zeroOK: true,
		Range:       "0 (automatic) or 0.001 to 10000, below depth_max",
		Description: "Nearest depth of the colour range of the viewer's depth images (Turbo over inverse depth: near red, far blue), metres; 0 with depth_max 0: each map's 2nd to 98th percentile, smoothed.",
		ptr: field(func(l *Launch, _ *Camera) *float64 {
			if l.Viewer != nil {
				return &l.Viewer.DepthMin
			}
			return nil
		})},
	{Name: "viewer.depth_max", Type: "float", Default: "0", kind: kindFloat, lo: 0.001, hi: 10000, zeroOK: true,
		Range: "0 (automatic) or 0.001 to 10000, above depth_min", Description: "Farthest depth of the colour range, metres.",
		ptr: field(func(l *Launch, _ *Camera) *float64 {
			if l.Viewer != nil {
				return &l.Viewer.DepthMax
			}
			return nil
		})},
	{Name: "viewer.cloud_step", Type: "int", Default: "4", kind: kindInt, lo: 1, hi: 64,
		Range: "1 to 64", Description: "Point cloud subsampling: every n-th depth pixel in x and y becomes a point.",
		ptr: field(func(l *Launch, _ *Camera) *int {
			if l.Viewer != nil {
				return &l.Viewer.CloudStep
			}
			return nil
		})},
	{Name: "viewer.image_rate", Type: "float", Default: "10", kind: kindFloat, lo: 0.1, hi: 120,
		Range: "0.1 to 120", Description: "Camera previews (JPEG) a second and camera the viewer encodes, when a client looks.",
		ptr: field(func(l *Launch, _ *Camera) *float64 {
			if l.Viewer != nil {
				return &l.Viewer.ImageRate
			}
			return nil
		})},
}

// byName indexes params; children lists each section's params in order.
var (
	byName   = map[string]*Param{}
	children = map[string][]*Param{}
)

func init() {
	for _, p := range params {
		byName[p.Name] = p
		parent := ""
		if i := strings.LastIndexByte(p.Name, '.'); i >= 0 {
			parent = p.Name[:i]
		}
		children[parent] = append(children[parent], p)
		if p.kind == kindMap || p.kind == kindList {
			p.Type = map[kind]string{kindMap: "map", kindList: "list"}[p.kind]
		}
	}
}

func setValue(ptr, v any) {
	switch p := ptr.(type) {
	case *string:
		*p = v.(string)
	case *int:
		*p = v.(int)
	case *float64:
		*p = v.(float64)
	case *bool:
		*p = v.(bool)
	case *time.Duration:
		*p = v.(time.Duration)
	}
}

// fromFile converts a float as the file writes it to the stored value
// (msgs.FromROSPixel for a principal point), toFile back.
func (p *Param) fromFile(f float64) float64 {
	if p.rosPixel {
		return msgs.FromROSPixel(f)
	}
	return f
}

func (p *Param) toFile(f float64) float64 {
	if p.rosPixel {
		return msgs.ToROSPixel(f)
	}
	return f
}

func positive(v any) error {
	if f := *v.(*float64); !(f > 0) {
		return fmt.Errorf("%v is not > 0", f)
	}
	return nil
}

func checkDevice(v any) error {
	d := *v.(*string)
	switch d {
	case "auto", "cpu", "cuda":
		return nil
	}
	if n, ok := strings.CutPrefix(d, "cuda:"); ok {
		if i, err := strconv.Atoi(n); err == nil && i >= 0 && i < 64 && strconv.Itoa(i) == n {
			return nil
		}
	}
	return fmt.Errorf("%q is not one of auto, cpu, cuda, cuda:N", d)
}

// checkListen checks a host:port listen address.
func checkListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not 0 to 65535", s, port)
	}
	if strings.ContainsAny(host, " \t/") {
		return fmt.Errorf("%q: host %q is not a host name or address", s, host)
	}
	return nil
}

// parseURL parses u without ever putting it (and its credentials) into the
// error.
func parseURL(u string) (*url.URL, error) {
	p, err := url.Parse(u)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("%s does not parse: %v", quoteURL(u), redactErr(ue.Err, u))
		}
		return nil, fmt.Errorf("%s does not parse", quoteURL(u))
	}
	return p, nil
}

// redactErr returns err's text with anything that looks like u's userinfo
// removed (url.Parse errors can quote parts of the URL, e.g. a bad port).
func redactErr(err error, u string) string {
	s := err.Error()
	if i := strings.LastIndex(u, "@"); i >= 0 {
		info := u[:i]
		if j := strings.Index(info, "://"); j >= 0 {
			info = info[j+3:]
		}
		if info != "" {
			s = strings.ReplaceAll(s, info, "xxxxx")
			for _, part := range strings.Split(info, ":") {
				if len(part) > 2 {
					s = strings.ReplaceAll(s, part, "xxxxx")
				}
			}
		}
	}
	return s
}

// checkCameraURL checks a camera URL with its scheme's driver
// (camera.Check): the registry knows every scheme there is.
func checkCameraURL(u string) error {
	if u == "" {
		return errors.New("empty")
	}
	_, err := camera.Check(u)
	return launchError(err)
}

// launchError drops the camera package's prefixes: the launch loader
// already says which key of which line it is about.
func launchError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, p := range []string{camera.ErrScheme.Error() + ": ", "camera: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return errors.New(msg)
}

// checkSynthURL checks serve.world: a synth:// URL its driver accepts.
func checkSynthURL(u string) error {
	if scheme(u) != "synth" {
		return fmt.Errorf("%s is not a synth:// URL", quoteURL(u))
	}
	return checkCameraURL(u)
}

func checkNATSURL(s string) error {
	if s == "" {
		return nil
	}
	for _, u := range strings.Split(s, ",") {
		u = strings.TrimSpace(u)
		p, err := parseURL(u)
		if err != nil {
			return err
		}
		if !oneOf(strings.ToLower(p.Scheme), natsSchemes) {
			if p.Scheme == "" {
				return fmt.Errorf("%s has no scheme: want one of %s", quoteNATS(u), strings.Join(natsSchemes, ", "))
			}
			return fmt.Errorf("scheme %q is not one of %s", p.Scheme, strings.Join(natsSchemes, ", "))
		}
		if p.Hostname() == "" {
			return fmt.Errorf("%s has no host", quoteNATS(u))
		}
		if port := p.Port(); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("%s: port %q is not 1 to 65535", quoteNATS(u), port)
			}
		}
	}
	return nil
}

func oneOf(s string, set []string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

// WriteMarkdown writes the parameter table as Markdown: the text of
// PARAMETERS.md.
func WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# Launch file parameters\n\n")
	b.WriteString("Generated from `launch.Params()` by `go test ./launch -run TestParametersDoc -update`; do not edit.\n")
	b.WriteString("Keys are snake_case; `cameras[]` are the elements of the cameras list. Types: `url` and `path` are strings;\n")
	b.WriteString("a relative `path` is relative to the launch file's folder; a `duration` is written like `10ms` or `1.5s`.\n")
	b.WriteString("A key left out (or given as `~`) keeps its default.\n\n")
	b.WriteString("| parameter | type | default | range | description |\n|---|---|---|---|---|\n")
	for _, p := range params {
		def := p.Default
		if def == "" {
			def = "–"
		}
		if p.required {
			def = "required"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", p.Name, p.Type, mdCell(def), mdCell(p.Range), mdCell(p.Description))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

var (
	familyRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	bucketRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// checkFamily checks a fleet model family name (the fleet package's rule;
// launch imports no sibling, so it is written here too).
func checkFamily(s string) error {
	if !familyRe.MatchString(s) {
		return fmt.Errorf("%q is not a family name (1 to 64 of a-z 0-9 _ -, starting with a letter or digit)", s)
	}
	return nil
}

func checkBucket(s string) error {
	if !bucketRe.MatchString(s) {
		return fmt.Errorf("%q is not a bucket name (1 to 64 of A-Z a-z 0-9 _ -)", s)
	}
	return nil
}
