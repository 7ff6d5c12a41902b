package learner

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/internal/memtest"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
)

var (
	evalWorkerOnce sync.Once
	evalWorkerW    *perception.Worker
	evalWorkerErr  error
)

// evalEstimator makes an untrained small model of w x h on a worker shared
// by the evaluation tests.
func evalEstimator(t testing.TB, w, h int) *perception.Estimator {
	t.Helper()
	evalWorkerOnce.Do(func() { evalWorkerW, evalWorkerErr = perception.NewWorker(1) })
	if evalWorkerErr != nil {
		t.Fatal(evalWorkerErr)
	}
	var m *perception.Model
	err := evalWorkerW.Do(func() (err error) {
		m, err = perception.NewModel(perception.DepthPose(w, h, perception.DepthConfig{Size: perception.SizeSmall}, perception.PoseConfig{Size: perception.SizeSmall}), gotch.CPU)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { evalWorkerW.Do(func() error { m.Close(); return nil }) })
	return perception.NewEstimator(m, evalWorkerW)
}

func finiteMetrics(m Metrics) bool {
	for _, v := range []float64{m.AbsRel, m.SqRel, m.RMSE, m.RMSELog, m.A1, m.A2, m.A3, m.Scale} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

func TestEvaluateUntrained(t *testing.T) {
	est := evalEstimator(t, 128, 64)
	var calls []int
	rep, err := Evaluate(context.Background(), est, "synth://?seed=7&stereo=1&width=160&height=64", EvalConfig{
		Frames: 8, Progress: func(done, total int) {
			if total != 8 {
				t.Errorf("progress total %d", total)
			}
			calls = append(calls, done)
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	if len(calls) != 8 || calls[7] != 8 {
		t.Errorf("progress calls %v", calls)
	}
	if rep.Width != 128 || rep.Height != 64 || rep.Frames != 8 || rep.Mono.Images != 8 || rep.ATE.Snippets != 4 {
		t.Errorf("report sizes %+v", rep)
	}
	if !finiteMetrics(rep.Mono) || !finiteMetrics(rep.Metric) || math.IsNaN(rep.ATE.Mean) || math.IsNaN(rep.Drift.Percent) {
		t.Fatalf("non-finite metrics %+v", rep)
	}
	// An untrained net predicts about InitDepth everywhere: far from
	// perfect, and the metric numbers differ from the median-scaled ones.
	if rep.Mono.AbsRel <= 0.01 || rep.Metric.AbsRel == rep.Mono.AbsRel || rep.Metric.Scale != 1 {
		t.Errorf("implausible untrained metrics mono %+v metric %+v", rep.Mono, rep.Metric)
	}
}

// The pipeline fed ground truth (depth resampled like the Estimator's
// maps, poses from the true trajectory) scores perfectly: abs_rel 0, ATE 0,
// drift 0, pose scale 1.
func TestEvaluateGroundTruthIsPerfect(t *testing.T) {
	const w, h = 128, 64
	depth := func(f *msgs.Frame) (msgs.DepthMap, error) {
		g, err := GroundTruthDepth(f, w, h)
		return msgs.DepthMap{Width: w, Height: h, Depth: g}, err
	}
	pose := func(a, b *msgs.Frame) (msgs.Pose, error) {
		return a.Truth.Pose.Inverse().Compose(b.Truth.Pose), nil
	}
	rep, err := evaluate(context.Background(), depth, pose, "synth://?seed=8&width=96&height=80", EvalConfig{Frames: 7, Snippet: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Metrics{rep.Mono, rep.Metric} {
		if m.AbsRel != 0 || m.RMSE != 0 || m.A1 != 1 || math.Abs(m.Scale-1) > 1e-12 {
			t.Errorf("GT vs GT: %+v", m)
		}
	}
	if rep.ATE.Mean > 1e-9 || math.Abs(rep.PoseScale-1) > 1e-9 || rep.Drift.Percent > 1e-7 || rep.Drift.Segments == 0 || rep.ATE.Snippets != 5 {
		t.Errorf("GT poses: %+v", rep)
	}
}

// GroundTruthDepth samples the same window the Estimator crops: the
// principal point of the Estimator's DepthMap intrinsics must be the
// frame's, moved by the crop offset and scaled, for the crop GroundTruthDepth
// uses.
func TestGroundTruthDepthMatchesEstimatorCrop(t *testing.T) {
	est := evalEstimator(t, 128, 64)
	for _, sz := range [][2]int{{160, 64}, {100, 100}, {256, 128}} {
		world, err := synth.NewWorld(synth.Config{Width: sz[0], Height: sz[1]})
		if err != nil {
			t.Fatal(err)
		}
		f, _ := world.Render(0)
		d, err := est.Depth(f)
		if err != nil {
			t.Fatal(err)
		}
		k := d[0].Intrinsics
		x0, y0, cw, ch := perception.CropFor(f.Width, f.Height, 128, 64)
		wantCx := (f.Intrinsics.Cx - float64(x0)) * 128 / float64(cw)
		wantCy := (f.Intrinsics.Cy - float64(y0)) * 64 / float64(ch)
		if k == nil || math.Abs(k.Cx-wantCx) > 1e-9 || math.Abs(k.Cy-wantCy) > 1e-9 {
			t.Errorf("%v: estimator intrinsics %+v, want cx %g cy %g", sz, k, wantCx, wantCy)
		}
		g, err := GroundTruthDepth(f, 128, 64)
		if err != nil {
			t.Fatal(err)
		}
		// Centre pixel: the truth at the source pixel under the map's centre.
		sx := x0 + int(64.5*float64(cw)/128)
		sy := y0 + int(32.5*float64(ch)/64)
		if g[32*128+64] != f.Truth.Depth[sy*f.Width+sx] {
			t.Errorf("%v: centre depth %g, want %g", sz, g[32*128+64], f.Truth.Depth[sy*f.Width+sx])
		}
	}
}

func TestEvaluateErrors(t *testing.T) {
	est := evalEstimator(t, 128, 64)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		est    *perception.Estimator
		source string
		cfg    EvalConfig
		want   error
	}{
		{"bad url", context.Background(), est, "synth://?sed=7", EvalConfig{Frames: 3, Snippet: 3}, ErrEvalSource},
		{"not synth", context.Background(), est, "rtsp://host/x", EvalConfig{Frames: 3, Snippet: 3}, synth.ErrInvalidURL},
		{"one frame", context.Background(), est, "synth://", EvalConfig{Frames: 1}, ErrEvalOptions},
		{"snippet too long", context.Background(), est, "synth://", EvalConfig{Frames: 3, Snippet: 5}, ErrEvalOptions},
		{"bad range", context.Background(), est, "synth://", EvalConfig{Frames: 3, MinDepth: 9, MaxDepth: 3}, ErrEvalOptions},
		{"nil estimator", context.Background(), nil, "synth://", EvalConfig{}, ErrEvalOptions},
		{"cancelled", ctx, est, "synth://?width=64&height=64", EvalConfig{Frames: 3, Snippet: 2}, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Evaluate(tc.ctx, tc.est, tc.source, tc.cfg)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := GroundTruthDepth(&msgs.Frame{Width: 2, Height: 2}, 2, 2); !errors.Is(err, ErrEvalSource) {
		t.Errorf("frame without truth: %v", err)
	}
}

// Evaluate's loop (render, depth, pose, metrics) keeps memory flat: a
// second, longer run after a warm-up grows RSS by less than 20 MB.
func TestEvaluateMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("memory test")
	}
	est := evalEstimator(t, 64, 64)
	src := "synth://?seed=3&width=64&height=64"
	if _, err := Evaluate(context.Background(), est, src, EvalConfig{Frames: 10}); err != nil {
		t.Fatal(err)
	}
	before := memtest.SettledRSS(t)
	if _, err := Evaluate(context.Background(), est, src, EvalConfig{Frames: 60}); err != nil {
		t.Fatal(err)
	}
	after := memtest.SettledRSS(t)
	t.Logf("RSS %.1f MB -> %.1f MB over 60 evaluated frames", float64(before)/1e6, float64(after)/1e6)
	if after-before > 20<<20 {
		t.Fatalf("RSS grew by %.1f MB over 60 frames", float64(after-before)/1e6)
	}
}
