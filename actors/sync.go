package actors

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
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
//
// A rig whose right camera falls silent degrades rather than going dark:
// once a left frame is more than monoAfter (stamp time, so replays at any
// speed degrade alike) past the last right frame, left frames go on alone
// and perception publishes monocular depth; the first right frame back
// restores pairing. Diagnostics say which mode the rig is in.
type syncActor struct {
	left, right string
	tolerance   time.Duration
	monoAfter   time.Duration // 0: never degrade
	next        *actor.PID
	diag        *actor.PID
	c           *counters

	queue     map[string][]*msgs.Frame
	lastRight time.Time // stamp of the newest right frame, or of the first left one
	lastLeft  time.Time // stamp of the newest left frame
	mono      bool
}

func (a *syncActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.queue = map[string][]*msgs.Frame{}
		a.lastRight, a.lastLeft, a.mono = time.Time{}, time.Time{}, false
	case *actor.Stopping:
	case *actor.Stopped:
	case *actor.Restarting:
		// The queued frames die with this instance: count them.
		a.c.unpaired.Add(uint64(len(a.queue[a.left]) + len(a.queue[a.right])))
	case *frameMsg:
		if set := a.degrade(ctx, m.frame); set != nil {
			ctx.Send(a.next, set)
		} else if set := a.add(m.frame); set != nil {
			ctx.Send(a.next, set)
		}
	}
}

// degrade tracks the right camera's silence and returns f alone when the
// rig is monocular for now.
func (a *syncActor) degrade(ctx actor.Context, f *msgs.Frame) *FrameSet {
	switch {
	case f.Camera == a.right:
		if a.lastRight.IsZero() || f.Stamp.After(a.lastRight) {
			a.lastRight = f.Stamp
		}
		// Frames a reconnecting stream drains from before the gap are
		// stale; only a fresh one ends the monocular spell.
		if a.mono && a.lastLeft.Sub(f.Stamp) <= a.monoAfter {
			a.mono = false
			a.report(ctx, parallaxv1.DiagnosticStatus_OK, "stereo: pairing left and right")
		}
		return nil
	case f.Camera != a.left || a.monoAfter <= 0:
		return nil
	}
	if f.Stamp.After(a.lastLeft) {
		a.lastLeft = f.Stamp
	}
	switch {
	case a.lastRight.IsZero():
		// No right frame yet: the silence counts from the first left one.
		a.lastRight = f.Stamp
		return nil
	case !a.mono && f.Stamp.Sub(a.lastRight) > a.monoAfter:
		a.mono = true
		a.c.unpaired.Add(uint64(len(a.queue[a.left])))
		a.queue[a.left] = nil
		a.report(ctx, parallaxv1.DiagnosticStatus_WARN,
			fmt.Sprintf("stereo: right camera %q silent for %v: publishing monocular depth from %q", a.right,
				f.Stamp.Sub(a.lastRight).Round(time.Millisecond), a.left))
	}
	if a.mono {
		return &FrameSet{Frames: []*msgs.Frame{f}}
	}
	return nil
}

func (a *syncActor) report(ctx actor.Context, level parallaxv1.DiagnosticStatus_Level, msg string) {
	if a.diag == nil {
		return
	}
	ctx.Send(a.diag, &diagMsg{status: &parallaxv1.DiagnosticStatus{Level: level, Name: "sync", Message: msg,
		Values: []*parallaxv1.KeyValue{{Key: "left", Value: a.left}, {Key: "right", Value: a.right}}}})
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
