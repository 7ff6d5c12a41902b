package actors

import (
	"strings"
	"testing"
	"time"
)

// TestNodeReconnects kills the camera server under a running node and
// starts it again on the same address: the node must resume publishing
// without a restart, and diagnostics must show the failure and the
// recovery without the camera's password.
func TestNodeReconnects(t *testing.T) {
	start := time.Now()
	srv := serveSynthAuth(t, "127.0.0.1:0", start, "robot", "s3cret")
	addr := srv.Addr()
	l := rtspLaunch(t, "robot:s3cret@"+addr, "")
	n := startNode(t, &Node{Launch: l, Backoff: Backoff{Min: 200 * time.Millisecond, Max: time.Second, Healthy: time.Second}})
	c := subscribe(t, n)
	waitFor(t, 30*time.Second, "depth before the failure", func() bool { return c.count("test.left.depth") >= 3 })

	srv.Close()
	waitFor(t, 15*time.Second, "a failure on diagnostics", func() bool {
		return containsAfter(c.diagnostics(t, "test"), 0, "camera/left: failed") >= 0
	})
	before := c.count("test.left.depth")
	time.Sleep(1500 * time.Millisecond) // a few backoff rounds against a closed port
	srv2 := serveSynthAuth(t, addr, start, "robot", "s3cret")
	defer srv2.Close()
	waitFor(t, 30*time.Second, "depth after the restart", func() bool { return c.count("test.left.depth") >= before+3 })

	diag := c.diagnostics(t, "test")
	failed := containsAfter(diag, 0, "camera/left: failed")
	if containsAfter(diag, failed, "camera/left: backing off") < 0 ||
		containsAfter(diag, failed, "camera/left: connecting") < 0 ||
		containsAfter(diag, failed, "camera/left: streaming") < 0 {
		t.Errorf("diagnostics do not show failure, backoff, reconnection and streaming:\n%s", strings.Join(diag, "\n"))
	}
	for _, m := range c.all("test.diagnostics") {
		if strings.Contains(string(m.Data), "s3cret") {
			t.Fatalf("diagnostics leak the camera password: %q", m.Data)
		}
	}
	t.Logf("diagnostics:\n%s", strings.Join(diag, "\n"))
	if s := n.Stats(); s.Reconnects == 0 {
		t.Errorf("no reconnects counted: %+v", s)
	}
}

// TestNodeStereoDegrades kills the right camera of a stereo pair: the node
// must keep publishing the left camera's depth (monocular), say so on
// diagnostics, and pair again when the right camera is back.
func TestNodeStereoDegrades(t *testing.T) {
	start := time.Now()
	leftSrv := serveSynth(t, "127.0.0.1:0", start)
	defer leftSrv.Close()
	rightSrv := serveSynth(t, "127.0.0.1:0", start)
	rightAddr := rightSrv.Addr()
	l := parseLaunch(t, `
namespace: test
cameras:
  - {name: left, url: "rtsp://`+leftSrv.Addr()+`/left", role: left, intrinsics: &k {width: 320, height: 96, fx: 185.6, fy: 185.6, cx: 159.5, cy: 47.5}}
  - {name: right, url: "rtsp://`+rightAddr+`/right", role: right, intrinsics: *k}
stereo: {left: left, right: right, baseline: 0.54, mono_after: 500ms}
model: {width: 320, height: 96, size: small}
device: cpu
nats: {embedded: {listen: "127.0.0.1:0"}}
`)
	n := startNode(t, &Node{Launch: l, Backoff: Backoff{Min: 200 * time.Millisecond, Max: time.Second, Healthy: time.Second}})
	c := subscribe(t, n)
	waitFor(t, 30*time.Second, "paired depth", func() bool { return c.count("test.left.depth") >= 3 })
	paired := n.Stats().FramesProcessed

	rightSrv.Close()
	waitFor(t, 15*time.Second, "the monocular warning", func() bool {
		return containsAfter(c.diagnostics(t, "test"), 0, "publishing monocular depth") >= 0
	})
	before := c.count("test.left.depth")
	waitFor(t, 30*time.Second, "monocular depth", func() bool { return c.count("test.left.depth") >= before+3 })

	rightSrv = serveSynth(t, rightAddr, start)
	defer rightSrv.Close()
	waitFor(t, 30*time.Second, "pairing again", func() bool {
		d := c.diagnostics(t, "test")
		return containsAfter(d, containsAfter(d, 0, "publishing monocular depth"), "stereo: pairing left and right") >= 0
	})
	before = c.count("test.left.depth")
	waitFor(t, 30*time.Second, "paired depth after the return", func() bool { return c.count("test.left.depth") >= before+3 })
	t.Logf("diagnostics:\n%s", strings.Join(c.diagnostics(t, "test"), "\n"))
	if paired == 0 {
		t.Error("nothing processed while paired")
	}
}
