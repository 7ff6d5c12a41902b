package actors

import (
	"context"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// tripletSpan bounds the time from the first to the last frame of a
// training triplet: frames further apart (a stall, a reconnection) are not
// consecutive video.
const tripletSpan = 500 * time.Millisecond

// learnerActor is the online learner of the first stream group. Receive
// keeps the three newest frame sets and puts each complete triplet into a
// one-slot box (latest wins, like perception's); one goroutine takes it,
// offers it to the Adapter (gates, replay buffer) and, within the budget,
// runs an optimisation step on the learner's own worker, hands weights that
// passed the drift guard to perception, and writes periodic checkpoints. A
// timer hands the sinks <ns>.learner.stats every second. With adaptation off
// only the stats run.
type learnerActor struct {
	s    *learnerState
	name string // the group's reference camera
	out  *fanout
	diag *actor.PID

	recent []*FrameSet
	box    *latestBox[[3]*FrameSet]
	cancel context.CancelFunc
	done   chan struct{}
	timer  *time.Timer
}

type learnTick struct{}

func (a *learnerActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *actor.Stopping:
		a.stop()
	case *actor.Stopped:
	case *actor.Restarting:
		a.stop()
	case *FrameSet:
		if a.s.adapt == nil {
			return
		}
		if len(m.Frames) < 2 && a.s.adapt.Needs().Right {
			// A stereo rig running monocular while its right camera is
			// silent: a stereo objective has nothing to learn from, and a
			// triplet must not straddle the gap.
			a.recent = a.recent[:0]
			return
		}
		a.recent = append(a.recent, m)
		if len(a.recent) > 3 {
			a.recent = append(a.recent[:0], a.recent[len(a.recent)-3:]...)
		}
		if len(a.recent) == 3 {
			t0, t2 := a.recent[0].Ref().Stamp, a.recent[2].Ref().Stamp
			if t2.After(t0) && t2.Sub(t0) <= tripletSpan {
				a.box.put([3]*FrameSet{a.recent[0], a.recent[1], a.recent[2]})
			}
		}
	case learnTick:
		a.publishStats()
		a.schedule(ctx)
	}
}

func (a *learnerActor) start(ctx actor.Context) {
	a.recent = nil
	a.box = newLatestBox[[3]*FrameSet]()
	a.schedule(ctx)
	if a.s.adapt == nil {
		return
	}
	rctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan struct{})
	root, diag := ctx.ActorSystem().Root, a.diag
	s := a.s
	s.setFleetDiag(root, diag)
	go func() {
		defer close(a.done)
		s.loop.Lock()
		defer s.loop.Unlock()
		if rctx.Err() != nil {
			return
		}
		a.learn(rctx, func(st *parallaxv1.DiagnosticStatus) { root.Send(diag, &diagMsg{status: st}) })
	}()
}

func (a *learnerActor) schedule(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	a.timer = time.AfterFunc(statsPeriod, func() { root.Send(self, learnTick{}) })
}

// stop ends the stats timer and tells the learning goroutine to end after
// the step it is running. It does not wait for that step (up to seconds on
// a CPU): the actor tree stops within its budget, and Node.Stop waits
// (learnerState.loop) before the final checkpoint.
func (a *learnerActor) stop() {
	if a.timer != nil {
		a.timer.Stop()
	}
	if a.cancel != nil {
		a.cancel()
		a.cancel = nil
	}
}

func (a *learnerActor) publishStats() {
	a.out.send(msgs.Output{LearnerStats: a.s.stats()}, nil)
}

