package viewer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// Rates of the viewer's own slow topics.
const (
	pathEvery     = time.Second // <ns>.path, the whole trajectory
	tfStaticEvery = time.Second // <ns>.tf_static
)

// cameraState is Write's state of one camera.
type cameraState struct {
	index                    int // in rig.Cameras, the page's camera number
	image, info              *channel
	depth, color, mm, points *channel
	lastImage                time.Time
	rng                      depthRange
	preview, colour, flow    *image.RGBA
	scratch                  bytes.Buffer
}

// Write hands one output of the node to the clients that want it: every
// piece is encoded once, only when a client subscribed to it (or a page
// is open), and queued for each client without waiting. It runs on the
// node's goroutine for this sink.
func (v *Viewer) Write(out msgs.Output) error {
	st := v.state.Load()
	if st == nil {
		return errors.New("viewer: Write before Open")
	}
	switch {
	case out.Frame != nil:
		return v.frame(st, out.Frame)
	case out.Result != nil:
		return v.result(st, out.Result)
	case out.Diagnostics != nil:
		v.mt.diagnostics(out.Diagnostics)
		v.page.diagnostics(out.Diagnostics)
		if v.pages() {
			v.broadcastPage(jsonItem(v.page.diagnosticsMessage()))
		}
		return v.publish(st.ch.byTopic[st.rig.Namespace.Diagnostics()], time.Now(), out.Diagnostics)
	case out.LearnerStats != nil:
		v.mt.learner(out.LearnerStats)
		p := v.page.learner(out.LearnerStats)
		if v.pages() {
			v.broadcastPage(jsonItem(p))
		}
		return v.publish(st.ch.byTopic[st.rig.Namespace.LearnerStats()], time.Now(), out.LearnerStats)
	}
	return nil
}

// pages reports whether a page is open.
func (v *Viewer) pages() bool { return v.stats.pages.Load() > 0 }

// publish marshals m for the Foxglove clients subscribed to ch (and keeps
// it when ch is latched).
func (v *Viewer) publish(ch *channel, stamp time.Time, m proto.Message) error {
	if ch == nil || (!ch.latched && ch.subs.Load() == 0) {
		return nil
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("viewer: %s: %w", ch.Topic, err)
	}
	ts := uint64(max(stamp.UnixNano(), 0))
	ch.latch(ts, b)
	if ch.subs.Load() > 0 {
		v.broadcastData(ch, ts, b)
	}
	return nil
}

// frame publishes a JPEG preview of a camera frame, at most ImageRate a
// second, when anyone looks.
func (v *Viewer) frame(st *rigState, f *msgs.Frame) error {
	cs := st.cams[f.Camera]
	if cs == nil || (cs.image.subs.Load() == 0 && !v.pages()) || time.Since(cs.lastImage) < st.imageEvery {
		return nil
	}
	if f.Width <= 0 || f.Height <= 0 || len(f.Pix) < 3*f.Width*f.Height {
		return fmt.Errorf("viewer: frame of %s: %dx%d with %d bytes", f.Camera, f.Width, f.Height, len(f.Pix))
	}
	cs.lastImage = time.Now()
	cs.preview = rgba(cs.preview, f.Width, f.Height)
	rgbToRGBA(cs.preview, f.Width, f.Height, f.Pix)
	jpg, err := encodeJPEG(&cs.scratch, cs.preview)
	if err != nil {
		return fmt.Errorf("viewer: preview of %s: %w", f.Camera, err)
	}
	if v.pages() {
		v.page.image(pageImage, cs.index, jpg)
		v.broadcastPage(imageItem(pageImage, cs.index, jpg))
	}
	return v.publish(cs.image, f.Stamp, &foxglove.CompressedImage{Timestamp: msgs.Timestamp(f.Stamp), FrameId: f.Camera, Data: jpg, Format: "jpeg"})
}

