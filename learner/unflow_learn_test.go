//go:build flowlearn

// The UnFlow learning test is behind the flowlearn build tag: on this
// machine (2 shared cores) it ran 300 steps in 8 minutes and the network
// collapsed to zero flow (held-out EPE 4.08 px, equal to the zero-flow
// baseline), so it neither fits `make test`'s budget nor passes yet. Run it
// with: go test -tags flowlearn ./learner -run TestLearnUnFlow -v

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

type flowEval struct{ all, moving, zeroAll, zeroMoving FlowMetrics }

func evalFlow(t *testing.T, m *perception.Model, d camera.Drive, frames int) flowEval {
	t.Helper()
	var e flowEval
	var acc [4]struct {
		epe, fl float64
		n       int
	}
	for i := 0; i < frames; i++ {
		a, _, err := d.Frame(2 * i)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := d.Frame(2*i + 1)
		if err != nil {
			t.Fatal(err)
		}
		var f perception.FlowField
		if err := trainWorker(t).Do(func() (err error) { f, err = perception.EstimateFlow(m, perception.NetFlow, a, b); return }); err != nil {
			t.Fatal(err)
		}
		zero := make([]float32, len(f.Flow))
		for k, c := range []struct {
			pred []float32
			mask []uint8
		}{{f.Flow, nil}, {f.Flow, a.Truth.Moving}, {zero, nil}, {zero, a.Truth.Moving}} {
			r, err := FlowError(c.pred, a.Truth.Flow, c.mask)
			if err != nil {
				t.Fatal(err)
			}
			acc[k].epe += r.EPE * float64(r.Pixels)
			acc[k].fl += r.Fl * float64(r.Pixels)
			acc[k].n += r.Pixels
		}
	}
	out := [4]*FlowMetrics{&e.all, &e.moving, &e.zeroAll, &e.zeroMoving}
	for k := range acc {
		if acc[k].n > 0 {
			*out[k] = FlowMetrics{EPE: acc[k].epe / float64(acc[k].n), Fl: acc[k].fl / float64(acc[k].n), Pixels: acc[k].n}
		}
	}
	return e
}

func TestLearnUnFlow(t *testing.T) {
	d := testDrive(t, flowTrain)
	held := testDrive(t, flowHeld)
	mc := perception.ModelConfig{Width: 128, Height: 64, Nets: map[string]perception.NetConfig{perception.NetFlow: perception.FlowConfig{Size: perception.SizeSmall}}}
	tr := newTestTrainer(t, mc, TrainConfig{Objective: UnFlow{}, LR: 1e-3})
	before := evalFlow(t, tr.Model(), held, 12)
	start := time.Now()
	const steps = 300
	fit := &Fit{Trainer: tr, Worker: trainWorker(t), Drive: d, Frames: 150, Batch: 4, Seed: 1, Steps: steps}
	if err := fit.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	after := evalFlow(t, tr.Model(), held, 12)
	t.Logf("%d steps in %s (%.0f ms/step): held-out EPE all %.2f -> %.2f px (zero flow %.2f), moving %.2f -> %.2f (zero %.2f); Fl-all %.3f -> %.3f (zero %.3f), moving %.3f -> %.3f",
		tr.Steps(), took.Round(time.Second), float64(took.Milliseconds())/steps, before.all.EPE, after.all.EPE, after.zeroAll.EPE,
		before.moving.EPE, after.moving.EPE, after.zeroMoving.EPE, before.all.Fl, after.all.Fl, after.zeroAll.Fl, before.moving.Fl, after.moving.Fl)
	if after.all.EPE > 0.6*after.zeroAll.EPE || after.all.EPE > 0.6*before.all.EPE {
		t.Errorf("held-out EPE %.2f px: want below 60%% of zero flow's %.2f and of the untrained %.2f", after.all.EPE, after.zeroAll.EPE, before.all.EPE)
	}
	if after.moving.Pixels == 0 || after.moving.EPE > 0.8*after.zeroMoving.EPE {
		t.Errorf("held-out EPE on moving pixels %.2f px (%d px): want below 80%% of zero flow's %.2f", after.moving.EPE, after.moving.Pixels, after.zeroMoving.EPE)
	}
}
