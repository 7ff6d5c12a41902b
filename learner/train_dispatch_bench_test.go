package learner

import (
	"testing"

	"github.com/parallax-robotics/parallax/perception"
)

// BenchmarkTrainStepDispatch times Trainer.Step where host-side op dispatch
// dominates: 64x64 frames, batch 1, stereo, the default networks (the
// most variables). On a GPU the step time is set by the number of ops
// dispatched, not by arithmetic; this is the CPU stand-in for that case,
// so the gradient and Adam bookkeeping per variable shows up in it.
func BenchmarkTrainStepDispatch(b *testing.B) {
	d := testDrive(b, "synth://?seed=3&stereo=1&width=64&height=64")
	tr := newTestTrainer(b, perception.ModelConfig{Width: 64, Height: 64}, TrainConfig{Mode: ModeStereo})
	batch := mustBatch(b, d, ModeStereo, 1)
	step(b, tr, batch) // warm-up
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step(b, tr, batch)
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
	b.ReportMetric(float64(len(tr.TrainedVariables())), "vars")
}
