package actors

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
	"github.com/parallax-robotics/parallax/perception"
)

// statsPeriod is how often <ns>.learner.stats is published.
const statsPeriod = time.Second

// learnerState is what online adaptation keeps for the node's life, across
// restarts of the learner actor: the Adapter (its model, trainer, replay
// buffer) on the learner's own Worker, the spare model of the double
// buffer, and the counters behind <ns>.learner.stats. It is made by
// Node.Start (errors there are start-up errors) and freed by Node.Stop
// after the final checkpoint.
type learnerState struct {
	l         launch.Learner
	ckpt      string // resolved checkpoint path, "" for none
	adapt     *learner.Adapter
	w         *perception.Worker // the learner's worker; nil when frozen
	pw        *perception.Worker // perception's, for hand-overs
	est       *perception.Estimator
	spare     *perception.Model // owned here; lives on pw
	baseline  float64
	minDepth  float64
	maxDepth  float64
	truth     func(*msgs.Frame) *msgs.Frame
	resumedAt int64       // steps of the checkpoint started from
	fleet     *fleetState // fleet.model's follower, nil without
	// pick receives the adapter's replay-buffer picks (fleet.upload's
	// Uploader.Offer), nil without; set once the node has a connection.
	pick atomic.Pointer[func(learner.Sample)]

	// loop is held by the learning goroutine for its whole life: a
	// restarted actor's goroutine waits for the previous one, and Node.Stop
	// waits for the step in flight before the final checkpoint.
	loop sync.Mutex

	mu        sync.Mutex
	version   uint64 // hand-overs since start
	lastSave  time.Time
	saveErr   error
	stepLoss  map[string]float64 // sums over the stats period
	periodN   int
	periodDur time.Duration
	lastStats *parallaxv1.LearnerStats
	latest    *msgs.Result               // newest result, for the live error
	recentErr []*parallaxv1.DepthMetrics // one per stats period, the last liveWindow
	adaptSt   learner.AdaptStats         // the Adapter's counters after the last iteration
	stepTimes []time.Time                // recent step ends, for steps/s
}

