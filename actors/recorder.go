package actors

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/record"
)

// Recorder records a running node into MCAP (package record): every camera
// frame as the camera delivers it (before stereo sync and perception, so a
// replay sees what the node saw, dropped frames included), with its
// camera_info and, for synth:// cameras, its ground truth (the recording
// layout of msgs.FrameMessages, which camera/replay reads back); and the node's outputs under their NATS subjects: depth,
// camera_info of the depth maps, odom, pose, tf. Set it as Node.Recorder
// before Start; Stop closes the file.
//
// The recorder is an actor with a bounded, dropping mailbox served by its
// own goroutine: the cameras and the publisher hand it messages without
// ever waiting for the disk, and when the disk falls behind the oldest
// queued messages are dropped and counted (RecorderStats.Dropped).
type Recorder struct {
	// Path is the file, or with a split the pattern (drive.mcap records
	// drive-0001.mcap, drive-0002.mcap, ...). It is required.
	Path string
	// SplitSize starts a new file after this many bytes. It defaults to 0:
	// no split by size.
	SplitSize int64
	// SplitDuration starts a new file after this much recorded time. It
	// defaults to 0: no split by duration.
	SplitDuration time.Duration
	// NoOutputs records the camera inputs only. It defaults to false: the
	// node's outputs are recorded too.
	NoOutputs bool
	// NoTruth leaves out the ground truth of synthetic cameras. It defaults
	// to false: recorded when the frames carry it.
	NoTruth bool
	// Queue is the mailbox size in messages. It defaults to 64 (about 60 MB
	// of 640x480 frames).
	Queue int

	w        *record.Writer
	ns       msgs.Namespace
	baseline map[string]float64
	mbox     chan recorderMsg
	done     chan struct{}
	once     sync.Once
	dropped  atomic.Uint64
	errs     atomic.Uint64
	mu       sync.Mutex // guards firstErr, closing and sends on mbox
	closing  bool
	firstErr error
}

// RecorderStats counts what a Recorder did.
type RecorderStats struct {
	record.WriterStats
	// Dropped counts messages dropped because the mailbox was full.
	Dropped uint64
	// Errors counts messages that could not be encoded or written; Err is
	// the first such error.
	Errors uint64
	Err    error
}

// recorderMsg is one message of the recorder's mailbox.
type recorderMsg struct {
	frame *msgs.Frame
	depth *DepthResult
}

// start opens the file and starts the recorder's goroutine.
func (r *Recorder) start(l *launch.Launch, baselines map[string]float64) error {
	ns, err := msgs.NewNamespace(l.Namespace)
	if err != nil {
		return err
	}
	if r.Queue <= 0 {
		r.Queue = 64
	}
	meta := map[string]string{msgs.MetadataKeyNamespace: string(ns)}
	var names []string
	for _, c := range l.Cameras {
		names = append(names, c.Name)
	}
	meta[msgs.MetadataKeyCameras] = strings.Join(names, ",")
	if st := l.Stereo; st != nil {
		meta[msgs.MetadataKeyLeft], meta[msgs.MetadataKeyRight] = st.Left, st.Right
		meta[msgs.MetadataKeyBaseline] = strconv.FormatFloat(baselines[st.Right], 'g', -1, 64)
	}
	r.w = &record.Writer{Path: r.Path, SplitSize: r.SplitSize, SplitDuration: r.SplitDuration, Metadata: meta}
	if err := r.w.Start(); err != nil {
		return fmt.Errorf("actors: recorder: %w", err)
	}
	r.ns, r.baseline = ns, baselines
	r.mbox, r.done = make(chan recorderMsg, r.Queue), make(chan struct{})
	go r.run()
	return nil
}

