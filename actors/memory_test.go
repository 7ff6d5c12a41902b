package actors

import (
	"runtime"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/internal/memtest"
)

// TestNodeMemoryFlat runs the node for 25 s on the synthetic stereo pair
// served over RTSP (H.264 encode and decode, inference, JPEG previews,
// publishing) and checks that, after a 5 s warm-up, neither the
// process's RSS (libtorch, libavcodec, the Go heap) nor the goroutine count
// keeps growing.
func TestNodeMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("25 s run")
	}
	srv := serveSynth(t, "127.0.0.1:0", time.Now())
	t.Cleanup(srv.Close)
	// The streaming path alone: with adaptation on, the learner's first
	// steps grow the heap by ~550 MiB at some point after the warm-up
	// (TestNodeLearnerMemoryFlat measures that loop).
	n := startNode(t, &Node{Launch: rtspLaunch(t, srv.Addr(), "topics: {image: true, image_rate: 5}\nlearner: {adapt: false}")})
	c := subscribe(t, n)
	time.Sleep(5 * time.Second)
	rss0, gr0, depth0 := memtest.SettledRSS(t), runtime.NumGoroutine(), c.count("test.left.depth")
	time.Sleep(20 * time.Second)
	rss1, gr1, depth1 := memtest.SettledRSS(t), runtime.NumGoroutine(), c.count("test.left.depth")
	s := n.Stats()
	t.Logf("RSS %.1f -> %.1f MiB, goroutines %d -> %d, %d depth maps in 20 s, stats %+v",
		float64(rss0)/(1<<20), float64(rss1)/(1<<20), gr0, gr1, depth1-depth0, s)
	if depth1-depth0 < 20 {
		t.Fatalf("only %d depth maps in 20 s: the node is not running", depth1-depth0)
	}
	if growth := rss1 - rss0; growth > 32<<20 {
		t.Errorf("RSS grew by %.1f MiB in 20 s after warm-up", float64(growth)/(1<<20))
	}
	if gr1 > gr0+5 {
		t.Errorf("goroutines grew from %d to %d", gr0, gr1)
	}
}
