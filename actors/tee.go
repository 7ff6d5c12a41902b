package actors

import "github.com/asynkron/protoactor-go/actor"

// teeActor forwards each frame set to perception and to the learner.
type teeActor struct {
	to []*actor.PID
}

func (a *teeActor) Receive(ctx actor.Context) {
	if m, ok := ctx.Message().(*FrameSet); ok {
		for _, pid := range a.to {
			ctx.Send(pid, m)
		}
	}
}
