package actors

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/camera/replay"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
	"github.com/parallax-robotics/parallax/record"
)

// depthLog collects the published depth maps by the reference frame's
// stamp, as OnDepth sees them.
type depthLog struct {
	mu   sync.Mutex
	maps map[int64][]byte
	last time.Time
}

func newDepthLog() *depthLog { return &depthLog{maps: map[int64][]byte{}} }

func (d *depthLog) onDepth(r *DepthResult) {
	b := msgs.AppendFloat32s(nil, r.Depth.Depth)
	d.mu.Lock()
	d.maps[r.Set.Ref().Stamp.UnixNano()] = b
	d.last = time.Now()
	d.mu.Unlock()
}

func (d *depthLog) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.maps)
}

// quiet reports whether no depth arrived for the last dt.
func (d *depthLog) quiet(dt time.Duration) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.maps) > 0 && time.Since(d.last) > dt
}

// saveCheckpoint writes a randomly initialised small model: replays of the
// same weights must agree, and a fresh random init per run would not.
func saveCheckpoint(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.ckpt")
	w, err := perception.NewWorker(1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Do(func() error {
		m, err := perception.NewModel(perception.ModelConfig{Width: 320, Height: 96,
			Depth: perception.DepthConfig{Size: "small"}, Pose: perception.PoseConfig{Size: "small"}}, gotch.CPU)
		if err != nil {
			return err
		}
		defer m.Close()
		return m.Save(path, perception.CheckpointMeta{})
	}); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRecordReplayDeterministic records a live synth:// stereo node, then
// replays the recording twice at rate 0 (lockstep) with adaptation off: both
// replays publish the same depth maps, byte for byte, for every recorded
// pair, and those equal the live node's for the frames it processed.
func TestRecordReplayDeterministic(t *testing.T) {
	ckpt := saveCheckpoint(t)
	path := filepath.Join(t.TempDir(), "drive.mcap")
	live := newDepthLog()
	l := synthLaunch(t, "learner: {adapt: false}")
	l.Model.Checkpoint = ckpt
	rec := &Recorder{Path: path}
	n := startNode(t, &Node{Launch: l, Recorder: rec, OnDepth: live.onDepth})
	waitFor(t, 60*time.Second, "10 live depth maps", func() bool { return live.len() >= 10 })
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	st := rec.Stats()
	if st.Err != nil || st.Dropped > 0 {
		t.Fatalf("recorder: %d dropped, first error %v", st.Dropped, st.Err)
	}
	sum, err := record.Info(path)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, c := range sum.Channels {
		counts[c.Topic] = c.Messages
	}
	for _, topic := range []string{"test.left.raw.image", "test.right.raw.image", "test.left.raw.camera_info",
		"test.left.truth.depth", "test.left.truth.pose", "test.left.depth", "test.left.camera_info", "test.odom", "test.tf"} {
		if counts[topic] == 0 {
			t.Errorf("recording has no %s (channels %v)", topic, counts)
		}
	}
	if !sum.Complete {
		t.Fatalf("recording not closed: %s", sum.Problem)
	}
	// Every live depth map was recorded.
	if counts["test.left.depth"] != uint64(live.len()) {
		t.Errorf("%d depth maps recorded, %d published", counts["test.left.depth"], live.len())
	}
	recd, err := replay.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	left, _ := recd.Frames("left")
	frames := left.Len()
	if lb := recd.Baseline(); lb != 0.54 {
		t.Errorf("recorded baseline %g, want 0.54", lb)
	}
	recd.Close()

	play := func() *depthLog {
		d := newDepthLog()
		l := parseLaunch(t, fmt.Sprintf(`
namespace: replay
cameras:
  - {name: left, url: "mcap://%[1]s?rate=0", role: left}
  - {name: right, url: "mcap://%[1]s?rate=0", role: right}
model: {width: 320, height: 96, size: small, checkpoint: %[2]s}
learner: {adapt: false}
device: cpu
nats: {embedded: {listen: "127.0.0.1:0"}}
`, path, ckpt))
		n := startNode(t, &Node{Launch: l, OnDepth: d.onDepth, Threads: 1})
		waitFor(t, 120*time.Second, "the replay to finish", func() bool { return d.len() >= frames || d.quiet(3*time.Second) })
		n.Stop()
		return d
	}
	a, b := play(), play()
	if a.len() < frames-1 {
		t.Errorf("replay processed %d of %d recorded pairs", a.len(), frames)
	}
	if a.len() != b.len() {
		t.Fatalf("replays published %d and %d depth maps", a.len(), b.len())
	}
	for stamp, m := range a.maps {
		if !bytes.Equal(m, b.maps[stamp]) {
			t.Fatalf("depth at %d differs between the two replays", stamp)
		}
	}
	same := 0
	for stamp, m := range live.maps {
		r, ok := a.maps[stamp]
		if !ok {
			continue
		}
		if !bytes.Equal(m, r) {
			t.Fatalf("replayed depth at %d differs from the live node's", stamp)
		}
		same++
	}
	if same < live.len()-1 {
		t.Errorf("only %d of %d live depth maps were replayed", same, live.len())
	}
	t.Logf("%d frames recorded, %d replayed twice identically, %d equal to the live run", frames, a.len(), same)
}
