package replay

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg" // previews recorded over NATS
	_ "image/png"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

// Recording is an indexed MCAP recording opened for random access to its
// cameras' frames. Safe for concurrent use.
type Recording struct {
	f           *file
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
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	r := &Recording{f: f, cams: map[string]*Frames{}}
	if err := r.index(); err != nil {
		f.close()
		return nil, err
	}
	return r, nil
}

func (r *Recording) index() error {
	ns := r.f.meta[msgs.MetadataKeyNamespace]
	raw := map[string]string{}     // camera -> topic
	preview := map[string]string{} // camera -> topic
	for topic := range r.f.topics {
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
		return fmt.Errorf("%w: %s has no <ns>.<camera>.%s (nor .%s) topic", ErrNoCamera, r.f.path, msgs.SuffixRawImage, msgs.SuffixPreview)
	}
	r.ns = ns
	for c, topic := range raw {
		fr := &Frames{rec: r, camera: c, images: r.f.entries(topic), preview: strings.HasSuffix(topic, "."+msgs.SuffixPreview) && !strings.HasSuffix(topic, "."+msgs.SuffixRawImage)}
		fr.info = r.f.entries(msgs.RecordingTopic(ns, c, msgs.SuffixRawCameraInfo))
		if fr.info == nil {
			fr.info = r.f.entries(msgs.RecordingTopic(ns, c, msgs.SuffixDepthCameraInfo))
		}
		fr.depth = r.f.entries(msgs.RecordingTopic(ns, c, msgs.SuffixTruthDepth))
		fr.pose = r.f.entries(msgs.RecordingTopic(ns, c, msgs.SuffixTruthPose))
		r.cams[c] = fr
		r.names = append(r.names, c)
	}
	sort.Strings(r.names)
	r.left, r.right = r.f.meta[msgs.MetadataKeyLeft], r.f.meta[msgs.MetadataKeyRight]
	if r.left == "" && r.right == "" && r.cams["left"] != nil && r.cams["right"] != nil {
		r.left, r.right = "left", "right"
	}
	if r.cams[r.left] == nil || r.cams[r.right] == nil {
		r.left, r.right = "", ""
		return nil
	}
	if b := r.f.meta[msgs.MetadataKeyBaseline]; b != "" {
		v, err := strconv.ParseFloat(b, 64)
		if err != nil || !(v >= 0) || v > 1e3 {
			return fmt.Errorf("%w: %s: metadata %s = %q is not a baseline in metres", ErrCorrupt, r.f.path, msgs.MetadataKeyBaseline, b)
		}
		r.baseline = v
	} else if cal, err := r.cams[r.right].calibration(0); err == nil && cal != nil {
		r.baseline, _ = msgs.StereoBaseline(cal)
	}
	return nil
}

// Path is the recording's file.
func (r *Recording) Path() string { return r.f.path }

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

// Metadata returns the recorder's metadata record (empty when absent).
func (r *Recording) Metadata() map[string]string {
	out := map[string]string{}
	for k, v := range r.f.meta {
		out[k] = v
	}
	return out
}

// Frames returns random access to one camera's frames.
func (r *Recording) Frames(camera string) (*Frames, error) {
	fr := r.cams[camera]
	if fr == nil {
		return nil, fmt.Errorf("%w: %s has no camera %q (it has %s)", ErrNoCamera, r.f.path, camera, strings.Join(r.names, ", "))
	}
	return fr, nil
}

// Close releases the file.
func (r *Recording) Close() error { return r.f.close() }

// Frames is one recorded camera's frames in log-time order.
type Frames struct {
	rec     *Recording
	camera  string
	preview bool // JPEG previews, not raw frames
	images  []entry
	info    []entry // camera_info, by time
	depth   []entry
	pose    []entry

	mu      sync.Mutex
	calAt   int // index into info of cal, -1 none
	cal     *foxglove.CameraCalibration
	calErr  error
	intrAt  [2]int // frame size intr was scaled to
	intr    *msgs.Intrinsics
	intrCal *foxglove.CameraCalibration
}

// Camera is the camera's name.
func (fr *Frames) Camera() string { return fr.camera }

// Len is the number of frames.
func (fr *Frames) Len() int { return len(fr.images) }

// Stamp returns frame i's log time (its capture stamp).
func (fr *Frames) Stamp(i int) time.Time { return fromNanos(fr.images[i].t) }

