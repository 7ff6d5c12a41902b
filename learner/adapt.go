package learner

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
)

var (
	// ErrAdaptConfig is returned for an AdaptConfig value out of range.
	ErrAdaptConfig = errors.New("learner: bad adaptation config")
	// ErrAdaptSample is returned by Offer for a tuple the mode cannot use
	// (a missing neighbour or right view).
	ErrAdaptSample = errors.New("learner: bad adaptation sample")
)

// AdaptConfig configures an Adapter. Zero fields take the documented
// defaults (Fill); Validate checks ranges.
type AdaptConfig struct {
	// Train configures the Trainer: mode, learning rate, clipping. Its
	// Params is set by the Adapter when Partial is on. Train.LR defaults to
	// 5e-5 here (half of offline training: the networks are already
	// trained and must not drift).
	Train TrainConfig
	// Buffer is the replay buffer's capacity in tuples (half recent, half a
	// reservoir over the whole drive). It defaults to 32.
	Buffer int
	// Replay is how many replayed tuples each step mixes with the fresh
	// one (CoMoDA); the step's batch is Replay+1. It defaults to 3.
	Replay int
	// HoldOutEvery sends every n-th accepted tuple to the held-out set
	// instead of the replay buffer: those tuples are never trained on, and
	// the drift guard validates on them. It defaults to 5.
	HoldOutEvery int
	// HoldOut is the size of the held-out set (the most recent held-out
	// tuples). It defaults to 4.
	HoldOut int
	// CheckEvery is the number of steps between drift checks. It defaults
	// to 8.
	CheckEvery int
	// HandOverEvery is the number of steps between weight hand-overs to
	// perception; a hand-over only happens after a passed drift check, so
	// it is rounded up to a multiple of CheckEvery. It defaults to 8.
	HandOverEvery int
	// MinTranslation is the translation gate in metres (the pose network's
	// units: metres for a model trained with the stereo baseline, ModeBoth):
	// a tuple whose previous and next frames are less than this apart, by
	// the pose network of the model being trained, is skipped. It applies
	// when the objective trains the pose network (Monodepth2's ModeMono,
	// ModeBoth); otherwise its translation would mean nothing (ModeStereo
	// does not train it), and the image gate decides alone. It defaults to 0.05 m; a negative value
	// turns the pose check off (the image gate still runs).
	MinTranslation float64
	// MinPixelChange is the image gate: a tuple whose previous and next
	// frames' 8x8 block means of grey differ by less than this on average
	// (0..255 grey levels) is skipped without running the pose network: a
	// frozen, black or parked camera in a still scene (block means average
	// sensor noise away). It defaults to 1.5: on the synthetic drives a
	// camera parked (1 cm/s, with the exposure drifting) changes by at most
	// 0.7, a robot at 1.5 m/s by at least 2.9, a car at 8 m/s by 7.5.
	MinPixelChange float64
	// DriftThreshold is the relative rise of the held-out error (the
	// objective's guard term, Guarded: Monodepth2's photometric error), current weights against the last good ones on the same tuples,
	// that makes the guard roll back. It defaults to 0.05 (5%).
	DriftThreshold float64
	// AnomalyThreshold is the relative excess of a fresh tuple's
	// photometric error over its running mean beyond which the tuple is
	// not trained on (noise, a lens covered, a broken stream). It defaults
	// to 1.0 (twice the running mean).
	AnomalyThreshold float64
	// AnomalyPatience is how many consecutive anomalous tuples make the
	// guard accept the new level as a new scene and train again. It
	// defaults to 20.
	AnomalyPatience int
	// BackOff multiplies the learning rate scale at each rollback; each
	// passed check divides it back by BackOff up to 1 (never above). It
	// defaults to 0.5.
	BackOff float64
	// MinLRScale bounds the scale below. It defaults to 1/16.
	MinLRScale float64
	// Partial trains only the depth decoder and its disparity heads, in the
	// spirit of MAD (Tonioni et al. 2019: adapt part of the network to go
	// faster); the encoder and the pose network keep their weights. MAD
	// samples a different block each step; the Trainer fixes its trained
	// variables when it is made (its Adam state covers exactly those), so
	// the block is fixed here. It saves the encoder's Adam update and keeps
	// the encoder's features stable, not the backward pass through it. It
	// defaults to false.
	Partial bool
	// Seed seeds the replay draws and block sampling. It defaults to 1.
	Seed uint64
	// OnPick, when set, is called (on Offer's goroutine) with each tuple
	// the replay buffer takes: the tuples this robot found worth training
	// on, which the fleet uploads for off-board training
	// (fleet.Uploader.Offer). It must not block or change the frames.
	OnPick func(Sample)
}

