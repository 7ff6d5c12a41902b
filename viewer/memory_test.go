package viewer_test

import (
	"context"
	"io"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/parallax-robotics/parallax/internal/memtest"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/viewer"
	"github.com/parallax-robotics/parallax/viewer/viewertest"
)

// allTopics are every channel of the synthetic rig.
var allTopics = []string{"test.left.depth", "test.left.depth_color", "test.left.depth_mm", "test.left.points",
	"test.left.image", "test.right.image", "test.left.camera_info", "test.right.camera_info", "test.odom", "test.pose",
	"test.tf", "test.tf_static", "test.path", "test.learner.stats", "test.diagnostics"}

// discard connects a Foxglove client subscribed to topics that reads and
// drops everything until ctx is done.
func discard(ctx context.Context, t testing.TB, v *viewer.Viewer, topics []string, read bool) {
	t.Helper()
	c, err := viewertest.Dial(ctx, v.FoxgloveURL(), viewer.Subprotocols[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(ctx, topics...); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer c.Close()
		if !read {
			<-ctx.Done()
			return
		}
		for {
			_, r, err := c.Conn.Reader(ctx)
			if err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
		}
	}()
}

// pageReader connects a page feed that reads and drops everything.
func pageReader(ctx context.Context, t testing.TB, v *viewer.Viewer) {
	t.Helper()
	conn, _, err := websocket.Dial(ctx, strings.Replace(v.URL(), "http", "ws", 1)+"feed", nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer conn.CloseNow()
		for {
			_, r, err := conn.Reader(ctx)
			if err != nil {
				return
			}
			io.Copy(io.Discard, r)
		}
	}()
}

// writeResults writes n results with their frames, and stats every tenth.
func writeResults(t testing.TB, v *viewer.Viewer, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		r := viewertest.Result(i, time.Now())
		outs := []msgs.Output{{Frame: r.Frames[0]}, {Frame: r.Frames[1]}, {Result: r}}
		if i%10 == 0 {
			outs = append(outs, msgs.Output{LearnerStats: viewertest.LearnerStats(i)})
		}
		for _, o := range outs {
			if err := v.Write(o); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestMemoryFlat: with a fast client on every channel, a page, a client
// that reads nothing and clients that come and go, thousands of results
// leave the process's memory and goroutines where they were after the
// warm-up: every queue is bounded, every connection's goroutines end, the
// trajectory and the learner history are capped.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 3500 results")
	}
	v := open(t, &viewer.Viewer{PathLength: 500})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	discard(ctx, t, v, allTopics, true)
	discard(ctx, t, v, allTopics, false) // stalled: its queue is full from the warm-up on
	pageReader(ctx, t, v)
	churn := func(n int) {
		for i := 0; i < n; i++ {
			cctx, ccancel := context.WithCancel(ctx)
			discard(cctx, t, v, []string{"test.odom", "test.left.depth"}, true)
			writeResults(t, v, 0, 2)
			ccancel()
		}
	}
	writeResults(t, v, 0, 500)
	churn(20)
	time.Sleep(300 * time.Millisecond)
	rss0, gr0 := memtest.SettledRSS(t), runtime.NumGoroutine()
	writeResults(t, v, 500, 3000)
	churn(50)
	time.Sleep(300 * time.Millisecond) // the churned clients' goroutines end
	rss1, gr1 := memtest.SettledRSS(t), runtime.NumGoroutine()
	t.Logf("RSS %.1f -> %.1f MiB, goroutines %d -> %d over 3000 results and 50 more connections",
		float64(rss0)/(1<<20), float64(rss1)/(1<<20), gr0, gr1)
	if growth := rss1 - rss0; growth > 16<<20 {
		t.Errorf("RSS grew by %.1f MiB after warm-up", float64(growth)/(1<<20))
	}
	if gr1 > gr0+2 {
		t.Errorf("goroutines %d -> %d: connections leave some behind", gr0, gr1)
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWrite is the viewer's cost per result (a stereo pair's frames
// and result, what the demo's node hands it 15 times a second) with 0, 1
// and 4 Foxglove clients subscribed to every channel and reading as fast
// as they can (in this process: their reading counts in cpu-ms/result),
// and with one page open.
func BenchmarkWrite(b *testing.B) {
	for _, tc := range []struct {
		name    string
		clients int
		page    bool
	}{{"clients=0", 0, false}, {"clients=1", 1, false}, {"clients=4", 4, false}, {"page", 0, true}} {
		b.Run(tc.name, func(b *testing.B) {
			v := open(b, &viewer.Viewer{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for i := 0; i < tc.clients; i++ {
				discard(ctx, b, v, allTopics, true)
			}
			if tc.page {
				pageReader(ctx, b, v)
			}
			writeResults(b, v, 0, 20)
			time.Sleep(100 * time.Millisecond)
			sent0, bytes0 := sentOf(b, v)
			cpu0 := cpuTime()
			b.ResetTimer()
			start := time.Now()
			// Paced like a fast camera (100 results/s at most), so the
			// clients keep up and what is measured is the cost of sending,
			// not of dropping.
			for i := 0; i < b.N; i++ {
				writeResults(b, v, 20+i, 1)
				if next := start.Add(time.Duration(i+1) * 10 * time.Millisecond); time.Until(next) > 0 {
					time.Sleep(time.Until(next))
				}
			}
			b.StopTimer()
			time.Sleep(50 * time.Millisecond)
			cpu := cpuTime() - cpu0
			sent, bytes := sentOf(b, v)
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/result")
			b.ReportMetric((bytes-bytes0)/1024/float64(b.N), "KiB-sent/result")
			b.ReportMetric((sent-sent0)/float64(b.N), "msgs-sent/result")
			b.ReportMetric(dropsOf(b, v)/float64(b.N), "drops/result")
		})
	}
}

// sentOf reads the messages and bytes sent from /metrics.
func sentOf(t testing.TB, v *viewer.Viewer) (msgs, bytes float64) {
	f := scrape(t, v.URL()+"metrics", "")
	return sum(f["parallax_viewer_messages_sent_total"]), sum(f["parallax_viewer_sent_bytes_total"])
}
