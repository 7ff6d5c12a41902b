package learner

import (
	"testing"

	"github.com/parallax-robotics/parallax/perception"
	"github.com/sugarme/gotch/ts"
)

// BenchmarkTrainStepDispatch times Trainer.Step where host-side op dispatch
// dominates: 64x64 frames, batch 1, stereo, the default networks (the
// most variables). On a GPU the step time is set by the number of ops
// dispatched, not by arithmetic; this is the CPU stand-in for that case,
// so the gradient and Adam bookkeeping per variable shows up in it.
func BenchmarkTrainStepDispatch(b *testing.B) {
	d := testDrive(b, "synth://?seed=3&stereo=1&width=64&height=64")
	tr := newTestTrainer(b, perception.ModelConfig{Width: 64, Height: 64}, TrainConfig{Objective: Monodepth2{Mode: ModeStereo}})
	batch := mustBatch(b, d, ModeStereo, 1)
	step(b, tr, batch) // warm-up
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step(b, tr, batch)
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
	b.ReportMetric(float64(len(tr.TrainedVariables())), "vars")
}

// BenchmarkGradUpdate times what Step does after the backward pass, alone:
// read the trained variables' gradients, the global norm, the Adam update
// and zeroing the gradients (default networks, stereo: 48 variables, 3.7 M
// values). On a GPU this part's cost is dispatch (a few passes over 15 MB
// take microseconds there); on a CPU it is mostly memory traffic, so the
// CPU figure understates what the flat Adam saves on a GPU.
func BenchmarkGradUpdate(b *testing.B) {
	d := testDrive(b, "synth://?seed=3&stereo=1&width=64&height=64")
	tr := newTestTrainer(b, perception.ModelConfig{Width: 64, Height: 64}, TrainConfig{Objective: Monodepth2{Mode: ModeStereo}})
	step(b, tr, mustBatch(b, d, ModeStereo, 1)) // gradients exist from here on
	b.ResetTimer()
	err := trainWorker(b).Do(func() error {
		for i := 0; i < b.N; i++ {
			if err := gradUpdate(tr); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/update")
	b.ReportMetric(float64(tr.opt.total), "values")
}

// gradUpdate is Step's code after the backward pass (without the checks
// Step makes around it).
func gradUpdate(t *Trainer) error {
	grads := make([]*ts.Tensor, len(t.vars))
	defer func() {
		for _, g := range grads {
			if g != nil {
				g.MustDrop()
			}
		}
	}()
	for i, v := range t.vars {
		g, err := v.Grad(false)
		if err != nil {
			return err
		}
		grads[i] = g
	}
	return perception.NoGrad(func() error {
		flat, err := t.opt.flatGrad(grads)
		if err != nil {
			return err
		}
		defer flat.MustDrop()
		n2, err := flat.Dot(flat, false)
		if err != nil {
			return err
		}
		if _, err := perception.ScalarValue(n2); err != nil {
			return err
		}
		n2.MustDrop()
		if err := t.opt.update(flat, 1, 1e-9); err != nil {
			return err
		}
		return t.zeroGrads()
	})
}