// Fill returns the configuration with defaults filled in.
func (c AdaptConfig) Fill() AdaptConfig {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	deff := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.Buffer, 32)
	def(&c.Replay, 3)
	def(&c.HoldOutEvery, 5)
	def(&c.HoldOut, 4)
	def(&c.CheckEvery, 8)
	def(&c.HandOverEvery, 8)
	def(&c.AnomalyPatience, 20)
	deff(&c.MinTranslation, 0.05)
	deff(&c.MinPixelChange, 1.5)
	deff(&c.DriftThreshold, 0.05)
	deff(&c.AnomalyThreshold, 1.0)
	deff(&c.BackOff, 0.5)
	deff(&c.MinLRScale, 1.0/16)
	deff(&c.Train.LR, 5e-5)
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

// Validate checks a filled configuration.
func (c AdaptConfig) Validate() error {
	bad := func(name string, v any, want string) error {
		return fmt.Errorf("%w: %s is %v (want %s)", ErrAdaptConfig, name, v, want)
	}
	switch {
	case c.Buffer < 2 || c.Buffer > 1<<16:
		return bad("Buffer", c.Buffer, "2 to 65536")
	case c.Replay < 0 || c.Replay >= c.Buffer:
		return bad("Replay", c.Replay, "0 to Buffer-1")
	case c.HoldOutEvery < 2:
		return bad("HoldOutEvery", c.HoldOutEvery, "at least 2")
	case c.HoldOut < 1 || c.HoldOut > 64:
		return bad("HoldOut", c.HoldOut, "1 to 64")
	case c.CheckEvery < 1:
		return bad("CheckEvery", c.CheckEvery, "at least 1")
	case c.HandOverEvery < 1:
		return bad("HandOverEvery", c.HandOverEvery, "at least 1")
	case math.IsNaN(c.MinTranslation) || math.IsInf(c.MinTranslation, 0):
		return bad("MinTranslation", c.MinTranslation, "a finite value (negative: no pose check)")
	case !(c.MinPixelChange >= 0) || c.MinPixelChange > 255:
		return bad("MinPixelChange", c.MinPixelChange, "0 to 255")
	case !(c.DriftThreshold > 0) || c.DriftThreshold > 10:
		return bad("DriftThreshold", c.DriftThreshold, "above 0, at most 10")
	case !(c.AnomalyThreshold > 0) || c.AnomalyThreshold > 100:
		return bad("AnomalyThreshold", c.AnomalyThreshold, "above 0, at most 100")
	case c.AnomalyPatience < 1:
		return bad("AnomalyPatience", c.AnomalyPatience, "at least 1")
	case !(c.BackOff > 0) || c.BackOff >= 1:
		return bad("BackOff", c.BackOff, "above 0, below 1")
	case !(c.MinLRScale > 0) || c.MinLRScale > 1:
		return bad("MinLRScale", c.MinLRScale, "above 0, at most 1")
	case !(c.Train.LR > 0) || c.Train.LR > 1:
		return bad("Train.LR", c.Train.LR, "above 0, at most 1")
	}
	return nil
}

// Gate is why Offer skipped a tuple, or GateAccepted.
type Gate int

const (
	// GateAccepted: the tuple was stored (replay buffer or held-out set)
	// and is the next step's fresh tuple.
	GateAccepted Gate = iota
	// GateStatic: the camera barely moved (image or translation gate).
	GateStatic
	// GateAnomaly: the tuple's photometric error is far above the running
	// mean (the drift guard's input check).
	GateAnomaly
)

func (g Gate) String() string {
	switch g {
	case GateAccepted:
		return "accepted"
	case GateStatic:
		return "static"
	case GateAnomaly:
		return "anomaly"
	}
	return fmt.Sprintf("Gate(%d)", int(g))
}

