package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/parallax-robotics/parallax/msgs"
)

// syncQueue is how many frames of one side wait for a partner. Both sides
// of a synchronised rig arrive within a frame of each other; a deeper queue
// would only hold frames that are already stale.
const syncQueue = 4

// syncActor pairs the left and right frames of a stereo rig by stamp
// (approximate time synchronisation): a frame pairs with the other side's
// queued frame closest in time when they differ by at most tolerance.
// Frames that can no longer pair (older than the newest pair, or pushed out
// of a full queue) are dropped and counted.
type syncActor struct {
	left, right string
	tolerance   time.Duration
	next        *actor.PID
	c           *counters

	queue map[string][]*msgs.Frame
}

func (a *syncActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.queue = map[string][]*msgs.Frame{}
	case *actor.Stopping:
	case *actor.Stopped:
	case *actor.Restarting:
		// The queued frames die with this instance: count them.
		a.c.unpaired.Add(uint64(len(a.queue[a.left]) + len(a.queue[a.right])))
	case *frameMsg:
		if set := a.add(m.frame); set != nil {
			ctx.Send(a.next, set)
		}
	}
}

// add queues f and returns a pair when f completes one.
func (a *syncActor) add(f *msgs.Frame) *FrameSet {
	side, other := a.left, a.right
	if f.Camera == a.right {
		side, other = a.right, a.left
	} else if f.Camera != a.left {
		return nil
	}
	best, bestDt := -1, time.Duration(0)
	for i, g := range a.queue[other] {
		dt := f.Stamp.Sub(g.Stamp).Abs()
		if dt <= a.tolerance && (best < 0 || dt < bestDt) {
			best, bestDt = i, dt
		}
	}
	if best < 0 {
		q := append(a.queue[side], f)
		if len(q) > syncQueue {
			a.c.unpaired.Add(uint64(len(q) - syncQueue))
			q = append(q[:0:0], q[len(q)-syncQueue:]...)
		}
		a.queue[side] = q
		return nil
	}
	g := a.queue[other][best]
	// Everything queued before the partner is older than this pair and
	// will never be published.
	a.c.unpaired.Add(uint64(best))
	a.queue[other] = append(a.queue[other][:0:0], a.queue[other][best+1:]...)
	// Frames of this side older than f cannot pair any more either: the
	// other side has moved past them.
	a.c.unpaired.Add(uint64(len(a.queue[side])))
	a.queue[side] = nil
	if side == a.left {
		return &FrameSet{Frames: []*msgs.Frame{f, g}}
	}
	return &FrameSet{Frames: []*msgs.Frame{g, f}}
}
