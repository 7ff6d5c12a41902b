package learner

import (
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/perception"
)

var (
	trainWorkerOnce sync.Once
	trainWorkerW    *perception.Worker
	trainWorkerErr  error
)

// trainWorker is one worker (2 torch threads) shared by the training tests.
func trainWorker(t testing.TB) *perception.Worker {
	t.Helper()
	trainWorkerOnce.Do(func() { trainWorkerW, trainWorkerErr = perception.NewWorker(2) })
	if trainWorkerErr != nil {
		t.Fatal(trainWorkerErr)
	}
	return trainWorkerW
}

// smallModelConfig is the small architecture the training tests use.
func smallModelConfig(w, h int, prior float64) perception.ModelConfig {
	return perception.ModelConfig{Width: w, Height: h,
		Depth: perception.DepthConfig{Size: perception.SizeSmall},
		Pose:  perception.PoseConfig{Size: perception.SizeSmall, ForwardPrior: prior}}
}

// newTestTrainer makes a fresh model and trainer on the shared worker; both
// are freed when the test ends.
func newTestTrainer(t testing.TB, mc perception.ModelConfig, cfg TrainConfig) *Trainer {
	t.Helper()
	w := trainWorker(t)
	var tr *Trainer
	err := w.Do(func() error {
		m, err := perception.NewModel(mc, gotch.CPU)
		if err != nil {
			return err
		}
		tr, err = NewTrainer(m, cfg)
		if err != nil {
			m.Close()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Do(func() error { tr.Close(); tr.Model().Close(); return nil })
	})
	return tr
}

// testDrive is a cached stereo synth drive.
func testDrive(t testing.TB, url string) Drive {
	t.Helper()
	cfg, err := synth.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	d, err := SynthDrive(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := CacheDrive(d, 256)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustBatch(t testing.TB, d Drive, mode Mode, idx ...int) []Sample {
	t.Helper()
	b, err := Batch(d, mode, idx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// weightsOf copies every variable's values.
func weightsOf(t testing.TB, tr *Trainer) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	err := trainWorker(t).Do(func() error {
		for _, nv := range tr.Model().NamedVariables() {
			v, err := tensorValues(nv.Tensor)
			if err != nil {
				return err
			}
			out[nv.Name] = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func step(t testing.TB, tr *Trainer, b []Sample) StepStats {
	t.Helper()
	var st StepStats
	err := trainWorker(t).Do(func() (err error) { st, err = tr.Step(b); return err })
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestTrainStepModes: one step in each mode gives finite loss terms, a
// finite gradient, moves the trained variables (the pose net only where a
// temporal source trains it), and Validate agrees with the pre-step loss.
func TestTrainStepModes(t *testing.T) {
	d := testDrive(t, "synth://?seed=3&stereo=1&width=192&height=64")
	for _, tc := range []struct {
		mode              Mode
		pose, lr, changes bool
	}{
		{ModeMono, true, false, true},
		{ModeStereo, false, true, true},
		{ModeBoth, true, true, true},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			tr := newTestTrainer(t, smallModelConfig(192, 64, 0.5), TrainConfig{Mode: tc.mode, LR: 1e-3})
			b := mustBatch(t, d, tc.mode, 5, 9)
			var val StepStats
			if err := trainWorker(t).Do(func() (err error) { val, err = tr.Validate(b); return err }); err != nil {
				t.Fatal(err)
			}
			before := weightsOf(t, tr)
			st := step(t, tr, b)
			after := weightsOf(t, tr)
			t.Logf("%s: %+v", tc.mode, st)
			if st.Skipped || st.Step != 1 || tr.Steps() != 1 {
				t.Fatalf("step %+v, Steps %d", st, tr.Steps())
			}
			for _, v := range []float64{st.Loss, st.Photometric, st.Smoothness, st.LRConsistency, st.GradNorm} {
				if !finite(v) || v < 0 {
					t.Fatalf("non-finite or negative term in %+v", st)
				}
			}
			if st.Photometric <= 0 || st.Smoothness <= 0 || st.GradNorm <= 0 {
				t.Fatalf("zero term in %+v", st)
			}
			if (st.LRConsistency > 0) != tc.lr {
				t.Errorf("LR consistency %g in mode %s", st.LRConsistency, tc.mode)
			}
			if math.Abs(val.Loss-st.Loss) > 1e-6*math.Max(1, st.Loss) {
				t.Errorf("Validate loss %g, Step loss %g (same weights, same batch)", val.Loss, st.Loss)
			}
			changed := map[string]bool{}
			for n, v := range before {
				for i := range v {
					if v[i] != after[n][i] {
						changed[n] = true
						break
					}
				}
			}
			if !changed["depth.disp0.weight"] || !changed["depth.enc0.conv0.weight"] {
				t.Errorf("depth variables unchanged: %v", changed)
			}
			if changed["pose.conv0.weight"] != tc.pose {
				t.Errorf("pose conv0 changed = %v in mode %s", changed["pose.conv0.weight"], tc.mode)
			}
		})
	}
}

// TestTrainBadBatch: missing frames, intrinsics or baseline are
// ErrTrainInput, not a panic or a silent step.
func TestTrainBadBatch(t *testing.T) {
	d := testDrive(t, "synth://?seed=3&stereo=1&width=192&height=64")
	tr := newTestTrainer(t, smallModelConfig(128, 64, 0), TrainConfig{Mode: ModeBoth})
	good := mustBatch(t, d, ModeBoth, 2)[0]
	noK := *good.Target
	noK.Intrinsics = nil
	short := *good.Prev
	short.Pix = short.Pix[:10]
	other := *good.Right
	other.Width, other.Height, other.Pix = 8, 8, make([]byte, 3*64)
	for name, b := range map[string][]Sample{
		"empty":       nil,
		"no target":   {{Prev: good.Prev, Next: good.Next, Right: good.Right, Baseline: 0.5}},
		"no prev":     {{Target: good.Target, Next: good.Next, Right: good.Right, Baseline: 0.5}},
		"no right":    {{Target: good.Target, Prev: good.Prev, Next: good.Next}},
		"no baseline": {{Target: good.Target, Prev: good.Prev, Next: good.Next, Right: good.Right}},
		"nan base":    {{Target: good.Target, Prev: good.Prev, Next: good.Next, Right: good.Right, Baseline: math.NaN()}},
		"no K":        {{Target: &noK, Prev: good.Prev, Next: good.Next, Right: good.Right, Baseline: 0.5}},
		"short pix":   {{Target: good.Target, Prev: &short, Next: good.Next, Right: good.Right, Baseline: 0.5}},
		"other size":  {{Target: good.Target, Prev: good.Prev, Next: good.Next, Right: &other, Baseline: 0.5}},
	} {
		var err error
		trainWorker(t).Do(func() error { _, err = tr.Step(b); return nil })
		if !errors.Is(err, ErrTrainInput) {
			t.Errorf("%s: %v, want ErrTrainInput", name, err)
		}
	}
	if tr.Steps() != 0 || tr.SkippedSteps() != 0 {
		t.Errorf("steps %d skipped %d after bad batches", tr.Steps(), tr.SkippedSteps())
	}
}
