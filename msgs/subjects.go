package msgs

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// Limits on namespace and camera names.
const (
	// MaxNameLen is the longest namespace or camera name, in bytes. NATS has
	// no hard limit below its 4 KiB control line, but subjects are also MCAP
	// channel names, ROS topic names and file names, so they stay short.
	MaxNameLen = 128
)

// Kind is what a subject carries: one per row of the topics table in the
// package documentation.
type Kind int

// The kinds of subject. The zero Kind is invalid.
const (
	// KindCameraInfo is <ns>.<camera>.camera_info: foxglove.CameraCalibration.
	KindCameraInfo Kind = iota + 1
	// KindImage is <ns>.<camera>.image: foxglove.CompressedImage.
	KindImage
	// KindDepth is <ns>.<camera>.depth: foxglove.RawImage, encoding 32FC1.
	KindDepth
	// KindSceneFlow is <ns>.<camera>.scene_flow: parallax.v1.SceneFlow.
	KindSceneFlow
	// KindOdom is <ns>.odom: parallax.v1.Odometry.
	KindOdom
	// KindPose is <ns>.pose: foxglove.PoseInFrame, the odometry pose again
	// for viewers that know Foxglove's schemas only.
	KindPose
	// KindTF is <ns>.tf: foxglove.FrameTransform, the odometry pose as a
	// transform from the camera frame to the odometry frame.
	KindTF
	// KindLearnerStats is <ns>.learner.stats: parallax.v1.LearnerStats.
	KindLearnerStats
	// KindDiagnostics is <ns>.diagnostics: parallax.v1.Diagnostics.
	KindDiagnostics
	// KindCalibration is <ns>.<camera>.calibration:
	// foxglove.CameraCalibration of the raw camera the node rectifies (its
	// raw K and D, the rectification R, the rectified P), for consumers of
	// the raw geometry; camera_info describes the published, rectified
	// images.
	KindCalibration
	// KindOpticalFlow is <ns>.<camera>.optical_flow: parallax.v1.OpticalFlow.
	KindOpticalFlow
	// KindOpticalFlowImage is <ns>.<camera>.optical_flow_image:
	// foxglove.RawImage (rgb8), the optical flow on a colour wheel for
	// viewers.
	KindOpticalFlowImage
)

// kinds lists every valid Kind with its subject suffix, in Kind order.
var kinds = [...]struct {
	kind      Kind
	suffix    string // the tokens after <ns> (and <camera> when perCamera)
	perCamera bool
	newMsg    func() proto.Message
}{
	{KindCameraInfo, "camera_info", true, func() proto.Message { return &foxglove.CameraCalibration{} }},
	{KindImage, "image", true, func() proto.Message { return &foxglove.CompressedImage{} }},
	{KindDepth, "depth", true, func() proto.Message { return &foxglove.RawImage{} }},
	{KindSceneFlow, "scene_flow", true, func() proto.Message { return &parallaxv1.SceneFlow{} }},
	{KindOdom, "odom", false, func() proto.Message { return &parallaxv1.Odometry{} }},
	{KindPose, "pose", false, func() proto.Message { return &foxglove.PoseInFrame{} }},
	{KindTF, "tf", false, func() proto.Message { return &foxglove.FrameTransform{} }},
	{KindLearnerStats, "learner.stats", false, func() proto.Message { return &parallaxv1.LearnerStats{} }},
	{KindDiagnostics, "diagnostics", false, func() proto.Message { return &parallaxv1.Diagnostics{} }},
	{KindCalibration, "calibration", true, func() proto.Message { return &foxglove.CameraCalibration{} }},
	{KindOpticalFlow, "optical_flow", true, func() proto.Message { return &parallaxv1.OpticalFlow{} }},
	{KindOpticalFlowImage, "optical_flow_image", true, func() proto.Message { return &foxglove.RawImage{} }},
}

// Kinds returns every valid Kind, in the order of the topics table.
func Kinds() []Kind {
	out := make([]Kind, len(kinds))
	for i, k := range kinds {
		out[i] = k.kind
	}
	return out
}

