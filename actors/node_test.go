package actors

import (
	"errors"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// TestNodeSynthPublishes runs the whole node on a synth:// stereo pair and
// checks, as a subscriber, that depth, camera_info, odom, pose and tf
// arrive and decode.
func TestNodeSynthPublishes(t *testing.T) {
	n := startNode(t, &Node{Launch: synthLaunch(t, "topics: {image: true, image_rate: 5}")})
	c := subscribe(t, n)
	waitFor(t, 30*time.Second, "5 depth maps and odometry", func() bool {
		return c.count("test.left.depth") >= 5 && c.count("test.odom") >= 5 && c.count("test.left.image") >= 1
	})
	for _, m := range c.all("test.left.depth") {
		var img foxglove.RawImage
		if err := proto.Unmarshal(m.Data, &img); err != nil {
			t.Fatal(err)
		}
		if len(img.Data) != testW*testH*4 {
			t.Fatalf("depth data %d bytes, want %d", len(img.Data), testW*testH*4)
		}
		w, h, d, err := msgs.DepthFromImage(&img)
		if err != nil {
			t.Fatal(err)
		}
		if w != testW || h != testH || img.FrameId != "left" || img.Encoding != "32FC1" {
			t.Fatalf("depth %dx%d frame %q encoding %q", w, h, img.FrameId, img.Encoding)
		}
		for i, v := range d {
			if !(v >= 0.1 && v <= 100) {
				t.Fatalf("depth[%d] = %v outside 0.1..100 m", i, v)
			}
		}
		if ts, err := msgs.Time(img.Timestamp); err != nil || time.Since(ts) > 10*time.Second || time.Since(ts) < 0 {
			t.Fatalf("depth stamp %v (%v): not a recent capture time", ts, err)
		}
	}
	for _, cam := range []string{"left", "right"} {
		ms := c.all("test." + cam + ".camera_info")
		if len(ms) == 0 {
			t.Fatalf("no camera_info for %s", cam)
		}
		var cal foxglove.CameraCalibration
		if err := proto.Unmarshal(ms[0].Data, &cal); err != nil {
			t.Fatal(err)
		}
		k, err := msgs.IntrinsicsFromCalibration(&cal)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := msgs.StereoBaseline(&cal)
		if k.Width != testW || k.Height != testH || (cam == "right") != (b > 0.5 && b < 0.6) {
			t.Errorf("%s camera_info %+v baseline %v", cam, k, b)
		}
	}
	var first, last parallaxv1.Odometry
	odoms := c.all("test.odom")
	if err := proto.Unmarshal(odoms[0].Data, &first); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(odoms[len(odoms)-1].Data, &last); err != nil {
		t.Fatal(err)
	}
	p0, err := msgs.OdometryPose(&first)
	if err != nil {
		t.Fatal(err)
	}
	if p0 != msgs.Identity() || first.FrameId != msgs.OdomFrame || first.ChildFrameId != "left" {
		t.Errorf("first odometry %v in %q/%q, want identity in odom/left", p0, first.FrameId, first.ChildFrameId)
	}
	if last.Seq <= first.Seq {
		t.Errorf("odometry seq %d then %d", first.Seq, last.Seq)
	}
	if c.count("test.pose") == 0 || c.count("test.tf") == 0 {
		t.Errorf("pose %d, tf %d messages", c.count("test.pose"), c.count("test.tf"))
	}
	var tf foxglove.FrameTransform
	if err := proto.Unmarshal(c.all("test.tf")[0].Data, &tf); err != nil || tf.ParentFrameId != "odom" || tf.ChildFrameId != "left" {
		t.Errorf("tf %v %v", &tf, err)
	}
	if s := n.Stats(); s.FramesIn == 0 || s.FramesProcessed == 0 || s.Published == 0 {
		t.Errorf("stats %+v", s)
	}
	// Per camera, and the latency distribution: synth:// stamps are on the
	// camera clock from the first frame.
	var in uint64
	for _, cam := range []string{"left", "right"} {
		cs, ok := n.CameraStats(cam)
		if !ok || cs.FramesIn == 0 {
			t.Errorf("camera %s stats %+v (%v)", cam, cs, ok)
		}
		in += cs.FramesIn
	}
	if _, ok := n.CameraStats("nope"); ok {
		t.Error("stats for a camera the node does not have")
	}
	if s := n.Stats(); in > s.FramesIn {
		t.Errorf("cameras count %d frames, the node %d", in, s.FramesIn)
	}
	if h := n.LatencyHistogram(); h.Count == 0 || h.Sum <= 0 || h.Counts[len(h.Counts)-1] > h.Count {
		t.Errorf("latency histogram %+v", h)
	}
}

// TestNodeStopsQuickly checks that Stop ends everything (RTSP cameras,
// inference, NATS) within 2 s while inference is running.
func TestNodeStopsQuickly(t *testing.T) {
	srv := serveSynth(t, "127.0.0.1:0", time.Now())
	defer srv.Close()
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	n := &Node{Launch: rtspLaunch(t, srv.Addr(), "")}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	c := subscribe(t, n)
	waitFor(t, 30*time.Second, "a depth map", func() bool { return c.count("test.left.depth") > 0 })
	start := time.Now()
	defer func() { t.Logf("goroutines before %d, after %d", before, runtime.NumGoroutine()) }()
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop took %v, want under 2 s", d)
	}
	// Every goroutine of the node (camera readers, RTSP clients,
	// inference, NATS) is gone; the subscriber's connection remains.
	c.nc.Close()
	waitFor(t, 2*time.Second, "the node's goroutines to end", func() bool { return runtime.NumGoroutine() <= before+2 })
	if err := n.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// TestNodeMaxPayload checks that a depth map too big for the server is an
// error at start-up that names the subject and what to change.
func TestNodeMaxPayload(t *testing.T) {
	n := &Node{Launch: synthLaunch(t, ""), MaxPayload: 64 << 10}
	err := n.Start()
	if err == nil {
		n.Stop()
		t.Fatal("Start succeeded with a 64 KiB max_payload and 120 KiB depth maps")
	}
	if !errors.Is(err, ErrMaxPayload) {
		t.Fatalf("error %v is not ErrMaxPayload", err)
	}
	for _, want := range []string{"test.left.depth", "65536", "model.width", "max_payload"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestNodeStartErrors checks configuration errors that Start reports
// before anything runs.
func TestNodeStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		node *Node
		want error
		text string
	}{
		{"no launch", &Node{}, ErrNoLaunch, "no launch"},
		{"recording source", &Node{Launch: parseLaunch(t, `
cameras: [{name: front, url: "mcap://drive.mcap"}]
nats: {embedded: {listen: "127.0.0.1:0"}}`)}, os.ErrNotExist, "drive.mcap"},
		{"busy NATS port", &Node{Launch: func() *launch.Launch {
			l := synthLaunch(t, "")
			l.NATS.Embedded.Listen = busy.Addr().String()
			return l
		}()}, ErrNATS, busy.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.node.Start()
			if err == nil {
				tc.node.Stop()
				t.Fatal("Start succeeded")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Start: %v, want %v naming %q", err, tc.want, tc.text)
			}
		})
	}
}

