package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/nats-io/nats.go"

	"github.com/parallax-robotics/parallax/fleet"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
	"github.com/parallax-robotics/parallax/perception"
)

// fleetCandidate is a version of the node's model family, pulled and
// parsed, waiting for the learning goroutine to validate it.
type fleetCandidate struct {
	ptr     fleet.Pointer
	ver     fleet.Version
	ckpt    *perception.Checkpoint
	arrived time.Time
}

// FleetStats are the node's fleet counters.
type FleetStats struct {
	// Serving is the digest of the fleet version perception serves, ""
	// while it serves its own weights.
	Serving string
	// Accepted and Refused count the versions validated.
	Accepted, Refused int64
	// LastRefusal says why the last refused version was refused.
	LastRefusal string
	// HandOverLatency is the time from the last accepted version's
	// promotion (the pointer's stamp) to perception serving it.
	HandOverLatency time.Duration
	// Upload are fleet.upload's counters (zero without).
	Upload fleet.UploadStats
	// Deltas counts the weight deltas published (fleet.delta_every).
	Deltas int64
}

// fleetState is the node's side of fleet.model: the Follower's goroutine
// and the one-slot candidate box between it and the learning goroutine.
type fleetState struct {
	cfg    launch.Fleet
	diag   atomic.Pointer[func(*parallaxv1.DiagnosticStatus)]
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{} // one token when a candidate arrives

	uploader *fleet.Uploader // fleet.upload's, nil without
	nc       *nats.Conn

	// The federated option's state, the learning goroutine's: the version
	// last adopted (what deltas are made from), the adapter's accepted
	// count then, and when the last delta went out.
	base         *fleetCandidate
	baseAccepted int64
	lastDelta    time.Time

	mu        sync.Mutex
	candidate *fleetCandidate
	st        FleetStats
}

// statusName is the diagnostics name of the fleet's statuses.
func (f *fleetState) statusName() string { return "fleet/" + f.cfg.Model }

func (f *fleetState) report(level parallaxv1.DiagnosticStatus_Level, msg string, kv ...string) {
	d := f.diag.Load()
	if d == nil {
		return
	}
	st := &parallaxv1.DiagnosticStatus{Level: level, Name: f.statusName(), Message: msg}
	for i := 0; i+1 < len(kv); i += 2 {
		st.Values = append(st.Values, &parallaxv1.KeyValue{Key: kv[i], Value: kv[i+1]})
	}
	(*d)(st)
}

// offer puts a candidate in the box (a newer one replaces an untaken one);
// again is a candidate put back because it could not be validated yet,
// which never replaces a newer one.
func (f *fleetState) offer(c *fleetCandidate, again bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if again && f.candidate != nil {
		return
	}
	f.candidate = c
	if !again {
		notify(f.wake)
	}
}

func (f *fleetState) take() *fleetCandidate {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.candidate
	f.candidate = nil
	return c
}

func (f *fleetState) stats() FleetStats {
	f.mu.Lock()
	st := f.st
	f.mu.Unlock()
	if f.uploader != nil {
		st.Upload = f.uploader.Stats()
	}
	return st
}

// startFleet runs the Follower of the launch file's fleet section on the
// node's connection. Its errors (registry unreachable, a pull that
// failed) only go to diagnostics: the node serves what it has meanwhile.
func (n *Node) startFleet(l *launch.Launch) {
	if l.Fleet == nil || n.learn == nil || n.learn.adapt == nil {
		return
	}
	f := &fleetState{cfg: *l.Fleet, done: make(chan struct{}), wake: make(chan struct{}, 1), nc: n.nc}
	n.learn.fleet = f
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	fw := &fleet.Follower{Conn: n.nc, Bucket: f.cfg.Bucket, Family: f.cfg.Model, Poll: f.cfg.Poll,
		Handle: func(_ context.Context, p fleet.Pointer, v fleet.Version, data []byte) error {
			c, err := perception.ParseCheckpoint(data)
			if err != nil {
				return err // the registry checked it: a retry may read it whole
			}
			f.offer(&fleetCandidate{ptr: p, ver: v, ckpt: c, arrived: time.Now()}, false)
			return nil
		},
		Status: func(ok bool, msg string) {
			if ok {
				f.report(parallaxv1.DiagnosticStatus_OK, msg)
			} else {
				f.report(parallaxv1.DiagnosticStatus_WARN, msg+" (serving the current weights meanwhile)")
			}
		}}
	go func() {
		defer close(f.done)
		fw.Run(ctx)
	}()
	if f.cfg.Upload {
		u, err := fleet.NewUploader(n.nc, fleet.UploadConfig{Robot: f.cfg.Robot, Family: f.cfg.Model, Budget: float64(f.cfg.Budget)})
		if err != nil {
			f.report(parallaxv1.DiagnosticStatus_ERROR, fmt.Sprintf("fleet upload: %v", err))
			return
		}
		f.uploader = u
		offer := func(s learner.Sample) { u.Offer(s) }
		n.learn.pick.Store(&offer)
	}
}

// fleetWake is signalled when a fleet version arrives; nil (never ready)
// without a fleet section.
func (s *learnerState) fleetWake() <-chan struct{} {
	if s.fleet == nil {
		return nil
	}
	return s.fleet.wake
}

