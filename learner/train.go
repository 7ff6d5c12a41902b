package learner

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
)

// Training errors.
var (
	// ErrTrainConfig is returned by NewTrainer and ParseMode for a
	// configuration out of range.
	ErrTrainConfig = errors.New("learner: bad training config")
	// ErrTrainInput is returned by Step and Validate for a batch the mode
	// cannot use (missing frames, no intrinsics, a bad baseline).
	ErrTrainInput = errors.New("learner: bad training batch")
	// ErrResume is returned by Resume for a checkpoint without (or with
	// damaged, or mismatched) optimizer state.
	ErrResume = errors.New("learner: cannot resume")
)

// Sample is one training tuple. Frames are full camera frames of any size
// (all of one sample the same size): the Trainer centre-crops them to the
// model's aspect ratio and resizes them (perception.CropFor, as the
// Estimator does) and crops and scales the target's intrinsics alike.
type Sample struct {
	// Target is the left (or mono) view at t; required, with Intrinsics.
	Target *msgs.Frame
	// Prev and Next are the same view at t-1 and t+1, when the objective
	// Needs them.
	Prev, Next *msgs.Frame
	// Right is the right view at t, when the objective Needs it.
	Right *msgs.Frame
	// Baseline is in metres: the right camera centre at +Baseline along the
	// left camera's x axis (rectified, same intrinsics).
	Baseline float64
}

// TrainConfig configures a Trainer. Zero fields take the documented
// defaults.
type TrainConfig struct {
	// Objective is what the step minimises. It is required.
	Objective Objective
	// LR is Adam's base learning rate. It defaults to 1e-4 (Monodepth2).
	LR float64
	// LRDecaySteps and LRDecay are a step schedule: the rate is multiplied
	// by LRDecay every LRDecaySteps optimizer steps (Monodepth2: 0.1 after
	// 15 of 20 epochs). LRDecaySteps defaults to 0 (constant rate); LRDecay
	// to 0.1.
	LRDecaySteps int64
	LRDecay      float64
	// WarmupSteps ramps the rate linearly from LR/WarmupSteps up to LR over
	// the first steps. It defaults to 0 (none).
	WarmupSteps int64
	// ClipNorm clips the global L2 norm of the gradient of the trained
	// variables to this value. It defaults to 10; negative turns clipping
	// off.
	ClipNorm float64
	// FreezeBN asks for normalisation layers to be kept in inference mode
	// (running statistics frozen, as Monodepth2 fine-tuning and CoMoDA do on
	// tiny batches). parallax's DepthNet and PoseNet have no BatchNorm or
	// other normalisation layer at all, by design (perception/doc.go), so
	// there is nothing to freeze: the option is accepted, recorded in the
	// checkpoint, and changes nothing. It defaults to false.
	FreezeBN bool
	// Beta1, Beta2 and Eps are Adam's constants. They default to 0.9, 0.999
	// and 1e-8.
	Beta1, Beta2, Eps float64
	// Params selects, among the variables of the sub-networks the
	// objective trains (Objective.Trains), the ones trained, by name
	// ("depth.dec0.upconv0.weight"): nil trains them all. Others keep their
	// values, and the clipped norm and Adam state cover only the trained
	// ones (MAD-style partial updates for online adaptation).
	Params func(name string) bool
}