// Offered is what Offer found out about a tuple.
type Offered struct {
	// Gate says whether the tuple was kept.
	Gate Gate
	// PixelChange is the mean absolute grey-level difference between the
	// previous and next frames (0..255).
	PixelChange float64
	// Translation is the pose network's translation between the previous
	// and next frames, metres (NaN when the image gate already decided).
	Translation float64
	// Error is the tuple's error under the current weights: the
	// objective's guard term (Guarded; Monodepth2's photometric error), NaN
	// when a gate before it decided.
	Error float64
	// HeldOut is true when the tuple went to the held-out set.
	HeldOut bool
}

// StepReport is the outcome of Adapter.Step.
type StepReport struct {
	// Stats are the Trainer's statistics of the step.
	Stats StepStats
	// Checked is true when a drift check ran after the step.
	Checked bool
	// RolledBack is true when the check (or a non-finite step) restored the
	// last good weights.
	RolledBack bool
	// Validation and Reference are the held-out photometric errors of the
	// current and of the last good weights at the check (0 when none).
	Validation, Reference float64
	// HandOver is true when new weights are ready for perception: call
	// HandOver before the next Step.
	HandOver bool
}

// AdaptStats are the Adapter's counters since it started (Steps and the
// learning rate include a resumed checkpoint's history).
type AdaptStats struct {
	Steps                         int64
	Offered, Accepted, HeldOut    int64
	SkippedStatic, SkippedAnomaly int64
	Rollbacks, NonFinite, Checks  int64
	HandOvers                     int64
	BufferFill, BufferCap         int
	LR, LRScale                   float64
	Reference                     float64 // held-out error of the last good weights at the last check
	FreshMean                     float64 // running mean of the fresh tuples' photometric error
}

// Adapter adapts a model online: the node offers it training tuples from
// the live stream, it gates them (a parked camera, a broken stream), keeps
// them in a Replay buffer and a held-out set, and runs optimisation steps
// that mix the fresh tuple with replayed ones. A drift guard compares the
// current weights with the last good ones on the held-out tuples every
// CheckEvery steps and rolls back (Trainer.Restore) and backs the learning
// rate off when they got worse or a step was not finite; only weights that
// passed a check are handed over to perception (HandOver) or saved.
//
// The Adapter owns its model and Trainer and runs every torch call on its
// own Worker (one thread: inference has the other core). Its methods are
// called from one goroutine (the learner actor's); they block while the
// worker runs.
type Adapter struct {
	cfg AdaptConfig
	w   *perception.Worker
	m   *perception.Model
	tr  *Trainer
	est *perception.Estimator // the model being trained, for the pose gate
	// guard is the loss term the anomaly check and drift guard compare;
	// posed says whether the objective trains the pose network (the
	// translation gate applies).
	guard string
	posed bool
	buf   *Replay
	hold  holdOut
	rng   *rand.Rand

	good      *TrainerState // last weights that passed a check
	fresh     *Sample       // the newest accepted tuple, trained on next
	freshMean float64       // running mean of fresh photometric errors
	freshN    int
	anomalies int // consecutive anomalous tuples
	sinceHand int // steps since the last hand-over
	sinceGood int // steps since the last good snapshot
	nonFinite bool
	lrScale   float64

	st AdaptStats
}

