package camera

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parallax-robotics/parallax/msgs"
)

// ErrScheme is returned for a URL whose scheme no Driver serves (or that
// has none).
var ErrScheme = errors.New("camera: unknown source scheme")

// ModelSource says where a scheme's sources get their camera model.
type ModelSource int

const (
	// ModelOptional: the source may know its model (a recording's
	// calibration) and a launch file may give one.
	ModelOptional ModelSource = iota
	// ModelNeeded: the stream carries no model; the launch file must give
	// intrinsics or a calibration (RTSP).
	ModelNeeded
	// ModelOwn: the source defines its model and stereo baseline itself; a
	// launch file must give neither (the synthetic camera).
	ModelOwn
)

// PathKind says whether a scheme's URLs name a local file or folder.
type PathKind int

const (
	// PathNone: the URL names no local file (a network stream, a
	// synthetic world).
	PathNone PathKind = iota
	// PathFile: the URL's host and path name a file (mcap://drive.mcap).
	PathFile
	// PathFolder: the URL's host and path name a folder (kitti://drive).
	PathFolder
)

// Driver serves the URLs of one or more schemes: it checks them, opens the
// node's cameras from them and, for recorded or synthetic drives, opens
// them for random access. Register it once (from the init of the package
// that implements the source); everything that takes a camera URL — the
// node, launch files, `train`, `eval` — finds it by scheme, so a new kind
// of source is one package and one Register call.
type Driver struct {
	// Schemes are the URL schemes served ("rtsp", "rtsps").
	Schemes []string
	// Network marks a live network stream: a launch file may set its
	// transport, and the node reconnects it with backoff.
	Network bool
	// Model says where the camera model comes from.
	Model ModelSource
	// Path says whether the URL names a local file or folder (relative to
	// a launch file's folder when relative).
	Path PathKind
	// OwnCalibration says the driver reads Spec.Calibration itself and its
	// frames come rectified (kitti://: the drive's calib_cam_to_cam.txt):
	// the node does not rectify them with it.
	OwnCalibration bool
	// Check validates a URL of the scheme without any I/O. Its errors
	// name the problem; URLs in them are redacted (msgs.RedactURL).
	Check func(u *url.URL) error
	// Open prepares a camera of the node: its errors are start-up errors
	// (a missing file, an unknown camera in a recording).
	Open func(spec Spec) (*Feed, error)
	// Drive opens the URL as a random-access drive for training and
	// evaluation; nil when the scheme has none (a live stream). dir is
	// the folder a relative path is resolved against ("" for the working
	// folder).
	Drive func(u *url.URL, dir string) (Drive, error)
}

// Spec is one camera of the node, as the launch file describes it.
type Spec struct {
	// Name is the camera's name (frames are renamed to it).
	Name string
	// URL is where its frames come from.
	URL string
	// Role is "mono", "left" or "right".
	Role string
	// Transport is the RTSP transport, "tcp" or "udp" ("" for the default).
	Transport string
	// Intrinsics is the camera model given inline, or nil.
	Intrinsics *msgs.Intrinsics
	// Calibration is a calibration file, already resolved, or "".
	Calibration string
	// Dir is the folder a relative path in URL is resolved against.
	Dir string
	// Shared is what the node's cameras share: one clock epoch, and
	// objects (a synthetic world) that several cameras read. It is
	// required.
	Shared *Shared
}

// Resolve returns path relative to Dir unless it is absolute or Dir is "".
func (s Spec) Resolve(path string) string {
	if path == "" || s.Dir == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(s.Dir, path)
}

// Feed is an opened camera of the node. Open is called for every
// (re)connection and returns a fresh, unstarted Source.
type Feed struct {
	// Open makes a new Source of the camera.
	Open func() (Source, error)
	// Baseline is the stereo baseline in metres the source knows for a
	// right camera (a synthetic rig, a recording); 0 otherwise.
	Baseline float64
	// Lockstep marks a finite recording played as fast as the pipeline
	// goes: the node lets it read its next frame only once the previous
	// one's result is out, so every frame is processed.
	Lockstep bool
	// CameraClock says the frames' stamps are the capture clock from the
	// first frame (synthetic and recorded sources); live streams report it
	// through their stats once they know it.
	CameraClock bool
}

