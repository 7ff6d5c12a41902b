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
