package fleet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/perception"
)

// DefaultDurable is the durable consumer every fleet trainer shares: its
// samples are spread over the trainers pulling from it, each sample
// delivered to one of them.
const DefaultDurable = "fleet-train"

// TrainerConfig configures a fleet Trainer.
type TrainerConfig struct {
	// Family is the model family trained and promoted. It is required.
	Family string
	// Registry configures the registry (created when missing).
	Registry Config
	// Stream sets the samples stream's limits (created when missing).
	Stream StreamConfig
	// Durable names the shared pull consumer. It defaults to
	// DefaultDurable.
	Durable string
	// Model is the architecture trained when the family has no current
	// version yet; otherwise the current version's is.
	Model perception.ModelConfig
	// Objective is what training minimises (learner's objectives). It
	// defaults to Monodepth2 in stereo mode.
	Objective learner.Objective
	// LR is Adam's learning rate. It defaults to 1e-4.
	LR float64
	// Batch is the training batch. It defaults to 4.
	Batch int
	// RoundSteps is the optimisation steps of one round, after which the
	// candidate is validated. It defaults to 50.
	RoundSteps int
	// HoldOutEvery sends the samples whose stream sequence is a multiple
	// of it to the held-out set (never trained on; every trainer on the
	// stream agrees on which). It defaults to 5.
	HoldOutEvery uint64
	// HoldOut bounds the held-out set (the most recent ones). It defaults
	// to 32.
	HoldOut int
	// Buffer bounds the training pool (a learner.Replay: recent samples
	// and a reservoir over all), decoded in memory: a 320x96 stereo tuple
	// is 368 kB of RGB, so the default holds about 380 MB. It defaults to
	// 1024.
	Buffer int
	// MinSamples is how many training and held-out samples a round waits
	// for. They default to 8 and 2.
	MinSamples, MinHeldOut int
	// Margin is how much lower (relatively) the candidate's held-out error
	// must be than the current version's to be promoted. It defaults to 0:
	// strictly lower.
	Margin float64
	// Name says where versions were trained (Version.TrainedOn). It
	// defaults to "fleet-train@" and the host name.
	Name string
	// FetchWait is how long one pull waits for samples. It defaults to 1 s.
	FetchWait time.Duration
	// Seed seeds the batch draws. It defaults to 1.
	Seed uint64
}

