package actors

import (
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// diagPeriod is how often every status is sent again, so a subscriber that
// joins late learns the state of every part within a second.
const diagPeriod = time.Second

// diagnosticsActor keeps the state of every part of the node (cameras,
// perception, learner, sinks) and hands it to the sinks: each change at
// once, and every status again once a second, with the process's own
// (processStatus) added.
type diagnosticsActor struct {
	out *fanout

	started time.Time // for the process status's uptime
	status  map[string]*parallaxv1.DiagnosticStatus
	timer   *time.Timer
}

func (a *diagnosticsActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.status = map[string]*parallaxv1.DiagnosticStatus{}
		if a.started.IsZero() {
			a.started = time.Now()
		}
		a.schedule(ctx)
	case *actor.Stopping:
		a.stopTimer()
	case *actor.Stopped:
	case *actor.Restarting:
		a.stopTimer()
	case *diagMsg:
		a.status[m.status.Name] = m.status
		a.send(m.status)
	case tick:
		all := make([]*parallaxv1.DiagnosticStatus, 0, len(a.status)+1)
		for _, s := range a.status {
			all = append(all, s)
		}
		all = append(all, processStatus(a.started))
		sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
		a.send(all...)
		a.schedule(ctx)
	}
}

func (a *diagnosticsActor) send(st ...*parallaxv1.DiagnosticStatus) {
	a.out.send(msgs.Output{Diagnostics: &parallaxv1.Diagnostics{Timestamp: msgs.Timestamp(time.Now()), Status: st}}, nil)
}

func (a *diagnosticsActor) schedule(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	a.timer = time.AfterFunc(diagPeriod, func() { root.Send(self, tick{}) })
}

func (a *diagnosticsActor) stopTimer() {
	if a.timer != nil {
		a.timer.Stop()
	}
}
