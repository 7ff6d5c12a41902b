package learner

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
)

// Pre-training tests: small encoders pre-trained from seeded random
// weights on the learning tests' training world (urban, seed 3; mono
// frames, the first 600: one loop of its ring road), probed on two
// held-out worlds of another style: the probe is fitted on one (suburb,
// seed 11) and scored on the other (suburb, seed 17), 60 frames each
// spread over the loop.
const (
	pretrainTrain    = "synth://?seed=3&width=192&height=64"
	pretrainHeld     = "synth://?seed=11&style=suburb&width=192&height=64"
	pretrainProbeFit = pretrainHeld
	pretrainProbe    = "synth://?seed=17&style=suburb&width=192&height=64"
)

// probeSets are the probe's fit and test frames.
func probeSets(t testing.TB) (fit, test []*msgs.Frame) {
	t.Helper()
	var err error
	if fit, err = ProbeFrames(cachedSynth(t, pretrainProbeFit, 1), 0, 60, 10); err != nil {
		t.Fatal(err)
	}
	if test, err = ProbeFrames(cachedSynth(t, pretrainProbe, 1), 0, 60, 10); err != nil {
		t.Fatal(err)
	}
	return fit, test
}

type pretrainResult struct {
	losses       []float64
	probe0       ProbeResult // the random-init encoder
	probe        ProbeResult // after pre-training
	std0, std    []float64   // EmbeddingStd of the held-out embeddings
	took         time.Duration
	stepsPerSec  float64
	heldOutLoss0 float64
	heldOutLoss  float64
}