// NewAdapter makes an Adapter training m on w. The Adapter owns m from now
// on (Close frees it). c, when not nil, is a checkpoint of m's weights
// whose optimiser state and step count the Trainer resumes; m must already
// hold its weights.
func NewAdapter(w *perception.Worker, m *perception.Model, c *perception.Checkpoint, cfg AdaptConfig) (*Adapter, error) {
	if w == nil || m == nil {
		return nil, fmt.Errorf("%w: nil worker or model", ErrAdaptConfig)
	}
	cfg = cfg.Fill()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Adapter{cfg: cfg, w: w, m: m, lrScale: 1,
		rng:  rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		hold: holdOut{size: cfg.HoldOut}}
	var err error
	if a.buf, err = NewReplay(cfg.Buffer, cfg.Seed); err != nil {
		return nil, err
	}
	tc := cfg.Train
	if cfg.Partial {
		user := tc.Params
		tc.Params = func(name string) bool {
			if user != nil && !user(name) {
				return false
			}
			return partialTrained(name)
		}
	}
	err = w.Do(func() error {
		var err error
		if a.tr, err = NewTrainer(m, tc); err != nil {
			return err
		}
		if c != nil {
			if err := a.tr.Resume(c); err != nil {
				return err
			}
		}
		a.good, err = a.tr.Snapshot()
		return err
	})
	if err != nil {
		a.freeOnWorker()
		return nil, fmt.Errorf("learner: adapter: %w", err)
	}
	a.est = perception.NewEstimator(m, w)
	a.guard = guardTerm(a.tr.Objective())
	a.posed = m.Pose() != nil && slices.Contains(a.tr.TrainedNets(), perception.NetPose)
	a.st.Steps, a.st.LR = a.tr.Steps(), a.tr.LR()
	return a, nil
}

// Config returns the configuration, defaults filled in.
func (a *Adapter) Config() AdaptConfig { return a.cfg }

// Model returns the model being trained. Use it only on the Adapter's
// worker and never while a method of the Adapter runs.
func (a *Adapter) Model() *perception.Model { return a.m }

// Needs are the frames the adapter's objective needs in each sample.
func (a *Adapter) Needs() Needs { return a.tr.Objective().Needs() }

// Stats returns the counters.
func (a *Adapter) Stats() AdaptStats {
	s := a.st
	s.BufferFill, s.BufferCap = a.buf.Len(), a.buf.Cap()
	s.LRScale = a.lrScale
	s.FreshMean = a.freshMean
	return s
}

// Offer gates a training tuple from the live stream and stores it: static
// tuples (image gate, then the pose network's translation between Prev and
// Next) and anomalous ones (photometric error far above the running mean)
// are counted and dropped; every HoldOutEvery-th accepted tuple goes to the
// held-out set, the others to the replay buffer and become the next step's
// fresh tuple. Prev and Next are required in every mode (the gate needs the
// motion); Right is required for the stereo modes.
func (a *Adapter) Offer(s Sample) (Offered, error) {
	o := Offered{Translation: math.NaN(), Error: math.NaN()}
	if s.Target == nil || s.Prev == nil || s.Next == nil {
		return o, fmt.Errorf("%w: target, previous and next frames are required", ErrAdaptSample)
	}
	if a.tr.Objective().Needs().Right && (s.Right == nil || !(s.Baseline > 0)) {
		return o, fmt.Errorf("%w: objective %s needs the right view and a baseline", ErrAdaptSample, a.tr.Objective().Name())
	}
	a.st.Offered++
	var err error
	if o.PixelChange, err = pixelChange(s.Prev, s.Next); err != nil {
		return o, err
	}
	if o.PixelChange < a.cfg.MinPixelChange {
		a.st.SkippedStatic++
		o.Gate = GateStatic
		return o, nil
	}
	if a.posed && a.cfg.MinTranslation > 0 {
		p, err := a.est.Pose(s.Prev, s.Next)
		if err != nil {
			return o, fmt.Errorf("learner: translation gate: %w", err)
		}
		o.Translation = math.Sqrt(p.T[0]*p.T[0] + p.T[1]*p.T[1] + p.T[2]*p.T[2])
		if !(o.Translation >= a.cfg.MinTranslation) {
			a.st.SkippedStatic++
			o.Gate = GateStatic
			return o, nil
		}
	}
	err = a.w.Do(func() error {
		v, err := a.tr.Validate([]Sample{s})
		o.Error = v.Term(a.guard)
		return err
	})
	if err != nil {
		return o, fmt.Errorf("learner: anomaly check: %w", err)
	}
	if a.anomalous(o.Error) {
		a.st.SkippedAnomaly++
		o.Gate = GateAnomaly
		return o, nil
	}
	a.st.Accepted++
	if a.st.Accepted%int64(a.cfg.HoldOutEvery) == 0 {
		a.hold.add(s)
		a.st.HeldOut++
		o.HeldOut = true
		return o, nil
	}
	a.buf.Add(s)
	a.fresh = &s
	if a.cfg.OnPick != nil {
		a.cfg.OnPick(s)
	}
	return o, nil
}

