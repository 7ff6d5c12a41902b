package actors

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/camera/cameratest"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// The test rig: a KITTI-like stereo pair at 320x96, 15 fps, the small model.
const (
	testW, testH = 320, 96
	testWorld    = "synth://?stereo=1&width=320&height=96&fps=15"
)

// synthLaunch is a launch file whose cameras are synth:// sources.
func synthLaunch(t testing.TB, extra string) *launch.Launch {
	t.Helper()
	return parseLaunch(t, fmt.Sprintf(`
namespace: test
cameras:
  - {name: left, url: "%[1]s", role: left}
  - {name: right, url: "%[1]s", role: right}
model: {width: 320, height: 96, size: small}
device: cpu
nats: {embedded: {listen: "127.0.0.1:0"}}
%[2]s`, testWorld, extra))
}

// rtspLaunch is a launch file reading the stereo pair served at addr.
func rtspLaunch(t testing.TB, addr, extra string) *launch.Launch {
	t.Helper()
	return parseLaunch(t, fmt.Sprintf(`
namespace: test
cameras:
  - {name: left, url: "rtsp://%[1]s/left", role: left, intrinsics: &k {width: 320, height: 96, fx: 185.6, fy: 185.6, cx: 159.5, cy: 47.5}}
  - {name: right, url: "rtsp://%[1]s/right", role: right, intrinsics: *k}
stereo: {left: left, right: right, baseline: 0.54}
model: {width: 320, height: 96, size: small}
device: cpu
nats: {embedded: {listen: "127.0.0.1:0"}}
%[2]s`, addr, extra))
}

func parseLaunch(t testing.TB, y string) *launch.Launch {
	t.Helper()
	l, err := launch.Parse([]byte(y), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// startNode starts a node and stops it when the test ends.
func startNode(t testing.TB, n *Node) *Node {
	t.Helper()
	if n.Backoff.Min == 0 {
		n.Backoff = Backoff{Min: 200 * time.Millisecond, Max: time.Second}
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop() })
	return n
}

// subscribe connects to the node's NATS server and collects every message
// under the namespace.
type collector struct {
	mu   sync.Mutex
	n    map[string]int
	msgs map[string][]*nats.Msg
	nc   *nats.Conn
}

func subscribe(t testing.TB, n *Node) *collector {
	t.Helper()
	nc, err := nats.Connect(n.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c := &collector{n: map[string]int{}, msgs: map[string][]*nats.Msg{}, nc: nc}
	sub, err := nc.Subscribe(n.Launch.Namespace+".>", func(m *nats.Msg) {
		c.mu.Lock()
		c.n[m.Subject]++
		// Keep every small message but only the first large ones, so the
		// collector itself does not grow the memory the tests measure.
		if len(m.Data) < 4096 && len(c.msgs[m.Subject]) < 5000 || len(c.msgs[m.Subject]) < 20 {
			c.msgs[m.Subject] = append(c.msgs[m.Subject], m)
		}
		c.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	// Depth maps are large: never cut this subscriber as a slow consumer.
	sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *collector) count(subject string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[subject]
}

// all returns the messages kept (every small one, the first 20 large ones).
func (c *collector) all(subject string) []*nats.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*nats.Msg(nil), c.msgs[subject]...)
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// diagnostics returns every camera status message seen, in order, as
// "name: message" lines.
func (c *collector) diagnostics(t testing.TB, ns string) []string {
	t.Helper()
	var out []string
	for _, m := range c.all(ns + ".diagnostics") {
		var d parallaxv1.Diagnostics
		if err := proto.Unmarshal(m.Data, &d); err != nil {
			t.Fatal(err)
		}
		if len(d.Status) != 1 { // the periodic summary repeats old states
			continue
		}
		out = append(out, d.Status[0].Name+": "+d.Status[0].Message)
	}
	return out
}

func containsAfter(lines []string, from int, sub string) int {
	for i := from; i < len(lines); i++ {
		if strings.Contains(lines[i], sub) {
			return i
		}
	}
	return -1
}

// serveSynth serves the test world's stereo views over RTSP on addr
// ("127.0.0.1:0" for a free port) with a common start time.
func serveSynth(t testing.TB, addr string, start time.Time) *cameratest.Server {
	return serveSynthAuth(t, addr, start, "", "")
}

// serveSynthAuth is serveSynth requiring user and pass from readers.
func serveSynthAuth(t testing.TB, addr string, start time.Time, user, pass string) *cameratest.Server {
	t.Helper()
	return serveSynthWorld(t, addr, start, testWorld, user, pass)
}

// serveSynthWorld is serveSynthAuth serving the stereo views of world (a
// synth:// URL) instead of the test world.
func serveSynthWorld(t testing.TB, addr string, start time.Time, world, user, pass string) *cameratest.Server {
	t.Helper()
	cfg, err := synth.ParseURL(world)
	if err != nil {
		t.Fatal(err)
	}
	w, err := synth.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &cameratest.Server{Address: addr, User: user, Pass: pass}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{synth.ViewLeft, synth.ViewRight} {
		// Continue start's frame grid with the next frame due, stamped
		// when it is due (Camera stamps frame First at StartTime).
		first := int(math.Ceil(time.Since(start).Seconds() * cfg.FPS))
		cam := w.Camera(v, true)
		cam.First = first
		cam.StartTime = start.Add(time.Duration(float64(first) / cfg.FPS * float64(time.Second)))
		if err := cam.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := srv.Serve(v, cam, 0); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

var _ = msgs.Identity
