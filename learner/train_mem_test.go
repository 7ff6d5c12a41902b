package learner

import (
	"testing"

	"github.com/parallax-robotics/parallax/internal/memtest"
)

// TestTrainMemoryFlat: hundreds of training steps (mode both: depth, pose,
// stereo and LR terms, every intermediate freed by hand), validations and
// Snapshot/Restore/Free rounds keep the resident set flat.
func TestTrainMemoryFlat(t *testing.T) {
	d := testDrive(t, "synth://?seed=3&stereo=1&width=128&height=64")
	tr := newTestTrainer(t, smallModelConfig(128, 64, 0.5), TrainConfig{Objective: Monodepth2{Mode: ModeBoth}, LR: 1e-4})
	batches := make([][]Sample, 8)
	for i := range batches {
		batches[i] = mustBatch(t, d, ModeBoth, 1+3*i)
	}
	w := trainWorker(t)
	round := func(i int) {
		b := batches[i%len(batches)]
		step(t, tr, b)
		if i%4 == 0 {
			if err := w.Do(func() error { _, err := tr.Validate(b); return err }); err != nil {
				t.Fatal(err)
			}
		}
		if i%5 == 0 {
			err := w.Do(func() error {
				s, err := tr.Snapshot()
				if err != nil {
					return err
				}
				defer s.Free()
				return tr.Restore(s)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < 20; i++ { // warm up allocator caches
		round(i)
	}
	before := memtest.SettledRSS(t)
	const n = 150
	for i := 0; i < n; i++ {
		round(i)
	}
	after := memtest.SettledRSS(t)
	growth := after - before
	t.Logf("RSS %d MB -> %d MB over %d steps (%+d KB/step)", before>>20, after>>20, n, growth/1024/n)
	// A leaked batch (4 images of 128x64) alone is ~0.4 MB a step (60 MB
	// over the run), leaked activations far more; allow allocator noise only.
	if growth > 30<<20 {
		t.Errorf("RSS grew by %d MB over %d steps", growth>>20, n)
	}
}
