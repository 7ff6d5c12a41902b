package actors

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/actors/sinktest"
	"github.com/parallax-robotics/parallax/camera/replay"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
	"github.com/parallax-robotics/parallax/record"
)

// depthMaps returns a collector's depth maps by the reference frame's
// stamp.
func depthMaps(c *sinktest.Collector) map[int64][]byte {
	out := map[int64][]byte{}
	for _, r := range c.Results() {
		out[r.Ref().Stamp.UnixNano()] = msgs.AppendFloat32s(nil, r.Depth.Depth)
	}
	return out
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
		m, err := perception.NewModel(perception.DepthPose(320, 96, perception.DepthConfig{Size: "small"}, perception.PoseConfig{Size: "small"}), gotch.CPU)
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
	live := &sinktest.Collector{Queue: 1024}
	l := synthLaunch(t, "learner: {adapt: false}")
	l.Model.Checkpoint = ckpt
	rec := &record.Recorder{Path: path}
	n := startNode(t, &Node{Launch: l, Sinks: []Sink{rec, live}})
	waitFor(t, 60*time.Second, "10 live depth maps", func() bool { return live.Len() >= 10 })
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	st, _ := n.SinkStats(rec.Name())
	if rs := rec.Stats(); rs.Err != nil || st.Dropped > 0 || st.Errors > 0 {
		t.Fatalf("recorder: %d dropped, %d errors, first error %v", st.Dropped, st.Errors, rs.Err)
	}
	if !live.Closed() {
		t.Error("Stop did not close the sinks")
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
	if counts["test.left.depth"] != uint64(live.Len()) {
		t.Errorf("%d depth maps recorded, %d handed to the other sink", counts["test.left.depth"], live.Len())
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

	play := func() map[int64][]byte {
		d := &sinktest.Collector{}
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
		n := startNode(t, &Node{Launch: l, Sinks: []Sink{d}, Threads: 1})
		waitFor(t, 120*time.Second, "the replay to finish", func() bool { return d.Len() >= frames || d.Quiet(3*time.Second) })
		n.Stop()
		if st, _ := n.SinkStats(d.Name()); st.Dropped > 0 {
			t.Errorf("a lockstep replay dropped %d outputs of a sink", st.Dropped)
		}
		return depthMaps(d)
	}
	a, b := play(), play()
	if len(a) < frames-1 {
		t.Errorf("replay processed %d of %d recorded pairs", len(a), frames)
	}
	if len(a) != len(b) {
		t.Fatalf("replays published %d and %d depth maps", len(a), len(b))
	}
	for stamp, m := range a {
		if !bytes.Equal(m, b[stamp]) {
			t.Fatalf("depth at %d differs between the two replays", stamp)
		}
	}
	same := 0
	liveMaps := depthMaps(live)
	for stamp, m := range liveMaps {
		r, ok := a[stamp]
		if !ok {
			continue
		}
		if !bytes.Equal(m, r) {
			t.Fatalf("replayed depth at %d differs from the live node's", stamp)
		}
		same++
	}
	if same < len(liveMaps)-1 {
		t.Errorf("only %d of %d live depth maps were replayed", same, len(liveMaps))
	}
	t.Logf("%d frames recorded, %d replayed twice identically, %d equal to the live run", frames, len(a), same)
}