// anomalous updates the running mean of fresh photometric errors and
// reports whether v is far above it. The first three tuples only seed the
// mean; AnomalyPatience anomalies in a row are accepted as a new scene (the
// mean restarts from them).
func (a *Adapter) anomalous(v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return true
	}
	if a.freshN >= 3 && v > a.freshMean*(1+a.cfg.AnomalyThreshold) {
		a.anomalies++
		if a.anomalies < a.cfg.AnomalyPatience {
			return true
		}
		a.freshN, a.freshMean = 0, 0 // a new scene: learn its level
	}
	a.anomalies = 0
	a.freshN++
	alpha := math.Max(1/float64(a.freshN), 0.1)
	a.freshMean += alpha * (v - a.freshMean)
	return false
}

// Ready reports whether a step can run: a fresh tuple is waiting and the
// held-out set has a tuple for the drift guard.
func (a *Adapter) Ready() bool { return a.fresh != nil && len(a.hold.ring) > 0 }

// Step runs one optimisation step on the fresh tuple mixed with Replay
// tuples from the buffer, then, every CheckEvery steps (and at once after a
// non-finite step), the drift check. It returns ErrAdaptSample when not
// Ready.
func (a *Adapter) Step() (StepReport, error) {
	var r StepReport
	if !a.Ready() {
		return r, fmt.Errorf("%w: no fresh tuple or no held-out tuple yet", ErrAdaptSample)
	}
	batch := append([]Sample{*a.fresh}, a.drawReplay()...)
	a.fresh = nil
	err := a.w.Do(func() error {
		var err error
		r.Stats, err = a.tr.Step(batch)
		return err
	})
	if err != nil {
		return r, fmt.Errorf("learner: step: %w", err)
	}
	a.st.Steps = a.tr.Steps()
	a.st.LR = a.tr.LR()
	a.sinceGood++
	a.sinceHand++
	if r.Stats.Skipped || !finite(r.Stats.Loss) {
		a.st.NonFinite++
		a.nonFinite = true
	}
	if a.nonFinite || a.sinceGood >= a.cfg.CheckEvery {
		if err := a.check(&r); err != nil {
			return r, err
		}
	}
	return r, nil
}

// drawReplay draws the replayed part of a batch, never the fresh tuple
// itself (it is in the buffer too).
func (a *Adapter) drawReplay() []Sample {
	drawn := a.buf.Draw(a.cfg.Replay + 1)
	out := drawn[:0]
	for _, s := range drawn {
		if a.fresh != nil && s.Target == a.fresh.Target {
			continue
		}
		out = append(out, s)
	}
	if len(out) > a.cfg.Replay {
		out = out[:a.cfg.Replay]
	}
	return out
}

// check is the drift guard: the held-out photometric error of the current
// weights against the last good weights on the same tuples (restoring the
// good snapshot in between). A rise beyond DriftThreshold, a non-finite
// value or a non-finite step since the last check keeps the good weights
// (a rollback) and backs off the learning rate; otherwise the current
// weights become the good ones.
func (a *Adapter) check(r *StepReport) error {
	r.Checked = true
	a.st.Checks++
	held := a.hold.all()
	nonFinite := a.nonFinite
	a.nonFinite, a.sinceGood = false, 0
	err := a.w.Do(func() error {
		var cur StepStats
		var err error
		if !nonFinite {
			if cur, err = a.tr.Validate(held); err != nil {
				return err
			}
		}
		now, err := a.tr.Snapshot()
		if err != nil {
			return err
		}
		if err := a.tr.Restore(a.good); err != nil {
			now.Free()
			return err
		}
		ref, err := a.tr.Validate(held)
		if err != nil {
			now.Free()
			return err
		}
		r.Reference = ref.Term(a.guard)
		r.Validation = cur.Term(a.guard)
		if nonFinite || !finite(r.Validation) || r.Validation > r.Reference*(1+a.cfg.DriftThreshold) {
			// Stay on the good weights, just restored.
			now.Free()
			r.RolledBack = true
			a.lrScale = math.Max(a.cfg.MinLRScale, a.lrScale*a.cfg.BackOff)
			a.tr.SetLRScale(a.lrScale)
			return nil
		}
		if err := a.tr.Restore(now); err != nil {
			now.Free()
			return err
		}
		a.good.Free()
		a.good = now
		a.lrScale = math.Min(1, a.lrScale/a.cfg.BackOff)
		a.tr.SetLRScale(a.lrScale)
		return nil
	})
	if err != nil {
		return fmt.Errorf("learner: drift check: %w", err)
	}
	if r.RolledBack {
		a.st.Rollbacks++
		a.st.Steps = a.tr.Steps()
		a.st.Reference = r.Reference
		return nil
	}
	a.st.Reference = r.Reference
	if a.sinceHand >= a.cfg.HandOverEvery {
		r.HandOver = true
	}
	return nil
}

