package record_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/internal/fuzzseed"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/record"
)

// TestFuzzSeeds builds the seed corpora of FuzzRead and FuzzOpenFile from
// recordings the node's Recorder writes: a synthetic stereo world's frames
// with ground truth, and results (its depth as the depth map, its pose as
// odometry), whole and cut where a kill -9 would leave the file; see
// internal/fuzzseed.
func TestFuzzSeeds(t *testing.T) {
	w, err := synth.NewWorld(synth.Config{Seed: 6, Width: 8, Height: 8, Stereo: true})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "drive.mcap")
	rec := &record.Recorder{Path: path}
	rig := &msgs.Rig{Namespace: "seed", Cameras: []string{"left", "right"}, Left: "left", Right: "right",
		Baselines: map[string]float64{"right": w.Config().Baseline}}
	if err := rec.Open(rig); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		l, r := w.Render(i)
		l.Camera, r.Camera = "left", "right"
		for _, f := range []*msgs.Frame{l, r} {
			if err := rec.Write(msgs.Output{Frame: f}); err != nil {
				t.Fatal(err)
			}
		}
		odom := l.Truth.Pose
		res := &msgs.Result{Frames: []*msgs.Frame{l, r}, Seq: uint64(i), Odom: &odom,
			Depth: msgs.DepthMap{Width: l.Width, Height: l.Height, Depth: l.Truth.Depth, Intrinsics: l.Intrinsics}}
		if err := rec.Write(msgs.Output{Result: res}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := record.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	topics := len(f.Topics())
	f.Close()
	// frames, camera_info and truth of two cameras, depth, odom, pose, tf.
	if topics < 6 {
		t.Errorf("the recording has %d topics", topics)
	}
	for _, target := range []string{"FuzzRead", "FuzzOpenFile"} {
		c := fuzzseed.New(t, target)
		c.Add("recorder-stereo", b)
		c.Add("recorder-stereo-cut", b[:len(b)*2/3])
		c.Close()
	}
}
