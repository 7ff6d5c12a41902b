// Package sinktest has a node sink for tests: Collector keeps what the node
// hands its sinks (the same outputs NATS publishes), so a test can compare
// a sink's view with a NATS subscriber's, or count results without a
// broker. It implements actors.Sink and actors.Queued by their method sets
// and imports only msgs.
package sinktest

import (
	"sync"
	"time"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// Collector records the outputs the node hands it.
type Collector struct {
	// ID is the sink's name. It defaults to "collector".
	ID string
	// Queue, when positive, asks the node for every frame and result in
	// order, through a FIFO of Queue (actors.Queued); 0 keeps the node's
	// default for sinks, the newest frame and result per camera.
	Queue int
	// OnResult, when set, is called for each result on the sink's
	// goroutine. It defaults to nil.
	OnResult func(r *msgs.Result)

	mu      sync.Mutex
	rig     *msgs.Rig
	results []*msgs.Result
	frames  map[string]int
	diags   []*parallaxv1.Diagnostics
	stats   []*parallaxv1.LearnerStats
	last    time.Time
	closed  bool
}

// Name is ID or "collector".
func (c *Collector) Name() string {
	if c.ID == "" {
		return "collector"
	}
	return c.ID
}

// QueueLen is Queue.
func (c *Collector) QueueLen() int { return c.Queue }

// Open keeps the rig.
func (c *Collector) Open(rig *msgs.Rig) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rig, c.frames = rig, map[string]int{}
	return nil
}

// Write keeps the output.
func (c *Collector) Write(out msgs.Output) error {
	c.mu.Lock()
	switch {
	case out.Frame != nil:
		c.frames[out.Frame.Camera]++
	case out.Result != nil:
		c.results = append(c.results, out.Result)
		c.last = time.Now()
	case out.Diagnostics != nil:
		c.diags = append(c.diags, out.Diagnostics)
	case out.LearnerStats != nil:
		c.stats = append(c.stats, out.LearnerStats)
	}
	c.mu.Unlock()
	if out.Result != nil && c.OnResult != nil {
		c.OnResult(out.Result)
	}
	return nil
}

// Close marks the collector closed.
func (c *Collector) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

// Rig returns what Open got.
func (c *Collector) Rig() *msgs.Rig {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rig
}

// Results returns the results so far.
func (c *Collector) Results() []*msgs.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*msgs.Result(nil), c.results...)
}

// Len is the number of results so far.
func (c *Collector) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.results)
}

// Quiet reports whether results came and none did for the last d.
func (c *Collector) Quiet(d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.results) > 0 && time.Since(c.last) > d
}

// Frames is the number of frames of camera so far.
func (c *Collector) Frames(camera string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frames[camera]
}

// Diagnostics returns the diagnostics so far.
func (c *Collector) Diagnostics() []*parallaxv1.Diagnostics {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*parallaxv1.Diagnostics(nil), c.diags...)
}

// LearnerStats returns the learner stats so far.
func (c *Collector) LearnerStats() []*parallaxv1.LearnerStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*parallaxv1.LearnerStats(nil), c.stats...)
}

// Closed reports whether Close was called.
func (c *Collector) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}
