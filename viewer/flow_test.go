package viewer_test

import (
	"bytes"
	"context"
	"image/jpeg"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
	"github.com/parallax-robotics/parallax/viewer"
	"github.com/parallax-robotics/parallax/viewer/viewertest"
)

// flowResult is viewertest's result with a rotating optical flow (every
// direction, so every hue of the wheel) and a scene flow 1 m forward.
func flowResult(seq int, stamp time.Time) *msgs.Result {
	r := viewertest.Result(seq, stamp)
	w, h := viewertest.Width, viewertest.Height
	of := &msgs.OpticalFlowField{Stamp: stamp, Next: stamp.Add(100 * time.Millisecond), FrameID: "left", Seq: uint64(seq),
		Width: w, Height: h, Flow: make([]float32, 2*w*h)}
	sf := &msgs.SceneFlowField{Stamp: stamp, Next: of.Next, FrameID: "left", Seq: uint64(seq), Width: w, Height: h,
		Flow: make([]float32, 3*w*h)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			of.Flow[2*i], of.Flow[2*i+1] = float32(x-w/2)/10, float32(y-h/2)/10
			sf.Flow[3*i+2] = 1
		}
	}
	r.Flow, r.SceneFlow = of, sf
	return r
}

// TestFlowChannels: a rig whose results carry optical and scene flow has
// the viewer advertise optical_flow, optical_flow_image and scene_flow for
// its reference camera; the messages arrive and decode, and the page shows
// the flow's colour wheel. (TestFoxgloveProtocol checks a rig without flow
// advertises none of them.)
func TestFlowChannels(t *testing.T) {
	rig := viewertest.Rig()
	rig.OpticalFlow, rig.SceneFlow = true, true
	v := &viewer.Viewer{Listen: "127.0.0.1:0", Logger: quiet(t)}
	if err := v.Open(rig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := v.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		tk := time.NewTicker(30 * time.Millisecond)
		defer tk.Stop()
		for i := 0; ; i++ {
			r := flowResult(i, time.Now())
			for _, o := range []msgs.Output{{Frame: r.Frames[0]}, {Frame: r.Frames[1]}, {Result: r}} {
				if err := v.Write(o); err != nil {
					done <- err
					return
				}
			}
			select {
			case <-ctx.Done():
				done <- nil
				return
			case <-tk.C:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("feed: %v", err)
		}
	})

	tctx := ctxFor(t, 20*time.Second)
	c, err := viewertest.Dial(tctx, v.FoxgloveURL(), viewer.Subprotocols[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := map[string]string{"test.left.optical_flow": "parallax.v1.OpticalFlow",
		"test.left.optical_flow_image": "foxglove.RawImage", "test.left.scene_flow": "parallax.v1.SceneFlow"}
	for topic, schema := range want {
		if ch := c.Channels[topic]; ch == nil || ch.SchemaName != schema {
			t.Fatalf("%s: advertised %+v, want schema %s", topic, ch, schema)
		}
	}
	for _, topic := range []string{"test.right.optical_flow", "test.right.scene_flow"} {
		if _, ok := c.Channels[topic]; ok {
			t.Errorf("%s advertised: the right camera has no flow", topic)
		}
	}
	if err := c.Subscribe(tctx, "test.left.optical_flow", "test.left.optical_flow_image", "test.left.scene_flow"); err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for len(got) < len(want) {
		m, err := c.Next(tctx)
		if err != nil {
			t.Fatalf("after %v: %v", keys(got), err)
		}
		if m.Channel != nil {
			if _, err := m.Channel.Decode(m.Payload); err != nil {
				t.Fatalf("%s: %v", m.Channel.Topic, err)
			}
			got[m.Channel.Topic] = m.Payload
		}
	}
	var of parallaxv1.OpticalFlow
	if err := proto.Unmarshal(got["test.left.optical_flow"], &of); err != nil {
		t.Fatal(err)
	}
	ff, err := msgs.OpticalFlowFromProto(&of)
	if err != nil || ff.Width != viewertest.Width || ff.Height != viewertest.Height {
		t.Fatalf("optical_flow %dx%d: %v", of.Width, of.Height, err)
	}
	// The pixel at (x, y) moves ((x-w/2)/10, (y-h/2)/10).
	if i := 10*ff.Width + 300; math.Abs(float64(ff.Flow[2*i])-14) > 1e-6 || math.Abs(float64(ff.Flow[2*i+1])+3.8) > 1e-6 {
		t.Errorf("optical_flow at (300, 10): %v, want (14, -3.8)", ff.Flow[2*i:2*i+2])
	}
	var img foxglove.RawImage
	if err := proto.Unmarshal(got["test.left.optical_flow_image"], &img); err != nil || img.Encoding != "rgb8" ||
		int(img.Width) != viewertest.Width || len(img.Data) != 3*viewertest.Width*viewertest.Height {
		t.Errorf("optical_flow_image %dx%d %s, %d bytes: %v", img.Width, img.Height, img.Encoding, len(img.Data), err)
	}
	var sf parallaxv1.SceneFlow
	if err := proto.Unmarshal(got["test.left.scene_flow"], &sf); err != nil || sf.Width != uint32(viewertest.Width) {
		t.Errorf("scene_flow %dx%d: %v", sf.Width, sf.Height, err)
	}

	// The page: a flow image (kind 3) of camera 0, on the colour wheel.
	conn, _, err := websocket.Dial(tctx, strings.Replace(v.URL(), "http", "ws", 1)+"feed", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(16 << 20)
	for {
		typ, data, err := conn.Read(tctx)
		if err != nil {
			t.Fatal(err)
		}
		if typ != websocket.MessageBinary || data[0] != 3 {
			continue
		}
		if data[1] != 0 {
			t.Fatalf("flow image of camera %d, want 0 (left)", data[1])
		}
		pic, err := jpeg.Decode(bytes.NewReader(data[2:]))
		if err != nil {
			t.Fatal(err)
		}
		if sat, total, hues := viewertest.Colourful(pic, pic.Bounds()); sat < total/2 || hues < 6 {
			t.Errorf("page flow: %d of %d pixels saturated, %d hues: not the colour wheel", sat, total, hues)
		}
		break
	}
}
