package actors

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// Sink is an output of the node: NATS (always there), an MCAP recording
// (record.Recorder), a viewer, a test. The node hands every sink the same
// outputs — each camera frame as delivered, each perception result, the
// diagnostics, the learner's stats — each sink on its own goroutine behind
// its own queue, so a slow sink drops its own backlog and never blocks
// inference or another sink. A new output of the node is a new sink: one
// type with these four methods, added to Node.Sinks.
type Sink interface {
	// Name identifies the sink: its diagnostics are sink/<name>, its
	// counters Node.SinkStats(name).
	Name() string
	// Open prepares the sink for the node's cameras. Node.Start calls it
	// once, before any Write; an error fails the start.
	Open(rig *msgs.Rig) error
	// Write handles one output. It is called from the sink's goroutine,
	// one output at a time, and must not modify it (outputs are shared).
	// An error is counted and reported on diagnostics; writing goes on.
	Write(out msgs.Output) error
	// Close flushes and releases the sink, after its last Write.
	Close() error
}

// Queued is implemented by a sink that wants every frame and result in
// order (a recorder) instead of the newest per camera: it gets a FIFO of
// QueueLen frames and results that drops its oldest when full (counted).
type Queued interface {
	QueueLen() int
}

// SinkStats counts what the node handed one sink.
type SinkStats struct {
	// Written counts the outputs Write returned for; Errors those it
	// failed on, Err being the first failure.
	Written, Errors uint64
	Err             error
	// Dropped counts outputs the sink never got: older frames or results
	// replaced by newer ones while it was busy (latest wins), or the
	// oldest of a full FIFO (Queued).
	Dropped uint64
}

// smallQueue bounds the FIFO of small outputs (diagnostics, stats) each
// sink keeps: they are never coalesced, since every status change counts.
const smallQueue = 256

// envelope carries one output to one sink; done, when set, is released
// once the sink has written or dropped it.
type envelope struct {
	out  msgs.Output
	done *pending
}

// pending runs f once n sinks have released it: a lockstep replay reads
// its next frame when every sink is done with the previous result.
type pending struct {
	n atomic.Int32
	f func()
}

func (p *pending) release() {
	if p != nil && p.n.Add(-1) == 0 {
		p.f()
	}
}

// sinkQueue is a sink's mailbox. Small outputs (diagnostics, stats) go to
// a FIFO served first, so images never starve them; frames and results go
// to a latest-wins slot per camera and kind, or to a bounded FIFO for a
// Queued sink.
type sinkQueue struct {
	mu     sync.Mutex
	small  []envelope
	fifo   int                 // capacity of big for a Queued sink; 0: latest wins
	big    []envelope          // FIFO mode
	order  []string            // latest mode: keys with a value, oldest first
	latest map[string]envelope // latest mode: the newest value per key
	signal chan struct{}
}

func newSinkQueue(fifo int) *sinkQueue {
	return &sinkQueue{fifo: fifo, latest: map[string]envelope{}, signal: make(chan struct{}, 1)}
}

// put queues e and returns what it dropped to make room.
func (q *sinkQueue) put(e envelope) (dropped []envelope) {
	q.mu.Lock()
	switch key := outputKey(e.out); {
	case key == "":
		if len(q.small) >= smallQueue {
			dropped = append(dropped, q.small[0])
			q.small = q.small[1:]
		}
		q.small = append(q.small, e)
	case q.fifo > 0:
		if len(q.big) >= q.fifo {
			dropped = append(dropped, q.big[0])
			q.big[0] = envelope{}
			q.big = q.big[1:]
		}
		q.big = append(q.big, e)
	default:
		if old, ok := q.latest[key]; ok {
			dropped = append(dropped, old)
		} else {
			q.order = append(q.order, key)
		}
		q.latest[key] = e
	}
	q.mu.Unlock()
	notify(q.signal)
	return dropped
}

// next pops the next envelope without waiting.
func (q *sinkQueue) next() (envelope, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case len(q.small) > 0:
		e := q.small[0]
		q.small = q.small[1:]
		return e, true
	case len(q.big) > 0:
		e := q.big[0]
		q.big[0] = envelope{} // let the frame go once written
		q.big = q.big[1:]
		return e, true
	case len(q.order) > 0:
		k := q.order[0]
		q.order = q.order[1:]
		e := q.latest[k]
		delete(q.latest, k)
		return e, true
	}
	return envelope{}, false
}

// take waits for an envelope or for ctx.
func (q *sinkQueue) take(ctx context.Context) (envelope, bool) {
	for {
		if e, ok := q.next(); ok {
			return e, true
		}
		select {
		case <-ctx.Done():
			return envelope{}, false
		case <-q.signal:
		}
	}
}

