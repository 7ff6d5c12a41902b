package launch

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/parallax-robotics/parallax/msgs"
)

// Limits that keep a launch file (or a fuzzer's input) from asking for
// absurd resources.
const (
	// MaxCameras is the most cameras one node reads.
	MaxCameras = 64
	// MaxFileSize is the largest launch file Load reads, in bytes.
	MaxFileSize = 1 << 20
)

// Camera roles.
const (
	// RoleMono is a camera used on its own.
	RoleMono = "mono"
	// RoleLeft is the left (reference) camera of the stereo pair.
	RoleLeft = "left"
	// RoleRight is the right camera of the stereo pair.
	RoleRight = "right"
)

// Launch is a parsed launch file. Defaults returns one with every default
// filled; Parse starts from Defaults and applies the file.
type Launch struct {
	// Namespace is the NATS subject namespace: tokens of [A-Za-z0-9_-]
	// separated by dots (msgs.ValidateNamespace).
	// It defaults to "parallax".
	Namespace string
	// Cameras are the camera streams, 1 to MaxCameras, with unique names.
	Cameras []Camera
	// Stereo pairs the left and right cameras. Parse fills it when the
	// cameras have left and right roles and the file has no stereo section;
	// nil when there is no pair.
	Stereo *Stereo
	// Serve, when set, makes the node serve a synthetic camera over RTSP
	// itself, for the cameras to read (the demo). It defaults to nil.
	Serve *Serve
	// Model is the depth network.
	Model Model
	// Depth says how the stereo pair's depth is made.
	Depth Depth
	// Device is where the networks run: "auto", "cpu", "cuda" or "cuda:N".
	// It defaults to "auto" (the first CUDA device if there is one, else cpu).
	Device string
	// Topics says what is published.
	Topics Topics
	// NATS says where it is published.
	NATS NATS
	// Learner configures online adaptation.
	Learner Learner
	// Fleet, when set, makes the node follow a model family of the fleet's
	// registry (see package fleet). It defaults to nil.
	Fleet *Fleet
	// Viewer, when set, serves the built-in viewer (package viewer): a
	// Foxglove WebSocket server, a web page, /metrics and /healthz on one
	// listener. It defaults to nil: no viewer (the demo's file has one).
	Viewer *Viewer

	// Dir is the folder relative paths are resolved against (see Resolve):
	// Parse sets it to the folder of the file name it is given.
	Dir string

	file  string         // the name given to Parse, for errors
	lines map[string]int // key path -> line, from Parse
}

// Camera is one camera stream.
type Camera struct {
	// Name is the camera's name, one NATS subject token ("left", "front").
	Name string
	// URL is where the frames come from: rtsp:// or rtsps:// (credentials
	// allowed: rtsp://user:pass@host/path), synth:// (the built-in synthetic
	// camera, keys as in camera/synth.ParseURL), mcap://path or kitti://path
	// (recordings; a relative path is relative to Dir).
	URL string
	// Transport is the RTSP transport, "tcp" or "udp"; rtsp:// and rtsps://
	// only. It defaults to "tcp" for those and "" for the others.
	Transport string
	// Role is RoleMono, RoleLeft or RoleRight. It defaults to RoleMono.
	Role string
	// Intrinsics is the pinhole model given inline, in the msgs convention
	// (the centre of pixel (0,0) is at (0.5, 0.5)); the file writes cx and cy
	// in the ROS/OpenCV convention (centre at (0, 0)) as camera_info K does,
	// so Parse converts them (msgs.FromROSPixel). Nil when not given.
	Intrinsics *msgs.Intrinsics
	// Calibration is a calibration file in any format package calibration
	// reads (ROS camera_info YAML, OpenCV FileStorage YAML or XML, KITTI
	// calib_cam_to_cam.txt, Kalibr camchain), relative to Dir unless
	// absolute; Calibrations reads it. At most one of Intrinsics and
	// Calibration is set; rtsp:// cameras need one (or the pair's
	// stereo.calibration), synth:// none (one rectifies a lens its URL
	// renders). It defaults to "".
	Calibration string
	// CameraHeight is a mono camera's height above the ground in metres,
	// for the metric scale of its depth (calibration.GroundScale). It
	// defaults to 0: unknown, depth stays relative.
	CameraHeight float64
	// FPS is the expected frame rate, for diagnostics. It defaults to 0:
	// not checked.
	FPS float64
}