// result publishes a perception result: the node's own messages
// (msgs.ResultMessages: depth, camera_info, odom, pose, tf), then what the
// viewer makes of it (coloured depth, millimetres, points, trajectory, the
// rig's transform) and a Time message.
func (v *Viewer) result(st *rigState, r *msgs.Result) error {
	ref := r.Ref()
	cs := st.cams[ref.Camera]
	if cs == nil {
		return fmt.Errorf("viewer: result of camera %q, not in the rig", ref.Camera)
	}
	v.mt.result(r)
	var errs []error
	ms, err := msgs.ResultMessages(st.rig, r, cs.depth != nil && cs.depth.subs.Load() > 0, true)
	if err != nil {
		errs = append(errs, err)
	}
	for _, m := range ms {
		if err := v.publish(st.ch.byTopic[m.Topic], ref.Stamp, m.Message); err != nil {
			errs = append(errs, err)
		}
	}
	if r.Flow != nil && v.pages() {
		if err := v.flowPage(st, cs, ref, ms); err != nil {
			errs = append(errs, err)
		}
	}
	dm := &r.Depth
	okDepth := dm.Width > 0 && dm.Height > 0 && len(dm.Depth) >= dm.Width*dm.Height
	if okDepth && ((cs.color != nil && cs.color.subs.Load() > 0) || v.pages()) {
		if err := v.colourDepth(cs, ref, dm); err != nil {
			errs = append(errs, err)
		}
	}
	if okDepth && cs.mm != nil && cs.mm.subs.Load() > 0 {
		if err := v.publish(cs.mm, ref.Stamp, DepthMillimetres(ref.Stamp, ref.Camera, dm.Width, dm.Height, dm.Depth)); err != nil {
			errs = append(errs, err)
		}
	}
	if okDepth && cs.points != nil && cs.points.subs.Load() > 0 {
		if pc := PointCloud(dm, ref, v.CloudStep); pc != nil {
			if err := v.publish(cs.points, ref.Stamp, pc); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if r.Odom != nil {
		if err := v.trajectory(st, ref.Stamp, *r.Odom, r.Seq); err != nil {
			errs = append(errs, err)
		}
	}
	if err := v.rigTransform(st, ref.Stamp); err != nil {
		errs = append(errs, err)
	}
	v.broadcastTime(uint64(max(ref.Stamp.UnixNano(), 0)))
	return errors.Join(errs...)
}

// colourDepth publishes the Turbo-coloured depth map to Foxglove and the
// pages.
func (v *Viewer) colourDepth(cs *cameraState, ref *msgs.Frame, dm *msgs.DepthMap) error {
	lo, hi := cs.rng.of(dm.Depth[:dm.Width*dm.Height])
	cs.colour = rgba(cs.colour, dm.Width, dm.Height)
	colorDepth(cs.colour, dm.Width, dm.Height, dm.Depth, lo, hi)
	jpg, err := encodeJPEG(&cs.scratch, cs.colour)
	if err != nil {
		return fmt.Errorf("viewer: coloured depth of %s: %w", ref.Camera, err)
	}
	if v.pages() {
		v.page.image(pageDepth, cs.index, jpg)
		v.page.depthRange(cs.index, lo, hi)
		v.broadcastPage(jsonItem(map[string]any{"op": "range", "camera": cs.index, "min": lo, "max": hi}))
		v.broadcastPage(imageItem(pageDepth, cs.index, jpg))
	}
	return v.publish(cs.color, ref.Stamp, &foxglove.CompressedImage{Timestamp: msgs.Timestamp(ref.Stamp), FrameId: ref.Camera, Data: jpg, Format: "jpeg"})
}

// flowPage shows the optical flow's colour wheel (the
// optical_flow_image msgs.ResultMessages made, among ms) on the pages.
func (v *Viewer) flowPage(st *rigState, cs *cameraState, ref *msgs.Frame, ms []msgs.TopicMessage) error {
	subj, err := st.rig.Namespace.Camera(ref.Camera)
	if err != nil {
		return err
	}
	for _, m := range ms {
		img, ok := m.Message.(*foxglove.RawImage)
		if m.Topic != subj.OpticalFlowImage || !ok {
			continue
		}
		w, h := int(img.Width), int(img.Height)
		if img.Encoding != "rgb8" || w <= 0 || h <= 0 || len(img.Data) < 3*w*h {
			return fmt.Errorf("viewer: flow image of %s: %dx%d %s with %d bytes", ref.Camera, w, h, img.Encoding, len(img.Data))
		}
		cs.flow = rgba(cs.flow, w, h)
		rgbToRGBA(cs.flow, w, h, img.Data)
		jpg, err := encodeJPEG(&cs.scratch, cs.flow)
		if err != nil {
			return fmt.Errorf("viewer: flow image of %s: %w", ref.Camera, err)
		}
		v.page.image(pageFlow, cs.index, jpg)
		v.broadcastPage(imageItem(pageFlow, cs.index, jpg))
	}
	return nil
}

// trajectory adds a pose to the path: to the pages at once, to Foxglove
// as the whole PosesInFrame once a second.
func (v *Viewer) trajectory(st *rigState, stamp time.Time, p msgs.Pose, seq uint64) error {
	st.path.add(p)
	if v.pages() {
		v.broadcastPage(jsonItem(map[string]any{"op": "odom", "p": p.T, "seq": seq}))
	}
	if time.Since(st.pathSent) < pathEvery {
		return nil
	}
	st.pathSent = time.Now()
	poses := st.path.snapshot()
	m := &foxglove.PosesInFrame{Timestamp: msgs.Timestamp(stamp), FrameId: msgs.OdomFrame, Poses: make([]*foxglove.Pose, len(poses))}
	for i, q := range poses {
		m.Poses[i] = msgs.FoxglovePose(q)
	}
	return v.publish(st.ch.byTopic[string(st.rig.Namespace)+"."+SuffixPath], stamp, m)
}

// rigTransform publishes, once a second, the stereo rig's transform: the
// right camera's frame in the left's, a translation of the baseline
// along x (rectified cameras share their orientation).
func (v *Viewer) rigTransform(st *rigState, stamp time.Time) error {
	rig := st.rig
	if rig.Left == "" || rig.Right == "" || time.Since(st.tfStatic) < tfStaticEvery {
		return nil
	}
	st.tfStatic = time.Now()
	p := msgs.Identity()
	p.T[0] = rig.Baselines[rig.Right]
	return v.publish(st.ch.byTopic[string(rig.Namespace)+"."+SuffixTFStatic], stamp, msgs.FrameTransform(stamp, rig.Left, rig.Right, p))
}

// pathState is the trajectory: at most max poses, thinned evenly (every
// other pose dropped, and from then on every other one kept) when full.
type pathState struct {
	mu    sync.Mutex
	max   int
	poses []msgs.Pose
	every int // keep one pose in every
	skip  int
}

func (p *pathState) add(q msgs.Pose) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.every == 0 {
		p.every = 1
	}
	if p.skip > 0 {
		p.skip--
		return
	}
	p.skip = p.every - 1
	if len(p.poses) >= p.max {
		keep := p.poses[:0]
		for i := 0; i < len(p.poses); i += 2 {
			keep = append(keep, p.poses[i])
		}
		p.poses = keep
		p.every *= 2
		p.skip = p.every - 1
	}
	p.poses = append(p.poses, q)
}

func (p *pathState) snapshot() []msgs.Pose {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]msgs.Pose(nil), p.poses...)
}