func (c TrainConfig) fill() (TrainConfig, error) {
	if c.Objective == nil {
		return c, fmt.Errorf("%w: no objective", ErrTrainConfig)
	}
	if v, ok := c.Objective.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return c, err
		}
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.LR, 1e-4)
	def(&c.LRDecay, 0.1)
	def(&c.ClipNorm, 10)
	def(&c.Beta1, 0.9)
	def(&c.Beta2, 0.999)
	def(&c.Eps, 1e-8)
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !finite(c.LR) || c.LR <= 0 || c.LR > 1:
		return c, fmt.Errorf("%w: LR %v (want 0 < LR <= 1)", ErrTrainConfig, c.LR)
	case c.LRDecaySteps < 0 || !finite(c.LRDecay) || c.LRDecay <= 0 || c.LRDecay > 1:
		return c, fmt.Errorf("%w: LR decay %v every %d steps (want 0 < decay <= 1, steps >= 0)", ErrTrainConfig, c.LRDecay, c.LRDecaySteps)
	case c.WarmupSteps < 0:
		return c, fmt.Errorf("%w: warmup %d steps", ErrTrainConfig, c.WarmupSteps)
	case !finite(c.ClipNorm):
		return c, fmt.Errorf("%w: clip %v (want finite)", ErrTrainConfig, c.ClipNorm)
	case !(c.Beta1 > 0 && c.Beta1 < 1) || !(c.Beta2 > 0 && c.Beta2 < 1) || !(c.Eps > 0) || !finite(c.Eps):
		return c, fmt.Errorf("%w: Adam beta1 %v beta2 %v eps %v", ErrTrainConfig, c.Beta1, c.Beta2, c.Eps)
	}
	return c, nil
}

// StepStats describes one Step (or Validate).
type StepStats struct {
	// Step is the number of optimizer steps taken after this one.
	Step int64
	// Loss is the total.
	Loss float64
	// Terms holds every named term of the objective's loss (Loss.Terms)
	// and the total under TermTotal.
	Terms map[string]float64
	// LR is the learning rate the step used.
	LR float64
	// GradNorm is the global L2 norm of the trained variables' gradient
	// before clipping (0 for Validate).
	GradNorm float64
	// Skipped is true when the loss or the gradient was not finite: the
	// step was not taken, weights and Adam moments are untouched.
	Skipped bool
	// Duration is the wall time of the call.
	Duration time.Duration
}

// Term returns a loss term by name (NaN when the objective has none).
func (s StepStats) Term(name string) float64 {
	if v, ok := s.Terms[name]; ok {
		return v
	}
	return math.NaN()
}

// Trainer runs the self-supervised training of a Model with an Objective:
// see the package comment (Training). Every method that touches tensors (all but
// Steps, SkippedSteps, LR, SetLRScale, Config and Model) must run on the
// model's Worker; a Trainer is not safe for concurrent use.
type Trainer struct {
	m       *perception.Model
	cfg     TrainConfig
	nets    []string     // sub-networks the objective trains
	names   []string     // trained variables, sorted
	vars    []*ts.Tensor // the model's variables (shared handles)
	all     []*ts.Tensor // every variable, to clear gradients
	opt     *adam
	skipped int64
	lrScale float64
}

// NewTrainer makes a trainer of m with fresh Adam state (zero moments,
// step 0). Run it on the model's Worker.
func NewTrainer(m *perception.Model, cfg TrainConfig) (*Trainer, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil model", ErrTrainConfig)
	}
	cfg, err := cfg.fill()
	if err != nil {
		return nil, err
	}
	nets, err := cfg.Objective.Trains(m.Config())
	if err != nil {
		return nil, err
	}
	t := &Trainer{m: m, cfg: cfg, lrScale: 1, nets: nets}
	for _, nv := range m.NamedVariables() {
		t.all = append(t.all, nv.Tensor)
		if !slices.Contains(nets, perception.NetOf(nv.Name)) || (cfg.Params != nil && !cfg.Params(nv.Name)) {
			continue
		}
		t.names = append(t.names, nv.Name)
		t.vars = append(t.vars, nv.Tensor)
	}
	if len(t.vars) == 0 {
		return nil, fmt.Errorf("%w: objective %s trains %v, and Params selects no variable of them", ErrTrainConfig, cfg.Objective.Name(), nets)
	}
	err = perception.NoGrad(func() (err error) {
		t.opt, err = newAdam(t.names, t.vars, cfg.Beta1, cfg.Beta2, cfg.Eps)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("learner: trainer: %w", err)
	}
	return t, nil
}

// Model returns the trained model.
func (t *Trainer) Model() *perception.Model { return t.m }

// Config returns the configuration with defaults filled in.
func (t *Trainer) Config() TrainConfig { return t.cfg }

// Steps is the number of optimizer steps taken (skipped steps excluded).
func (t *Trainer) Steps() int64 { return t.opt.t }