// Stereo is the stereo pair.
type Stereo struct {
	// Left and Right name the cameras with roles left and right.
	Left, Right string
	// Baseline is the distance between the two optical centres in metres.
	// It defaults to 0: taken from the right camera's calibration file or
	// synth:// URL; a right camera with inline intrinsics needs it.
	Baseline float64
	// MonoAfter is how long the right camera may be silent while the left
	// one streams before the node publishes the left camera's depth alone
	// (monocular, from the left image) rather than nothing; pairing resumes
	// when the right camera is back. It defaults to 1 s; 0 never degrades.
	MonoAfter time.Duration
	// SyncTolerance is the largest stamp difference of a left and a right
	// frame that still pair. It defaults to 10 ms.
	SyncTolerance time.Duration
	// Calibration is one calibration file for the pair (a stereo layout:
	// OpenCV's M1 D1 M2 D2 R T, Kalibr, KITTI), relative to Dir, instead
	// of one per camera. It defaults to "".
	Calibration string
	// Extrinsics is a second OpenCV FileStorage file read with Calibration
	// (stereo_calib's extrinsics.yml beside its intrinsics.yml). It
	// defaults to "".
	Extrinsics string
	// Alpha is stereoRectify's free scaling when the calibration has no
	// rectification: 0 keeps valid pixels only, 1 all. It defaults to 0.
	Alpha float64
}

// Serve is a synthetic camera the node serves over RTSP itself.
type Serve struct {
	// World is the synthetic world and rig, a synth:// URL.
	// It defaults to "synth://?stereo=1".
	World string
	// Listen is the RTSP server's address, host:port (port 0: any free one).
	// It defaults to "127.0.0.1:8554".
	Listen string
}

// Fleet is the node's model family in the fleet's registry: every new
// current version is validated on the node's own held-out frames and
// served only when it is not worse than what the node serves.
type Fleet struct {
	// Model is the model family followed. It is required.
	Model string
	// Bucket is the registry's JetStream bucket.
	// It defaults to "parallax-models".
	Bucket string
	// Tolerance is how much higher (relatively) a candidate's held-out
	// error may be than the current weights' and still be served.
	// It defaults to 0.
	Tolerance float64
	// Poll is how often the pointer is also read directly, under the
	// watch. It defaults to 10 seconds.
	Poll time.Duration
	// Upload publishes the learner's replay-buffer picks to the fleet's
	// samples stream (fleet.samples.<Robot>) for off-board training. It
	// defaults to false.
	Upload bool
	// Robot names this robot on the fleet's subjects; required with
	// Upload or DeltaEvery.
	Robot string
	// Budget is the upload budget in bytes a second. It defaults to
	// 524288 (512 KiB/s).
	Budget int
	// DeltaEvery, when above 0, publishes the learner's weight delta from
	// the fleet version it started from this often (the federated option:
	// no frame leaves the robot). It defaults to 0 (off).
	DeltaEvery time.Duration
}

// Model is the depth network.
type Model struct {
	// Checkpoint is a weights file, relative to Dir unless absolute.
	// It defaults to "": random initialisation.
	Checkpoint string
	// EncoderInit is a checkpoint (parallax pretrain's, or a depth one of
	// the same size) whose encoder the depth net starts from when the node
	// starts from random initialisation (no checkpoint); decoder and pose
	// net stay fresh. Relative to Dir unless absolute. It defaults to "".
	EncoderInit string
	// Width and Height are the network's input size, multiples of 32.
	// They default to 320 and 96.
	Width, Height int
	// MinDepth and MaxDepth bound the predicted depth in metres.
	// They default to 0.1 and 100.
	MinDepth, MaxDepth float64
	// Size is the network size, "small" or "default". It defaults to "small".
	Size string
}

// Depth says how the stereo pair's depth is made: the depth method of its
// stream group. Mono cameras always use the network (model).
type Depth struct {
	// Method is DepthMono (the depth network on the left image) or
	// DepthSGBM (OpenCV's semi-global block matching on the rectified
	// pair, metric through the baseline; pixels without a match are NaN).
	// DepthSGBM needs a stereo pair. It defaults to DepthMono.
	Method string
	// SGBM holds SGBM's parameters (used with Method DepthSGBM).
	SGBM SGBM
}

// Depth methods (depth.method).
const (
	// DepthMono is the depth network on the reference image.
	DepthMono = "mono"
	// DepthSGBM is OpenCV's StereoSGBM on the rectified pair.
	DepthSGBM = "sgbm"
)