func (k Kind) valid() bool { return k >= KindCameraInfo && int(k) <= len(kinds) }

// String returns the subject suffix of the kind ("camera_info",
// "learner.stats"), or "Kind(n)" for an invalid kind.
func (k Kind) String() string {
	if !k.valid() {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kinds[k-1].suffix
}

// PerCamera reports whether the kind has one subject per camera.
func (k Kind) PerCamera() bool { return k.valid() && kinds[k-1].perCamera }

// NewMessage returns an empty message of the type published on subjects of
// this kind, ready for proto.Unmarshal, or nil for an invalid kind.
func (k Kind) NewMessage() proto.Message {
	if !k.valid() {
		return nil
	}
	return kinds[k-1].newMsg()
}

// MessageName returns the full protobuf name of the kind's message
// ("foxglove.RawImage"), the schema name in MCAP recordings; "" for an
// invalid kind.
func (k Kind) MessageName() string {
	m := k.NewMessage()
	if m == nil {
		return ""
	}
	return string(m.ProtoReflect().Descriptor().FullName())
}

// ValidateName checks a camera name: one NATS subject token made of ASCII
// letters, digits, '_' and '-', at most MaxNameLen bytes. That is stricter
// than NATS (which allows any byte but whitespace, '.', '*' and '>') because
// the same names become ROS topic names, MCAP channel names and file names.
func ValidateName(name string) error {
	if err := validateToken(name); err != nil {
		return fmt.Errorf("%w %q: %w", ErrInvalidName, name, err)
	}
	return nil
}

// ValidateNamespace checks a namespace: one or more tokens joined by '.',
// each as ValidateName allows ("robot1", "fleet.robot1"), at most
// MaxNameLen bytes in all. A dotted namespace lets one NATS wildcard
// subscription ("fleet.>") cover several robots; it is unambiguous because
// every subject ends in a fixed suffix after at most one camera token.
func ValidateNamespace(ns string) error {
	if ns == "" {
		return fmt.Errorf("%w %q: empty", ErrInvalidNamespace, ns)
	}
	if len(ns) > MaxNameLen {
		return fmt.Errorf("%w %.20q...: %d bytes, more than %d", ErrInvalidNamespace, ns, len(ns), MaxNameLen)
	}
	for i, tok := range strings.Split(ns, ".") {
		if err := validateToken(tok); err != nil {
			return fmt.Errorf("%w %q: token %d: %w", ErrInvalidNamespace, ns, i+1, err)
		}
	}
	return nil
}

// validateToken checks one token; its errors do not repeat the token, the
// caller quotes the whole name.
func validateToken(tok string) error {
	if tok == "" {
		return errors.New("empty")
	}
	if len(tok) > MaxNameLen {
		return fmt.Errorf("%d bytes, more than %d", len(tok), MaxNameLen)
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		case c == '.':
			return fmt.Errorf("'.' at byte %d: a camera name is a single token", i)
		case c == '*' || c == '>':
			return fmt.Errorf("wildcard %q at byte %d", c, i)
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			return fmt.Errorf("whitespace %q at byte %d", c, i)
		default:
			return fmt.Errorf("byte %q at %d is not an ASCII letter, digit, '_' or '-'", tok[i:i+1], i)
		}
	}
	return nil
}

// Subject is a parsed NATS subject of the contract.
type Subject struct {
	// Namespace is the launch file's namespace, e.g. "robot1".
	Namespace string
	// Camera is the camera name for per-camera kinds, "" otherwise.
	Camera string
	// Kind says what the subject carries.
	Kind Kind
}

// NewSubject validates the parts and returns the subject. camera must be
// empty exactly when kind is not per camera.
func NewSubject(ns, camera string, kind Kind) (Subject, error) {
	s := Subject{Namespace: ns, Camera: camera, Kind: kind}
	return s, s.Validate()
}

