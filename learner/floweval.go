package learner

import (
	"context"
	"fmt"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/perception"
)

// FlowReport is a flow network's error over a drive's frame pairs against
// the drive's ground truth, on all pixels and on those that see a moving
// object, with zero flow's on the same pixels as the baseline.
type FlowReport struct {
	All, Moving         FlowMetrics
	ZeroAll, ZeroMoving FlowMetrics
	// Pairs is the number of frame pairs scored.
	Pairs int
}

// EvaluateFlow runs m's flow network net on the pairs (2i, 2i+1) of d for
// i < pairs, on w, and scores each against the first frame's truth flow.
// The drive must carry flow truth at the model's input size (a synthetic
// world with movers=N or motion_truth=1, rendered at that size).
func EvaluateFlow(ctx context.Context, w *perception.Worker, m *perception.Model, net string, d camera.Drive, pairs int) (FlowReport, error) {
	var rep FlowReport
	if pairs < 1 {
		return rep, fmt.Errorf("%w: flow evaluation over %d pairs (want at least 1)", ErrEvalOptions, pairs)
	}
	if n := d.Len(); n > 0 && 2*pairs > n {
		pairs = n / 2
	}
	cfg := m.Config()
	var acc [4]struct {
		epe, fl float64
		n       int
	}
	for i := 0; i < pairs; i++ {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		a, _, err := d.Frame(2 * i)
		if err != nil {
			return rep, err
		}
		b, _, err := d.Frame(2*i + 1)
		if err != nil {
			return rep, err
		}
		if a.Truth == nil || len(a.Truth.Flow) == 0 {
			return rep, fmt.Errorf("%w: frame %d has no optical flow truth (a synthetic world needs movers=N or motion_truth=1)", ErrEvalOptions, 2*i)
		}
		if a.Width != cfg.Width || a.Height != cfg.Height {
			return rep, fmt.Errorf("%w: frames are %dx%d and the flow network's input %dx%d: flow truth is compared at the network's size (render the source at it)",
				ErrEvalOptions, a.Width, a.Height, cfg.Width, cfg.Height)
		}
		var f perception.FlowField
		if err := w.Do(func() (err error) { f, err = perception.EstimateFlow(m, net, a, b); return }); err != nil {
			return rep, err
		}
		zero := make([]float32, len(f.Flow))
		for k, c := range []struct {
			pred []float32
			mask []uint8
		}{{f.Flow, nil}, {f.Flow, a.Truth.Moving}, {zero, nil}, {zero, a.Truth.Moving}} {
			if c.mask != nil && len(c.mask) == 0 {
				continue // no mask: a world without movers
			}
			r, err := FlowError(c.pred, a.Truth.Flow, c.mask)
			if err != nil {
				return rep, err
			}
			acc[k].epe += r.EPE * float64(r.Pixels)
			acc[k].fl += r.Fl * float64(r.Pixels)
			acc[k].n += r.Pixels
		}
		rep.Pairs++
	}
	out := [4]*FlowMetrics{&rep.All, &rep.Moving, &rep.ZeroAll, &rep.ZeroMoving}
	for k := range acc {
		if acc[k].n > 0 {
			*out[k] = FlowMetrics{EPE: acc[k].epe / float64(acc[k].n), Fl: acc[k].fl / float64(acc[k].n), Pixels: acc[k].n}
		}
	}
	return rep, nil
}
