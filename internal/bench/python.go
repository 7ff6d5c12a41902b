package bench

import (
	"context"
	"fmt"
	"math"
	"os"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/internal/python"
	"github.com/parallax-robotics/parallax/perception"
)

// PythonThreads are the intra-op thread counts the python phase compares
// on: the performance goal (Go/Python <= 1.02) is set for 1 and 2 threads.
var PythonThreads = []int{1, 2}

// pythonRounds and pythonIters size the python phase: each round times Go,
// then PyTorch, then Go again (iters forward passes each, the median
// taken), so both sides see the same machine; the best round of each side
// estimates its uncontended speed on a shared machine.
const (
	pythonRounds = 3
	pythonIters  = 20
)

// PythonResult is one thread count of the python phase: the same depth
// network with the same weights and input, in Go and in PyTorch on the
// same CPU.
type PythonResult struct {
	Width      int     `json:"width"`
	Height     int     `json:"height"`
	Threads    int     `json:"threads"`
	GoMs       float64 `json:"go_ms_per_frame"`
	PythonMs   float64 `json:"python_ms_per_frame"`
	Ratio      float64 `json:"go_over_python"`
	MaxAbsDiff float64 `json:"max_abs_diff"`
	Torch      string  `json:"python_torch"`
}

// comparePython compares Go with PyTorch (the embedded reference script) at w x h
// on the CPU for each of PythonThreads. The outputs must agree to 1e-4,
// or the timing compares different computations.
func comparePython(ctx context.Context, cfg Config, w, h int) ([]PythonResult, error) {
	py := cfg.Python
	if py == "" {
		var err error
		if py, err = python.Torch(); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "parallax-bench-python-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var out []PythonResult
	for _, threads := range PythonThreads {
		r, err := pythonAt(ctx, cfg, py, dir, w, h, threads)
		if err != nil {
			return out, fmt.Errorf("%d threads: %w", threads, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func pythonAt(ctx context.Context, cfg Config, py, dir string, w, h, threads int) (PythonResult, error) {
	wk, err := perception.NewWorker(threads)
	if err != nil {
		return PythonResult{}, err
	}
	defer wk.Close()
	var m *perception.Model
	var x *ts.Tensor
	err = wk.Do(func() (err error) {
		if m, err = perception.NewModel(perception.DepthPose(w, h, perception.DepthConfig{Size: cfg.ModelSize}, perception.PoseConfig{Size: cfg.ModelSize}), gotch.CPU); err != nil {
			return err
		}
		if x, err = ts.Rand([]int64{1, 3, int64(h), int64(w)}, gotch.Float, gotch.CPU); err != nil {
			return err
		}
		return perception.ExportDepthReference(dir, m, x)
	})
	defer wk.Do(func() error {
		if x != nil {
			x.MustDrop()
		}
		if m != nil {
			m.Close()
		}
		return nil
	})
	if err != nil {
		return PythonResult{}, err
	}
	r := PythonResult{Width: w, Height: h, Threads: threads, GoMs: math.Inf(1), PythonMs: math.Inf(1)}
	for i := 0; i < pythonRounds; i++ {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		g1, err := perception.TimeDepthForward(wk, m, x, pythonIters)
		if err != nil {
			return r, err
		}
		ref, err := perception.RunDepthReference(ctx, py, dir, threads, pythonIters)
		if err != nil {
			return r, err
		}
		g2, err := perception.TimeDepthForward(wk, m, x, pythonIters)
		if err != nil {
			return r, err
		}
		for s, d := range ref.MaxAbsDiff {
			if !(d <= 1e-4) {
				return r, fmt.Errorf("scale %d: max |python - go| = %g: the two sides compute different things", s, d)
			}
			r.MaxAbsDiff = math.Max(r.MaxAbsDiff, d)
		}
		r.Torch = ref.Torch
		r.GoMs = math.Min(r.GoMs, math.Min(g1, g2))
		r.PythonMs = math.Min(r.PythonMs, ref.MsPerFrame)
	}
	r.Ratio = r.GoMs / r.PythonMs
	return r, nil
}