// SGBM holds OpenCV StereoSGBM's parameters (calibration/cv.SGBMParams);
// the others are OpenCV's stereo_match sample's (P1 8*3*block², P2
// 32*3*block², disp12MaxDiff 1, preFilterCap 63).
type SGBM struct {
	// NumDisparities is how many disparities are searched (0 to N-1
	// pixels), a multiple of 16. It defaults to 64.
	NumDisparities int
	// BlockSize is the matched block's odd side in pixels. It defaults to 5.
	BlockSize int
	// Uniqueness is the margin in percent by which the best match must beat
	// the second: ambiguous pixels become NaN. It defaults to 10.
	Uniqueness int
	// SpeckleWindow is the largest blob (pixels) of disparities differing
	// from its surroundings that is removed as noise; 0 turns speckle
	// filtering off. It defaults to 100.
	SpeckleWindow int
	// SpeckleRange is the largest disparity variation within a blob, in
	// pixels. It defaults to 2.
	SpeckleRange int
	// WLSLambda > 0 filters the disparity with ximgproc's WLS filter
	// (8000 usual), which fills most holes with smoothed values. It
	// defaults to 0: off.
	WLSLambda float64
	// WLSSigma is the WLS filter's colour sensitivity. It defaults to 1.5.
	WLSSigma float64
}

// Topics says what is published on NATS.
type Topics struct {
	// Depth publishes <ns>.<camera>.depth. It defaults to true.
	Depth bool
	// Image publishes JPEG previews on <ns>.<camera>.image. It defaults to false.
	Image bool
	// ImageRate is how many previews a second and camera. It defaults to 2.
	ImageRate float64
	// Odom publishes <ns>.odom, <ns>.pose and <ns>.tf. It defaults to true.
	Odom bool
	// SceneFlow publishes <ns>.<camera>.scene_flow, derived from the flow
	// network and the depth maps of consecutive frames. It defaults to
	// false.
	SceneFlow bool
	// OpticalFlow publishes <ns>.<camera>.optical_flow and its colour-wheel
	// preview <ns>.<camera>.optical_flow_image. It defaults to false.
	OpticalFlow bool
}

// Flow reports whether the node runs its flow network (for optical flow
// or for scene flow).
func (t Topics) Flow() bool { return t.OpticalFlow || t.SceneFlow }

// NATS is the NATS connection.
type NATS struct {
	// URL is the external server, nats:// or tls:// (ws:// and wss:// too),
	// comma-separated for a cluster; credentials allowed
	// (nats://user:pass@host:4222). It defaults to "": the node runs an
	// embedded server.
	URL string
	// Embedded is the embedded server, used when URL is empty.
	Embedded Embedded
	// Credentials is a NATS .creds file (JWT and nkey seed).
	// It defaults to "".
	Credentials string
	// Token is an authentication token. It is a secret: String and errors
	// never show it. It defaults to "".
	Token string
	// NkeyFile is a file holding an nkey seed. It defaults to "".
	NkeyFile string
	// TLS holds client certificates and the CA; nil when not given.
	TLS *TLS
}

// Embedded is the embedded NATS server.
type Embedded struct {
	// Listen is its address, host:port (port 0: any free one).
	// It defaults to "127.0.0.1:4222".
	Listen string
}

// TLS holds the files of a TLS client configuration.
type TLS struct {
	// Cert and Key are the client certificate and its key (PEM), both or
	// neither. They default to "".
	Cert, Key string
	// CA is the CA bundle that signs the server's certificate (PEM).
	// It defaults to "": the system roots.
	CA string
}

