package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/perception"
)

// runEval scores a checkpoint (or an untrained baseline) on a synthetic
// world with ground truth: Monodepth2's depth metrics and SfMLearner's ATE.
func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", "--model CKPT [--source URL] [flags]", stderr,
		"parallax eval --model stereo.ckpt --source 'synth://?seed=11&style=suburb&stereo=1'",
		"parallax eval --model stereo.ckpt --source mcap://drive.mcap --frames 100 --json",
		"parallax eval --model random --size small --width 320 --height 96")
	ckpt := fs.String("model", "", "checkpoint to evaluate; 'random' evaluates an untrained model of --size/--width/--height as a baseline")
	fs.deprecate("checkpoint", "model")
	source := fs.String("source", "synth://?seed=7&stereo=1", "drive with ground truth: synth://, mcap:// or kitti:// (the left view of a stereo rig)")
	frames := fs.Int("frames", 30, "number of consecutive frames to evaluate (from frame 0)")
	snippet := fs.Int("snippet", 5, "ATE snippet length in frames")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of the table")
	size := fs.String("size", perception.SizeSmall, "network size of the untrained baseline: small or default")
	width := fs.Int("width", 320, "network input width of the untrained baseline (a multiple of 32)")
	height := fs.Int("height", 96, "network input height of the untrained baseline (a multiple of 32)")
	minDepth := fs.Float64("min-depth", learner.DefaultMinDepth, "smallest true depth evaluated, metres")
	maxDepth := fs.Float64("max-depth", learner.DefaultMaxDepth, "largest true depth evaluated (predictions are clamped to it), metres")
	device := fs.String("device", "cpu", "torch device: cpu or cuda[:N]")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	set := fs.set()
	if !set["model"] {
		fmt.Fprintln(stderr, "eval: --model CKPT is required (--model random evaluates an untrained baseline)")
		return errUsage
	}
	if *ckpt == "random" {
		*ckpt = "" // an untrained model, asked for by name ('' is the old spelling)
	}
	dev, err := perception.ParseDevice(*device)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	threads := 2
	if runtime.NumCPU() <= 2 {
		threads = 1
	}
	w, err := perception.NewWorker(threads)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	defer w.Close()
	var m *perception.Model
	err = w.Do(func() (err error) {
		if *ckpt == "" {
			m, err = perception.NewModel(perception.DepthPose(*width, *height,
				perception.DepthConfig{Size: *size}, perception.PoseConfig{Size: *size}), dev)
			return err
		}
		m, _, err = perception.LoadModel(*ckpt, dev)
		return err
	})
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	defer w.Do(func() error { m.Close(); return nil })
	if *ckpt != "" {
		// A checkpoint defines its own architecture: a size given as well
		// must agree with it, or the user is evaluating something else than
		// they think.
		cfg := m.Config()
		var diffs []string
		if set["width"] && *width != cfg.Width {
			diffs = append(diffs, fmt.Sprintf("--width %d but the checkpoint's is %d", *width, cfg.Width))
		}
		if set["height"] && *height != cfg.Height {
			diffs = append(diffs, fmt.Sprintf("--height %d but the checkpoint's is %d", *height, cfg.Height))
		}
		if set["size"] && (m.Depth() == nil || m.Pose() == nil || *size != m.Depth().Config().Size || *size != m.Pose().Config().Size) {
			diffs = append(diffs, fmt.Sprintf("--size %s but the checkpoint's networks are %s", *size, netSizes(m)))
		}
		if len(diffs) > 0 {
			return fmt.Errorf("eval: checkpoint %s does not match: %s", *ckpt, strings.Join(diffs, "; "))
		}
	}
	drive, err := openDrive(*source)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	est := perception.NewEstimator(m, w)
	rep, err := learner.EvaluateDrive(ctx, est, drive, *source, learner.EvalConfig{
		Frames: *frames, Snippet: *snippet, MinDepth: *minDepth, MaxDepth: *maxDepth,
		Progress: func(done, total int) {
			fmt.Fprintf(stderr, "\reval: frame %d/%d", done, total)
			if done == total {
				fmt.Fprintln(stderr)
			}
		},
	})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr)
		}
		return fmt.Errorf("eval: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printEval(stdout, *ckpt, rep)
	return nil
}

// printEval prints the report in Monodepth2's layout: a header of the seven
// metric names and one "&"-separated row each (LaTeX-table ready), for the
// median-scaled (monocular) and the unscaled (metric, stereo) protocol.
func printEval(w io.Writer, ckpt string, r learner.Report) {
	if ckpt == "" {
		ckpt = "(untrained)"
	}
	fmt.Fprintf(w, "checkpoint %s on %s: %d frames, depth compared at %dx%d, true depth in (%g, %g) m\n",
		ckpt, r.Source, r.Frames, r.Width, r.Height, r.MinDepth, r.MaxDepth)
	fmt.Fprintf(w, "\n%-8s  %8s | %8s | %8s | %8s | %8s | %8s | %8s |\n", "", "abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")
	for _, row := range []struct {
		name string
		m    learner.Metrics
	}{{"mono", r.Mono}, {"metric", r.Metric}} {
		m := row.m
		fmt.Fprintf(w, "%-8s &%8.3f  &%8.3f  &%8.3f  &%8.3f  &%8.3f  &%8.3f  &%8.3f  \\\\\n", row.name, m.AbsRel, m.SqRel, m.RMSE, m.RMSELog, m.A1, m.A2, m.A3)
	}
	fmt.Fprintf(w, "\nmono: median scaling ratio %.3f, std %.3f (relative)\n", r.Mono.Scale, r.Mono.ScaleStd)
	fmt.Fprintf(w, "ATE (%d-frame snippets, %d): %.4f ± %.4f m\n", r.Snippet, r.ATE.Snippets, r.ATE.Mean, r.ATE.Std)
	fmt.Fprintf(w, "trajectory: %.2f m true path, pose scale %.3f, translation drift %.2f%% (unscaled) %.2f%% (scaled) over %d segments of %s m\n",
		r.PathLength, r.PoseScale, r.Drift.Percent, r.DriftScaled.Percent, r.Drift.Segments, lengths(r.DriftLengths))
}

func lengths(ls []float64) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = fmt.Sprintf("%.2f", l)
	}
	return strings.Join(s, "/")
}

// netSizes lists a model's depth and pose network sizes, "depth small, pose small".
func netSizes(m *perception.Model) string {
	var out []string
	if d := m.Depth(); d != nil {
		out = append(out, "depth "+d.Config().Size)
	}
	if p := m.Pose(); p != nil {
		out = append(out, "pose "+p.Config().Size)
	}
	return strings.Join(out, ", ")
}
