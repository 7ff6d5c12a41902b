package learner

import (
	"testing"
	"time"

	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/perception"
)

// BenchmarkAdapterIteration measures one iteration of the online learner
// at the node's size (320x96 stereo, small model, 1 thread, batch 4: the
// fresh tuple and 3 replayed): Offer (image gate, anomaly check) and Step,
// with the drift check every 8 steps amortised. Reports steps/s and the
// Offer and Step times.
func BenchmarkAdapterIteration(b *testing.B) {
	d := testDrive(b, "synth://?stereo=1&width=320&height=96&fps=15&seed=11&style=suburb")
	w := adaptWorker(b)
	var m *perception.Model
	if err := w.Do(func() (err error) {
		m, err = perception.NewModel(smallModelConfig(320, 96, 0), gotch.CPU)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	a, err := NewAdapter(w, m, nil, AdaptConfig{Train: TrainConfig{Objective: Monodepth2{Mode: ModeStereo}}, HoldOutEvery: 3})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	offerAndStep(b, a, d, 1, 12) // fill the buffer, warm the allocator
	var offer, step time.Duration
	steps := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := a.Offer(driveSample(b, d, 12+i%200)); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		offer += t1.Sub(t0)
		if a.Ready() {
			if _, err := a.Step(); err != nil {
				b.Fatal(err)
			}
			step += time.Since(t1)
			steps++
		}
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
	b.ReportMetric(float64(offer.Milliseconds())/float64(b.N), "offer-ms")
	if steps > 0 {
		b.ReportMetric(float64(step.Milliseconds())/float64(steps), "step-ms")
	}
}