// SkippedSteps counts steps skipped for a non-finite loss or gradient.
func (t *Trainer) SkippedSteps() int64 { return t.skipped }

// Objective returns the objective trained.
func (t *Trainer) Objective() Objective { return t.cfg.Objective }

// TrainedNets returns the sub-networks the objective trains.
func (t *Trainer) TrainedNets() []string { return slices.Clone(t.nets) }

// TrainedVariables returns the names of the variables Step updates.
func (t *Trainer) TrainedVariables() []string { return append([]string(nil), t.names...) }

// SetLRScale multiplies the scheduled learning rate by f from the next step
// on (the adaptation drift guard backs off with it); 1 restores it. f must
// be positive and finite; other values are ignored.
func (t *Trainer) SetLRScale(f float64) {
	if f > 0 && !math.IsInf(f, 0) {
		t.lrScale = f
	}
}

// LR is the learning rate the next step will use: LR, times LRDecay for
// every LRDecaySteps steps taken, ramped over WarmupSteps, times the scale.
func (t *Trainer) LR() float64 { return t.lrAt(t.opt.t) }

func (t *Trainer) lrAt(step int64) float64 {
	lr := t.cfg.LR * t.lrScale
	if t.cfg.LRDecaySteps > 0 {
		lr *= math.Pow(t.cfg.LRDecay, float64(step/t.cfg.LRDecaySteps))
	}
	if t.cfg.WarmupSteps > 0 && step < t.cfg.WarmupSteps {
		lr *= float64(step+1) / float64(t.cfg.WarmupSteps)
	}
	return lr
}

// Close frees the optimizer state (not the model).
func (t *Trainer) Close() {
	if t != nil && t.opt != nil {
		t.opt.free()
	}
}

