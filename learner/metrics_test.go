package learner

import (
	"errors"
	"math"
	"testing"

	"github.com/parallax-robotics/parallax/msgs"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

func TestDepthMetricsHandComputed(t *testing.T) {
	l19, l13 := math.Log(1.9), math.Log(1.3)
	tests := []struct {
		name     string
		pred, gt []float32
		opts     EvalOptions
		want     Metrics
	}{
		{
			// ratios 1.9, 1, 1.3: a1 counts only the exact pixel, a2 adds 1.3, a3 adds 1.9.
			name: "three pixels",
			pred: []float32{1.9, 4, 1.3}, gt: []float32{1, 4, 1},
			want: Metrics{AbsRel: 1.2 / 3, SqRel: 0.9 / 3, RMSE: math.Sqrt(0.9 / 3), RMSELog: math.Sqrt((l19*l19 + l13*l13) / 3),
				A1: 1.0 / 3, A2: 2.0 / 3, A3: 1, Scale: 1, Pixels: 3, Images: 1},
		},
		{
			// gt 0 (unknown) and 100 (beyond 80 m) are left out; pred 200 is
			// clamped to 80 against gt 40: |80-40|/40 = 1.
			name: "range filter and clamp",
			pred: []float32{5, 7, 200}, gt: []float32{0, 100, 40},
			want: Metrics{AbsRel: 1, SqRel: 40, RMSE: 40, RMSELog: math.Log(2), A1: 0, A2: 0, A3: 0, Scale: 1, Pixels: 1, Images: 1},
		},
		{
			// custom range (1, 10): only gt 5 counts; pred 0.5 clamps to 1.
			name: "custom range",
			pred: []float32{3, 0.5, 3}, gt: []float32{1, 5, 10},
			opts: EvalOptions{MinDepth: 1, MaxDepth: 10},
			want: Metrics{AbsRel: 0.8, SqRel: 16.0 / 5, RMSE: 4, RMSELog: math.Log(5), Scale: 1, Pixels: 1, Images: 1},
		},
		{
			// median(gt)=4, median(pred)=2: scale 2 makes pred equal gt.
			name: "median scaling",
			pred: []float32{1, 2, 3}, gt: []float32{2, 4, 6},
			opts: EvalOptions{MedianScaling: true},
			want: Metrics{A1: 1, A2: 1, A3: 1, Scale: 2, Pixels: 3, Images: 1},
		},
		{
			name: "even count median",
			pred: []float32{1, 3}, gt: []float32{2, 6},
			opts: EvalOptions{MedianScaling: true},
			want: Metrics{A1: 1, A2: 1, A3: 1, Scale: 2, Pixels: 2, Images: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DepthMetrics(tc.pred, tc.gt, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			for _, c := range []struct {
				n    string
				g, w float64
			}{{"abs_rel", got.AbsRel, w.AbsRel}, {"sq_rel", got.SqRel, w.SqRel}, {"rmse", got.RMSE, w.RMSE},
				{"rmse_log", got.RMSELog, w.RMSELog}, {"a1", got.A1, w.A1}, {"a2", got.A2, w.A2}, {"a3", got.A3, w.A3}, {"scale", got.Scale, w.Scale}} {
				if !near(c.g, c.w) {
					t.Errorf("%s = %.12g, want %.12g", c.n, c.g, c.w)
				}
			}
			if got.Pixels != w.Pixels || got.Images != 1 {
				t.Errorf("pixels %d images %d, want %d 1", got.Pixels, got.Images, w.Pixels)
			}
		})
	}
}

func TestDepthMetricsGTvsGT(t *testing.T) {
	gt := []float32{0, 1.5, 3, 7.25, 79, 90}
	for _, mono := range []bool{false, true} {
		m, err := DepthMetrics(gt, gt, EvalOptions{MedianScaling: mono})
		if err != nil {
			t.Fatal(err)
		}
		if m.AbsRel != 0 || m.SqRel != 0 || m.RMSE != 0 || m.RMSELog != 0 || m.A1 != 1 || m.Pixels != 4 {
			t.Errorf("mono=%v: %+v, want zero errors over 4 pixels", mono, m)
		}
	}
}

// TestDepthMetricsSkipNaN: NaN predictions (no estimate) are left out and
// counted as missing, the rest scored as if they were alone.
func TestDepthMetricsSkipNaN(t *testing.T) {
	nan := float32(math.NaN())
	gt := []float32{2, 4, 8, 10, 0}
	m, err := DepthMetrics([]float32{2.2, nan, 8, nan, nan}, gt, EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	alone, err := DepthMetrics([]float32{2.2, 8}, []float32{2, 8}, EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Pixels != 2 || m.Missing != 2 || m.AbsRel != alone.AbsRel || math.Abs(m.AbsRel-0.05) > 1e-6 {
		t.Errorf("%+v: want 2 pixels, 2 missing, abs_rel 0.05 (as %+v)", m, alone)
	}
	var acc MetricsAccumulator
	acc.Add(m)
	acc.Add(alone)
	if r, _ := acc.Result(); r.Missing != 2 || r.Pixels != 4 {
		t.Errorf("accumulated %+v: want 2 missing of 4+2", r)
	}
}

func TestDepthMetricsMedianScalingInvariance(t *testing.T) {
	gt := []float32{2, 3, 5, 8, 13, 21, 34}
	pred := []float32{2.5, 2.9, 6, 7, 15, 18, 40}
	base, err := DepthMetrics(pred, gt, EvalOptions{MedianScaling: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []float32{0.01, 0.5, 3, 7} {
		p := make([]float32, len(pred))
		for i := range pred {
			p[i] = pred[i] * k
		}
		m, err := DepthMetrics(p, gt, EvalOptions{MedianScaling: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range [][2]float64{{m.AbsRel, base.AbsRel}, {m.SqRel, base.SqRel}, {m.RMSE, base.RMSE}, {m.RMSELog, base.RMSELog}, {m.A1, base.A1}, {m.A3, base.A3}} {
			if math.Abs(c[0]-c[1]) > 1e-6*math.Max(1, c[1]) {
				t.Errorf("k=%g: %+v differs from %+v", k, m, base)
				break
			}
		}
		if !near(m.Scale*float64(k), base.Scale) && math.Abs(m.Scale*float64(k)-base.Scale) > 1e-6 {
			t.Errorf("k=%g: scale %g, want %g", k, m.Scale, base.Scale/float64(k))
		}
	}
	// Without median scaling the metrics do change.
	m1, _ := DepthMetrics(pred, gt, EvalOptions{})
	p := make([]float32, len(pred))
	for i := range pred {
		p[i] = pred[i] * 3
	}
	m3, _ := DepthMetrics(p, gt, EvalOptions{})
	if near(m1.AbsRel, m3.AbsRel) {
		t.Errorf("metric evaluation ignored a 3x scale: %g", m1.AbsRel)
	}
}

func TestDepthMetricsErrors(t *testing.T) {
	tests := []struct {
		name     string
		pred, gt []float32
		opts     EvalOptions
		want     error
	}{
		{"size mismatch", []float32{1}, []float32{1, 2}, EvalOptions{}, ErrMetricInput},
		{"no valid", []float32{1, 2}, []float32{0, 100}, EvalOptions{}, ErrNoValidPixels},
		{"empty", nil, nil, EvalOptions{}, ErrNoValidPixels},
		{"only nan preds", []float32{float32(math.NaN())}, []float32{1}, EvalOptions{}, ErrNoValidPixels},
		{"inf pred", []float32{float32(math.Inf(1))}, []float32{1}, EvalOptions{}, ErrMetricInput},
		{"zero median", []float32{0, 0, 1}, []float32{1, 2, 3}, EvalOptions{MedianScaling: true}, ErrMetricInput},
		{"min > max", []float32{1}, []float32{1}, EvalOptions{MinDepth: 5, MaxDepth: 2}, ErrEvalOptions},
		{"negative min", []float32{1}, []float32{1}, EvalOptions{MinDepth: -1}, ErrEvalOptions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DepthMetrics(tc.pred, tc.gt, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestMetricsAccumulatorAveragesPerImage(t *testing.T) {
	var a MetricsAccumulator
	if _, err := a.Result(); !errors.Is(err, ErrNoValidPixels) {
		t.Fatalf("empty accumulator: %v", err)
	}
	// Image 1: one pixel with abs_rel 1; image 2: three perfect pixels.
	// Per-image mean is 0.5 (a pixel mean would be 0.25).
	m1, err := DepthMetrics([]float32{2}, []float32{1}, EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m2, err := DepthMetrics([]float32{1, 2, 3}, []float32{1, 2, 3}, EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.Add(m1)
	a.Add(m2)
	r, err := a.Result()
	if err != nil {
		t.Fatal(err)
	}
	if !near(r.AbsRel, 0.5) || !near(r.RMSE, 0.5) || !near(r.A1, 0.5) || r.Images != 2 || r.Pixels != 4 || r.Scale != 1 || r.ScaleStd != 0 {
		t.Errorf("result %+v", r)
	}
	// Scales 1 and 3: mean 2, std 1, reported relative: 0.5.
	var b MetricsAccumulator
	b.Add(Metrics{Scale: 1})
	b.Add(Metrics{Scale: 3})
	r, _ = b.Result()
	if !near(r.Scale, 2) || !near(r.ScaleStd, 0.5) {
		t.Errorf("scale %g std %g, want 2 0.5", r.Scale, r.ScaleStd)
	}
}

// yawPose is a camera-to-world pose rotated by yaw about y at position p.
func yawPose(yaw float64, p [3]float64) msgs.Pose {
	c, s := math.Cos(yaw), math.Sin(yaw)
	return msgs.Pose{R: [9]float64{c, 0, s, 0, 1, 0, -s, 0, c}, T: p}
}

func curve(n int) []msgs.Pose {
	out := make([]msgs.Pose, n)
	for i := range out {
		f := float64(i)
		out[i] = yawPose(0.05*f, [3]float64{0.3 * f * f * 0.1, 0.02 * f, f})
	}
	return out
}

// scaled returns the trajectory with every position multiplied by k in a
// different world frame (moved by w): the shape seen from the first pose is
// the same, scaled.
func scaled(ps []msgs.Pose, k float64, w msgs.Pose) []msgs.Pose {
	out := make([]msgs.Pose, len(ps))
	for i, p := range ps {
		p.T = [3]float64{p.T[0] * k, p.T[1] * k, p.T[2] * k}
		out[i] = w.Compose(p)
	}
	return out
}

func TestSnippetATE(t *testing.T) {
	gt := curve(12)
	for _, k := range []float64{1, 0.2, 5} {
		a, err := SnippetATE(gt, scaled(gt, k, yawPose(1, [3]float64{4, -2, 7})), 5)
		if err != nil {
			t.Fatal(err)
		}
		if a.Mean > 1e-9 || a.Snippets != 8 {
			t.Errorf("k=%g: perfect trajectory ATE %+v, want 0 over 8 snippets", k, a)
		}
	}
	// Straight GT along z (1 m a frame), identity rotations; the prediction
	// is off by 0.3 m sideways on the second and third frames:
	// gt (0,0,0),(0,0,1),(0,0,2), pred (0,0,0),(0.3,0,1),(0.3,0,2).
	g := []msgs.Pose{msgs.Identity(), msgs.Identity(), msgs.Identity()}
	p := []msgs.Pose{msgs.Identity(), msgs.Identity(), msgs.Identity()}
	for i := range g {
		g[i].T = [3]float64{0, 0, float64(i)}
		p[i].T = [3]float64{0, 0, float64(i)}
		if i > 0 {
			p[i].T[0] = 0.3
		}
	}
	// s = Σg·p/Σp·p = (1+4)/(0.09+1+0.09+4) = 5/5.18; errors per frame:
	// (0.3s, 0, s-1), (0.3s, 0, 2s-2); RMSE over the 3 frames.
	s := 5 / 5.18
	e1 := 0.09*s*s + (s-1)*(s-1)
	e2 := 0.09*s*s + (2*s-2)*(2*s-2)
	want := math.Sqrt((e1 + e2) / 3)
	a, err := SnippetATE(g, p, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !near(a.Mean, want) || a.Std != 0 || a.Snippets != 1 {
		t.Errorf("ATE %+v, want mean %.12g std 0 over 1 snippet", a, want)
	}
	// Two snippets with errors e and 0 give mean e/2 and std e/2.
	g = append(g, g[2])
	g[3].T[2] = 3
	p = append(p, p[2])
	p[3].T = [3]float64{0.3, 0, 3}
	a, err = SnippetATE(g, p, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !near(a.Mean, want/2) || !near(a.Std, want/2) || a.Snippets != 2 {
		t.Errorf("ATE %+v, want mean and std %.12g over 2", a, want/2)
	}
}

func TestPoseMetricErrors(t *testing.T) {
	gt := curve(6)
	bad := curve(6)
	bad[2].T[0] = math.Inf(1)
	if _, err := SnippetATE(gt, gt[:5], 5); !errors.Is(err, ErrMetricInput) {
		t.Errorf("length mismatch: %v", err)
	}
	if _, err := SnippetATE(gt[:4], gt[:4], 5); !errors.Is(err, ErrMetricInput) {
		t.Errorf("too short: %v", err)
	}
	if _, err := SnippetATE(gt, gt, 1); !errors.Is(err, ErrMetricInput) {
		t.Errorf("snippet 1: %v", err)
	}
	if _, err := SnippetATE(gt, bad, 5); !errors.Is(err, ErrMetricInput) {
		t.Errorf("inf pose: %v", err)
	}
	if _, err := TranslationDrift(gt, gt, []float64{100}, 1); !errors.Is(err, ErrMetricInput) {
		t.Errorf("segment longer than the path: %v", err)
	}
	if _, err := TranslationDrift(gt, gt, []float64{0}, 1); !errors.Is(err, ErrMetricInput) {
		t.Errorf("zero length: %v", err)
	}
	if _, err := TrajectoryScale(gt, gt[:1]); !errors.Is(err, ErrMetricInput) {
		t.Errorf("scale mismatch: %v", err)
	}
}

func TestTranslationDriftAndScale(t *testing.T) {
	gt := curve(20)
	pred := scaled(gt, 0.25, yawPose(-0.3, [3]float64{1, 2, 3}))
	s, err := TrajectoryScale(gt, pred)
	if err != nil {
		t.Fatal(err)
	}
	if !near(s, 4) {
		t.Errorf("scale %g, want 4", s)
	}
	d, err := TranslationDrift(gt, pred, []float64{2, 5}, s)
	if err != nil {
		t.Fatal(err)
	}
	if d.Percent > 1e-7 || d.Segments == 0 {
		t.Errorf("aligned drift %+v, want 0", d)
	}
	// Straight line 1 m a frame, prediction 10% short: over a 4 m segment
	// the endpoint error is 0.4 m = 10%, for every start that fits.
	g := make([]msgs.Pose, 8)
	p := make([]msgs.Pose, 8)
	for i := range g {
		g[i] = yawPose(0, [3]float64{0, 0, float64(i)})
		p[i] = yawPose(0, [3]float64{0, 0, 0.9 * float64(i)})
	}
	d, err = TranslationDrift(g, p, []float64{4}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !near(d.Percent, 10) || d.Segments != 4 {
		t.Errorf("drift %+v, want 10%% over 4 segments", d)
	}
}

// BenchmarkDepthMetrics: one 640x192 map, median-scaled (two sorts).
func BenchmarkDepthMetrics(b *testing.B) {
	n := 640 * 192
	gt := make([]float32, n)
	pred := make([]float32, n)
	for i := range gt {
		gt[i] = 1 + float32(i%797)/10
		pred[i] = 2 + float32(i%331)/7
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DepthMetrics(pred, gt, EvalOptions{MedianScaling: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mpix/s")
}
