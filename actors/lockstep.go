package actors

import (
	"context"
	"time"
)

// lockstepWait is the longest a rate-0 replay waits for the previous
// frame's result before reading the next one anyway (a frame the stereo
// sync dropped never gets one).
const lockstepWait = time.Second

// lockstep paces a rate-0 replay (camera.Feed.Lockstep) by the pipeline:
// the next frame is read when every sink is done with the previous one's
// result, so every frame is processed and delivered, as fast as the
// networks go, and two replays process the same frames.
type lockstep struct{ credit chan struct{} }

func newLockstep() *lockstep {
	l := &lockstep{credit: make(chan struct{}, 1)}
	l.credit <- struct{}{}
	return l
}

// wait takes the credit for the next frame, or gives up after lockstepWait.
func (l *lockstep) wait(ctx context.Context) error {
	t := time.NewTimer(lockstepWait)
	defer t.Stop()
	select {
	case <-l.credit:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// release gives the credit back.
func (l *lockstep) release() { notify(l.credit) }
