package replay

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg" // previews recorded over NATS
	_ "image/png"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/record"
)

// Recording is an indexed MCAP recording opened for random access to its
// cameras' frames. Safe for concurrent use.
type Recording struct {
	f           *record.File
	meta        map[string]string // the recorder's metadata record
	ns          string
	names       []string
	cams        map[string]*Frames
	left, right string
	baseline    float64
}

// Open opens the recording at path and indexes its cameras: every topic
// <ns>.<camera>.raw.image (or, for a recording made over NATS, the JPEG
// previews <ns>.<camera>.image). A truncated recording has no index: Open
// fails with ErrNoIndex, and `parallax record recover` fixes the file.
func Open(path string) (*Recording, error) {
	f, err := record.OpenFile(path)
	if errors.Is(err, record.ErrNotMCAP) {
		// Not a recording at all: as unreadable as a corrupt one.
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if err != nil {
		return nil, err
	}
	r := &Recording{f: f, meta: f.Metadata(msgs.MetadataName), cams: map[string]*Frames{}}
	if r.meta == nil {
		r.meta = map[string]string{}
	}
	if err := r.index(); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func (r *Recording) index() error {
	ns := r.meta[msgs.MetadataKeyNamespace]
	raw := map[string]string{}     // camera -> topic
	preview := map[string]string{} // camera -> topic
	for _, topic := range r.f.Topics() {
		if n, c, ok := msgs.SplitRecordingTopic(topic, msgs.SuffixRawImage); ok && (ns == "" || n == ns) {
			raw[c] = topic
			if ns == "" {
				ns = n
			}
		} else if n, c, ok := msgs.SplitRecordingTopic(topic, msgs.SuffixPreview); ok && !strings.HasSuffix(topic, "."+msgs.SuffixRawImage) && (ns == "" || n == ns) {
			preview[c] = topic
		}
	}
	for c, t := range preview {
		if _, ok := raw[c]; !ok {
			raw[c] = t
			if ns == "" {
				ns, _, _ = msgs.SplitRecordingTopic(t, msgs.SuffixPreview)
			}
		}
	}
	if len(raw) == 0 {
		return fmt.Errorf("%w: %s has no <ns>.<camera>.%s (nor .%s) topic", ErrNoCamera, r.f.Path(), msgs.SuffixRawImage, msgs.SuffixPreview)
	}
	r.ns = ns
	for c, topic := range raw {
		fr := &Frames{rec: r, camera: c, images: r.f.Topic(topic), preview: strings.HasSuffix(topic, "."+msgs.SuffixPreview) && !strings.HasSuffix(topic, "."+msgs.SuffixRawImage)}
		fr.info = r.f.Topic(msgs.RecordingTopic(ns, c, msgs.SuffixRawCameraInfo))
		if fr.info.Len() == 0 {
			fr.info = r.f.Topic(msgs.RecordingTopic(ns, c, msgs.SuffixDepthCameraInfo))
		}
		fr.depth = r.f.Topic(msgs.RecordingTopic(ns, c, msgs.SuffixTruthDepth))
		fr.pose = r.f.Topic(msgs.RecordingTopic(ns, c, msgs.SuffixTruthPose))
		r.cams[c] = fr
		r.names = append(r.names, c)
	}
	sort.Strings(r.names)
	r.left, r.right = r.meta[msgs.MetadataKeyLeft], r.meta[msgs.MetadataKeyRight]
	if r.left == "" && r.right == "" && r.cams["left"] != nil && r.cams["right"] != nil {
		r.left, r.right = "left", "right"
	}
	if r.cams[r.left] == nil || r.cams[r.right] == nil {
		r.left, r.right = "", ""
		return nil
	}
	if b := r.meta[msgs.MetadataKeyBaseline]; b != "" {
		v, err := strconv.ParseFloat(b, 64)
		if err != nil || !(v >= 0) || v > 1e3 {
			return fmt.Errorf("%w: %s: metadata %s = %q is not a baseline in metres", ErrCorrupt, r.f.Path(), msgs.MetadataKeyBaseline, b)
		}
		r.baseline = v
	} else if cal, err := r.cams[r.right].calibration(0); err == nil && cal != nil {
		r.baseline, _ = msgs.StereoBaseline(cal)
	}
	return nil
}

// Path is the recording's file.
func (r *Recording) Path() string { return r.f.Path() }

// Namespace is the recorded namespace.
func (r *Recording) Namespace() string { return r.ns }

// Cameras returns the recorded cameras' names, sorted.
func (r *Recording) Cameras() []string { return append([]string(nil), r.names...) }

// Stereo returns the stereo pair's camera names; ok is false when the
// recording has no pair.
func (r *Recording) Stereo() (left, right string, ok bool) {
	return r.left, r.right, r.left != ""
}

// Baseline is the stereo baseline in metres (0 without a pair).
func (r *Recording) Baseline() float64 { return r.baseline }

// Rectified reports whether the recording node rectified the camera's
// frames before recording them (metadata msgs.MetadataKeyRectified).
func (r *Recording) Rectified(camera string) bool {
	return slices.Contains(strings.Split(r.meta[msgs.MetadataKeyRectified], ","), camera)
}

// Metadata returns the recorder's metadata record (empty when absent).
func (r *Recording) Metadata() map[string]string {
	out := map[string]string{}
	for k, v := range r.meta {
		out[k] = v
	}
	return out
}

// Frames returns random access to one camera's frames.
func (r *Recording) Frames(camera string) (*Frames, error) {
	fr := r.cams[camera]
	if fr == nil {
		return nil, fmt.Errorf("%w: %s has no camera %q (it has %s)", ErrNoCamera, r.f.Path(), camera, strings.Join(r.names, ", "))
	}
	return fr, nil
}

// Close releases the file.
func (r *Recording) Close() error { return r.f.Close() }

// Frames is one recorded camera's frames in log-time order.
type Frames struct {
	rec     *Recording
	camera  string
	preview bool // JPEG previews, not raw frames
	images  *record.Topic
	info    *record.Topic // camera_info, by time; nil when not recorded
	depth   *record.Topic
	pose    *record.Topic

	mu      sync.Mutex
	calAt   int // index into info of cal, -1 none
	cal     *foxglove.CameraCalibration
	intrAt  [2]int // frame size intr was scaled to
	intr    *msgs.Intrinsics
	intrCal *foxglove.CameraCalibration
}

// Camera is the camera's name.
func (fr *Frames) Camera() string { return fr.camera }

// Len is the number of frames.
func (fr *Frames) Len() int { return fr.images.Len() }

// Stamp returns frame i's log time (its capture stamp).
func (fr *Frames) Stamp(i int) time.Time { return stamp(fr.images.LogTime(i)) }

// stamp is a recorded log time as a frame stamp: in local time, like the
// stamps of live frames (time.Now), which replays have always carried.
func stamp(t time.Time) time.Time { return t.Local() }

// Frame decodes frame i with its intrinsics (the latest camera_info at or
// before it, scaled to the frame's size) and its ground truth when recorded.
// Seq is i; Stamp the recorded capture stamp.
func (fr *Frames) Frame(i int) (*msgs.Frame, error) {
	if i < 0 || i >= fr.Len() {
		return nil, fmt.Errorf("%w: frame %d of %d (camera %s)", ErrRange, i, fr.Len(), fr.camera)
	}
	m, err := fr.images.Message(i)
	if err != nil {
		return nil, err
	}
	data, t := m.Data, stamp(m.LogTime)
	var f *msgs.Frame
	if fr.preview {
		f, err = decodePreview(data)
	} else {
		img := &foxglove.RawImage{}
		if err = proto.Unmarshal(data, img); err == nil {
			f, err = msgs.FrameFromImage(img)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: camera %s frame %d: %v", ErrCorrupt, fr.rec.f.Path(), fr.camera, i, err)
	}
	f.Camera, f.Seq, f.Stamp = fr.camera, uint64(i), t
	if f.Intrinsics, err = fr.intrinsics(t, f.Width, f.Height); err != nil {
		return nil, err
	}
	if f.Truth, err = fr.truth(t, f.Width, f.Height); err != nil {
		return nil, err
	}
	return f, nil
}

// decodePreview decodes a foxglove.CompressedImage (JPEG or PNG).
func decodePreview(data []byte) (*msgs.Frame, error) {
	ci := &foxglove.CompressedImage{}
	if err := proto.Unmarshal(data, ci); err != nil {
		return nil, err
	}
	im, _, err := image.Decode(bytes.NewReader(ci.GetData()))
	if err != nil {
		return nil, fmt.Errorf("%s image: %w", ci.GetFormat(), err)
	}
	stamp, err := msgs.Time(ci.GetTimestamp())
	if err != nil {
		return nil, err
	}
	b := im.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Bounds(), im, b.Min, draw.Src)
	pix := make([]byte, b.Dx()*b.Dy()*3)
	for p, q := 0, 0; p < len(rgba.Pix); p, q = p+4, q+3 {
		pix[q], pix[q+1], pix[q+2] = rgba.Pix[p], rgba.Pix[p+1], rgba.Pix[p+2]
	}
	return &msgs.Frame{Stamp: stamp, Width: b.Dx(), Height: b.Dy(), Pix: pix}, nil
}

// calibration returns the camera_info in force at index k of info.
func (fr *Frames) calibration(k int) (*foxglove.CameraCalibration, error) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return fr.calibrationLocked(k)
}

func (fr *Frames) calibrationLocked(k int) (*foxglove.CameraCalibration, error) {
	if k < 0 || k >= fr.info.Len() {
		return nil, nil
	}
	if fr.calAt == k && fr.cal != nil {
		return fr.cal, nil
	}
	m, err := fr.info.Message(k)
	if err != nil {
		return nil, err
	}
	cal := &foxglove.CameraCalibration{}
	if err := proto.Unmarshal(m.Data, cal); err != nil {
		return nil, fmt.Errorf("%w: %s: camera %s camera_info: %v", ErrCorrupt, fr.rec.f.Path(), fr.camera, err)
	}
	fr.calAt, fr.cal = k, cal
	return cal, nil
}

// intrinsics returns the intrinsics at log time t for a w x h frame; nil
// when the recording has no camera_info for the camera.
func (fr *Frames) intrinsics(t time.Time, w, h int) (*msgs.Intrinsics, error) {
	n := fr.info.Len()
	if n == 0 {
		return nil, nil
	}
	k := sort.Search(n, func(j int) bool { return fr.info.LogTime(j).After(t) }) - 1
	if k < 0 {
		k = 0
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	cal, err := fr.calibrationLocked(k)
	if err != nil || cal == nil {
		return nil, err
	}
	if fr.intrCal == cal && fr.intrAt == [2]int{w, h} {
		k := *fr.intr
		return &k, nil
	}
	in, err := msgs.IntrinsicsFromCalibration(cal)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: camera %s: %v", ErrCorrupt, fr.rec.f.Path(), fr.camera, err)
	}
	if in.Width != w || in.Height != h {
		in = in.Scaled(w, h)
	}
	fr.intrCal, fr.intrAt, fr.intr = cal, [2]int{w, h}, &in
	k2 := in
	return &k2, nil
}

// at returns the index of tp's message logged at exactly t, or -1.
func at(tp *record.Topic, t time.Time) int {
	n := tp.Len()
	k := sort.Search(n, func(j int) bool { return !tp.LogTime(j).Before(t) })
	if k < n && tp.LogTime(k).Equal(t) {
		return k
	}
	return -1
}

// truth returns the ground truth recorded at log time t, nil when none.
func (fr *Frames) truth(t time.Time, w, h int) (*msgs.GroundTruth, error) {
	d, p := at(fr.depth, t), at(fr.pose, t)
	if d < 0 && p < 0 {
		return nil, nil
	}
	gt := &msgs.GroundTruth{Pose: msgs.Identity()}
	if d >= 0 {
		m, err := fr.depth.Message(d)
		if err != nil {
			return nil, err
		}
		img := &foxglove.RawImage{}
		if err := proto.Unmarshal(m.Data, img); err != nil {
			return nil, fmt.Errorf("%w: %s: camera %s truth depth: %v", ErrCorrupt, fr.rec.f.Path(), fr.camera, err)
		}
		dw, dh, depth, err := msgs.DepthFromImage(img)
		if err != nil || dw != w || dh != h {
			return nil, fmt.Errorf("%w: %s: camera %s truth depth %dx%d for a %dx%d frame: %v", ErrCorrupt, fr.rec.f.Path(), fr.camera, dw, dh, w, h, err)
		}
		gt.Depth = depth
	}
	if p >= 0 {
		m, err := fr.pose.Message(p)
		if err != nil {
			return nil, err
		}
		pf := &foxglove.PoseInFrame{}
		if err := proto.Unmarshal(m.Data, pf); err != nil {
			return nil, fmt.Errorf("%w: %s: camera %s truth pose: %v", ErrCorrupt, fr.rec.f.Path(), fr.camera, err)
		}
		if gt.Pose, err = msgs.PoseFromFoxglove(pf.GetPose()); err != nil {
			return nil, fmt.Errorf("%w: %s: camera %s truth pose: %v", ErrCorrupt, fr.rec.f.Path(), fr.camera, err)
		}
	}
	return gt, nil
}

// Pick returns the frames a launch file camera (name, role "mono", "left" or
// "right") replays: the recorded camera o.Camera names when set, else the
// recorded camera of the same name, else the recorded stereo pair's camera
// of that role, else (mono) the only recorded camera.
func (r *Recording) Pick(name, role string, o Options) (*Frames, error) {
	switch {
	case o.Camera != "":
		return r.Frames(o.Camera)
	case r.cams[name] != nil:
		return r.cams[name], nil
	case role == "left" && r.left != "":
		return r.cams[r.left], nil
	case role == "right" && r.right != "":
		return r.cams[r.right], nil
	case len(r.names) == 1:
		return r.cams[r.names[0]], nil
	}
	return nil, fmt.Errorf("%w: %s: which recorded camera does %s (%s) replay? It has %s: add ?camera=NAME to the URL",
		ErrNoCamera, r.f.Path(), name, role, strings.Join(r.names, ", "))
}

// Model returns the checkpoint the recording node started from (the
// recorder attaches it, record.ModelAttachment), false when the recording
// has none (made over NATS, or with the recorder's NoModel).
func (r *Recording) Model() ([]byte, bool, error) {
	return r.f.Attachment(record.ModelAttachment)
}
