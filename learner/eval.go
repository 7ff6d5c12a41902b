package learner

import (
	"context"
	"fmt"
	"math"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
)

// EvalConfig configures Evaluate. Zero fields take the documented defaults.
type EvalConfig struct {
	// Frames is the number of consecutive frames evaluated, from frame 0.
	// It defaults to 30.
	Frames int
	// MinDepth and MaxDepth bound the ground truth evaluated (see
	// EvalOptions); they default to 1e-3 and 80 m.
	MinDepth, MaxDepth float64
	// Snippet is the ATE snippet length; it defaults to SfMLearner's 5.
	Snippet int
	// DriftLengths are the segment lengths in metres of ground-truth path
	// for TranslationDrift. They default to 1/4, 1/2 and 3/4 of the
	// evaluated path (KITTI's 100..800 m do not fit a short synthetic drive);
	// lengths longer than the path are skipped.
	DriftLengths []float64
	// Progress, when set, is called after each frame with the number of
	// frames done and the total.
	Progress func(done, total int)
}

// Report is the outcome of Evaluate. Depth metrics are reported both ways,
// whatever the model was trained with: Mono with per-image median scaling
// (the numbers to quote for a monocular model) and Metric without (the
// numbers for a stereo-trained model, whose depth is in metres).
type Report struct {
	// Source is the evaluated source URL.
	Source string `json:"source"`
	// Frames is the number of frames evaluated; Width and Height the depth
	// maps' size (the model input size) at which depth is compared.
	Frames int `json:"frames"`
	Width  int `json:"width"`
	Height int `json:"height"`
	// MinDepth and MaxDepth are the evaluated range of true depth, metres.
	MinDepth float64 `json:"min_depth"`
	MaxDepth float64 `json:"max_depth"`
	// Mono is median-scaled, Metric unscaled.
	Mono   Metrics `json:"mono"`
	Metric Metrics `json:"metric"`
	// ATE is SnippetATE over Snippet-frame snippets of the chained
	// Estimator.Pose trajectory (scale-aligned per snippet).
	ATE ATE `json:"ate"`
	// Snippet is the ATE snippet length.
	Snippet int `json:"snippet"`
	// PoseScale is TrajectoryScale of the whole chained trajectory: how
	// much the predicted translation must be multiplied by to fit the
	// ground truth (1 for a perfectly metric network).
	PoseScale float64 `json:"pose_scale"`
	// Drift is TranslationDrift at the network's own scale (meaningful for
	// metric models); DriftScaled after multiplying by PoseScale (for
	// monocular models).
	Drift       Drift `json:"drift"`
	DriftScaled Drift `json:"drift_scaled"`
	// DriftLengths are the segment lengths used, in metres.
	DriftLengths []float64 `json:"drift_lengths"`
	// PathLength is the ground-truth path length of the evaluated frames.
	PathLength float64 `json:"path_length"`
}

// Evaluate runs est over the first Frames frames of source (a synth://
// URL, see synth.ParseURL; the left view of a stereo world; EvaluateDrive
// takes any Drive) and scores its
// depth against the frames' ground truth and its poses, chained over
// consecutive frames, against the true trajectory. Ground truth is sampled
// (nearest neighbour) at the source pixel each depth-map pixel centre comes
// from through the Estimator's centre crop.
func Evaluate(ctx context.Context, est *perception.Estimator, source string, cfg EvalConfig) (Report, error) {
	d, err := synthSource(source)
	if err != nil {
		return Report{}, err
	}
	return EvaluateDrive(ctx, est, d, source, cfg)
}

// EvaluateDrive is Evaluate on any Drive whose frames carry ground truth
// (depth and pose): the first Frames frames of its left view. name is
// recorded as the report's Source.
func EvaluateDrive(ctx context.Context, est *perception.Estimator, d camera.Drive, name string, cfg EvalConfig) (Report, error) {
	if est == nil {
		return Report{}, fmt.Errorf("%w: nil estimator", ErrEvalOptions)
	}
	depth := func(f *msgs.Frame) (msgs.DepthMap, error) {
		d, err := est.Depth(f)
		if err != nil {
			return msgs.DepthMap{}, err
		}
		return d[0], nil
	}
	return evaluateDrive(ctx, depth, est.Pose, d, name, cfg)
}

// evaluate is Evaluate with the networks as functions, so a test can feed
// ground truth through the same pipeline.
func evaluate(ctx context.Context, depth func(*msgs.Frame) (msgs.DepthMap, error), pose func(a, b *msgs.Frame) (msgs.Pose, error), source string, cfg EvalConfig) (Report, error) {
	d, err := synthSource(source)
	if err != nil {
		return Report{}, err
	}
	return evaluateDrive(ctx, depth, pose, d, source, cfg)
}

