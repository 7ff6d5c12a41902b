package actors

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/camera/kitti"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

// TestNodeKITTI runs the node on a kitti:// stereo folder written from the
// synthetic world: every frame pair is processed (rate 0), and camera_info
// carries the folder's intrinsics and the calibration's baseline.
func TestNodeKITTI(t *testing.T) {
	w, err := synth.NewWorld(synth.Config{Width: 320, Height: 96, Stereo: true, Seed: 2, Baseline: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	var left, right []*msgs.Frame
	for i := 0; i < 6; i++ {
		l, r := w.Render(i)
		left, right = append(left, l), append(right, r)
	}
	dir := filepath.Join(t.TempDir(), "2011_09_26_drive_0001_sync")
	if err := kitti.Write(dir, left, right, 0.3); err != nil {
		t.Fatal(err)
	}
	l := parseLaunch(t, fmt.Sprintf(`
namespace: kitti
cameras:
  - {name: left, url: "kitti://%[1]s?rate=0", role: left}
  - {name: right, url: "kitti://%[1]s?rate=0", role: right}
model: {width: 320, height: 96, size: small}
learner: {adapt: false}
device: cpu
nats: {embedded: {listen: "127.0.0.1:0"}}
`, dir))
	n := startNode(t, &Node{Launch: l, Threads: 1})
	c := subscribe(t, n)
	waitFor(t, 60*time.Second, "6 depth maps", func() bool { return c.count("kitti.left.depth") >= 6 })
	cal := &foxglove.CameraCalibration{}
	for _, cam := range []string{"left", "right"} {
		msgs := c.all("kitti." + cam + ".camera_info")
		if len(msgs) == 0 {
			t.Fatalf("no %s camera_info", cam)
		}
		if err := proto.Unmarshal(msgs[0].Data, cal); err != nil {
			t.Fatal(err)
		}
		k := w.Config()
		if math.Abs(cal.K[0]-k.Fx) > 1e-6 || math.Abs(cal.K[2]-(k.Cx-0.5)) > 1e-6 || math.Abs(cal.K[5]-(k.Cy-0.5)) > 1e-6 {
			t.Errorf("%s camera_info K %v, want fx %g cx %g cy %g", cam, cal.K, k.Fx, k.Cx-0.5, k.Cy-0.5)
		}
		want := 0.0
		if cam == "right" {
			want = 0.3
		}
		if b := -cal.P[3] / cal.P[0]; math.Abs(b-want) > 1e-9 {
			t.Errorf("%s camera_info baseline %g, want %g", cam, b, want)
		}
	}
	if s := n.Stats(); s.FramesProcessed != 6 || s.Dropped() != 0 {
		t.Errorf("stats %+v: want the 6 pairs processed, none dropped", s)
	}
}