// Shared is what the cameras of one node share. Make one per node with
// NewShared.
type Shared struct {
	// Epoch is the node's start: synthetic cameras put their frame grid on
	// it (a stereo pair's stamps pair exactly, a restarted source
	// continues on the same grid) and replays start at it.
	Epoch time.Time

	mu      sync.Mutex
	objects map[string]any
}

// NewShared returns a Shared with the epoch now.
func NewShared() *Shared { return &Shared{Epoch: time.Now(), objects: map[string]any{}} }

// Get returns the object stored under key, making it with make the first
// time (a synthetic world that a stereo pair's two cameras render).
func (s *Shared) Get(key string, make func() (any, error)) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.objects[key]; ok {
		return v, nil
	}
	v, err := make()
	if err != nil {
		return nil, err
	}
	s.objects[key] = v
	return v, nil
}

var (
	driversMu sync.RWMutex
	drivers   = map[string]*Driver{}
)

// Register makes a driver's schemes known. It panics when a scheme is
// registered twice or the driver lacks Check or Open: both are programming
// errors to find at start-up.
func Register(d Driver) {
	if d.Check == nil || d.Open == nil || len(d.Schemes) == 0 {
		panic("camera: Register needs schemes, Check and Open")
	}
	driversMu.Lock()
	defer driversMu.Unlock()
	for _, s := range d.Schemes {
		if _, dup := drivers[s]; dup {
			panic("camera: scheme " + s + " registered twice")
		}
		drivers[s] = &d
	}
}

// Schemes lists the registered schemes, sorted.
func Schemes() []string {
	driversMu.RLock()
	defer driversMu.RUnlock()
	out := make([]string, 0, len(drivers))
	for s := range drivers {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Lookup returns the driver of raw's scheme, with the parsed URL. Its
// errors wrap ErrScheme for an unknown scheme.
func Lookup(raw string) (*Driver, *url.URL, error) {
	if raw == "" {
		return nil, nil, fmt.Errorf("%w: empty URL", ErrScheme)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("camera: %s: %w", msgs.RedactURL(raw), unwrapURLError(err))
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "" {
		return nil, nil, fmt.Errorf("%w: %q has no scheme: want one of %s", ErrScheme, msgs.RedactURL(raw), strings.Join(Schemes(), ", "))
	}
	driversMu.RLock()
	d := drivers[scheme]
	driversMu.RUnlock()
	if d == nil {
		return nil, nil, fmt.Errorf("%w: scheme %q is not one of %s", ErrScheme, u.Scheme, strings.Join(Schemes(), ", "))
	}
	return d, u, nil
}

// unwrapURLError drops url.Error's "parse URL:" wrapper, which repeats the
// URL (and its password).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Check validates raw with its scheme's driver, without any I/O.
func Check(raw string) (*Driver, error) {
	d, u, err := Lookup(raw)
	if err != nil {
		return nil, err
	}
	if err := d.Check(u); err != nil {
		return nil, err
	}
	return d, nil
}

// Open prepares one camera of the node from its launch-file description,
// through its scheme's driver.
func Open(spec Spec) (*Feed, error) {
	if spec.Shared == nil {
		return nil, fmt.Errorf("camera: %s: Spec.Shared is nil", spec.Name)
	}
	d, err := Check(spec.URL)
	if err != nil {
		return nil, err
	}
	return d.Open(spec)
}

// OpenDrive opens a recorded or synthetic drive by URL for random access
// (training, evaluation); dir resolves a relative path ("" for the working
// folder).
func OpenDrive(raw, dir string) (Drive, error) {
	d, u, err := Lookup(raw)
	if err != nil {
		return nil, err
	}
	if err := d.Check(u); err != nil {
		return nil, err
	}
	if d.Drive == nil {
		return nil, fmt.Errorf("%w: %s:// is a live stream, not a drive (record it first: parallax record)", ErrDrive, u.Scheme)
	}
	return d.Drive(u, dir)
}

// FilePath is the file or folder a URL of a PathFile or PathFolder scheme
// names: host and path together, so both mcap://drives/a.mcap (relative)
// and mcap:///data/a.mcap (absolute) work.
func FilePath(u *url.URL) string { return u.Host + u.Path }
