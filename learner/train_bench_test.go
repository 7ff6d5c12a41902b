package learner

import (
	"fmt"
	"testing"
)

// BenchmarkTrainStep times Trainer.Step (batch to tensors, forward,
// Monodepth2 loss, backward, clipping, Adam) per mode at 320x96 and
// 640x192 with the small networks, batch 4, frames rendered at the network
// size (no resize) and cached. It reports ms/step. On 2 shared cores run
// it with -benchtime=5x: a 640x192 step takes seconds.
func BenchmarkTrainStep(b *testing.B) {
	for _, sz := range []struct{ w, h int }{{320, 96}, {640, 192}} {
		d := testDrive(b, fmt.Sprintf("synth://?seed=3&stereo=1&width=%d&height=%d", sz.w, sz.h))
		for _, mode := range []Mode{ModeMono, ModeStereo, ModeBoth} {
			b.Run(fmt.Sprintf("%s_%dx%d_b4", mode, sz.w, sz.h), func(b *testing.B) {
				tr := newTestTrainer(b, smallModelConfig(sz.w, sz.h, 0.5), TrainConfig{Objective: Monodepth2{Mode: mode}})
				batch := mustBatch(b, d, mode, 1, 5, 9, 13)
				step(b, tr, batch) // warm-up
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					step(b, tr, batch)
				}
				b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
			})
		}
	}
}