// Frame decodes frame i with its intrinsics (the latest camera_info at or
// before it, scaled to the frame's size) and its ground truth when recorded.
// Seq is i; Stamp the recorded capture stamp.
func (fr *Frames) Frame(i int) (*msgs.Frame, error) {
	if i < 0 || i >= len(fr.images) {
		return nil, fmt.Errorf("%w: frame %d of %d (camera %s)", ErrRange, i, len(fr.images), fr.camera)
	}
	e := fr.images[i]
	data, err := fr.rec.f.message(e)
	if err != nil {
		return nil, err
	}
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
		return nil, fmt.Errorf("%w: %s: camera %s frame %d: %v", ErrCorrupt, fr.rec.f.path, fr.camera, i, err)
	}
	f.Camera, f.Seq, f.Stamp = fr.camera, uint64(i), fromNanos(e.t)
	if f.Intrinsics, err = fr.intrinsics(e.t, f.Width, f.Height); err != nil {
		return nil, err
	}
	if f.Truth, err = fr.truth(e.t, f.Width, f.Height); err != nil {
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
	if k < 0 || k >= len(fr.info) {
		return nil, nil
	}
	if fr.calAt == k && fr.cal != nil {
		return fr.cal, nil
	}
	data, err := fr.rec.f.message(fr.info[k])
	if err != nil {
		return nil, err
	}
	cal := &foxglove.CameraCalibration{}
	if err := proto.Unmarshal(data, cal); err != nil {
		return nil, fmt.Errorf("%w: %s: camera %s camera_info: %v", ErrCorrupt, fr.rec.f.path, fr.camera, err)
	}
	fr.calAt, fr.cal = k, cal
	return cal, nil
}

// intrinsics returns the intrinsics at log time t for a w x h frame; nil
// when the recording has no camera_info for the camera.
func (fr *Frames) intrinsics(t uint64, w, h int) (*msgs.Intrinsics, error) {
	if len(fr.info) == 0 {
		return nil, nil
	}
	k := sort.Search(len(fr.info), func(j int) bool { return fr.info[j].t > t }) - 1
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
		return nil, fmt.Errorf("%w: %s: camera %s: %v", ErrCorrupt, fr.rec.f.path, fr.camera, err)
	}
	if in.Width != w || in.Height != h {
		in = in.Scaled(w, h)
	}
	fr.intrCal, fr.intrAt, fr.intr = cal, [2]int{w, h}, &in
	k2 := in
	return &k2, nil
}

// at returns the index of the entry of es logged at exactly t, or -1.
func at(es []entry, t uint64) int {
	k := sort.Search(len(es), func(j int) bool { return es[j].t >= t })
	if k < len(es) && es[k].t == t {
		return k
	}
	return -1
}

// truth returns the ground truth recorded at log time t, nil when none.
func (fr *Frames) truth(t uint64, w, h int) (*msgs.GroundTruth, error) {
	d, p := at(fr.depth, t), at(fr.pose, t)
	if d < 0 && p < 0 {
		return nil, nil
	}
	gt := &msgs.GroundTruth{Pose: msgs.Identity()}
	if d >= 0 {
		data, err := fr.rec.f.message(fr.depth[d])
		if err != nil {
			return nil, err
		}
		img := &foxglove.RawImage{}
		if err := proto.Unmarshal(data, img); err != nil {
			return nil, fmt.Errorf("%w: %s: camera %s truth depth: %v", ErrCorrupt, fr.rec.f.path, fr.camera, err)
		}
		dw, dh, depth, err := msgs.DepthFromImage(img)
		if err != nil || dw != w || dh != h {
			return nil, fmt.Errorf("%w: %s: camera %s truth depth %dx%d for a %dx%d frame: %v", ErrCorrupt, fr.rec.f.path, fr.camera, dw, dh, w, h, err)
		}
		gt.Depth = depth
	}
	if p >= 0 {
		data, err := fr.rec.f.message(fr.pose[p])
		if err != nil {
			return nil, err
		}
		pf := &foxglove.PoseInFrame{}
		if err := proto.Unmarshal(data, pf); err != nil {
			return nil, fmt.Errorf("%w: %s: camera %s truth pose: %v", ErrCorrupt, fr.rec.f.path, fr.camera, err)
		}
		if gt.Pose, err = msgs.PoseFromFoxglove(pf.GetPose()); err != nil {
			return nil, fmt.Errorf("%w: %s: camera %s truth pose: %v", ErrCorrupt, fr.rec.f.path, fr.camera, err)
		}
	}
	return gt, nil
}

func fromNanos(t uint64) time.Time {
	if t > 1<<63-1 {
		t = 1<<63 - 1
	}
	return time.Unix(0, int64(t))
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
		ErrNoCamera, r.f.path, name, role, strings.Join(r.names, ", "))
}