// Learner configures online adaptation: the learner actor trains a copy of
// the networks on the incoming video (self-supervised) and hands improved
// weights to perception. PARAMETERS.md says what each key does.
type Learner struct {
	// Adapt keeps training the networks on the incoming video.
	// It defaults to true.
	Adapt bool
	// StepsPerS caps optimisation steps a second, the compute budget of
	// adaptation. It defaults to 1.
	StepsPerS float64
	// ComputeShare caps the share of wall time the learner spends in
	// optimisation steps (it waits steptime*(1-share)/share after each).
	// It defaults to 0.5.
	ComputeShare float64
	// Nice is the learner thread's Linux nice value (0 to 19): inference
	// has priority over learning. It defaults to 10.
	Nice int
	// Mode is the training signal: "auto" (stereo with a stereo pair, else
	// mono), "mono", "stereo" or "both". It defaults to "auto".
	Mode string
	// LR is the learning rate. It defaults to 5e-5.
	LR float64
	// Buffer is the replay buffer's capacity in training tuples.
	// It defaults to 32.
	Buffer int
	// Replay is how many replayed tuples each step mixes with the fresh
	// one. It defaults to 3.
	Replay int
	// HandOverEvery is the number of steps between weight hand-overs to
	// perception. It defaults to 8.
	HandOverEvery int
	// CheckEvery is the number of steps between drift checks.
	// It defaults to 8.
	CheckEvery int
	// MinTranslation is the translation gate in metres. It defaults to 0.05.
	MinTranslation float64
	// MinPixelChange is the image gate in grey levels. It defaults to 1.5.
	MinPixelChange float64
	// DriftThreshold is the relative rise of the held-out photometric
	// error that rolls the weights back. It defaults to 0.05.
	DriftThreshold float64
	// AnomalyThreshold is the relative excess of a fresh tuple's
	// photometric error over its running mean that keeps it out of
	// training. It defaults to 1.
	AnomalyThreshold float64
	// Partial trains only the depth decoder and disparity heads
	// (MAD-style). It defaults to false.
	Partial bool
	// Checkpoint is where the learner saves its weights and optimiser
	// state (relative to Dir unless absolute), and what the node starts
	// from when the file exists. It defaults to "": no persistence.
	Checkpoint string
	// CheckpointEvery is the time between periodic checkpoints; one is
	// also written on shutdown. It defaults to 1 minute.
	CheckpointEvery time.Duration
}

// Viewer is the built-in viewer's listener and what it shows.
type Viewer struct {
	// Listen is its address, host:port (port 0: any free one). Beyond
	// loopback TLS and Token are required. It defaults to "127.0.0.1:8765".
	Listen string
	// Token, when set, is required of every client (?token= or a bearer
	// header). It is a secret: String and errors never show it. It
	// defaults to "".
	Token string
	// TLS holds the server's certificate and key; nil when not given.
	TLS *ServerTLS
	// DepthMin and DepthMax fix the colour range of the viewer's depth
	// images in metres. They default to 0: automatic.
	DepthMin, DepthMax float64
	// CloudStep is the point cloud's subsampling in pixels. It defaults
	// to 4.
	CloudStep int
	// ImageRate is how many camera previews a second and camera the viewer
	// sends. It defaults to 10.
	ImageRate float64
}

// ServerTLS holds the files of a TLS server: its certificate and key (PEM).
type ServerTLS struct {
	Cert, Key string
}

// Defaults returns a launch configuration with every default set and no
// cameras; it does not validate until cameras are added.
func Defaults() *Launch {
	l := &Launch{}
	for _, p := range params {
		if p.ptr == nil || p.def == nil || p.camera {
			continue
		}
		if v := p.ptr(l, nil); v != nil {
			setValue(v, p.def)
		}
	}
	return l
}

// cameraDefaults returns a camera with its defaults set.
func cameraDefaults() Camera {
	c := Camera{}
	for _, p := range params {
		if p.ptr != nil && p.def != nil && p.camera {
			if v := p.ptr(nil, &c); v != nil {
				setValue(v, p.def)
			}
		}
	}
	return c
}

// Load reads and parses the launch file at path. It does not check that the
// files it names exist: call CheckFiles for that.
func Load(path string) (*Launch, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("launch: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("launch: %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("larger than %d bytes", MaxFileSize), Err: ErrSyntax}
	}
	return Parse(data, path)
}

// Resolve returns p as a path to open: p itself when absolute or empty,
// else p relative to Dir.
func (l *Launch) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(l.Dir, p)
}

// Camera returns the camera named name, or nil.
func (l *Launch) Camera(name string) *Camera {
	for i := range l.Cameras {
		if l.Cameras[i].Name == name {
			return &l.Cameras[i]
		}
	}
	return nil
}

// Line returns the line of key (e.g. "cameras[1].url") in the parsed file,
// or of its closest enclosing section when the key is absent; 0 for a
// Launch built in code. Runners use it to point their own errors at the file.
func (l *Launch) Line(key string) int { return lineOf(l.lines, key) }

// File returns the file name given to Parse or Load.
func (l *Launch) File() string { return l.file }
