package actors

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the node's counters since Start.
type Stats struct {
	// FramesIn counts frames delivered by the camera sources.
	FramesIn uint64
	// FramesProcessed counts frame sets the perception stage estimated.
	FramesProcessed uint64
	// Published counts messages published on NATS.
	Published uint64
	// PublishErrors counts messages NATS refused.
	PublishErrors uint64
	// HeldBack counts the large messages (depth maps, images, scene flow)
	// not published while NATS was disconnected: they would be stale when
	// it returns, and buffering them would only grow the node's memory.
	HeldBack uint64
	// DroppedUnpaired counts stereo frames without a partner within the
	// sync tolerance.
	DroppedUnpaired uint64
	// DroppedStale counts frame sets the perception stage replaced with a
	// newer one before processing them (latest frame wins).
	DroppedStale uint64
	// DroppedSource counts frames the sources dropped (decoded, never read)
	// and frames they could not decode.
	DroppedSource uint64
	// Reconnects counts camera (re)connection attempts after a failure.
	Reconnects uint64
	// NATSReconnects counts the NATS connection's reconnections to its
	// server (nats.Conn's statistics).
	NATSReconnects uint64
}

// CameraStats are one camera's counters since Start (Node.CameraStats).
type CameraStats struct {
	// FramesIn counts the frames the camera delivered.
	FramesIn uint64
	// DroppedSource counts the frames its source dropped (decoded, never
	// read) or could not decode.
	DroppedSource uint64
}

// LatencyBuckets are the upper bounds of Histogram's buckets for the
// capture-to-publish latency: 1 ms to 10 s, about 2.5 steps a decade.
var LatencyBuckets = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
}

// Histogram is a cumulative distribution of durations since Start, in the
// shape Prometheus exposes: Counts[i] counts the observations at most
// Bounds[i]; Count (all of them, the +Inf bucket) and Sum complete it.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// histogram accumulates a Histogram over LatencyBuckets. The zero value is
// ready; it is safe for concurrent use.
type histogram struct {
	mu     sync.Mutex
	counts [16]uint64 // per bucket (not cumulative); len(LatencyBuckets) used
	count  uint64
	sum    time.Duration
}

func (h *histogram) observe(d time.Duration) {
	i := sort.Search(len(LatencyBuckets), func(i int) bool { return d <= LatencyBuckets[i] })
	h.mu.Lock()
	if i < len(LatencyBuckets) {
		h.counts[i]++
	}
	h.count++
	h.sum += d
	h.mu.Unlock()
}

func (h *histogram) snapshot() Histogram {
	out := Histogram{Bounds: LatencyBuckets, Counts: make([]uint64, len(LatencyBuckets))}
	h.mu.Lock()
	defer h.mu.Unlock()
	var cum uint64
	for i := range LatencyBuckets {
		cum += h.counts[i]
		out.Counts[i] = cum
	}
	out.Count, out.Sum = h.count, h.sum
	return out
}

// Dropped is the sum of every kind of drop.
func (s Stats) Dropped() uint64 { return s.DroppedUnpaired + s.DroppedStale + s.DroppedSource }

// counters are the shared, lock-free counters behind Stats.
type counters struct {
	framesIn, processed, published, publishErrors, heldBack atomic.Uint64
	unpaired, stale, reconnects                             atomic.Uint64

	mu  sync.Mutex
	lat []time.Duration // capture-to-depth-published latencies not yet taken

	hist histogram // the same latencies, since Start, once on the camera clock
}

// latency records one capture-to-publish latency; the slice is bounded so a
// node nobody reads stays flat in memory. cameraClock says whether the
// frame's stamp is on the camera's clock: only then does the latency go
// into the histogram too (before, it measures from the receive time).
func (c *counters) latency(d time.Duration, cameraClock bool) {
	c.mu.Lock()
	if len(c.lat) < 4096 {
		c.lat = append(c.lat, d)
	}
	c.mu.Unlock()
	if cameraClock {
		c.hist.observe(d)
	}
}

func (c *counters) takeLatencies() []time.Duration {
	c.mu.Lock()
	l := c.lat
	c.lat = nil
	c.mu.Unlock()
	return l
}

// Percentile returns the p-th percentile (0..100) of ds, sorting ds; 0 for none.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := int(p / 100 * float64(len(ds)-1))
	return ds[i]
}