// offer puts m into the mailbox, dropping the oldest message when full.
// After close it drops m: a camera reader still finishing (an RTSP connect
// that outlived Stop) must not write into a closed mailbox.
func (r *Recorder) offer(m recorderMsg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing || r.mbox == nil {
		r.dropped.Add(1)
		return
	}
	for {
		select {
		case r.mbox <- m:
			return
		default:
		}
		select {
		case <-r.mbox:
			r.dropped.Add(1)
		default:
		}
	}
}

// run is the recorder's goroutine: it receives until the mailbox closes.
func (r *Recorder) run() {
	defer close(r.done)
	for m := range r.mbox {
		var err error
		switch {
		case m.frame != nil:
			err = r.recordFrame(m.frame)
		case m.depth != nil:
			err = r.recordDepth(m.depth)
		}
		if err != nil {
			r.errs.Add(1)
			r.mu.Lock()
			if r.firstErr == nil {
				r.firstErr = err
			}
			r.mu.Unlock()
		}
	}
}

func (r *Recorder) recordFrame(f *msgs.Frame) error {
	recs, err := msgs.FrameMessages(string(r.ns), f, r.baseline[f.Camera], !r.NoTruth)
	if err != nil {
		return err
	}
	for _, m := range recs {
		if err := r.w.Write(m.Topic, f.Stamp, m.Message); err != nil {
			return err
		}
	}
	return nil
}

// recordDepth records a result as the publisher publishes it.
func (r *Recorder) recordDepth(res *DepthResult) error {
	ref := res.Set.Ref()
	subj, err := r.ns.Camera(ref.Camera)
	if err != nil {
		return err
	}
	var out []msgs.TopicMessage
	img, err := msgs.DepthImage(ref.Stamp, ref.Camera, res.Depth.Width, res.Depth.Height, res.Depth.Depth)
	if err != nil {
		return err
	}
	out = append(out, msgs.TopicMessage{Topic: subj.Depth, Message: img})
	if k := res.Depth.Intrinsics; k != nil {
		for _, f := range res.Set.Frames {
			cal, err := msgs.CameraCalibration(ref.Stamp, f.Camera, *k, r.baseline[f.Camera])
			if err != nil {
				return err
			}
			s, err := r.ns.Camera(f.Camera)
			if err != nil {
				return err
			}
			out = append(out, msgs.TopicMessage{Topic: s.CameraInfo, Message: cal})
		}
	}
	if res.Odom != nil {
		o := msgs.Odometry(ref.Stamp, OdomFrame, ref.Camera, res.Seq, *res.Odom)
		out = append(out, msgs.TopicMessage{Topic: r.ns.Odom(), Message: o},
			msgs.TopicMessage{Topic: r.ns.Pose(), Message: msgs.PoseInFrameFromOdometry(o)},
			msgs.TopicMessage{Topic: r.ns.TF(), Message: msgs.TransformFromOdometry(o)})
	}
	for _, m := range out {
		if err := r.w.Write(m.Topic, ref.Stamp, m.Message); err != nil {
			return err
		}
	}
	return nil
}

// close drains the mailbox and closes the file.
func (r *Recorder) close() error {
	var err error
	r.once.Do(func() {
		r.mu.Lock()
		r.closing = true
		mbox := r.mbox
		r.mu.Unlock()
		if mbox == nil {
			return
		}
		close(mbox)
		<-r.done
		err = r.w.Close()
	})
	return err
}

// Stats returns what was recorded so far.
func (r *Recorder) Stats() RecorderStats {
	s := RecorderStats{Dropped: r.dropped.Load(), Errors: r.errs.Load()}
	if r.w != nil {
		s.WriterStats = r.w.Stats()
	}
	r.mu.Lock()
	s.Err = r.firstErr
	r.mu.Unlock()
	return s
}

// recordedSource hands every frame its source reads to the recorder.
type recordedSource struct {
	camera.Source
	rec *Recorder
}

func (s *recordedSource) Read(ctx context.Context) (*msgs.Frame, error) {
	f, err := s.Source.Read(ctx)
	if f != nil {
		s.rec.offer(recorderMsg{frame: f})
	}
	return f, err
}
