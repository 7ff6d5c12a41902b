package record

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parallax-robotics/parallax/msgs"
)

// Recorder records a running node into MCAP: it is one of the node's sinks
// (actors.Sink). It records every camera frame as the camera delivered it
// (before stereo sync and perception, so a replay sees what the node saw,
// dropped frames included) with its camera_info and, for synth:// cameras,
// its ground truth (msgs.FrameMessages' layout); and the node's outputs
// under their NATS subjects (msgs.ResultMessages: depth, camera_info of the
// depth maps, odom, pose, tf). The node queues its outputs in a FIFO of
// Queue messages in front of it (actors.Queued) that drops the oldest when
// the disk falls behind; the node's SinkStats("recorder") counts them.
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
	// NoModel leaves out the checkpoint the node started from. It defaults
	// to false: it is attached to every file (ModelAttachment), so a
	// replay serves the weights the drive was recorded with.
	NoModel bool
	// Queue is how many frames and results may wait for the disk. It
	// defaults to 64 (about 60 MB of 640x480 frames).
	Queue int

	rig *msgs.Rig
	w   *Writer

	mu       sync.Mutex
	errs     uint64
	firstErr error
}

// The attachment holding the node's starting checkpoint.
const (
	ModelAttachment = "model.ckpt"
	ModelMediaType  = "application/x-parallax-checkpoint"
)

// RecorderStats counts what a Recorder did.
type RecorderStats struct {
	WriterStats
	// Errors counts outputs that could not be encoded or written; Err is
	// the first such error.
	Errors uint64
	Err    error
}

// Name is "recorder".
func (r *Recorder) Name() string { return "recorder" }

// QueueLen is Queue, defaulted: the recorder wants every frame, in order.
func (r *Recorder) QueueLen() int {
	if r.Queue <= 0 {
		return 64
	}
	return r.Queue
}

// Open starts the file, with the rig in its "parallax" metadata record so
// a replay needs no launch file.
func (r *Recorder) Open(rig *msgs.Rig) error {
	r.rig = rig
	meta := map[string]string{
		msgs.MetadataKeyNamespace: string(rig.Namespace),
		msgs.MetadataKeyCameras:   strings.Join(rig.Cameras, ","),
	}
	if rig.Left != "" {
		meta[msgs.MetadataKeyLeft], meta[msgs.MetadataKeyRight] = rig.Left, rig.Right
		meta[msgs.MetadataKeyBaseline] = strconv.FormatFloat(rig.Baselines[rig.Right], 'g', -1, 64)
	}
	var rectified []string
	for _, c := range rig.Cameras {
		if rig.Calibrations[c] != nil {
			rectified = append(rectified, c)
		}
	}
	if len(rectified) > 0 {
		meta[msgs.MetadataKeyRectified] = strings.Join(rectified, ",")
	}
	r.w = &Writer{Path: r.Path, SplitSize: r.SplitSize, SplitDuration: r.SplitDuration, Metadata: meta}
	if rig.Model != "" && !r.NoModel {
		data, err := os.ReadFile(rig.Model)
		if err != nil {
			return fmt.Errorf("record: recorder: the node's model: %w", err)
		}
		r.w.Attachments = []Attachment{{Name: ModelAttachment, MediaType: ModelMediaType, Data: data}}
	}
	if err := r.w.Start(); err != nil {
		return fmt.Errorf("record: recorder: %w", err)
	}
	return nil
}

// Write records a frame or a result (diagnostics and stats are not
// recorded: a replay makes its own).
func (r *Recorder) Write(out msgs.Output) error {
	var ms []msgs.TopicMessage
	var stamp time.Time
	var err error
	switch {
	case out.Frame != nil:
		f := out.Frame
		stamp = f.Stamp
		ms, err = msgs.FrameMessages(string(r.rig.Namespace), f, r.rig.Baselines[f.Camera], !r.NoTruth)
	case out.Result != nil && !r.NoOutputs:
		stamp = out.Result.Ref().Stamp
		ms, err = msgs.ResultMessages(r.rig, out.Result, true, true)
	default:
		return nil
	}
	if err == nil {
		for _, m := range ms {
			if err = r.w.Write(m.Topic, stamp, m.Message); err != nil {
				break
			}
		}
	}
	if err != nil {
		r.mu.Lock()
		r.errs++
		if r.firstErr == nil {
			r.firstErr = err
		}
		r.mu.Unlock()
	}
	return err
}

// Close closes the file.
func (r *Recorder) Close() error {
	if r.w == nil {
		return nil
	}
	return r.w.Close()
}

// Stats returns what was recorded so far.
func (r *Recorder) Stats() RecorderStats {
	s := RecorderStats{}
	if r.w != nil {
		s.WriterStats = r.w.Stats()
	}
	r.mu.Lock()
	s.Errors, s.Err = r.errs, r.firstErr
	r.mu.Unlock()
	return s
}