func (c TrainerConfig) fill() (TrainerConfig, error) {
	if err := CheckFamily(c.Family); err != nil {
		return c, err
	}
	c.Stream = c.Stream.fill()
	if c.Durable == "" {
		c.Durable = DefaultDurable
	}
	if c.Objective == nil {
		c.Objective = learner.Monodepth2{Mode: learner.ModeStereo}
	}
	if c.LR == 0 {
		c.LR = 1e-4
	}
	if c.Batch == 0 {
		c.Batch = 4
	}
	if c.RoundSteps == 0 {
		c.RoundSteps = 50
	}
	if c.HoldOutEvery == 0 {
		c.HoldOutEvery = 5
	}
	if c.HoldOut == 0 {
		c.HoldOut = 32
	}
	if c.Buffer == 0 {
		c.Buffer = 1024
	}
	if c.MinSamples == 0 {
		c.MinSamples = 8
	}
	if c.MinHeldOut == 0 {
		c.MinHeldOut = 2
	}
	if c.FetchWait == 0 {
		c.FetchWait = time.Second
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Name == "" {
		h, _ := os.Hostname()
		c.Name = "fleet-train@" + h
	}
	switch {
	case c.Batch < 1 || c.Batch > 256:
		return c, fmt.Errorf("fleet: trainer batch %d (want 1 to 256)", c.Batch)
	case c.RoundSteps < 1:
		return c, fmt.Errorf("fleet: trainer round of %d steps (want at least 1)", c.RoundSteps)
	case c.HoldOutEvery < 2:
		return c, fmt.Errorf("fleet: hold-out every %d (want at least 2)", c.HoldOutEvery)
	case c.HoldOut < 1 || c.Buffer < 2 || c.MinSamples < 1 || c.MinHeldOut < 1 || c.MinHeldOut > c.HoldOut:
		return c, fmt.Errorf("fleet: trainer hold-out %d, buffer %d, min samples %d, min held-out %d", c.HoldOut, c.Buffer, c.MinSamples, c.MinHeldOut)
	case !(c.Margin >= 0 && c.Margin < 1):
		return c, fmt.Errorf("fleet: trainer margin %v (want 0 to 1)", c.Margin)
	case !(c.LR > 0 && c.LR <= 1):
		return c, fmt.Errorf("fleet: trainer learning rate %v (want above 0, at most 1)", c.LR)
	}
	return c, nil
}

// TrainerStats are a fleet Trainer's counters.
type TrainerStats struct {
	// Samples taken (acked) for training and for the held-out set; Bad
	// samples refused (terminated: never redelivered).
	Samples, HeldOut, Bad int64
	// Bytes of the samples taken.
	Bytes int64
	// PerRobot counts the samples taken per robot.
	PerRobot map[string]int64
	// Rounds run, versions Promoted, Steps taken.
	Rounds, Promoted, Steps int64
	// LastBad says why the last bad sample was refused.
	LastBad string
}

// RoundReport is the outcome of one training round.
type RoundReport struct {
	// Steps taken in the round and Took.
	Steps int
	Took  time.Duration
	// Candidate and Current are the held-out errors (the objective's
	// guard term) of the trained weights and of the current version (NaN
	// when the family had none).
	Candidate, Current float64
	// HeldOut is the size of the held-out set they were measured on.
	HeldOut int
	// Promoted is the version pushed and promoted, nil when the candidate
	// did not beat the current one.
	Promoted *Version
}

// Trainer is parallax fleet-train: it takes the fleet's samples from the
// shared durable pull consumer (explicit acks: a sample is acked once it
// is in the trainer's pool, terminated when it is malformed), trains the
// family's model on them with a learner.Trainer, and after each round
// validates it against the family's current version on held-out samples,
// pushing and promoting it only when it is better. A round starts from the
// current version when another trainer promoted one meanwhile.
//
// Every tensor call runs on the Worker; the methods are called from one
// goroutine.
type Trainer struct {
	cfg  TrainerConfig
	reg  *Registry
	js   jetstream.JetStream
	cons jetstream.Consumer
	// deltas is the federated round's consumer, made on first use.
	deltas jetstream.Consumer
	w      *perception.Worker
	m      *perception.Model // trained
	tr     *learner.Trainer
	ref    *perception.Model // the current version, for the comparison
	refTr  *learner.Trainer
	base   string // digest the trained weights descend from
	cur    string // digest held by ref ("" when none)
	guard  string
	pool   *learner.Replay
	hold   []learner.Sample
	st     TrainerStats
	dir    string
}

// NewTrainer opens (creating when missing) the registry, the samples stream
// and the durable consumer, and loads the family's current version (or
// makes cfg.Model's fresh weights when there is none).
func NewTrainer(ctx context.Context, nc *nats.Conn, w *perception.Worker, dev gotch.Device, cfg TrainerConfig) (*Trainer, error) {
	cfg, err := cfg.fill()
	if err != nil {
		return nil, err
	}
	t := &Trainer{cfg: cfg, w: w, guard: guardOf(cfg.Objective), st: TrainerStats{PerRobot: map[string]int64{}}}
	if t.pool, err = learner.NewReplay(cfg.Buffer, cfg.Seed); err != nil {
		return nil, err
	}
	if t.reg, err = Open(ctx, nc, cfg.Registry); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	t.js = js
	s, err := EnsureSamples(ctx, js, cfg.Stream)
	if err != nil {
		return nil, err
	}
	t.cons, err = s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		Description:   "parallax fleet-train (shared by every trainer)",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       time.Minute,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: 4096,
		Replicas:      cfg.Stream.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: consumer %s: %w", cfg.Durable, err)
	}
	if t.dir, err = os.MkdirTemp("", "parallax-fleet-train-"); err != nil {
		return nil, err
	}
	arch := cfg.Model
	var ck *perception.Checkpoint
	p, err := t.reg.Current(ctx, cfg.Family)
	switch {
	case err == nil:
		data, _, err := t.reg.Pull(ctx, cfg.Family, p.Digest)
		if err != nil {
			t.Close()
			return nil, err
		}
		if ck, err = perception.ParseCheckpoint(data); err != nil {
			t.Close()
			return nil, fmt.Errorf("%w: %s: %v", ErrCheckpoint, ShortDigest(p.Digest), err)
		}
		arch = ck.Header.Arch
		t.cur, t.base = p.Digest, p.Digest
	case errors.Is(err, ErrNoCurrent):
	default:
		t.Close()
		return nil, err
	}
	err = w.Do(func() error {
		var err error
		if t.m, err = perception.NewModel(arch, dev); err != nil {
			return err
		}
		if t.ref, err = perception.NewModel(arch, dev); err != nil {
			return err
		}
		if ck != nil {
			if err := t.m.LoadCheckpoint(ck); err != nil {
				return err
			}
			if err := t.ref.LoadCheckpoint(ck); err != nil {
				return err
			}
		}
		tc := learner.TrainConfig{Objective: cfg.Objective, LR: cfg.LR}
		if t.tr, err = learner.NewTrainer(t.m, tc); err != nil {
			return err
		}
		t.refTr, err = learner.NewTrainer(t.ref, tc)
		return err
	})
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("fleet: trainer model: %w", err)
	}
	return t, nil
}