// newLearnerState builds the adaptation side of a node: a second model on
// its own worker (threads intra-op threads) holding the same weights as
// perception's (ck, when the node starts from a checkpoint, also resumes
// the optimiser), the Trainer and replay buffer behind an Adapter, and a
// spare model for the hand-over. With adaptation off it only keeps the
// counters (the stats still carry the live depth error).
func newLearnerState(l *launch.Launch, serving *perception.Model, ck *perception.Checkpoint, pw *perception.Worker,
	est *perception.Estimator, threads int, stereo bool, baseline float64) (_ *learnerState, err error) {
	s := &learnerState{l: l.Learner, ckpt: l.Resolve(l.Learner.Checkpoint), pw: pw, est: est, baseline: baseline,
		minDepth: l.Model.MinDepth, maxDepth: l.Model.MaxDepth, stepLoss: map[string]float64{}, lastSave: time.Now()}
	if !l.Learner.Adapt {
		return s, nil
	}
	mode, err := learnMode(l.Learner.Mode, stereo && baseline > 0)
	if err != nil {
		return nil, err
	}
	if s.w, err = perception.NewWorker(threads); err != nil {
		return nil, err
	}
	// Inference has priority: the learner's torch thread runs at a lower
	// scheduling priority (learner.nice, 10 by default), so when it and inference (and
	// the camera goroutines) want the same core, the kernel gives the core
	// to them; the learner uses what is left.
	s.w.Do(func() error { return lowerPriority(l.Learner.Nice) })
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	cfg := serving.Config()
	var m *perception.Model
	err = s.w.Do(func() error {
		var err error
		if m, err = perception.NewModel(cfg, serving.Device()); err != nil {
			return err
		}
		// perception's worker is idle: the node has not started streaming.
		if err := m.CopyFrom(serving); err != nil {
			m.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("actors: learner model: %w", err)
	}
	if ck != nil {
		s.resumedAt = ck.Header.Meta.Steps
		// Only a checkpoint the learner wrote carries optimiser state: a
		// pretrained model.checkpoint may not, and then Adam starts fresh.
		if !learnerCheckpoint(ck) {
			ck = nil
		}
	}
	acfg := learner.AdaptConfig{
		Train:            learner.TrainConfig{Objective: learner.Monodepth2{Mode: mode}, LR: l.Learner.LR},
		Buffer:           l.Learner.Buffer,
		Replay:           l.Learner.Replay,
		CheckEvery:       l.Learner.CheckEvery,
		HandOverEvery:    l.Learner.HandOverEvery,
		MinTranslation:   l.Learner.MinTranslation,
		MinPixelChange:   l.Learner.MinPixelChange,
		DriftThreshold:   l.Learner.DriftThreshold,
		AnomalyThreshold: l.Learner.AnomalyThreshold,
		Partial:          l.Learner.Partial,
		OnPick: func(p learner.Sample) {
			if f := s.pick.Load(); f != nil {
				(*f)(p)
			}
		},
	}
	if l.Learner.MinTranslation == 0 {
		acfg.MinTranslation = -1 // 0 in the launch file turns the pose gate off
	}
	if s.adapt, err = learner.NewAdapter(s.w, m, ck, acfg); err != nil {
		return nil, err
	}
	s.adaptSt = s.adapt.Stats()
	err = pw.Do(func() error {
		var err error
		s.spare, err = perception.NewModel(cfg, serving.Device())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("actors: learner spare model: %w", err)
	}
	return s, nil
}

// lowerPriority sets the calling OS thread's nice value (Linux schedules
// threads individually; the worker's thread is locked). Failure (no
// permission to renice, another OS) only loses the priority, so it is
// ignored by the caller.
func lowerPriority(nice int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}

// learnerCheckpoint reports whether c was written by a Trainer (it carries
// optimiser state besides the weights).
func learnerCheckpoint(c *perception.Checkpoint) bool {
	for _, sec := range c.Sections {
		if sec.Name != "weights" {
			return true
		}
	}
	return false
}

// learnMode turns learner.mode into a training mode.
func learnMode(mode string, stereo bool) (learner.Mode, error) {
	if mode == "" || mode == "auto" {
		if stereo {
			return learner.ModeStereo, nil
		}
		return learner.ModeMono, nil
	}
	m, err := learner.ParseMode(mode)
	if err != nil {
		return m, err
	}
	if (learner.Monodepth2{Mode: m}).Needs().Right && !stereo {
		return m, fmt.Errorf("%w: learner.mode %s needs a stereo pair with a known baseline", launch.ErrInvalid, mode)
	}
	return m, nil
}

// save writes the learner checkpoint when there is a path; reason is
// recorded in the checkpoint's metadata.
func (s *learnerState) save(reason string) error {
	if s.adapt == nil || s.ckpt == "" {
		return nil
	}
	if reason == "shutdown" {
		// The actors are stopped; wait for the step in flight.
		s.loop.Lock()
		defer s.loop.Unlock()
	}
	err := s.adapt.Save(s.ckpt, perception.CheckpointMeta{Values: map[string]string{
		"writer": "parallax online learner", "reason": reason,
	}})
	s.mu.Lock()
	s.lastSave, s.saveErr = time.Now(), err
	s.mu.Unlock()
	return err
}

// close frees the adapter, the spare model and the learner's worker, after
// the learning goroutine's step in flight.
func (s *learnerState) close() {
	s.loop.Lock()
	defer s.loop.Unlock()
	if s.adapt != nil {
		s.adapt.Close()
		s.adapt = nil
	}
	if s.spare != nil && s.pw != nil {
		sp := s.spare
		s.pw.Do(func() error { sp.Close(); return nil })
		s.spare = nil
	}
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
}

// observe keeps the newest result for the live error.
func (s *learnerState) observe(r *msgs.Result) {
	s.mu.Lock()
	s.latest = r
	s.mu.Unlock()
}

// stats builds the LearnerStats message of the period that just ended.
func (s *learnerState) stats() *parallaxv1.LearnerStats {
	now := time.Now()
	st := &parallaxv1.LearnerStats{Timestamp: msgs.Timestamp(now), Adapting: s.adapt != nil}
	s.mu.Lock()
	r := s.latest
	s.latest = nil
	st.WeightsVersion = s.version
	if s.periodN > 0 {
		losses := map[string]float64{}
		for k, v := range s.stepLoss {
			losses[k] = v / float64(s.periodN)
		}
		st.Losses = msgs.LossTerms(losses)
		st.StepSeconds = s.periodDur.Seconds() / float64(s.periodN)
	}
	s.stepLoss, s.periodN, s.periodDur = map[string]float64{}, 0, 0
	// steps/s over the step ends of the last 5 s.
	cut := now.Add(-5 * time.Second)
	keep := s.stepTimes[:0]
	for _, t := range s.stepTimes {
		if t.After(cut) {
			keep = append(keep, t)
		}
	}
	s.stepTimes = keep
	if len(keep) > 0 {
		st.StepsPerSecond = float64(len(keep)) / 5
	}
	s.mu.Unlock()
	if s.adapt != nil {
		// The counters the learning goroutine left (the Adapter itself is
		// that goroutine's alone).
		s.mu.Lock()
		a := s.adaptSt
		s.mu.Unlock()
		st.Steps = uint64(max(a.Steps, 0))
		st.BufferFill, st.BufferCapacity = uint32(a.BufferFill), uint32(a.BufferCap)
		st.Rollbacks = uint64(a.Rollbacks)
		st.SkippedStatic = uint64(a.SkippedStatic)
		st.SkippedAnomaly = uint64(a.SkippedAnomaly)
		st.NonFiniteSteps = uint64(a.NonFinite)
		st.DriftChecks = uint64(a.Checks)
		st.ValidationError = a.Reference
		st.LearningRate = a.LR
		st.LearningRateScale = a.LRScale
	}
	if r != nil {
		switch d := r.Depth; {
		case d.Scale > 0:
			st.DepthScaleSource, st.DepthScale = parallaxv1.LearnerStats_DEPTH_SCALE_GROUND, d.Scale
		case d.Relative:
			st.DepthScaleSource = parallaxv1.LearnerStats_DEPTH_SCALE_RELATIVE
		}
	}
	// The live error: one depth map a period (the ground truth may cost a
	// rendering), averaged over the last liveWindow periods so the number
	// follows the learning rather than the scene of the moment.
	if dm := s.depthError(r); dm != nil {
		s.recentErr = append(s.recentErr, dm)
		if len(s.recentErr) > liveWindow {
			s.recentErr = append(s.recentErr[:0], s.recentErr[len(s.recentErr)-liveWindow:]...)
		}
	}
	if len(s.recentErr) > 0 {
		st.DepthMetrics = meanMetrics(s.recentErr)
	}
	s.mu.Lock()
	s.lastStats = st
	s.mu.Unlock()
	return st
}

// liveWindow is how many stats periods the live depth error averages.
const liveWindow = 10

// meanMetrics averages per-image metrics (as Monodepth2 does over images).
func meanMetrics(ms []*parallaxv1.DepthMetrics) *parallaxv1.DepthMetrics {
	out := &parallaxv1.DepthMetrics{}
	for _, m := range ms {
		out.AbsRel += m.AbsRel
		out.SqRel += m.SqRel
		out.Rmse += m.Rmse
		out.RmseLog += m.RmseLog
		out.A1 += m.A1
		out.A2 += m.A2
		out.A3 += m.A3
		out.Pixels += m.Pixels
		out.Frames += m.Frames
	}
	n := float64(len(ms))
	out.AbsRel /= n
	out.SqRel /= n
	out.Rmse /= n
	out.RmseLog /= n
	out.A1 /= n
	out.A2 /= n
	out.A3 /= n
	return out
}

// depthError compares a depth result with the ground truth of its frame,
// metric (no median scaling: the stereo-trained networks are metric), over
// the true depths inside the model's range.
func (s *learnerState) depthError(r *msgs.Result) *parallaxv1.DepthMetrics {
	if r == nil || s.truth == nil {
		return nil
	}
	f := s.truth(r.Ref())
	if f == nil || f.Truth == nil {
		return nil
	}
	gt, err := learner.GroundTruthDepth(f, r.Depth.Width, r.Depth.Height)
	if err != nil {
		return nil
	}
	m, err := learner.DepthMetrics(r.Depth.Depth, gt, learner.EvalOptions{MinDepth: s.minDepth, MaxDepth: s.maxDepth})
	if err != nil {
		return nil
	}
	return &parallaxv1.DepthMetrics{AbsRel: m.AbsRel, SqRel: m.SqRel, Rmse: m.RMSE, RmseLog: m.RMSELog,
		A1: m.A1, A2: m.A2, A3: m.A3, Pixels: uint64(m.Pixels), Frames: 1}
}

// last returns the latest stats message, or nil before the first.
func (s *learnerState) last() *parallaxv1.LearnerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastStats
}

// learnerStartModel picks the weights the node starts from: the learner's
// own checkpoint when adaptation persists and the file exists (a restart
// resumes), else model.checkpoint, else none ("").
func learnerStartModel(l *launch.Launch) (path string, resumed bool, err error) {
	if l.Learner.Checkpoint != "" {
		p := l.Resolve(l.Learner.Checkpoint)
		_, err := os.Stat(p)
		switch {
		case err == nil:
			return p, true, nil
		case !errors.Is(err, os.ErrNotExist):
			return "", false, fmt.Errorf("actors: learner.checkpoint: %w", err)
		}
	}
	return l.Resolve(l.Model.Checkpoint), false, nil
}

func (s *learnerState) lastSaveTime() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSave
}