func evaluateDrive(ctx context.Context, depth func(*msgs.Frame) (msgs.DepthMap, error), pose func(a, b *msgs.Frame) (msgs.Pose, error), d camera.Drive, source string, cfg EvalConfig) (Report, error) {
	if d == nil {
		return Report{}, fmt.Errorf("%w: nil drive", ErrEvalSource)
	}
	if cfg.Frames == 0 {
		cfg.Frames = 30
	}
	if cfg.Snippet == 0 {
		cfg.Snippet = 5
	}
	if cfg.Frames < 2 || cfg.Frames > 1e6 {
		return Report{}, fmt.Errorf("%w: %d frames (want 2..1000000)", ErrEvalOptions, cfg.Frames)
	}
	if cfg.Snippet < 2 || cfg.Snippet > cfg.Frames {
		return Report{}, fmt.Errorf("%w: snippet of %d for %d frames (want 2..frames)", ErrEvalOptions, cfg.Snippet, cfg.Frames)
	}
	opts, err := EvalOptions{MinDepth: cfg.MinDepth, MaxDepth: cfg.MaxDepth}.fill()
	if err != nil {
		return Report{}, err
	}
	if n := d.Len(); n > 0 && n < cfg.Frames {
		return Report{}, fmt.Errorf("%w: %d frames asked of a %d-frame drive", ErrEvalOptions, cfg.Frames, n)
	}
	rep := Report{Source: source, Frames: cfg.Frames, Snippet: cfg.Snippet, MinDepth: opts.MinDepth, MaxDepth: opts.MaxDepth}
	var mono, metric MetricsAccumulator
	gt := make([]msgs.Pose, 0, cfg.Frames)
	pred := make([]msgs.Pose, 0, cfg.Frames)
	var prev *msgs.Frame
	for i := range cfg.Frames {
		if err := ctx.Err(); err != nil {
			return Report{}, err
		}
		f, _, err := d.Frame(i)
		if err != nil {
			return Report{}, fmt.Errorf("%w: frame %d: %w", ErrEvalSource, i, err)
		}
		if f.Truth == nil {
			return Report{}, fmt.Errorf("%w: frame %d has no ground truth", ErrEvalSource, i)
		}
		d, err := depth(f)
		if err != nil {
			return Report{}, fmt.Errorf("learner: evaluate frame %d: %w", i, err)
		}
		g, err := GroundTruthDepth(f, d.Width, d.Height)
		if err != nil {
			return Report{}, err
		}
		rep.Width, rep.Height = d.Width, d.Height
		for _, a := range []struct {
			acc    *MetricsAccumulator
			median bool
		}{{&mono, true}, {&metric, false}} {
			o := opts
			o.MedianScaling = a.median
			m, err := DepthMetrics(d.Depth, g, o)
			if err != nil {
				return Report{}, fmt.Errorf("learner: evaluate frame %d: %w", i, err)
			}
			a.acc.Add(m)
		}
		gt = append(gt, f.Truth.Pose)
		if prev == nil {
			pred = append(pred, msgs.Identity())
		} else {
			rel, err := pose(prev, f)
			if err != nil {
				return Report{}, fmt.Errorf("learner: evaluate pose %d->%d: %w", i-1, i, err)
			}
			pred = append(pred, pred[len(pred)-1].Compose(rel))
		}
		prev = f
		if cfg.Progress != nil {
			cfg.Progress(i+1, cfg.Frames)
		}
	}
	if rep.Mono, err = mono.Result(); err != nil {
		return Report{}, err
	}
	if rep.Metric, err = metric.Result(); err != nil {
		return Report{}, err
	}
	if rep.ATE, err = SnippetATE(gt, pred, cfg.Snippet); err != nil {
		return Report{}, err
	}
	if rep.PoseScale, err = TrajectoryScale(gt, pred); err != nil {
		return Report{}, err
	}
	for i := 1; i < len(gt); i++ {
		a, b := gt[i-1].T, gt[i].T
		rep.PathLength += math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
	}
	rep.DriftLengths = cfg.DriftLengths
	if len(rep.DriftLengths) == 0 {
		rep.DriftLengths = []float64{rep.PathLength / 4, rep.PathLength / 2, rep.PathLength * 3 / 4}
	}
	if rep.PathLength > 0 {
		if rep.Drift, err = TranslationDrift(gt, pred, rep.DriftLengths, 1); err != nil {
			return Report{}, err
		}
		if rep.DriftScaled, err = TranslationDrift(gt, pred, rep.DriftLengths, rep.PoseScale); err != nil {
			return Report{}, err
		}
	}
	return rep, nil
}

// GroundTruthDepth returns f's true depth at w x h, the size of a depth map
// the Estimator made from f: each map pixel takes the truth at the source
// pixel its centre maps to through the centred crop with the map's aspect
// ratio (perception's cropFor) and the resize (nearest neighbour, no
// averaging, so depth edges stay sharp and 0 = unknown stays 0).
func GroundTruthDepth(f *msgs.Frame, w, h int) ([]float32, error) {
	if f == nil || f.Truth == nil {
		return nil, fmt.Errorf("%w: frame without ground truth", ErrEvalSource)
	}
	if f.Width < 1 || f.Height < 1 || len(f.Truth.Depth) != f.Width*f.Height {
		return nil, fmt.Errorf("%w: %dx%d frame with %d true depths", ErrEvalSource, f.Width, f.Height, len(f.Truth.Depth))
	}
	if w < 1 || h < 1 {
		return nil, fmt.Errorf("%w: depth map %dx%d", ErrMetricInput, w, h)
	}
	x0, y0, cw, ch := perception.CropFor(f.Width, f.Height, w, h)
	out := make([]float32, w*h)
	for y := range h {
		sy := y0 + int((float64(y)+0.5)*float64(ch)/float64(h))
		for x := range w {
			sx := x0 + int((float64(x)+0.5)*float64(cw)/float64(w))
			out[y*w+x] = f.Truth.Depth[sy*f.Width+sx]
		}
	}
	return out, nil
}

// synthSource is the Drive of a synth:// URL, its errors ErrEvalSource.
func synthSource(source string) (camera.Drive, error) {
	cfg, err := synth.ParseURL(source)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEvalSource, err)
	}
	d, err := synth.NewDrive(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEvalSource, err)
	}
	return d, nil
}