// guardOf is the loss term rounds compare: the objective's guard term
// (Monodepth2's photometric error), else its total.
func guardOf(o learner.Objective) string {
	if g, ok := o.(learner.Guarded); ok {
		return g.GuardTerm()
	}
	return learner.TermTotal
}

// Model is the model being trained (use it on the Worker, between calls).
func (t *Trainer) Model() *perception.Model { return t.m }

// Stats returns the counters.
func (t *Trainer) Stats() TrainerStats {
	s := t.st
	s.PerRobot = make(map[string]int64, len(t.st.PerRobot))
	for k, v := range t.st.PerRobot {
		s.PerRobot[k] = v
	}
	s.Steps = t.tr.Steps()
	return s
}

// Close frees the models; the consumer stays (it is durable).
func (t *Trainer) Close() {
	if t.w != nil {
		t.w.Do(func() error {
			for _, tr := range []*learner.Trainer{t.tr, t.refTr} {
				if tr != nil {
					tr.Close()
				}
			}
			for _, m := range []*perception.Model{t.m, t.ref} {
				if m != nil {
					m.Close()
				}
			}
			return nil
		})
	}
	t.tr, t.refTr, t.m, t.ref = nil, nil, nil, nil
	if t.dir != "" {
		os.RemoveAll(t.dir)
	}
}

// Pull fetches up to n samples (waiting at most FetchWait), decodes them
// into the pool or the held-out set and acks them; a malformed one is
// terminated and counted. It returns how many it took.
func (t *Trainer) Pull(ctx context.Context, n int) (int, error) {
	batch, err := t.cons.Fetch(n, jetstream.FetchMaxWait(t.cfg.FetchWait))
	if err != nil {
		return 0, fmt.Errorf("fleet: fetching samples: %w", err)
	}
	took := 0
	for msg := range batch.Messages() {
		meta, err := msg.Metadata()
		if err != nil {
			msg.Term()
			t.bad(fmt.Errorf("%w: no JetStream metadata: %v", ErrSample, err))
			continue
		}
		h, s, err := DecodeSample(msg.Data())
		if err == nil && msg.Subject() != SampleSubject(h.Robot) {
			err = fmt.Errorf("%w: robot %q published on %s", ErrSample, h.Robot, msg.Subject())
		}
		if err == nil && !sampleFits(t.cfg.Objective.Needs(), s) {
			err = fmt.Errorf("%w: %s's sample %d lacks frames objective %s needs (%s)", ErrSample, h.Robot, h.Seq, t.cfg.Objective.Name(), t.cfg.Objective.Needs())
		}
		if err != nil {
			msg.Term()
			t.bad(fmt.Errorf("stream sequence %d: %w", meta.Sequence.Stream, err))
			continue
		}
		if meta.Sequence.Stream%t.cfg.HoldOutEvery == 0 {
			t.hold = append(t.hold, s)
			if len(t.hold) > t.cfg.HoldOut {
				t.hold = t.hold[1:]
			}
			t.st.HeldOut++
		} else {
			t.pool.Add(s)
			t.st.Samples++
		}
		t.st.PerRobot[h.Robot]++
		t.st.Bytes += int64(len(msg.Data()))
		if err := msg.DoubleAck(ctx); err != nil {
			return took, fmt.Errorf("fleet: acking a sample: %w", err)
		}
		took++
	}
	if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
		return took, fmt.Errorf("fleet: fetching samples: %w", err)
	}
	return took, nil
}

func sampleFits(n learner.Needs, s learner.Sample) bool {
	return s.Target != nil && (!n.Prev || s.Prev != nil) && (!n.Next || s.Next != nil) && (!n.Right || (s.Right != nil && s.Baseline > 0))
}

func (t *Trainer) bad(err error) {
	t.st.Bad++
	t.st.LastBad = err.Error()
}

// Ready reports whether the pool and the held-out set hold enough for a
// round.
func (t *Trainer) Ready() bool {
	return t.pool.Len() >= t.cfg.MinSamples && len(t.hold) >= t.cfg.MinHeldOut
}

