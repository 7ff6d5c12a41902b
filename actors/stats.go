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
}

// Dropped is the sum of every kind of drop.
func (s Stats) Dropped() uint64 { return s.DroppedUnpaired + s.DroppedStale + s.DroppedSource }

// counters are the shared, lock-free counters behind Stats.
type counters struct {
	framesIn, processed, published, publishErrors, heldBack atomic.Uint64
	unpaired, stale, reconnects                             atomic.Uint64

	mu  sync.Mutex
	lat []time.Duration // capture-to-depth-published latencies not yet taken
}

// latency records one capture-to-publish latency; the slice is bounded so a
// node nobody reads stays flat in memory.
func (c *counters) latency(d time.Duration) {
	c.mu.Lock()
	if len(c.lat) < 4096 {
		c.lat = append(c.lat, d)
	}
	c.mu.Unlock()
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
