package actors

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
	"github.com/parallax-robotics/parallax/perception"
)

// latestBox is a one-slot mailbox that overwrites: put never blocks and
// replaces a set nobody has taken yet, so the consumer always gets the
// newest frames and a slow consumer never builds a queue.
type latestBox struct {
	mu     sync.Mutex
	set    *FrameSet
	signal chan struct{} // one token while set is non-nil
}

func newLatestBox() *latestBox { return &latestBox{signal: make(chan struct{}, 1)} }

// put stores s and reports whether it replaced an untaken set.
func (b *latestBox) put(s *FrameSet) (replaced bool) {
	b.mu.Lock()
	replaced = b.set != nil
	b.set = s
	b.mu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
	return replaced
}

// take waits for a set or for ctx.
func (b *latestBox) take(ctx context.Context) *FrameSet {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.signal:
		}
		b.mu.Lock()
		s := b.set
		b.set = nil
		b.mu.Unlock()
		if s != nil {
			return s
		}
	}
}

// perceptionActor estimates depth (and odometry) for one stream group.
// Receive puts each FrameSet into a latestBox; one inference goroutine takes
// the newest set, runs the networks on the estimator's Worker (a locked OS
// thread) and sends a DepthResult on. Frame sets replaced before inference
// took them are counted as stale.
type perceptionActor struct {
	name string // the group's reference camera, for diagnostics
	est  *perception.Estimator
	odom bool // chain poses into odometry
	out  *actor.PID
	c    *counters

	box    *latestBox
	cancel context.CancelFunc
	done   chan struct{}
}

func (a *perceptionActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *actor.Stopping:
		a.stop()
	case *actor.Stopped:
	case *actor.Restarting:
		a.stop()
	case *FrameSet:
		if a.box.put(m) {
			a.c.stale.Add(1)
		}
	}
}

func (a *perceptionActor) start(ctx actor.Context) {
	a.box = newLatestBox()
	rctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan struct{})
	root := ctx.ActorSystem().Root
	go func() {
		defer close(a.done)
		a.infer(rctx, func(m any) { root.Send(a.out, m) })
	}()
}

// stop ends the inference goroutine after the closure it is running.
func (a *perceptionActor) stop() {
	if a.cancel != nil {
		a.cancel()
		<-a.done
		a.cancel = nil
	}
}

// infer is the inference goroutine. Odometry starts at identity (the odom
// frame is the reference camera's pose at the first processed frame) and
// composes Estimator.Pose(previous, current) for each later frame.
func (a *perceptionActor) infer(ctx context.Context, send func(any)) {
	var prev *msgs.Frame
	odom := msgs.Identity()
	var seq uint64
	failing := false
	for {
		set := a.box.take(ctx)
		if set == nil {
			return
		}
		began := time.Now()
		ref := set.Ref()
		maps, err := a.est.Depth(ref)
		var rel msgs.Pose
		if err == nil && a.odom && prev != nil {
			rel, err = a.est.Pose(prev, ref)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				send(&diagMsg{status: &parallaxv1.DiagnosticStatus{Level: parallaxv1.DiagnosticStatus_ERROR,
					Name: "perception/" + a.name, Message: fmt.Sprintf("inference failed: %v", err)}})
			}
			failing = true
			continue
		}
		if failing || seq == 0 {
			send(&diagMsg{status: &parallaxv1.DiagnosticStatus{Level: parallaxv1.DiagnosticStatus_OK,
				Name: "perception/" + a.name, Message: "estimating"}})
			failing = false
		}
		res := &DepthResult{Set: set, Depth: maps[0], Seq: seq, Inference: time.Since(began)}
		if a.odom {
			if prev != nil {
				odom = odom.Compose(rel)
			}
			p := odom
			res.Odom = &p
			prev = ref
		}
		seq++
		a.c.processed.Add(1)
		send(res)
	}
}