// Round runs RoundSteps steps on batches drawn from the pool, validates the
// result against the family's current version on the held-out set, and
// pushes and promotes it when it is better (by Margin).
func (t *Trainer) Round(ctx context.Context) (RoundReport, error) {
	rep := RoundReport{Current: math.NaN(), Candidate: math.NaN()}
	if !t.Ready() {
		return rep, fmt.Errorf("fleet: round with %d training and %d held-out samples (want %d and %d)", t.pool.Len(), len(t.hold), t.cfg.MinSamples, t.cfg.MinHeldOut)
	}
	if err := t.follow(ctx); err != nil {
		return rep, err
	}
	start := time.Now()
	for i := 0; i < t.cfg.RoundSteps; i++ {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		batch := t.pool.Draw(t.cfg.Batch)
		if err := t.w.Do(func() error { _, err := t.tr.Step(batch); return err }); err != nil {
			return rep, fmt.Errorf("fleet: training step: %w", err)
		}
		rep.Steps++
	}
	rep.Took = time.Since(start)
	t.st.Rounds++
	rep.HeldOut = len(t.hold)
	var err error
	if rep.Candidate, err = t.validate(t.tr); err != nil {
		return rep, err
	}
	if t.cur != "" {
		if rep.Current, err = t.validate(t.refTr); err != nil {
			return rep, err
		}
	}
	better := !math.IsNaN(rep.Candidate) && !math.IsInf(rep.Candidate, 0) &&
		(t.cur == "" || rep.Candidate < rep.Current*(1-t.cfg.Margin))
	if !better {
		return rep, nil
	}
	v, err := t.promote(ctx, rep.Candidate)
	if err != nil {
		return rep, err
	}
	rep.Promoted = &v
	return rep, nil
}

// follow loads the family's current version when another trainer (or an
// operator) moved it: into the reference, and into the trained model too
// (this round builds on it).
func (t *Trainer) follow(ctx context.Context) error {
	p, err := t.reg.Current(ctx, t.cfg.Family)
	if errors.Is(err, ErrNoCurrent) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.Digest == t.cur {
		return nil
	}
	data, _, err := t.reg.Pull(ctx, t.cfg.Family, p.Digest)
	if err != nil {
		return err
	}
	ck, err := perception.ParseCheckpoint(data)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCheckpoint, ShortDigest(p.Digest), err)
	}
	err = t.w.Do(func() error {
		if err := t.ref.LoadCheckpoint(ck); err != nil {
			return err
		}
		return t.m.LoadCheckpoint(ck)
	})
	if err != nil {
		return fmt.Errorf("fleet: loading version %s: %w", ShortDigest(p.Digest), err)
	}
	t.cur, t.base = p.Digest, p.Digest
	return nil
}

// validate is the mean guard term over the held-out set, in batches.
func (t *Trainer) validate(tr *learner.Trainer) (float64, error) {
	var sum float64
	for i := 0; i < len(t.hold); i += t.cfg.Batch {
		b := t.hold[i:min(len(t.hold), i+t.cfg.Batch)]
		var v float64
		err := t.w.Do(func() error {
			st, err := tr.Validate(b)
			v = st.Term(t.guard)
			return err
		})
		if err != nil {
			return math.NaN(), fmt.Errorf("fleet: validation: %w", err)
		}
		sum += v * float64(len(b))
	}
	return sum / float64(len(t.hold)), nil
}

// promote pushes the trained weights (a weights-only checkpoint: nodes
// need no optimiser state) and promotes them.
func (t *Trainer) promote(ctx context.Context, score float64) (Version, error) {
	path := filepath.Join(t.dir, "candidate.ckpt")
	err := t.w.Do(func() error {
		return t.m.Save(path, perception.CheckpointMeta{Steps: t.tr.Steps(), Values: map[string]string{
			"writer": "parallax fleet-train", "objective": t.cfg.Objective.Name()}})
	})
	if err != nil {
		return Version{}, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Version{}, err
	}
	v := Version{TrainedOn: t.cfg.Name, Samples: t.st.Samples, Parent: t.base}
	reason := "federated average (not validated here: no held-out samples)"
	if !math.IsNaN(score) {
		s := score
		v.Score, v.ScoreName = &s, t.guard
		reason = fmt.Sprintf("held-out %s %.5f on %d samples", t.guard, score, len(t.hold))
	}
	v, _, err = t.reg.Push(ctx, t.cfg.Family, data, v)
	if err != nil {
		return v, err
	}
	// Push returns once the version reads back, so Promote finds it.
	_, err = t.reg.Promote(ctx, t.cfg.Family, v.Digest, t.cfg.Name, reason)
	if err != nil {
		return v, err
	}
	if err := t.w.Do(func() error { return t.ref.CopyFrom(t.m) }); err != nil {
		return v, err
	}
	t.cur, t.base = v.Digest, v.Digest
	t.st.Promoted++
	return v, nil
}

// Run pulls samples and runs rounds until ctx ends (or rounds rounds ran,
// when above 0), calling report after each round.
func (t *Trainer) Run(ctx context.Context, rounds int, report func(RoundReport)) error {
	for n := 0; rounds <= 0 || n < rounds; {
		if _, err := t.Pull(ctx, 64); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if !t.Ready() {
			continue
		}
		rep, err := t.Round(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		n++
		if report != nil {
			report(rep)
		}
	}
	return nil
}