// TestNodeMonoPublishes runs a single synth:// camera with its own name:
// depth and odometry carry that name.
func TestNodeMonoPublishes(t *testing.T) {
	n := startNode(t, &Node{Launch: parseLaunch(t, `
namespace: mono
cameras: [{name: front, url: "synth://?width=320&height=96&fps=15&seed=3"}]
model: {width: 320, height: 96, size: small}
device: cpu
nats: {embedded: {listen: "127.0.0.1:0"}}`)})
	c := subscribe(t, n)
	waitFor(t, 30*time.Second, "mono depth and odometry", func() bool {
		return c.count("mono.front.depth") >= 3 && c.count("mono.odom") >= 3 && c.count("mono.front.camera_info") >= 3
	})
	var o parallaxv1.Odometry
	if err := proto.Unmarshal(c.all("mono.odom")[0].Data, &o); err != nil || o.ChildFrameId != "front" {
		t.Errorf("odometry child %q: %v", o.ChildFrameId, err)
	}
	var cal foxglove.CameraCalibration
	if err := proto.Unmarshal(c.all("mono.front.camera_info")[0].Data, &cal); err != nil {
		t.Fatal(err)
	}
	if b, _ := msgs.StereoBaseline(&cal); b != 0 {
		t.Errorf("mono camera baseline %v", b)
	}

	// The periodic summary carries the process's own health.
	var proc map[string]string
	waitFor(t, 10*time.Second, "a process status", func() bool {
		for _, m := range c.all("mono.diagnostics") {
			var d parallaxv1.Diagnostics
			if proto.Unmarshal(m.Data, &d) != nil {
				continue
			}
			for _, st := range d.Status {
				if st.Name == "process" {
					proc = map[string]string{}
					for _, kv := range st.Values {
						proc[kv.Key] = kv.Value
					}
				}
			}
		}
		return proc != nil
	})
	for _, k := range []string{"goroutines", "rss_bytes", "go_heap_bytes", "open_files", "uptime_s"} {
		if v, err := strconv.ParseInt(proc[k], 10, 64); err != nil || v < 0 || k != "uptime_s" && v == 0 {
			t.Errorf("process status %s = %q, want a positive count", k, proc[k])
		}
	}
}
