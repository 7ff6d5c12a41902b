package viewer_test

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
	"github.com/parallax-robotics/parallax/viewer"
	"github.com/parallax-robotics/parallax/viewer/viewertest"
)

// quiet is a logger for tests: the viewer's logs only on failure.
func quiet(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// open starts v on a free loopback port for the synthetic rig and closes
// it at the end of the test.
func open(t testing.TB, v *viewer.Viewer) *viewer.Viewer {
	t.Helper()
	if v.Listen == "" {
		v.Listen = "127.0.0.1:0"
	}
	if v.Logger == nil {
		v.Logger = quiet(t)
	}
	if err := v.Open(viewertest.Rig()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := v.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return v
}

// feed writes synthetic outputs to v every period until the test ends.
func feed(t testing.TB, v *viewer.Viewer, period time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := viewertest.Feed(ctx, v, period)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("feed: %v", err)
		}
	})
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// field returns a field of a dynamic message by name.
func field(m protoreflect.Message, name string) protoreflect.Value {
	return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(name)))
}

// TestFoxgloveProtocol connects with each subprotocol and checks the
// handshake, the advertised channels and their schemas, and that
// subscribed messages arrive, stamped, and decode from the schema alone.
func TestFoxgloveProtocol(t *testing.T) {
	v := open(t, &viewer.Viewer{ServerName: "test node"})
	feed(t, v, 20*time.Millisecond)
	for _, sp := range viewer.Subprotocols {
		t.Run(sp, func(t *testing.T) {
			ctx := ctxFor(t, 20*time.Second)
			c, err := viewertest.Dial(ctx, v.FoxgloveURL(), sp, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Subprotocol != sp {
				t.Errorf("negotiated %q, offered %q", c.Subprotocol, sp)
			}
			info := c.ServerInfo
			caps, _ := info["capabilities"].([]any)
			meta, _ := info["metadata"].(map[string]any)
			if info["name"] != "test node" || !slices.Contains(caps, any("time")) || info["sessionId"] == "" ||
				meta["namespace"] != "test" || meta["cameras"] != "left,right" {
				t.Errorf("serverInfo %v", info)
			}
			want := map[string]string{
				"test.left.depth": "foxglove.RawImage", "test.left.depth_color": "foxglove.CompressedImage",
				"test.left.depth_mm": "foxglove.RawImage", "test.left.points": "foxglove.PointCloud",
				"test.left.image": "foxglove.CompressedImage", "test.right.image": "foxglove.CompressedImage",
				"test.left.camera_info": "foxglove.CameraCalibration", "test.right.camera_info": "foxglove.CameraCalibration",
				"test.odom": "parallax.v1.Odometry", "test.pose": "foxglove.PoseInFrame", "test.tf": "foxglove.FrameTransform",
				"test.tf_static": "foxglove.FrameTransform", "test.path": "foxglove.PosesInFrame",
				"test.learner.stats": "parallax.v1.LearnerStats", "test.diagnostics": "parallax.v1.Diagnostics",
			}
			if len(c.Channels) != len(want) {
				t.Errorf("%d channels advertised, want %d", len(c.Channels), len(want))
			}
			for topic, schema := range want {
				ch := c.Channels[topic]
				if ch == nil {
					t.Errorf("%s not advertised", topic)
					continue
				}
				if ch.SchemaName != schema || ch.Encoding != "protobuf" || ch.SchemaEncoding != "protobuf" {
					t.Errorf("%s: %+v", topic, ch)
				}
				if _, err := ch.Descriptor(); err != nil {
					t.Errorf("%s: %v", topic, err)
				}
			}
			if _, ok := c.Channels["test.right.depth"]; ok {
				t.Error("the right camera has no depth, but it is advertised")
			}
			topics := []string{"test.left.depth", "test.left.depth_color", "test.left.depth_mm", "test.left.points",
				"test.odom", "test.left.camera_info", "test.path", "test.tf_static", "test.left.image", "test.learner.stats"}
			if err := c.Subscribe(ctx, topics...); err != nil {
				t.Fatal(err)
			}
			got := map[string]proto.Message{}
			times := 0
			for len(got) < len(topics) || times == 0 {
				m, err := c.Next(ctx)
				if err != nil {
					t.Fatalf("after %v: %v", keys(got), err)
				}
				if m.Time > 0 {
					times++
				}
				if m.Channel == nil {
					continue
				}
				d, err := m.Channel.Decode(m.Payload)
				if err != nil {
					t.Fatal(err)
				}
				if ts := field(d, "timestamp"); ts.IsValid() && d.Has(d.Descriptor().Fields().ByName("timestamp")) {
					tm := ts.Message()
					ns := uint64(field(tm, "seconds").Int())*1e9 + uint64(field(tm, "nanos").Int())
					if ns != m.Stamp && m.Channel.Topic != "test.learner.stats" {
						t.Errorf("%s: MessageData stamp %d, message timestamp %d", m.Channel.Topic, m.Stamp, ns)
					}
				}
				// The same bytes decode into the generated type too.
				var typed proto.Message
				switch m.Channel.SchemaName {
				case "foxglove.RawImage":
					typed = &foxglove.RawImage{}
				case "foxglove.CompressedImage":
					typed = &foxglove.CompressedImage{}
				case "foxglove.PointCloud":
					typed = &foxglove.PointCloud{}
				case "foxglove.PosesInFrame":
					typed = &foxglove.PosesInFrame{}
				case "foxglove.FrameTransform":
					typed = &foxglove.FrameTransform{}
				case "foxglove.CameraCalibration":
					typed = &foxglove.CameraCalibration{}
				case "parallax.v1.Odometry":
					typed = &parallaxv1.Odometry{}
				case "parallax.v1.LearnerStats":
					typed = &parallaxv1.LearnerStats{}
				}
				if err := proto.Unmarshal(m.Payload, typed); err != nil {
					t.Fatal(err)
				}
				got[m.Channel.Topic] = typed
			}
			checkMessages(t, got)
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkMessages checks the content of one message of each topic.
func checkMessages(t *testing.T, got map[string]proto.Message) {
	t.Helper()
	depth := got["test.left.depth"].(*foxglove.RawImage)
	if w, h, d, err := msgs.DepthFromImage(depth); err != nil || w != viewertest.Width || h != viewertest.Height || d[5*w] < 30 {
		t.Errorf("depth %dx%d: %v", w, h, err)
	}
	mm := got["test.left.depth_mm"].(*foxglove.RawImage)
	if mm.Encoding != "16UC1" || len(mm.Data) != 2*viewertest.Width*viewertest.Height {
		t.Errorf("depth_mm %s %d bytes", mm.Encoding, len(mm.Data))
	} else if _, _, d, err := msgs.DepthFromImage(mm); err != nil || math.Abs(float64(d[(viewertest.Height-1)*viewertest.Width])-2) > 0.01 {
		t.Errorf("depth_mm bottom row %v m: %v", d[(viewertest.Height-1)*viewertest.Width], err)
	}
	col := got["test.left.depth_color"].(*foxglove.CompressedImage)
	img, err := jpeg.Decode(bytes.NewReader(col.Data))
	if err != nil || col.Format != "jpeg" || img.Bounds().Dx() != viewertest.Width {
		t.Errorf("depth_color %s: %v", col.Format, err)
	} else if sat, total, hues := viewertest.Colourful(img, img.Bounds()); sat < total/2 || hues < 3 {
		t.Errorf("depth_color: %d of %d pixels saturated, %d hues: not colour-mapped", sat, total, hues)
	}
	pc := got["test.left.points"].(*foxglove.PointCloud)
	if pc.FrameId != "left" || pc.PointStride != 16 || len(pc.Data) == 0 || len(pc.Data)%16 != 0 || len(pc.Fields) != 7 {
		t.Errorf("points: frame %q stride %d, %d bytes, %d fields", pc.FrameId, pc.PointStride, len(pc.Data), len(pc.Fields))
	}
	odom := got["test.odom"].(*parallaxv1.Odometry)
	if odom.FrameId != msgs.OdomFrame || odom.ChildFrameId != "left" {
		t.Errorf("odom %q <- %q", odom.FrameId, odom.ChildFrameId)
	}
	path := got["test.path"].(*foxglove.PosesInFrame)
	if path.FrameId != msgs.OdomFrame || len(path.Poses) == 0 {
		t.Errorf("path in %q with %d poses", path.FrameId, len(path.Poses))
	}
	tf := got["test.tf_static"].(*foxglove.FrameTransform)
	if tf.ParentFrameId != "left" || tf.ChildFrameId != "right" || math.Abs(tf.Translation.X-0.54) > 1e-9 {
		t.Errorf("tf_static %s <- %s %v", tf.ParentFrameId, tf.ChildFrameId, tf.Translation)
	}
	cal := got["test.left.camera_info"].(*foxglove.CameraCalibration)
	if cal.Width != viewertest.Width || cal.FrameId != "left" {
		t.Errorf("camera_info %dx%d %q", cal.Width, cal.Height, cal.FrameId)
	}
	if im := got["test.left.image"].(*foxglove.CompressedImage); im.Format != "jpeg" || len(im.Data) < 100 {
		t.Errorf("image %s %d bytes", im.Format, len(im.Data))
	}
}

// TestSubprotocolRequired: a WebSocket client that offers neither of
// Foxglove's subprotocols is refused before the upgrade.
func TestSubprotocolRequired(t *testing.T) {
	v := open(t, &viewer.Viewer{})
	for _, offer := range [][]string{nil, {"other.v1"}} {
		ctx := ctxFor(t, 5*time.Second)
		conn, resp, err := websocket.Dial(ctx, v.FoxgloveURL(), &websocket.DialOptions{Subprotocols: offer})
		if err == nil {
			conn.CloseNow()
			t.Errorf("offering %v: connected", offer)
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("offering %v: %v", offer, err)
		}
	}
	// Offering both, the server's preferred one is chosen, among the offered.
	ctx := ctxFor(t, 5*time.Second)
	conn, _, err := websocket.Dial(ctx, v.FoxgloveURL(), &websocket.DialOptions{Subprotocols: []string{"foxglove.websocket.v1", "foxglove.sdk.v1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if conn.Subprotocol() != "foxglove.sdk.v1" {
		t.Errorf("negotiated %q", conn.Subprotocol())
	}
}

// TestClientRequests: bad requests get a status and change nothing;
// unsubscribe stops the data.
func TestClientRequests(t *testing.T) {
	v := open(t, &viewer.Viewer{})
	feed(t, v, 20*time.Millisecond)
	ctx := ctxFor(t, 20*time.Second)
	c, err := viewertest.Dial(ctx, v.FoxgloveURL(), viewer.Subprotocols[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	odom := c.Channels["test.odom"].ID
	for _, tc := range []struct {
		name, req string
		level     float64
		msg       string
	}{
		{"unknown channel", `{"op":"subscribe","subscriptions":[{"id":7,"channelId":9999}]}`, 1, "no channel 9999"},
		{"no id", `{"op":"subscribe","subscriptions":[{"channelId":1}]}`, 2, "needs an id and a channelId"},
		{"unknown op", `{"op":"setParameters","parameters":[]}`, 2, `op "setParameters" is not supported`},
		{"not json", `{"op":`, 2, "not JSON"},
		{"unknown subscription", `{"op":"unsubscribe","subscriptionIds":[42]}`, 1, "no subscription 42"},
		{"first subscription", `{"op":"subscribe","subscriptions":[{"id":1,"channelId":` + strconv.FormatUint(uint64(odom), 10) + `}]}`, -1, ""},
		{"id in use", `{"op":"subscribe","subscriptions":[{"id":1,"channelId":1}]}`, 2, "subscription id 1 is in use"},
		{"channel twice", `{"op":"subscribe","subscriptions":[{"id":2,"channelId":` + strconv.FormatUint(uint64(odom), 10) + `}]}`, 2, "already subscribed to channel"},
	} {
		if err := c.Conn.Write(ctx, websocket.MessageText, []byte(tc.req)); err != nil {
			t.Fatal(err)
		}
		if tc.level < 0 {
			continue
		}
		for {
			m, err := c.Next(ctx)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if m.Op != "status" {
				continue
			}
			if m.JSON["level"] != tc.level || !strings.Contains(m.JSON["message"].(string), tc.msg) {
				t.Errorf("%s: status %v", tc.name, m.JSON)
			}
			break
		}
	}
	if err := c.Conn.Write(ctx, websocket.MessageBinary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	// Odometry flows on subscription 1 (the raw client registered none:
	// read the binary header ourselves).
	odoms := 0
	for odoms < 3 {
		typ, data, err := c.Conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if typ == websocket.MessageBinary && data[0] == 1 {
			if sub := uint32(data[1]) | uint32(data[2])<<8; sub != 1 {
				t.Fatalf("MessageData for subscription %d", sub)
			}
			odoms++
		}
	}
	if err := c.Conn.Write(ctx, websocket.MessageText, []byte(`{"op":"unsubscribe","subscriptionIds":[1]}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the unsubscribe", func() bool { return v.Subscribers("test.odom") == 0 })
	// Once the unsubscribe is read (and what was queued before it sent),
	// no more odometry comes; Time still does.
	time.Sleep(300 * time.Millisecond)
	for drained := false; !drained; {
		rctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, _, err := c.Conn.Read(rctx)
		cancel()
		drained = err != nil
	}
}

// TestNodeClient runs the client written against Foxglove's own protocol
// package (npm @foxglove/ws-protocol on ws, decoding with protobufjs from
// the advertised schemas) with each subprotocol.
func TestNodeClient(t *testing.T) {
	v := open(t, &viewer.Viewer{})
	feed(t, v, 30*time.Millisecond)
	for _, sp := range viewer.Subprotocols {
		t.Run(sp, func(t *testing.T) {
			res, err := viewertest.RunNode(ctxFor(t, 60*time.Second), v.FoxgloveURL(), sp,
				[]string{"test.left.depth", "test.odom", "test.left.points"}, 3, 20*time.Second)
			if errors.Is(err, viewertest.ErrMissingTool) {
				t.Fatal(err) // make deps installs node and the packages
			}
			if err != nil {
				t.Fatal(err)
			}
			viewertest.CheckNodeResult(t, res, sp, "test", "left")
		})
	}
}

// TestNothingEncodedForNobody: without clients Write does no work worth
// measuring; with one it does.
func TestNothingEncodedForNobody(t *testing.T) {
	v := open(t, &viewer.Viewer{})
	r := viewertest.Result(1, time.Now())
	n := testing.AllocsPerRun(20, func() {
		if err := v.Write(msgs.Output{Result: r}); err != nil {
			t.Fatal(err)
		}
	})
	// camera_info, tf and the path are latched (small messages); nothing
	// image-sized is encoded.
	if n > 400 {
		t.Errorf("%v allocations a result with no client", n)
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