// Validate checks the subject's parts.
func (s Subject) Validate() error {
	if !s.Kind.valid() {
		return fmt.Errorf("%w: %v", ErrInvalidKind, s.Kind)
	}
	if err := ValidateNamespace(s.Namespace); err != nil {
		return err
	}
	switch {
	case s.Kind.PerCamera():
		return ValidateName(s.Camera)
	case s.Camera != "":
		return fmt.Errorf("%w: %s is not a per-camera subject, but camera is %q", ErrInvalidName, s.Kind, s.Camera)
	}
	return nil
}

// String returns the NATS subject, e.g. "robot1.left.depth". It does not
// validate; use NewSubject or Validate first.
func (s Subject) String() string {
	if s.Kind.PerCamera() {
		return s.Namespace + "." + s.Camera + "." + s.Kind.String()
	}
	return s.Namespace + "." + s.Kind.String()
}

// ParseSubject splits a NATS subject of the contract into its parts. The
// suffix decides the kind; for per-camera kinds the token before it is the
// camera and the rest the namespace.
func ParseSubject(subject string) (Subject, error) {
	for _, k := range kinds {
		rest, ok := strings.CutSuffix(subject, "."+k.suffix)
		if !ok {
			continue
		}
		s := Subject{Namespace: rest, Kind: k.kind}
		if k.perCamera {
			i := strings.LastIndexByte(rest, '.')
			if i < 0 {
				return Subject{}, fmt.Errorf("%w %q: %s needs <namespace>.<camera> before it", ErrInvalidSubject, subject, k.suffix)
			}
			s.Namespace, s.Camera = rest[:i], rest[i+1:]
		}
		if err := s.Validate(); err != nil {
			return Subject{}, fmt.Errorf("%w %q: %w", ErrInvalidSubject, subject, err)
		}
		return s, nil
	}
	return Subject{}, fmt.Errorf("%w %q: unknown suffix", ErrInvalidSubject, subject)
}

// Namespace is a validated namespace; its methods build the subjects under it.
type Namespace string

// NewNamespace validates ns (see ValidateNamespace).
func NewNamespace(ns string) (Namespace, error) {
	if err := ValidateNamespace(ns); err != nil {
		return "", err
	}
	return Namespace(ns), nil
}

// CameraSubjects are the subjects of one camera.
type CameraSubjects struct {
	CameraInfo string // <ns>.<camera>.camera_info
	Image      string // <ns>.<camera>.image
	Depth      string // <ns>.<camera>.depth
	SceneFlow  string // <ns>.<camera>.scene_flow
	// Calibration is <ns>.<camera>.calibration.
	Calibration string
	// OpticalFlow is <ns>.<camera>.optical_flow.
	OpticalFlow string
	// OpticalFlowImage is <ns>.<camera>.optical_flow_image.
	OpticalFlowImage string
}

// Camera validates the camera name and returns its subjects.
func (ns Namespace) Camera(name string) (CameraSubjects, error) {
	if err := ValidateName(name); err != nil {
		return CameraSubjects{}, err
	}
	p := string(ns) + "." + name + "."
	return CameraSubjects{
		CameraInfo:  p + KindCameraInfo.String(),
		Image:       p + KindImage.String(),
		Depth:       p + KindDepth.String(),
		SceneFlow:   p + KindSceneFlow.String(),
		Calibration: p + KindCalibration.String(),

		OpticalFlow:      p + KindOpticalFlow.String(),
		OpticalFlowImage: p + KindOpticalFlowImage.String(),
	}, nil
}

// Odom returns <ns>.odom.
func (ns Namespace) Odom() string { return string(ns) + "." + KindOdom.String() }

// Pose returns <ns>.pose.
func (ns Namespace) Pose() string { return string(ns) + "." + KindPose.String() }

// TF returns <ns>.tf.
func (ns Namespace) TF() string { return string(ns) + "." + KindTF.String() }

// LearnerStats returns <ns>.learner.stats.
func (ns Namespace) LearnerStats() string { return string(ns) + "." + KindLearnerStats.String() }

// Diagnostics returns <ns>.diagnostics.
func (ns Namespace) Diagnostics() string { return string(ns) + "." + KindDiagnostics.String() }

// All returns the NATS wildcard that matches every subject under the
// namespace, <ns>.>.
func (ns Namespace) All() string { return string(ns) + ".>" }