// Step runs one training step on batch: the forward pass of the networks,
// the loss, the backward pass, global-norm clipping and an Adam update of
// the trained variables. A non-finite loss or gradient skips the update
// (StepStats.Skipped, counted by SkippedSteps): weights and Adam state are
// untouched. A bad batch returns ErrTrainInput before any work. Run it on
// the model's Worker.
func (t *Trainer) Step(batch []Sample) (st StepStats, err error) {
	start := time.Now()
	defer func() {
		st.Duration = time.Since(start)
		if r := recover(); r != nil {
			err = fmt.Errorf("learner: step: %v", r)
		}
	}()
	cfg := t.m.Config()
	bt, err := makeBatch(batch, t.cfg.Objective.Needs(), cfg.Width, cfg.Height, t.m.Device())
	if err != nil {
		return st, err
	}
	defer bt.free()
	bt.Step = t.opt.t
	st.LR = t.lrAt(t.opt.t)
	s := perception.NewScope("learner: step")
	defer s.Free()
	loss, err := t.cfg.Objective.Loss(s, t.m, bt)
	if err != nil {
		return st, err
	}
	if err := readLoss(&st, loss); err != nil {
		return st, err
	}
	// Clear gradients left by anyone else before ours accumulate.
	if err := t.zeroGrads(); err != nil {
		return st, err
	}
	if !finite(st.Loss) {
		s.Free() // drop the graph
		return t.skip(st), nil
	}
	if err := loss.Total.Backward(); err != nil {
		return st, fmt.Errorf("learner: step: backward: %w", err)
	}
	s.Free() // the graph is no longer needed
	// The gradient bookkeeping works on one flat gradient (adam.flatGrad):
	// a few ops for the norm and the update whatever the number of
	// variables, since on a GPU the step is bound by ops dispatched.
	grads := make([]*ts.Tensor, len(t.vars))
	var flat *ts.Tensor
	defer func() {
		for _, g := range grads {
			if g != nil {
				g.MustDrop()
			}
		}
		if flat != nil {
			flat.MustDrop()
		}
		if zerr := t.zeroGrads(); zerr != nil && err == nil {
			err = zerr
		}
	}()
	for i, v := range t.vars {
		g, err := v.Grad(false)
		if err != nil {
			return st, fmt.Errorf("learner: step: gradient of %s: %w", t.names[i], err)
		}
		if ok, _ := g.Defined(); !ok {
			// No gradient reached it (unused in this mode): a zero gradient.
			g.MustDrop()
			continue
		}
		grads[i] = g
	}
	err = perception.NoGrad(func() (err error) {
		flat, err = t.opt.flatGrad(grads)
		return err
	})
	if err != nil {
		return st, fmt.Errorf("learner: step: gradient: %w", err)
	}
	n2t, err := flat.Dot(flat, false)
	if err != nil {
		return st, fmt.Errorf("learner: step: gradient norm: %w", err)
	}
	n2, err := perception.ScalarValue(n2t)
	n2t.MustDrop()
	if err != nil {
		return st, err
	}
	st.GradNorm = math.Sqrt(n2)
	if !finite(st.GradNorm) {
		return t.skip(st), nil
	}
	gscale := 1.0
	if t.cfg.ClipNorm > 0 && st.GradNorm > t.cfg.ClipNorm {
		gscale = t.cfg.ClipNorm / (st.GradNorm + 1e-6)
	}
	err = perception.NoGrad(func() error { return t.opt.update(flat, gscale, st.LR) })
	if err != nil {
		return st, fmt.Errorf("learner: step: update: %w", err)
	}
	st.Step = t.opt.t
	return st, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func (t *Trainer) skip(st StepStats) StepStats {
	t.skipped++
	st.Skipped = true
	st.Step = t.opt.t
	return st
}

// readLoss copies the loss and its terms into st.
func readLoss(st *StepStats, l Loss) error {
	if l.Total == nil {
		return fmt.Errorf("learner: the objective returned no total loss")
	}
	v, err := perception.ScalarValue(l.Total)
	if err != nil {
		return err
	}
	st.Loss = v
	st.Terms = map[string]float64{TermTotal: v}
	for _, term := range l.Terms {
		if term.Value == nil {
			continue
		}
		if st.Terms[term.Name], err = perception.ScalarValue(term.Value); err != nil {
			return fmt.Errorf("learner: loss term %s: %w", term.Name, err)
		}
	}
	return nil
}

// zeroGrads zeroes every variable's accumulated gradient in place.
func (t *Trainer) zeroGrads() error {
	for _, v := range t.all {
		g, err := v.Grad(false)
		if err != nil {
			return err
		}
		if ok, _ := g.Defined(); ok {
			if err := g.Zero_(); err != nil {
				g.MustDrop()
				return err
			}
		}
		g.MustDrop()
	}
	return nil
}

// Validate computes the loss of batch without gradients or updates (the
// same terms as Step). Run it on the model's Worker.
func (t *Trainer) Validate(batch []Sample) (st StepStats, err error) {
	start := time.Now()
	defer func() { st.Duration = time.Since(start) }()
	cfg := t.m.Config()
	st.Step = t.opt.t
	st.LR = t.lrAt(t.opt.t)
	err = perception.NoGrad(func() error {
		bt, err := makeBatch(batch, t.cfg.Objective.Needs(), cfg.Width, cfg.Height, t.m.Device())
		if err != nil {
			return err
		}
		defer bt.free()
		bt.Step, bt.Validation = t.opt.t, true
		s := perception.NewScope("learner: validate")
		defer s.Free()
		loss, err := t.cfg.Objective.Loss(s, t.m, bt)
		if err != nil {
			return err
		}
		return readLoss(&st, loss)
	})
	return st, err
}

// Checkpoint sections written by Save: "optim" holds the Adam state
// (adam.go), "trainer" the JSON trainerMeta, "objstate" the state of a
// StatefulObjective.
const (
	SectionOptim     = "optim"
	SectionTrainer   = "trainer"
	SectionObjective = "objstate"
)

// trainerMeta is the "trainer" section.
type trainerMeta struct {
	Objective    string   `json:"objective"`
	Mode         string   `json:"mode,omitempty"` // before objectives: Monodepth2's mode`
	Steps        int64    `json:"steps"`
	Skipped      int64    `json:"skipped"`
	LRScale      float64  `json:"lr_scale"`
	LR           float64  `json:"lr"`
	LRDecaySteps int64    `json:"lr_decay_steps"`
	LRDecay      float64  `json:"lr_decay"`
	WarmupSteps  int64    `json:"warmup_steps"`
	ClipNorm     float64  `json:"clip_norm"`
	FreezeBN     bool     `json:"freeze_bn"`
	Trained      []string `json:"trained"`
}

// Save writes the model (architecture, meta, weights) and the trainer's
// state — Adam moments and step count, skipped steps, LR scale, mode —
// atomically to path (perception.Model.Save: temp file + rename).
// meta.Steps is set to Steps(). Run it on the model's Worker.
func (t *Trainer) Save(path string, meta perception.CheckpointMeta) error {
	opt, err := t.opt.encode()
	if err != nil {
		return err
	}
	tm, err := json.Marshal(trainerMeta{Objective: t.cfg.Objective.Name(), Steps: t.opt.t, Skipped: t.skipped,
		LRScale: t.lrScale, LR: t.cfg.LR, LRDecaySteps: t.cfg.LRDecaySteps, LRDecay: t.cfg.LRDecay,
		WarmupSteps: t.cfg.WarmupSteps, ClipNorm: t.cfg.ClipNorm, FreezeBN: t.cfg.FreezeBN, Trained: t.names})
	if err != nil {
		return err
	}
	meta.Steps = t.opt.t
	if meta.Values == nil {
		meta.Values = map[string]string{}
	} else {
		v := make(map[string]string, len(meta.Values)+1)
		for k, x := range meta.Values {
			v[k] = x
		}
		meta.Values = v
	}
	meta.Values["objective"] = t.cfg.Objective.Name()
	secs := []perception.Section{{Name: SectionOptim, Data: opt}, {Name: SectionTrainer, Data: tm}}
	if so, ok := t.cfg.Objective.(StatefulObjective); ok {
		state, err := so.MarshalState()
		if err != nil {
			return fmt.Errorf("learner: save %s state: %w", so.Name(), err)
		}
		secs = append(secs, perception.Section{Name: SectionObjective, Data: state})
	}
	return t.m.Save(path, meta, secs...)
}

// Resume restores a checkpoint written by Save: the weights into the model
// (in place, perception.Model.LoadCheckpoint), the Adam moments and step
// count, the skipped-step count, the LR scale and a StatefulObjective's
// state, so training continues exactly as if it had not stopped. The checkpoint must hold the same
// trained variables; a checkpoint without optimizer state (a plain model
// checkpoint) returns ErrResume and changes nothing — load it with
// LoadCheckpoint and train with fresh Adam state instead. Run it on the
// model's Worker.
func (t *Trainer) Resume(c *perception.Checkpoint) error {
	if c == nil {
		return fmt.Errorf("%w: nil checkpoint", ErrResume)
	}
	data, ok := c.Section(SectionOptim)
	if !ok {
		return fmt.Errorf("%w: the checkpoint has no optimizer state (a model-only checkpoint)", ErrResume)
	}
	d, err := decodeAdam(data)
	if err != nil {
		return err
	}
	var tm trainerMeta
	if raw, ok := c.Section(SectionTrainer); ok {
		if err := json.Unmarshal(raw, &tm); err != nil {
			return fmt.Errorf("%w: trainer section: %v", ErrResume, err)
		}
	}
	if tm.Objective == "" && tm.Mode != "" {
		tm.Objective = "monodepth2/" + tm.Mode // written before objectives existed
	}
	if tm.Objective != "" && tm.Objective != t.cfg.Objective.Name() {
		return fmt.Errorf("%w: checkpoint trained with objective %s, the trainer's is %s", ErrResume, tm.Objective, t.cfg.Objective.Name())
	}
	if len(d.m) != len(t.names) {
		return fmt.Errorf("%w: checkpoint has Adam state for %d variables, the trainer trains %d", ErrResume, len(d.m), len(t.names))
	}
	for i, n := range t.names {
		mv, ok := d.m[n]
		if !ok {
			return fmt.Errorf("%w: no Adam state for %s", ErrResume, n)
		}
		if uint(len(mv)) != t.vars[i].Numel() {
			return fmt.Errorf("%w: Adam state of %s has %d values, the variable %d", ErrResume, n, len(mv), t.vars[i].Numel())
		}
	}
	so, stateful := t.cfg.Objective.(StatefulObjective)
	var state []byte
	if stateful {
		if state, ok = c.Section(SectionObjective); !ok {
			return fmt.Errorf("%w: the checkpoint has no %s state (section %s)", ErrResume, so.Name(), SectionObjective)
		}
		if err := so.CheckState(state); err != nil {
			return fmt.Errorf("%w: %s state: %w", ErrResume, so.Name(), err)
		}
	}
	// Everything checked: load the weights (checks the architecture first
	// and leaves the weights alone on error), then the moments.
	if err := t.m.LoadCheckpoint(c); err != nil {
		return fmt.Errorf("%w: %w", ErrResume, err)
	}
	m := make([]float32, t.opt.total)
	v := make([]float32, t.opt.total)
	for i, n := range t.names {
		copy(m[t.opt.off[i]:], d.m[n])
		copy(v[t.opt.off[i]:], d.v[n])
	}
	err = perception.NoGrad(func() error {
		if err := perception.AssignValues(t.opt.m, m); err != nil {
			return err
		}
		return perception.AssignValues(t.opt.v, v)
	})
	if err != nil {
		return fmt.Errorf("learner: resume: %w", err)
	}
	if stateful {
		if err := so.LoadState(state); err != nil {
			return fmt.Errorf("learner: resume %s state: %w", so.Name(), err)
		}
	}
	t.opt.t = d.t
	t.skipped = tm.Skipped
	if tm.LRScale > 0 {
		t.lrScale = tm.LRScale
	}
	return nil
}

// TrainerState is an in-memory copy of a Trainer's weights (all the model's
// variables) and optimizer state, for the adaptation drift guard's
// rollback. A StatefulObjective's own state is not part of it (the online
// learner runs none). Free releases its tensors (on the Worker).
type TrainerState struct {
	weights []*ts.Tensor // in the order of Trainer.all
	m, v    *ts.Tensor   // Adam's flat moments
	step    int64
	skipped int64
	lrScale float64
}

// Steps is the optimizer step count at the snapshot.
func (s *TrainerState) Steps() int64 { return s.step }

// Free releases the copies. Run it on the Worker.
func (s *TrainerState) Free() {
	if s == nil {
		return
	}
	for _, x := range append(s.weights, s.m, s.v) {
		if x != nil {
			x.MustDrop()
		}
	}
	s.weights, s.m, s.v = nil, nil, nil
}

// Snapshot copies the weights and optimizer state. Run it on the Worker.
func (t *Trainer) Snapshot() (*TrainerState, error) {
	st := &TrainerState{step: t.opt.t, skipped: t.skipped, lrScale: t.lrScale}
	err := perception.NoGrad(func() error {
		for _, x := range t.all {
			c, err := perception.Clone(x)
			if err != nil {
				return err
			}
			st.weights = append(st.weights, c)
		}
		var err error
		if st.m, err = perception.Clone(t.opt.m); err != nil {
			return err
		}
		st.v, err = perception.Clone(t.opt.v)
		return err
	})
	if err != nil {
		st.Free()
		return nil, fmt.Errorf("learner: snapshot: %w", err)
	}
	return st, nil
}

// Restore puts a Snapshot's weights and optimizer state back (copies: the
// state stays valid for another Restore). Run it on the Worker.
func (t *Trainer) Restore(s *TrainerState) error {
	if s == nil || len(s.weights) != len(t.all) || s.m == nil || s.v == nil || s.m.Numel() != uint(t.opt.total) {
		return fmt.Errorf("%w: snapshot of another trainer (or freed)", ErrResume)
	}
	err := perception.NoGrad(func() error {
		for i := range s.weights {
			if err := perception.Assign(t.all[i], s.weights[i]); err != nil {
				return err
			}
		}
		if err := perception.Assign(t.opt.m, s.m); err != nil {
			return err
		}
		return perception.Assign(t.opt.v, s.v)
	})
	if err != nil {
		return fmt.Errorf("learner: restore: %w", err)
	}
	t.opt.t, t.skipped, t.lrScale = s.step, s.skipped, s.lrScale
	return nil
}