// learn is the learning goroutine.
func (a *learnerActor) learn(ctx context.Context, diag func(*parallaxv1.DiagnosticStatus)) {
	s := a.s
	name := "learner/" + a.name
	status := func(level parallaxv1.DiagnosticStatus_Level, msg string, kv ...string) {
		st := &parallaxv1.DiagnosticStatus{Level: level, Name: name, Message: msg}
		for i := 0; i+1 < len(kv); i += 2 {
			st.Values = append(st.Values, &parallaxv1.KeyValue{Key: kv[i], Value: kv[i+1]})
		}
		diag(st)
	}
	status(parallaxv1.DiagnosticStatus_OK, "adapting")
	minGap := time.Duration(float64(time.Second) / s.l.StepsPerS)
	share := s.l.ComputeShare
	var next time.Time
	failing, anomalous := false, false
	for {
		if wait := time.Until(next); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			case <-s.fleetWake():
				// A fleet version does not wait out the rest of the
				// budget: validate it now, then rest the remainder.
				if err := a.adoptFleet(); err != nil {
					status(parallaxv1.DiagnosticStatus_ERROR, fmt.Sprintf("fleet hand-over failed: %v", err))
				}
				continue
			}
		}
		tri, ok := a.box.take(ctx)
		if !ok {
			return
		}
		began := time.Now()
		smp := learner.Sample{Prev: tri[0].Ref(), Target: tri[1].Ref(), Next: tri[2].Ref()}
		if len(tri[1].Frames) > 1 {
			smp.Right, smp.Baseline = tri[1].Frames[1], s.baseline
		}
		off, err := s.adapt.Offer(smp)
		stepped, checked := false, false
		if err == nil && off.Gate == learner.GateAnomaly && !anomalous {
			anomalous = true
			status(parallaxv1.DiagnosticStatus_WARN, fmt.Sprintf("drift guard: error %.3f far above the running mean %.3f: not training on these frames",
				off.Error, s.adapt.Stats().FreshMean))
		} else if err == nil && off.Gate == learner.GateAccepted && anomalous {
			anomalous = false
			status(parallaxv1.DiagnosticStatus_OK, "adapting")
		}
		if err == nil {
			// A fleet version waiting: validated after this tuple's
			// offer, so the held-out set has had its chance to fill.
			err = a.adoptFleet()
		}
		if err == nil && s.adapt.Ready() {
			var rep learner.StepReport
			rep, err = s.adapt.Step()
			if err == nil {
				stepped = true
				checked = rep.Checked && !rep.RolledBack
				a.account(rep)
				if rep.RolledBack {
					status(parallaxv1.DiagnosticStatus_WARN,
						fmt.Sprintf("drift guard: rolled back to the last good weights (held-out photometric error %.4f vs %.4f), learning rate x%.3g",
							rep.Validation, rep.Reference, s.adapt.Stats().LRScale),
						"validation_error", fmt.Sprint(rep.Validation), "reference_error", fmt.Sprint(rep.Reference))
				}
				if rep.HandOver {
					err = a.handOver()
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				status(parallaxv1.DiagnosticStatus_ERROR, fmt.Sprintf("adaptation failed: %v", err))
			}
			failing = true
		} else if failing {
			failing = false
			status(parallaxv1.DiagnosticStatus_OK, "adapting")
		}
		if checked {
			a.publishDelta()
		}
		// Periodic checkpoints right after a passed drift check: the weights
		// then are the checked ones, and nothing is discarded.
		if checked && s.ckpt != "" && time.Since(s.lastSaveTime()) >= s.l.CheckpointEvery {
			if err := s.save("periodic"); err != nil {
				status(parallaxv1.DiagnosticStatus_ERROR, fmt.Sprintf("checkpoint: %v", err))
			}
		}
		s.mu.Lock()
		s.adaptSt = s.adapt.Stats()
		s.mu.Unlock()
		// The budget: at most steps_per_s steps a second, and at most
		// compute_share of the wall time busy.
		busy := time.Since(began)
		gap := time.Duration(float64(busy) * (1 - share) / share)
		if stepped {
			gap = max(gap, minGap-busy)
		}
		next = time.Now().Add(gap)
	}
}

// account adds a step to the period's loss sums and the step rate.
func (a *learnerActor) account(rep learner.StepReport) {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stepTimes = append(s.stepTimes, time.Now())
	if len(s.stepTimes) > 1000 {
		s.stepTimes = append(s.stepTimes[:0], s.stepTimes[len(s.stepTimes)-1000:]...)
	}
	st := rep.Stats
	for name, v := range st.Terms {
		s.stepLoss[name] += v
	}
	s.periodN++
	s.periodDur += st.Duration
}

// handOver swaps the learner's good weights into perception.
func (a *learnerActor) handOver() error {
	s := a.s
	old, err := s.adapt.HandOver(s.est, s.pw, s.spare)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.spare = old
	s.version++
	s.mu.Unlock()
	return nil
}