// stopFleet ends the Follower before the connection closes.
func (s *learnerState) stopFleet() {
	if s == nil || s.fleet == nil || s.fleet.cancel == nil {
		return
	}
	s.pick.Store(nil)
	s.fleet.cancel()
	<-s.fleet.done
	s.fleet.cancel = nil
	if s.fleet.uploader != nil {
		s.fleet.uploader.Close()
	}
}

// setFleetDiag hooks the fleet's statuses to the diagnostics actor.
func (s *learnerState) setFleetDiag(root *actor.RootContext, diag *actor.PID) {
	if s.fleet == nil {
		return
	}
	fn := func(st *parallaxv1.DiagnosticStatus) { root.Send(diag, &diagMsg{status: st}) }
	s.fleet.diag.Store(&fn)
}

// adoptFleet validates a waiting fleet version on the learner's held-out
// tuples (learner.Adapter.Adopt) and, when it is not worse, hands it to
// perception through the same double-buffered swap as the learner's own
// weights. Run it on the learning goroutine, between steps.
func (a *learnerActor) adoptFleet() error {
	f := a.s.fleet
	if f == nil {
		return nil
	}
	c := f.take()
	if c == nil {
		return nil
	}
	short := fleet.ShortDigest(c.ptr.Digest)
	r, err := a.s.adapt.Adopt(c.ckpt, f.cfg.Tolerance)
	switch {
	case errors.Is(err, learner.ErrAdaptSample):
		f.offer(c, true) // nothing held out yet: try again after the next tuples
		return nil
	case err != nil:
		msg := fmt.Sprintf("refused version %s: %v", short, err)
		f.mu.Lock()
		f.st.Refused++
		f.st.LastRefusal = msg
		f.mu.Unlock()
		f.report(parallaxv1.DiagnosticStatus_WARN, msg, "digest", c.ptr.Digest)
		return nil
	case !r.Accepted:
		msg := fmt.Sprintf("refused version %s: held-out photometric error %.4f above the served weights' %.4f on %d of this robot's tuples",
			short, r.Candidate, r.Current, r.Tuples)
		f.mu.Lock()
		f.st.Refused++
		f.st.LastRefusal = msg
		f.mu.Unlock()
		f.report(parallaxv1.DiagnosticStatus_WARN, msg, "digest", c.ptr.Digest,
			"candidate_error", fmt.Sprint(r.Candidate), "current_error", fmt.Sprint(r.Current))
		return nil
	}
	if err := a.handOver(); err != nil {
		return err
	}
	f.base, f.baseAccepted, f.lastDelta = c, a.s.adapt.Stats().Accepted, time.Now()
	f.mu.Lock()
	f.st.Accepted++
	f.st.Serving = c.ptr.Digest
	f.st.HandOverLatency = time.Since(c.ptr.At)
	f.mu.Unlock()
	f.report(parallaxv1.DiagnosticStatus_OK, fmt.Sprintf("serving version %s (held-out photometric error %.4f, the previous weights' %.4f)",
		short, r.Candidate, r.Current), "digest", c.ptr.Digest,
		"candidate_error", fmt.Sprint(r.Candidate), "current_error", fmt.Sprint(r.Current))
	return nil
}

// publishDelta publishes the learner's weight delta from the fleet version
// it adopted last, when fleet.delta_every asks for one now (the federated
// option). Run it on the learning goroutine, after a passed drift check
// (the weights are the checked ones); the publish itself runs apart, so a
// slow uplink never holds the learner.
func (a *learnerActor) publishDelta() {
	f := a.s.fleet
	if f == nil || f.cfg.DeltaEvery <= 0 || f.base == nil || time.Since(f.lastDelta) < f.cfg.DeltaEvery {
		return
	}
	n := a.s.adapt.Stats().Accepted - f.baseAccepted
	if n < 1 {
		return
	}
	f.lastDelta = time.Now()
	var data []byte
	err := a.s.w.Do(func() error {
		base, err := perception.NewModel(f.base.ckpt.Header.Arch, a.s.adapt.Model().Device())
		if err != nil {
			return err
		}
		defer base.Close()
		if err := base.LoadCheckpoint(f.base.ckpt); err != nil {
			return err
		}
		data, err = fleet.EncodeDelta(a.s.adapt.Model(), base, f.cfg.Robot, f.base.ptr.Digest, n)
		return err
	})
	if err != nil {
		f.report(parallaxv1.DiagnosticStatus_WARN, fmt.Sprintf("weight delta: %v", err))
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := fleet.PublishDelta(ctx, f.nc, f.cfg.Robot, data); err != nil {
			f.report(parallaxv1.DiagnosticStatus_WARN, err.Error())
			return
		}
		f.mu.Lock()
		f.st.Deltas++
		f.mu.Unlock()
	}()
}

// FleetStats returns the fleet counters; false when the node follows no
// model family.
func (n *Node) FleetStats() (FleetStats, bool) {
	if n.learn == nil || n.learn.fleet == nil {
		return FleetStats{}, false
	}
	return n.learn.fleet.stats(), true
}