// HandOver copies the last good weights into spare on perception's worker
// pw (serialised with inference, so no inference ever sees a half-copied
// model), swaps spare into est between two frames and returns the model it
// replaced: the next hand-over's spare. Call it right after a Step whose
// report has HandOver set, from the goroutine that calls Step (the weights
// being copied are not trained meanwhile).
func (a *Adapter) HandOver(est *perception.Estimator, pw *perception.Worker, spare *perception.Model) (*perception.Model, error) {
	if est == nil || pw == nil || spare == nil {
		return nil, fmt.Errorf("%w: hand-over needs an estimator, its worker and a spare model", ErrAdaptConfig)
	}
	if a.sinceGood != 0 {
		return nil, fmt.Errorf("%w: hand-over only right after a passed drift check", ErrAdaptConfig)
	}
	err := pw.Do(func() error {
		if ok, bad, err := a.m.Finite(); err != nil || !ok {
			if err == nil {
				err = fmt.Errorf("variable %s is not finite", bad)
			}
			return err
		}
		return spare.CopyFrom(a.m)
	})
	if err != nil {
		return nil, fmt.Errorf("learner: hand-over: %w", err)
	}
	old := est.SetModel(spare)
	a.sinceHand = 0
	a.st.HandOvers++
	return old, nil
}

// Save writes the last good weights, optimiser state and step count
// atomically to path (Trainer.Save): steps since the last passed check are
// dropped first, so a checkpoint never holds weights the drift guard has
// not seen. Any later Step continues from the saved state.
func (a *Adapter) Save(path string, meta perception.CheckpointMeta) error {
	err := a.w.Do(func() error {
		if a.sinceGood > 0 || a.nonFinite {
			if err := a.tr.Restore(a.good); err != nil {
				return err
			}
			a.sinceGood, a.nonFinite = 0, false
		}
		meta.Steps = a.tr.Steps()
		return a.tr.Save(path, meta)
	})
	if err != nil {
		return fmt.Errorf("learner: save: %w", err)
	}
	a.st.Steps = a.tr.Steps()
	return nil
}

// Close frees the model, the trainer's state and the snapshots, and drops
// the buffered frames. The worker stays open (the caller's).
func (a *Adapter) Close() {
	a.freeOnWorker()
	a.buf.Clear()
	a.hold = holdOut{size: a.cfg.HoldOut}
	a.fresh = nil
}

func (a *Adapter) freeOnWorker() {
	a.w.Do(func() error {
		if a.good != nil {
			a.good.Free()
			a.good = nil
		}
		if a.tr != nil {
			if c, ok := any(a.tr).(interface{ Close() }); ok {
				c.Close()
			}
			a.tr = nil
		}
		if a.m != nil {
			a.m.Close()
			a.m = nil
		}
		return nil
	})
}

// gateBlock is the side of the blocks pixelChange averages: a parked
// camera's sensor noise averages out over 64 pixels (its deviation drops
// eightfold) while motion shifts the block means.
const gateBlock = 8