// Page feed messages: JSON text for the small ones, binary for images.
const (
	pageDepth = 1 // byte 0 of a binary page message: coloured depth
	pageImage = 2 // camera preview
	pageFlow  = 3 // optical flow, colour wheel
)

func jsonItem(m any) item {
	b, _ := json.Marshal(m)
	return item{typ: textMessage, data: b}
}

// imageItem is a binary page message: kind, camera index, JPEG; latest-only
// per kind and camera.
func imageItem(kind, camera int, jpg []byte) item {
	it := item{typ: binaryMessage, key: (kind<<16 | camera) + 1, hlen: 2, data: jpg}
	it.hdr[0], it.hdr[1] = byte(kind), byte(camera)
	return it
}

// pageState is what a page that opens now gets at once: the trajectory is
// the rig state's; the learner's history, the diagnostics and the last
// images are here.
type pageState struct {
	mu      sync.Mutex
	history []map[string]any // learner points, the last maxHistory
	status  map[string]*parallaxv1.DiagnosticStatus
	images  map[int][]byte // kind<<16|camera -> JPEG
	ranges  map[int][2]float64
}

// maxHistory is how many learner points (one a second) a page gets.
const maxHistory = 3600

func (p *pageState) learner(s *parallaxv1.LearnerStats) map[string]any {
	t, _ := msgs.Time(s.GetTimestamp())
	m := map[string]any{"op": "learner", "t": float64(t.UnixMilli()) / 1000, "steps": s.GetSteps(), "sps": s.GetStepsPerSecond(),
		"adapting": s.GetAdapting(), "version": s.GetWeightsVersion(), "rollbacks": s.GetRollbacks(), "stepSeconds": s.GetStepSeconds()}
	if l, ok := msgs.Loss(s, "total"); ok {
		m["loss"] = l
	} else if ls := s.GetLosses(); len(ls) > 0 {
		m["loss"] = ls[0].GetValue()
	}
	if dm := s.GetDepthMetrics(); dm != nil {
		m["absRel"] = dm.GetAbsRel()
	}
	p.mu.Lock()
	p.history = append(p.history, m)
	if len(p.history) > maxHistory {
		p.history = append(p.history[:0], p.history[len(p.history)-maxHistory:]...)
	}
	p.mu.Unlock()
	return m
}

func (p *pageState) diagnostics(d *parallaxv1.Diagnostics) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status == nil {
		p.status = map[string]*parallaxv1.DiagnosticStatus{}
	}
	for _, s := range d.GetStatus() {
		p.status[s.GetName()] = s
	}
}

// diagnosticsMessage is every part's latest status, sorted by name.
func (p *pageState) diagnosticsMessage() map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := make([]map[string]any, 0, len(p.status))
	for _, s := range p.status {
		list = append(list, map[string]any{"name": s.GetName(), "level": int(s.GetLevel()), "message": s.GetMessage()})
	}
	sortByName(list)
	return map[string]any{"op": "diagnostics", "status": list}
}

func (p *pageState) image(kind, camera int, jpg []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.images == nil {
		p.images = map[int][]byte{}
	}
	p.images[kind<<16|camera] = jpg
}

func (p *pageState) depthRange(camera int, lo, hi float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ranges == nil {
		p.ranges = map[int][2]float64{}
	}
	p.ranges[camera] = [2]float64{lo, hi}
}
