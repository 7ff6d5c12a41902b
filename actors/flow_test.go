package actors

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
	"github.com/parallax-robotics/parallax/record"
)

// flowWorld is the test world with 8 movers, served over RTSP.
const flowWorld = "synth://?stereo=1&width=320&height=96&fps=15&movers=8"

// TestNodePublishesFlow runs the node with topics.optical_flow and
// topics.scene_flow on a world with movers over real RTSP (H.264) and
// decodes what arrives as an independent subscriber would, with nothing but
// the generated protobuf types: parallax.v1.OpticalFlow (2 float32 a
// pixel, stamps from one frame to the next), the colour-wheel
// foxglove.RawImage and parallax.v1.SceneFlow (3 float32 a pixel, with the
// reference depth). The flow network is untrained here (random init):
// what is checked is the contract, not the accuracy (learner's
// TestLearnUnFlow measures that). The MCAP recorder, a second sink,
// records the same topics.
func TestNodePublishesFlow(t *testing.T) {
	srv := serveSynthWorld(t, "127.0.0.1:0", time.Now(), flowWorld, "", "")
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "flow.mcap")
	rec := &record.Recorder{Path: path}
	n := startNode(t, &Node{Launch: rtspLaunch(t, srv.Addr(), "topics: {optical_flow: true, scene_flow: true}"), Sinks: []Sink{rec}})
	c := subscribe(t, n)
	waitFor(t, 60*time.Second, "3 optical flows, previews and scene flows", func() bool {
		return c.count("test.left.optical_flow") >= 3 && c.count("test.left.optical_flow_image") >= 3 && c.count("test.left.scene_flow") >= 3
	})
	const w, h = 320, 96
	floats := func(b []byte) []float32 {
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return v
	}
	var lastSeq uint64
	for i, m := range c.all("test.left.optical_flow") {
		var f parallaxv1.OpticalFlow
		if err := proto.Unmarshal(m.Data, &f); err != nil {
			t.Fatal(err)
		}
		if f.Width != w || f.Height != h || len(f.Flow) != w*h*8 || f.FrameId != "left" {
			t.Fatalf("optical flow %dx%d, %d bytes, frame %q", f.Width, f.Height, len(f.Flow), f.FrameId)
		}
		if i > 0 && f.Seq <= lastSeq {
			t.Errorf("optical flow seq %d after %d", f.Seq, lastSeq)
		}
		lastSeq = f.Seq
		from, to := f.Timestamp.AsTime(), f.NextTimestamp.AsTime()
		if !to.After(from) || to.Sub(from) > 5*time.Second || time.Since(from) > 30*time.Second {
			t.Fatalf("optical flow from %v to %v: want two recent frames in order", from, to)
		}
		for j, v := range floats(f.Flow) {
			if math.IsNaN(float64(v)) || math.Abs(float64(v)) > 2*w {
				t.Fatalf("flow value %d = %v", j, v)
			}
		}
	}
	var img foxglove.RawImage
	if err := proto.Unmarshal(c.all("test.left.optical_flow_image")[0].Data, &img); err != nil {
		t.Fatal(err)
	}
	if img.Encoding != "rgb8" || img.Width != w || img.Height != h || img.Step != 3*w || len(img.Data) != 3*w*h {
		t.Fatalf("flow preview %s %dx%d step %d, %d bytes", img.Encoding, img.Width, img.Height, img.Step, len(img.Data))
	}
	var sf parallaxv1.SceneFlow
	if err := proto.Unmarshal(c.all("test.left.scene_flow")[0].Data, &sf); err != nil {
		t.Fatal(err)
	}
	if sf.Width != w || sf.Height != h || len(sf.Flow) != w*h*12 || len(sf.Depth) != w*h*4 || sf.FrameId != "left" || sf.EgoMotionRemoved {
		t.Fatalf("scene flow %dx%d, %d flow bytes, %d depth bytes, frame %q, ego removed %v", sf.Width, sf.Height, len(sf.Flow), len(sf.Depth), sf.FrameId, sf.EgoMotionRemoved)
	}
	finite := 0
	for _, v := range floats(sf.Flow) {
		if !math.IsNaN(float64(v)) {
			finite++
			if math.Abs(float64(v)) > 200 {
				t.Fatalf("scene flow value %v m", v)
			}
		}
	}
	if finite < w*h { // most of 3 values a pixel
		t.Errorf("scene flow has %d finite values of %d", finite, 3*w*h)
	}
	// The recorder, another sink, keeps them on the same topics. Stop may
	// report the 2 s stop limit here: the recorder, behind on ~1 MB of
	// flow, scene flow and raw frames a result on shared cores, is still
	// draining; Stop closes the sinks either way, and stopping in time is
	// TestNodeStopsQuickly's to check.
	if err := n.Stop(); err != nil {
		t.Logf("stop: %v", err)
	}
	if rs := rec.Stats(); rs.Err != nil {
		t.Fatalf("recorder: %v", rs.Err)
	}
	sum, err := record.Info(path)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, ch := range sum.Channels {
		counts[ch.Topic] = ch.Messages
	}
	for _, topic := range []string{"test.left.optical_flow", "test.left.optical_flow_image", "test.left.scene_flow"} {
		if counts[topic] == 0 {
			t.Errorf("recording has no %s (channels %v)", topic, counts)
		}
	}
}

// A checkpoint without a flow network cannot serve topics.optical_flow:
// Start says so, naming the checkpoint and what it has.
func TestNodeFlowNeedsFlowNet(t *testing.T) {
	l := synthLaunch(t, "topics: {optical_flow: true}")
	l.Model.Checkpoint = saveCheckpoint(t)
	n := &Node{Launch: l}
	err := n.Start()
	if err == nil {
		n.Stop()
		t.Fatal("a checkpoint without a flow network started with topics.optical_flow")
	}
	if !strings.Contains(err.Error(), "need a flow network") || !strings.Contains(err.Error(), l.Model.Checkpoint) {
		t.Fatalf("Start: %v, want the missing flow network and the checkpoint named", err)
	}
}
