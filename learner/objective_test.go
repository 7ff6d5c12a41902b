package learner

import (
	"context"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// photometricOnly is a toy objective written the way a new one is added:
// one type in one file, nothing else touched. It reconstructs the left view
// from the right one through the full-resolution disparity only (no
// smoothness, no automask, no left-right term, no other scales).
type photometricOnly struct{}

func (photometricOnly) Name() string { return "test/photometric-only" }
func (photometricOnly) Needs() Needs { return Needs{Right: true} }
func (photometricOnly) Trains(cfg perception.ModelConfig) ([]string, error) {
	return []string{perception.NetDepth}, requireNets("test", cfg, perception.NetDepth)
}

func (photometricOnly) Loss(s *perception.Scope, m *perception.Model, b *Batch) (Loss, error) {
	disps, err := m.Depth().Forward(b.Target, true)
	if err != nil {
		return Loss{}, err
	}
	s.Add(disps...)
	dc := m.Depth().Config()
	depth := s.Do(func() (*ts.Tensor, error) { return perception.DispToDepth(disps[0], dc.MinDepth, dc.MaxDepth) })
	e := stereoError(s, b.Right, b.Target, depth, b.K, b.InvK, b.StereoT)
	ones := s.Do(func() (*ts.Tensor, error) { return e.OnesLike(false) })
	photo := s.Do(func() (*ts.Tensor, error) { return MaskedMean(e, ones) })
	return Loss{Total: photo, Terms: []Term{{"photometric", photo}}}, s.Err()
}

// TestToyObjectiveLearns: the toy objective trained through Fit, the loop
// `parallax train` runs, lowers the held-out depth error of a fresh network
// and its own loss, and the Trainer trains only what it asked for.
func TestToyObjectiveLearns(t *testing.T) {
	d := testDrive(t, learnTrain)
	held := testDrive(t, learnHeld)
	tr := newTestTrainer(t, smallModelConfig(192, 64, 0), TrainConfig{Objective: photometricOnly{}, LR: 3e-4})
	for _, n := range tr.TrainedVariables() {
		if perception.NetOf(n) != perception.NetDepth {
			t.Fatalf("trains %s", n)
		}
	}
	est := perception.NewEstimator(tr.Model(), trainWorker(t))
	eval := func() Report {
		rep, err := EvaluateDrive(context.Background(), est, held, learnHeld, EvalConfig{Frames: 20})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	before := eval()
	var losses []float64
	fit := &Fit{Trainer: tr, Worker: trainWorker(t), Drive: d, Frames: 150, Batch: 4, Seed: 3, Steps: 100,
		OnStep: func(st StepStats) error { losses = append(losses, st.Term("photometric")); return nil }}
	if err := fit.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := eval()
	mean := func(v []float64) float64 {
		var s float64
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	first, last := mean(losses[:10]), mean(losses[len(losses)-10:])
	t.Logf("toy objective, %d steps: loss %.4f -> %.4f, held-out abs_rel median-scaled %.3f -> %.3f, metric %.3f -> %.3f",
		tr.Steps(), first, last, before.Mono.AbsRel, after.Mono.AbsRel, before.Metric.AbsRel, after.Metric.AbsRel)
	if !(last < 0.9*first) {
		t.Errorf("loss %.4f -> %.4f: want at least 10%% lower", first, last)
	}
	if !(after.Mono.AbsRel < 0.8*before.Mono.AbsRel) {
		t.Errorf("held-out abs_rel %.3f -> %.3f: want at least 20%% lower", before.Mono.AbsRel, after.Mono.AbsRel)
	}
}

// TestFitStopsAndRefuses: Fit stops at Steps, on ErrStop and on a cancelled
// context, and refuses a drive the objective cannot use.
func TestFitStopsAndRefuses(t *testing.T) {
	d := testDrive(t, learnTrain)
	tr := newTestTrainer(t, smallModelConfig(64, 64, 0), TrainConfig{Objective: Monodepth2{Mode: ModeStereo}})
	fit := &Fit{Trainer: tr, Worker: trainWorker(t), Drive: d, Frames: 20, Batch: 1, Steps: 2}
	if err := fit.Run(context.Background()); err != nil || tr.Steps() != 2 {
		t.Fatalf("Steps 2: %v after %d steps", err, tr.Steps())
	}
	n := 0
	fit.Steps, fit.OnStep = 0, func(StepStats) error { n++; return ErrStop }
	if err := fit.Run(context.Background()); err != nil || n != 1 || tr.Steps() != 3 {
		t.Fatalf("ErrStop: %v, %d calls, %d steps", err, n, tr.Steps())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := fit.Run(ctx); err != context.Canceled {
		t.Fatalf("cancelled: %v", err)
	}
	fit.Frames = 0 // an endless drive without a window
	if err := fit.Run(context.Background()); err == nil {
		t.Fatal("an endless drive without Frames was accepted")
	}
	mono := testDrive(t, "synth://?seed=3&width=64&height=64")
	fit.Drive, fit.Frames = mono, 10
	if err := fit.Run(context.Background()); err == nil {
		t.Fatal("a mono drive was accepted for a stereo objective")
	}
}