// outputKey is the latest-wins slot of a frame or result ("" for the small
// outputs, which are never coalesced).
func outputKey(o msgs.Output) string {
	switch {
	case o.Frame != nil:
		return "frame/" + o.Frame.Camera
	case o.Result != nil:
		return "result/" + o.Result.Ref().Camera
	}
	return ""
}

// fanout hands outputs to every sink: straight into each sink's queue,
// from whichever goroutine produced them (a camera actor, an inference
// goroutine), so an output reaches a sink's writer with one wake-up and
// no actor mailbox in between. put never blocks.
type fanout struct {
	sinks []*sinkLink
}

// send gives out to every sink; done, when set, runs once all have written
// or dropped it (or at once without sinks).
func (f *fanout) send(out msgs.Output, done func()) {
	var p *pending
	if done != nil {
		if len(f.sinks) == 0 {
			done()
		} else {
			p = &pending{f: done}
			p.n.Store(int32(len(f.sinks)))
		}
	}
	for _, l := range f.sinks {
		for _, e := range l.q.put(envelope{out: out, done: p}) {
			l.mu.Lock()
			l.st.Dropped++
			l.mu.Unlock()
			e.done.release()
		}
	}
}

// sinkLink is what the node keeps of a sink across restarts of its actor:
// the sink itself, its queue and its counters.
type sinkLink struct {
	sink Sink
	q    *sinkQueue
	mu   sync.Mutex
	st   SinkStats
}

// newSinkLink makes a sink's link and queue (a FIFO for a Queued sink).
func newSinkLink(s Sink) *sinkLink {
	fifo := 0
	if qs, ok := s.(Queued); ok {
		fifo = max(qs.QueueLen(), 0)
	}
	return &sinkLink{sink: s, q: newSinkQueue(fifo)}
}

func (l *sinkLink) stats() SinkStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

// sinkDrainTime bounds how long a stopping sink actor keeps writing what
// is queued (a recorder's last frames) before it gives up.
const sinkDrainTime = time.Second

// sinkActor serves one sink: its goroutine writes what the fanout queued
// (the actor is its lifecycle and supervision). On stop it writes what is
// still queued (within sinkDrainTime), so a recording keeps its last
// frames.
type sinkActor struct {
	link *sinkLink
	diag *actor.PID // where write failures are reported

	cancel context.CancelFunc
	done   chan struct{}
}

func (a *sinkActor) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *actor.Stopping:
		a.stop()
	case *actor.Stopped:
	case *actor.Restarting:
		a.stop()
	}
}

func (a *sinkActor) start(ctx actor.Context) {
	rctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan struct{})
	root, diag := ctx.ActorSystem().Root, a.diag
	go func() {
		defer close(a.done)
		a.run(rctx, func(st *parallaxv1.DiagnosticStatus) { root.Send(diag, &diagMsg{status: st}) })
	}()
}

// stop ends the goroutine after it wrote what was queued.
func (a *sinkActor) stop() {
	if a.cancel != nil {
		a.cancel()
		<-a.done
		a.cancel = nil
	}
}

func (a *sinkActor) run(ctx context.Context, report func(*parallaxv1.DiagnosticStatus)) {
	name := "sink/" + a.link.sink.Name()
	failing := false
	write := func(e envelope) {
		err := a.write(e.out)
		e.done.release()
		switch {
		case err != nil && !failing:
			failing = true
			report(&parallaxv1.DiagnosticStatus{Level: parallaxv1.DiagnosticStatus_ERROR, Name: name, Message: fmt.Sprintf("write failed: %v", err)})
		case err == nil && failing:
			failing = false
			report(&parallaxv1.DiagnosticStatus{Level: parallaxv1.DiagnosticStatus_OK, Name: name, Message: "writing"})
		}
	}
	for {
		e, ok := a.link.q.take(ctx)
		if !ok {
			break
		}
		write(e)
	}
	deadline := time.Now().Add(sinkDrainTime)
	for {
		e, ok := a.link.q.next()
		if !ok {
			return
		}
		if time.Now().After(deadline) {
			e.done.release()
			continue
		}
		write(e)
	}
}

// write calls the sink, turning a panic into an error (a sink is code
// from elsewhere: it must not take the node down) and counting.
func (a *sinkActor) write(out msgs.Output) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
		a.link.mu.Lock()
		if err != nil {
			a.link.st.Errors++
			if a.link.st.Err == nil {
				a.link.st.Err = err
			}
		} else {
			a.link.st.Written++
		}
		a.link.mu.Unlock()
	}()
	return a.link.sink.Write(out)
}
