// The UnFlow learning test (in make test, about 1.5 min on 2 quiet cores).
// Measured on the held-out world (EPE, px; zero flow 4.08), 1000 steps:
//   - UnFlow{} (occlusion masks on): 3.99 -> 4.47 (200), 2.90 (400), 2.04
//     (600), 2.03 (800), 1.89 (1000);
//   - NoOcclusion: 3.52, 2.76, 2.09, 1.82, 1.75.
// Before each level was scored at its own resolution (every level
// upsampled to the input instead), it reached 3.45-3.64 after 120 steps
// without masks and, with them, marked every pixel occluded within 5 steps.

package learner

import (
	"context"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/perception"
)

// Flow learning: a small FlowNet trained from random weights with UnFlow on
// a world with movers, evaluated on a held-out world (other seed, style and
// movers) against the synthetic ground truth, on all and on moving pixels.
const (
	flowTrain = "synth://?seed=3&width=128&height=64&movers=8&fps=10"
	flowHeld  = "synth://?seed=11&style=suburb&width=128&height=64&movers=8&fps=10"
)

// The learning test's schedule, sized for a few minutes on 2 shared cores.
const (
	flowSteps     = 600
	flowEvalEvery = 200
	flowBatch     = 2
	flowLR        = 1e-3
	flowHeldPairs = 12
	// flowBound is the held-out EPE (px) the trained network must beat.
	flowBound = 2.5
)

func evalFlow(t *testing.T, m *perception.Model, d camera.Drive, pairs int) FlowReport {
	t.Helper()
	r, err := EvaluateFlow(context.Background(), trainWorker(t), m, perception.NetFlow, d, pairs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLearnUnFlow trains a small FlowNet from random weights with UnFlow
// on a world with ego-motion and movers and checks, on a held-out world
// (other seed, style and movers) against the synthetic ground truth, that
// the flow error fell well below zero flow's and the untrained network's
// and below a fixed bound, on all pixels and on the moving ones. The
// curve (EPE every flowEvalEvery steps) is logged for BENCHMARKS.md.
func TestLearnUnFlow(t *testing.T) {
	d := testDrive(t, flowTrain)
	held := testDrive(t, flowHeld)
	mc := perception.ModelConfig{Width: 128, Height: 64, Nets: map[string]perception.NetConfig{perception.NetFlow: perception.FlowConfig{Size: perception.SizeSmall}}}
	tr := newTestTrainer(t, mc, TrainConfig{Objective: UnFlow{}, LR: flowLR})
	before := evalFlow(t, tr.Model(), held, flowHeldPairs)
	t.Logf("step 0: held-out EPE %.2f px (zero flow %.2f), moving %.2f (zero %.2f)", before.All.EPE, before.ZeroAll.EPE, before.Moving.EPE, before.ZeroMoving.EPE)
	start := time.Now()
	fit := &Fit{Trainer: tr, Worker: trainWorker(t), Drive: d, Frames: 150, Batch: flowBatch, Seed: 1}
	var after FlowReport
	for fit.Steps < flowSteps {
		fit.Steps = min(fit.Steps+flowEvalEvery, flowSteps)
		if err := fit.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		after = evalFlow(t, tr.Model(), held, flowHeldPairs)
		t.Logf("step %d (%s): held-out EPE %.2f px, moving %.2f; Fl-all %.3f", tr.Steps(), time.Since(start).Round(time.Second), after.All.EPE, after.Moving.EPE, after.All.Fl)
	}
	took := time.Since(start)
	t.Logf("%d steps in %s (%.0f ms/step): held-out EPE all %.2f -> %.2f px (zero flow %.2f), moving %.2f -> %.2f (zero %.2f); Fl-all %.3f -> %.3f (zero %.3f), moving %.3f -> %.3f",
		tr.Steps(), took.Round(time.Second), float64(took.Milliseconds())/flowSteps, before.All.EPE, after.All.EPE, after.ZeroAll.EPE,
		before.Moving.EPE, after.Moving.EPE, after.ZeroMoving.EPE, before.All.Fl, after.All.Fl, after.ZeroAll.Fl, before.Moving.Fl, after.Moving.Fl)
	if after.All.EPE > 0.6*after.ZeroAll.EPE || after.All.EPE > 0.6*before.All.EPE || after.All.EPE > flowBound {
		t.Errorf("held-out EPE %.2f px: want below 60%% of zero flow's %.2f and of the untrained %.2f, and below %.1f px", after.All.EPE, after.ZeroAll.EPE, before.All.EPE, flowBound)
	}
	// This world's movers mostly drive with the camera (their true flow
	// averages under 1 px), so zero flow is a strong baseline on their
	// pixels; the flow learns there (from the untrained's 1.15 px) but does
	// not beat zero yet: it must not be worse than it by more than 10 %.
	if after.Moving.Pixels == 0 || after.Moving.EPE > before.Moving.EPE || after.Moving.EPE > 1.1*after.ZeroMoving.EPE {
		t.Errorf("held-out EPE on moving pixels %.2f px (%d px): want below the untrained's %.2f and within 10%% of zero flow's %.2f", after.Moving.EPE, after.Moving.Pixels, before.Moving.EPE, after.ZeroMoving.EPE)
	}
}
