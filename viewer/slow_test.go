package viewer_test

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
	"github.com/parallax-robotics/parallax/viewer"
	"github.com/parallax-robotics/parallax/viewer/viewertest"
)

// timedSink records how long each Write took.
type timedSink struct {
	v       *viewer.Viewer
	mu      sync.Mutex
	d       []time.Duration
	results atomic.Int64
}

func (s *timedSink) Write(o msgs.Output) error {
	if o.Result != nil {
		s.results.Add(1)
	}
	t0 := time.Now()
	err := s.v.Write(o)
	s.mu.Lock()
	s.d = append(s.d, time.Since(t0))
	s.mu.Unlock()
	return err
}

// take returns and forgets the durations so far, sorted.
func (s *timedSink) take() []time.Duration {
	s.mu.Lock()
	d := s.d
	s.d = nil
	s.mu.Unlock()
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[int(p/100*float64(len(d)-1))]
}

// count reads c until ctx is done, counting MessageData per topic and
// checking the odometry arrives without gaps.
func count(ctx context.Context, t *testing.T, c *viewertest.Client, got map[string]*atomic.Int64, gaps *atomic.Int64, statuses chan<- map[string]any) {
	var last uint64
	for {
		m, err := c.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				t.Logf("client read: %v", err)
			}
			return
		}
		if m.Op == "status" && statuses != nil {
			select {
			case statuses <- m.JSON:
			default:
			}
		}
		if m.Channel == nil {
			continue
		}
		if n := got[m.Channel.Topic]; n != nil {
			n.Add(1)
		}
		if m.Channel.Topic == "test.odom" {
			var o parallaxv1.Odometry
			if err := proto.Unmarshal(m.Payload, &o); err != nil {
				t.Error(err)
				return
			}
			if last > 0 && o.Seq != last+1 {
				gaps.Add(1)
			}
			last = o.Seq
		}
	}
}

// TestSlowClient: a client that reads nothing for 4 s changes neither
// what Write costs nor what a fast client gets; it loses images (newest
// kept) but no odometry, and is told about its drops with a status
// warning once it reads again. (cmd/parallax's TestViewerDemo does the
// same against the node for 10 s.)
func TestSlowClient(t *testing.T) {
	v := open(t, &viewer.Viewer{Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	ts := &timedSink{v: v}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	feeding := make(chan int, 1)
	go func() {
		n, err := viewertest.Feed(ctx, ts, 20*time.Millisecond)
		if err != nil {
			t.Error(err)
		}
		feeding <- n
	}()
	topics := []string{"test.left.depth", "test.left.points", "test.left.image", "test.odom"}
	dial := func(opts *websocket.DialOptions) *viewertest.Client {
		c, err := viewertest.Dial(ctxFor(t, 10*time.Second), v.FoxgloveURL(), viewer.Subprotocols[0], opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		if err := c.Subscribe(ctxFor(t, 5*time.Second), topics...); err != nil {
			t.Fatal(err)
		}
		return c
	}
	fast := dial(nil)
	fastGot := map[string]*atomic.Int64{}
	for _, tp := range topics {
		fastGot[tp] = new(atomic.Int64)
	}
	var fastGaps atomic.Int64
	go count(ctx, t, fast, fastGot, &fastGaps, nil)

	// A second of both clients reading: the baseline.
	time.Sleep(time.Second)
	base := ts.take()
	baseDepth := fastGot["test.left.depth"].Load()

	slow := dial(viewertest.SmallWindow())
	const stall = 4 * time.Second
	fed0 := ts.results.Load()
	time.Sleep(stall) // slow reads nothing
	during := ts.take()
	fed := ts.results.Load() - fed0
	fastDepth := fastGot["test.left.depth"].Load() - baseDepth
	dropped := dropsOf(t, v)

	t.Logf("Write p50 %v p99 %v max %v before; p50 %v p99 %v max %v while a client stalls (%d writes); fast client %d depth maps in %v; %v drops",
		pct(base, 50), pct(base, 99), pct(base, 100), pct(during, 50), pct(during, 99), pct(during, 100), len(during), fastDepth, stall, dropped)
	if p99 := pct(during, 99); p99 > 20*time.Millisecond && p99 > 5*pct(base, 99) {
		t.Errorf("Write p99 %v while a client stalls, %v before", p99, pct(base, 99))
	}
	// The fast client gets nearly every result fed meanwhile.
	if want := int64(0.8 * float64(fed)); fastDepth < want {
		t.Errorf("the fast client got %d depth maps in %v of %d results, want at least %d", fastDepth, stall, fed, want)
	}
	if dropped == 0 {
		t.Error("no drops counted for the stalled client")
	}

	// Now it reads: a status warning about its drops, and odometry without
	// gaps (small messages wait in order, images never push them out).
	statuses := make(chan map[string]any, 16)
	slowGot := map[string]*atomic.Int64{}
	for _, tp := range topics {
		slowGot[tp] = new(atomic.Int64)
	}
	var slowGaps atomic.Int64
	go count(ctx, t, slow, slowGot, &slowGaps, statuses)
	deadline := time.After(10 * time.Second)
	for warned := false; !warned; {
		select {
		case s := <-statuses:
			warned = s["level"] == 1.0 && s["id"] == "parallax.viewer.drops"
			t.Logf("status to the slow client: %v", s["message"])
		case <-deadline:
			t.Fatalf("the slow client got no status about its drops (it read %d depth, %d odom since)", slowGot["test.left.depth"].Load(), slowGot["test.odom"].Load())
		}
	}
	time.Sleep(500 * time.Millisecond)
	if fastGaps.Load() > 0 || slowGaps.Load() > 0 {
		t.Errorf("odometry gaps: fast client %d, slow client %d", fastGaps.Load(), slowGaps.Load())
	}
	if slowGot["test.odom"].Load() < fed {
		t.Errorf("the slow client got %d odometry messages after its stall, want all %d of it and more", slowGot["test.odom"].Load(), fed)
	}
	cancel()
	<-feeding
}

// testWriter logs through t.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// dropsOf reads parallax_viewer_dropped_total from /metrics.
func dropsOf(t testing.TB, v *viewer.Viewer) float64 {
	t.Helper()
	fams := scrape(t, v.URL()+"metrics", "")
	f := fams["parallax_viewer_dropped_total"]
	if f == nil || len(f.Metric) != 1 {
		t.Fatalf("no parallax_viewer_dropped_total")
	}
	return f.Metric[0].GetCounter().GetValue()
}