// embeddings returns the pooled stage-4 features of frames, projected by
// NetProjection when the model has one (the contrastive methods' z).
func embeddings(t testing.TB, m *perception.Model, frames []*msgs.Frame) [][]float32 {
	t.Helper()
	var out [][]float32
	cfg := m.Config()
	err := trainWorker(t).Do(func() error {
		return perception.NoGrad(func() error {
			x, _, err := perception.FramesTensor(frames, cfg.Width, cfg.Height, m.Device())
			if err != nil {
				return err
			}
			defer x.MustDrop()
			s := perception.NewScope("test: embeddings")
			defer s.Free()
			z := pooled(s, m.EncoderOf(perception.NetEncoder), x)
			if pc, ok := m.Config().Nets[NetProjection].(perception.ProjectionConfig); ok && int64(pc.In) == m.EncoderOf(perception.NetEncoder).Widths()[4] {
				z = mlp(s, m, NetProjection, z)
			}
			if s.Err() != nil {
				return s.Err()
			}
			v, err := perception.TensorFloat32s(z)
			if err != nil {
				return err
			}
			sz, _ := z.Size()
			for i := range sz[0] {
				out = append(out, v[i*sz[1]:(i+1)*sz[1]])
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pretrain pre-trains a fresh small model with o for steps steps of batch
// samples at 192x64 (Fit over the first 600 frames of pretrainTrain) and
// probes its encoder before and after.
func pretrain(t testing.TB, o Pretext, steps, batch int, lr float64) pretrainResult {
	return pretrainFrames(t, o, steps, batch, 600, lr)
}

func pretrainFrames(t testing.TB, o Pretext, steps, batch, frames int, lr float64) pretrainResult {
	t.Helper()
	tr := pretextTrainer(t, o, 192, 64, lr)
	w := trainWorker(t)
	fitF, testF := probeSets(t)
	probe := func() ProbeResult {
		r, err := LinearProbe(w, tr.Model(), perception.NetEncoder, fitF, testF, ProbeConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	held := testDrive(t, pretrainHeld)
	heldBatch, err := NewSamples(held, Needs{}, []int{5, 30, 55, 80, 105, 130, 155, 180})
	if err != nil {
		t.Fatal(err)
	}
	validate := func() float64 {
		var st StepStats
		if err := w.Do(func() (err error) { st, err = tr.Validate(heldBatch); return err }); err != nil {
			t.Fatal(err)
		}
		return st.Loss
	}
	var r pretrainResult
	r.probe0 = probe()
	r.std0 = EmbeddingStd(embeddings(t, tr.Model(), testF))
	r.heldOutLoss0 = validate()
	d := cachedSynth(t, pretrainTrain, frames)
	start := time.Now()
	fit := &Fit{Trainer: tr, Worker: w, Drive: d, Frames: frames, Batch: batch, Seed: 1, Steps: int64(steps),
		OnStep: func(st StepStats) error { r.losses = append(r.losses, st.Loss); return nil }}
	if err := fit.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.took = time.Since(start)
	r.stepsPerSec = float64(steps) / r.took.Seconds()
	r.probe = probe()
	r.std = EmbeddingStd(embeddings(t, tr.Model(), testF))
	r.heldOutLoss = validate()
	return r
}

// cachedSynth is a synth drive with a cache of n frames.
func cachedSynth(t testing.TB, url string, n int) camera.Drive {
	t.Helper()
	cfg, err := synth.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	d, err := synth.NewDrive(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := camera.CacheDrive(d, n)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func meanOf(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// TestPretrainLearns: SimCLR pre-training in `make test` (192x64, small
// encoder, seeded): the loss falls on the training frames and on held-out
// ones, the embeddings of held-out frames do not collapse (the median
// dimension keeps half a uniform spread, at most 5% of them narrow), and the linear probe of coarse depth on the
// held-out world beats the random-init encoder's.
func TestPretrainLearns(t *testing.T) {
	const steps = 150
	r := pretrain(t, SimCLR{Seed: 1}, steps, 16, 1e-3)
	first, last := meanOf(r.losses[:10]), meanOf(r.losses[len(r.losses)-10:])
	d := float64(len(r.std))
	t.Logf("simclr, %d steps of 16 in %s (%.2f steps/s): loss %.3f -> %.3f, held-out %.3f -> %.3f; embedding std median %.4f -> %.4f, min %.4f -> %.4f (1/sqrt(D) = %.4f); probe test accuracy %.3f -> %.3f (fit %.3f -> %.3f, chance %.3f, %d/%d cells)",
		steps, r.took.Round(time.Second), r.stepsPerSec, first, last, r.heldOutLoss0, r.heldOutLoss,
		median(r.std0), median(r.std), slices.Min(r.std0), slices.Min(r.std), 1/math.Sqrt(d),
		r.probe0.TestAcc, r.probe.TestAcc, r.probe0.FitAcc, r.probe.FitAcc, r.probe.Chance, r.probe.FitCells, r.probe.TestCells)
	if !(last < 0.9*first) {
		t.Errorf("loss %.3f -> %.3f: want at least 10%% lower", first, last)
	}
	if !(r.heldOutLoss < r.heldOutLoss0) {
		t.Errorf("held-out loss %.3f -> %.3f: want lower", r.heldOutLoss0, r.heldOutLoss)
	}
	// Collapse, whole or dimensional, shows as the spread of most
	// dimensions going to zero; the single narrowest dimension is noise
	// (0.017-0.020 over runs whose libtorch reductions differ in order).
	if m := median(r.std); !(m > 0.5/math.Sqrt(d)) {
		t.Errorf("median embedding std %.4f: want above 0.5/sqrt(D) = %.4f (collapse)", m, 0.5/math.Sqrt(d))
	}
	narrow := 0
	for _, s := range r.std {
		if s < 0.2/math.Sqrt(d) {
			narrow++
		}
	}
	if narrow > len(r.std)/20 {
		t.Errorf("%d of %d embedding dimensions have a std below 0.2/sqrt(D) = %.4f: want at most 5%% (dimensional collapse)", narrow, len(r.std), 0.2/math.Sqrt(d))
	}
	if !(r.probe.TestAcc > r.probe0.TestAcc+0.01) {
		t.Errorf("probe test accuracy %.3f, random init %.3f: want at least 1 point better", r.probe.TestAcc, r.probe0.TestAcc)
	}
}