// pixelChange is the mean absolute difference, in grey levels (0..255), of
// the two frames' gateBlock x gateBlock block means of grey ((R+G+B)/3).
// Frames of different sizes are an error.
func pixelChange(a, b *msgs.Frame) (float64, error) {
	if a.Width != b.Width || a.Height != b.Height || len(a.Pix) != len(b.Pix) || len(a.Pix) != 3*a.Width*a.Height || len(a.Pix) == 0 {
		return 0, fmt.Errorf("%w: frames %dx%d (%d bytes) and %dx%d (%d bytes) differ or are malformed",
			ErrAdaptSample, a.Width, a.Height, len(a.Pix), b.Width, b.Height, len(b.Pix))
	}
	bw, bh := (a.Width+gateBlock-1)/gateBlock, (a.Height+gateBlock-1)/gateBlock
	sums := make([]int64, bw*bh)
	counts := make([]int64, bw*bh)
	for y := 0; y < a.Height; y++ {
		row := y * a.Width * 3
		by := (y / gateBlock) * bw
		for x := 0; x < a.Width; x++ {
			i := row + 3*x
			d := int64(a.Pix[i]) + int64(a.Pix[i+1]) + int64(a.Pix[i+2]) -
				int64(b.Pix[i]) - int64(b.Pix[i+1]) - int64(b.Pix[i+2])
			k := by + x/gateBlock
			sums[k] += d
			counts[k]++
		}
	}
	var total float64
	for k, s := range sums {
		total += math.Abs(float64(s)) / float64(3*counts[k])
	}
	return total / float64(len(sums)), nil
}

// partialTrained reports whether Partial trains the variable: the depth
// decoder stages ("depth.decN") and disparity heads ("depth.dispN").
func partialTrained(name string) bool {
	return strings.HasPrefix(name, "depth.dec") || strings.HasPrefix(name, "depth.disp")
}

// Adoption is the outcome of Adapter.Adopt.
type Adoption struct {
	// Accepted is true when the candidate's weights replaced the current
	// ones (call HandOver next).
	Accepted bool
	// Candidate and Current are the held-out errors (the objective's guard
	// term) of the candidate and of the last good weights, on the same
	// held-out tuples of this stream.
	Candidate, Current float64
	// Tuples is how many held-out tuples they were compared on.
	Tuples int
}

// Adopt considers weights from elsewhere (a fleet's shared model): the
// candidate checkpoint's weights and the last good ones are both scored on
// the held-out tuples of this stream (never trained on), and the candidate
// replaces them only when its error is at most the current one times
// 1+tolerance; a worse candidate changes nothing. Accepted weights become
// the last good ones (the drift guard's reference from now on, the
// optimiser's moments are kept), so HandOver can serve them at once. It
// returns ErrAdaptSample while the held-out set is empty (nothing to
// validate on yet), and the checkpoint's error for another architecture.
func (a *Adapter) Adopt(c *perception.Checkpoint, tolerance float64) (Adoption, error) {
	var r Adoption
	if c == nil {
		return r, fmt.Errorf("%w: nil checkpoint", ErrAdaptConfig)
	}
	if !(tolerance >= 0) {
		return r, fmt.Errorf("%w: tolerance %v (want at least 0)", ErrAdaptConfig, tolerance)
	}
	held := a.hold.all()
	if len(held) == 0 {
		return r, fmt.Errorf("%w: no held-out tuple yet to validate the candidate on", ErrAdaptSample)
	}
	r.Tuples = len(held)
	err := a.w.Do(func() error {
		// Steps since the last check are not checked weights: start from
		// the last good ones either way.
		if err := a.tr.Restore(a.good); err != nil {
			return err
		}
		a.sinceGood, a.nonFinite = 0, false
		ref, err := a.tr.Validate(held)
		if err != nil {
			return err
		}
		r.Current = ref.Term(a.guard)
		if err := a.m.LoadCheckpoint(c); err != nil {
			return err
		}
		cand, err := a.tr.Validate(held)
		if err != nil {
			return errors.Join(err, a.tr.Restore(a.good))
		}
		r.Candidate = cand.Term(a.guard)
		if !finite(r.Candidate) || !(r.Candidate <= r.Current*(1+tolerance)) {
			return a.tr.Restore(a.good)
		}
		now, err := a.tr.Snapshot()
		if err != nil {
			return errors.Join(err, a.tr.Restore(a.good))
		}
		a.good.Free()
		a.good = now
		r.Accepted = true
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("learner: adopt: %w", err)
	}
	if r.Accepted {
		a.st.Reference = r.Candidate
		a.sinceHand = a.cfg.HandOverEvery
	}
	return r, nil
}
