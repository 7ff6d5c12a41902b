package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/perception"
)

// trainOptions are runTrain's parsed flags.
type trainOptions struct {
	source, out, evalSource, net, device string
	initEncoder, objective               string
	mode                                 learner.Mode
	steps                                int64
	batch, width, height, frames         int
	evalEvery, evalFrames, saveEvery     int64
	threads                              int
	seed                                 uint64
	resume, force                        bool
	prior                                float64
	cfg                                  learner.TrainConfig
}

// runTrain trains a model self-supervised on a drive (the synthetic world
// today) and writes checkpoints with the optimizer state, resumable.
func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train", "--source SOURCE --mode mono|stereo|both --steps N -o CKPT [--resume] [flags]", stderr,
		"parallax train --source 'synth://?seed=3&stereo=1&width=320&height=96' --mode stereo --steps 2000 -o stereo.ckpt --eval-every 200",
		"parallax train --source mcap://drive.mcap --mode both --steps 5000 -o drive.ckpt --resume",
		"parallax train --steps 0 -o baseline.ckpt",
		"parallax train --objective unflow --source 'synth://?seed=3&width=128&height=64&movers=8&fps=10' --size 128x64 --lr 1e-3 --batch 2 --steps 600 -o flow.ckpt --eval-every 200")
	source := fs.String("source", "synth://?seed=7&stereo=1", "training drive: synth://, mcap:// or kitti:// (synth keys: seed, stereo, width, height, style, path, ...)")
	objective := fs.String("objective", "monodepth2", "what to train: monodepth2 (depth and pose nets, by --mode) or unflow (an optical flow net; held out on a world with movers by default)")
	mode := fs.String("mode", "stereo", "what to learn from: mono (previous/next frames), stereo (right view, metric), both")
	steps := fs.Int64("steps", 1000, "train until this many optimizer steps in total (a resumed run continues up to it; 0 writes the initial weights, a baseline)")
	out := fs.String("out", "", "checkpoint to write (model, optimizer state, step); required")
	fs.short("o", "out")
	resume := fs.Bool("resume", false, "continue from --out: weights, Adam state and step count")
	force := fs.Bool("force", false, "overwrite an existing --out instead of refusing")
	batch := fs.Int("batch", 4, "samples per step")
	lr := fs.Float64("lr", 1e-4, "Adam learning rate")
	lrDecaySteps := fs.Int64("lr-decay-steps", 0, "multiply the learning rate by --lr-decay every this many steps (0: constant)")
	lrDecay := fs.Float64("lr-decay", 0.1, "learning-rate decay factor")
	clip := fs.Float64("clip", 10, "clip the gradient's global norm to this (negative: off)")
	smooth := fs.Float64("smooth-weight", 1e-3, "weight of the edge-aware disparity smoothness (negative: off)")
	lrWeight := fs.Float64("lr-weight", 1, "weight of the stereo left-right disparity consistency (negative: off)")
	size := fs.String("size", "320x96", "network input WxH, multiples of 32 (frames are centre-cropped and resized to it)")
	net := fs.String("net", perception.SizeSmall, "network width: small or default")
	frames := fs.Int("frames", 200, "sample training frames from the first N frames of the source")
	seed := fs.Uint64("seed", 1, "seed of the initial weights and of the sample order (the same seed and step give the same batch, resumed or not)")
	prior := fs.Float64("forward-prior", -1, "pose net's initial forward motion per frame, metres (negative: the synthetic world's speed/FPS, else 0)")
	evalEvery := fs.Int64("eval-every", 0, "evaluate on --eval-source every K steps and print a learning-curve row (0: off)")
	evalSource := fs.String("eval-source", "synth://?seed=11&style=suburb&stereo=1", "held-out source with ground truth for --eval-every (unflow: the suburb world with 8 movers at the network size)")
	evalFrames := fs.Int("eval-frames", 30, "frames evaluated by --eval-every")
	saveEvery := fs.Int64("save-every", 250, "write the checkpoint every this many steps (0: only at the end)")
	initEncoder := fs.String("init-encoder", "", "start the depth net's encoder from this checkpoint's encoder (parallax pretrain's, or another depth checkpoint's); decoder and pose net start fresh")
	device := fs.String("device", "cpu", "torch device: cpu or cuda[:N]")
	threads := fs.Int("threads", 2, "torch threads")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	bad := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "train: "+format+"\n", a...)
		fmt.Fprintln(stderr, "Run 'parallax train --help' for its flags and examples.")
		return errUsage
	}
	o := trainOptions{source: *source, out: *out, evalSource: *evalSource, net: *net, device: *device,
		steps: *steps, batch: *batch, frames: *frames, evalEvery: *evalEvery, evalFrames: int64(*evalFrames),
		saveEvery: *saveEvery, threads: *threads, seed: *seed, resume: *resume, force: *force, prior: *prior,
		initEncoder: *initEncoder, objective: *objective}
	var err error
	if o.mode, err = learner.ParseMode(*mode); err != nil {
		return bad("--mode %q: want mono, stereo or both", *mode)
	}
	if o.out == "" {
		return bad("--out is required")
	}
	if o.steps < 0 {
		return bad("--steps %d: want 0 (write the initial weights) or more", o.steps)
	}
	if o.batch < 1 || o.batch > 256 {
		return bad("--batch %d: want 1..256", o.batch)
	}
	if o.width, o.height, err = parseSize(*size); err != nil {
		return bad("--size %q: %v", *size, err)
	}
	if o.frames < 3 {
		return bad("--frames %d: want at least 3", o.frames)
	}
	if o.evalEvery < 0 || o.saveEvery < 0 {
		return bad("--eval-every %d / --save-every %d: want >= 0", o.evalEvery, o.saveEvery)
	}
	if o.evalFrames < 2 {
		return bad("--eval-frames %d: want at least 2", o.evalFrames)
	}
	if o.threads < 1 || o.threads > 256 {
		return bad("--threads %d: want 1..256", o.threads)
	}
	if *net != perception.SizeSmall && *net != perception.SizeDefault {
		return bad("--net %q: want small or default", *net)
	}
	if math.IsNaN(o.prior) || o.prior > 10 {
		return bad("--forward-prior %v: want <= 10 m", o.prior)
	}
	obj := learner.Monodepth2{Mode: o.mode, SmoothWeight: *smooth, LRWeight: *lrWeight}
	o.cfg = learner.TrainConfig{LR: *lr, LRDecaySteps: *lrDecaySteps, LRDecay: *lrDecay, ClipNorm: *clip}
	// 0 means "off" on the command line; in the configs it means the default.
	for _, p := range []*float64{&o.cfg.ClipNorm, &obj.SmoothWeight, &obj.LRWeight} {
		if *p == 0 {
			*p = -1
		}
	}
	o.cfg.Objective = obj
	set := fs.set()
	switch o.objective {
	case "monodepth2":
	case "unflow":
		for _, f := range []string{"mode", "smooth-weight", "lr-weight", "forward-prior", "init-encoder"} {
			if set[f] {
				return bad("--%s is for --objective monodepth2 (depth and pose)", f)
			}
		}
		o.cfg.Objective = learner.UnFlow{}
		if !set["eval-source"] {
			o.evalSource = "" // the flow default, at the network's size (trainLoop)
		}
	default:
		return bad("--objective %q: want monodepth2 or unflow", o.objective)
	}
	if o.resume && (set["size"] || set["net"]) {
		return bad("--size and --net come from the checkpoint when resuming")
	}
	if o.resume && o.initEncoder != "" {
		return bad("--init-encoder starts a new run; a resumed one has its encoder in --out")
	}
	if err := trainLoop(ctx, o, stdout, stderr); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// parseSize reads "WxH".
func parseSize(s string) (w, h int, err error) {
	a, b, ok := strings.Cut(strings.ToLower(s), "x")
	if !ok {
		return 0, 0, errors.New("want WxH, e.g. 320x96")
	}
	if w, err = strconv.Atoi(a); err != nil {
		return 0, 0, fmt.Errorf("width: %w", err)
	}
	if h, err = strconv.Atoi(b); err != nil {
		return 0, 0, fmt.Errorf("height: %w", err)
	}
	if w < perception.MinInputSize || h < perception.MinInputSize || w%32 != 0 || h%32 != 0 || w > 8192 || h > 8192 {
		return 0, 0, fmt.Errorf("%dx%d: want multiples of 32, %d..8192", w, h, perception.MinInputSize)
	}
	return w, h, nil
}

func trainLoop(ctx context.Context, o trainOptions, stdout, stderr io.Writer) error {
	drive, err := openDrive(o.source)
	if err != nil {
		return err
	}
	if n := drive.Len(); n > 0 && n < o.frames {
		o.frames = n
	}
	if needs := o.cfg.Objective.Needs(); needs.Right && !drive.Stereo() {
		return fmt.Errorf("%w %q: mode %s needs a stereo source (synth: add stereo=1)", errSource, o.source, o.mode)
	}
	// Every frame of the window is used many times: keep them all.
	if drive, err = camera.CacheDrive(drive, o.frames); err != nil {
		return err
	}
	var evalDrive camera.Drive
	if o.evalEvery > 0 && o.evalSource != "" {
		if evalDrive, err = openDrive(o.evalSource); err != nil {
			return fmt.Errorf("--eval-source: %w", err)
		}
	}
	if _, err := os.Stat(o.out); err == nil && !o.resume && !o.force {
		return fmt.Errorf("%s exists: pass --resume to continue it or --force to overwrite it", o.out)
	} else if err != nil && o.resume {
		return fmt.Errorf("--resume: %w", err)
	}
	dev, err := perception.ParseDevice(o.device)
	if err != nil {
		return err
	}
	w, err := perception.NewWorker(o.threads)
	if err != nil {
		return err
	}
	defer w.Close()

	var tr *learner.Trainer
	err = w.Do(func() error {
		var m *perception.Model
		if o.resume {
			c, err := perception.ReadCheckpoint(o.out)
			if err != nil {
				return err
			}
			if m, err = perception.NewModel(c.Header.Arch, dev); err != nil {
				return err
			}
			if tr, err = learner.NewTrainer(m, o.cfg); err != nil {
				m.Close()
				return err
			}
			if err = tr.Resume(c); err != nil {
				tr.Close()
				m.Close()
				return fmt.Errorf("%s: %w", o.out, err)
			}
			return nil
		}
		prior := o.prior
		if prior < 0 {
			prior = 0
			if o.cfg.Objective.Needs().Temporal() {
				prior = sourcePrior(o.source)
			}
		}
		// The seed fixes the initial weights too: the same command trains
		// the same network (on one device and thread count).
		perception.ManualSeed(int64(o.seed))
		mc := perception.DepthPose(o.width, o.height, perception.DepthConfig{Size: o.net}, perception.PoseConfig{Size: o.net, ForwardPrior: prior})
		if o.objective == "unflow" {
			mc = perception.ModelConfig{Width: o.width, Height: o.height, Nets: map[string]perception.NetConfig{perception.NetFlow: perception.FlowConfig{Size: o.net}}}
		}
		m, err := perception.NewModel(mc, dev)
		if err != nil {
			return err
		}
		if o.initEncoder != "" {
			if err := loadEncoder(m, o.initEncoder, stderr); err != nil {
				m.Close()
				return err
			}
		}
		if tr, err = learner.NewTrainer(m, o.cfg); err != nil {
			m.Close()
		}
		return err
	})
	if err != nil {
		return err
	}
	defer w.Do(func() error { m := tr.Model(); tr.Close(); m.Close(); return nil })

	meta := func() perception.CheckpointMeta {
		return perception.CheckpointMeta{Values: map[string]string{"source": o.source, "batch": strconv.Itoa(o.batch), "objective": o.objective}}
	}
	save := func() error {
		return w.Do(func() error { return tr.Save(o.out, meta()) })
	}
	var est *perception.Estimator
	var evaluate func(loss float64) error
	switch {
	case o.evalEvery == 0:
	case o.objective == "unflow":
		if evalDrive == nil {
			mc := tr.Model().Config()
			src := fmt.Sprintf("synth://?seed=11&style=suburb&movers=8&fps=10&width=%d&height=%d", mc.Width, mc.Height)
			if evalDrive, err = openDrive(src); err != nil {
				return fmt.Errorf("held-out flow world: %w", err)
			}
		}
		evaluate = func(loss float64) error { return evalFlowRow(ctx, stdout, tr, w, evalDrive, int(o.evalFrames), loss) }
		fmt.Fprintf(stdout, "%6s %9s %9s %9s %10s %9s %9s\n", "step", "loss", "epe_px", "fl_all", "epe_moving", "zero_epe", "skipped")
	default:
		est = perception.NewEstimator(tr.Model(), w)
		evaluate = func(loss float64) error { return evalDepthRow(ctx, stdout, tr, est, evalDrive, o, loss) }
		fmt.Fprintf(stdout, "%6s %9s %9s %9s %9s %9s %7s %9s %9s\n", "step", "loss", "abs_rel", "abs_rel_m", "a1_m", "scale", "ate_m", "posescale", "skipped")
	}
	if evaluate != nil && tr.Steps() == 0 {
		if err := evaluate(math.NaN()); err != nil {
			return err
		}
	}
	loop := &fitLoop{name: "train", out: o.out, steps: o.steps, saveEvery: o.saveEvery, evalEvery: o.evalEvery, save: save, evaluate: evaluate,
		fit: &learner.Fit{Trainer: tr, Worker: w, Drive: drive, Frames: o.frames, Batch: o.batch, Seed: o.seed}}
	return loop.run(ctx, stderr)
}

// evalDepthRow prints a depth and pose learning-curve row.
func evalDepthRow(ctx context.Context, stdout io.Writer, tr *learner.Trainer, est *perception.Estimator, evalDrive camera.Drive, o trainOptions, loss float64) error {
	rep, err := learner.EvaluateDrive(ctx, est, evalDrive, o.evalSource, learner.EvalConfig{Frames: int(o.evalFrames), Snippet: int(min(5, o.evalFrames))})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%6d %9.4f %9.4f %9.4f %9.4f %9.3f %7.4f %9.3f %9d\n", tr.Steps(), loss,
		rep.Mono.AbsRel, rep.Metric.AbsRel, rep.Metric.A1, rep.Mono.Scale, rep.ATE.Mean, rep.PoseScale, tr.SkippedSteps())
	return nil
}

// evalFlowRow prints an optical flow learning-curve row: held-out EPE and
// Fl-all over pairs frame pairs, EPE on moving pixels and zero flow's EPE.
func evalFlowRow(ctx context.Context, stdout io.Writer, tr *learner.Trainer, w *perception.Worker, d camera.Drive, pairs int, loss float64) error {
	rep, err := learner.EvaluateFlow(ctx, w, tr.Model(), perception.NetFlow, d, pairs)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%6d %9.4f %9.3f %9.3f %10.3f %9.3f %9d\n", tr.Steps(), loss, rep.All.EPE, rep.All.Fl, rep.Moving.EPE, rep.ZeroAll.EPE, tr.SkippedSteps())
	return nil
}

// loadEncoder moves the encoder weights of the checkpoint at path into
// m's depth net (perception.Model.LoadEncoder) and says so on stderr.
func loadEncoder(m *perception.Model, path string, stderr io.Writer) error {
	c, err := perception.ReadCheckpoint(path)
	if err != nil {
		return fmt.Errorf("--init-encoder: %w", err)
	}
	src, err := m.LoadEncoder(c, perception.NetDepth)
	if err != nil {
		return fmt.Errorf("--init-encoder %s: %w", path, err)
	}
	how := c.Header.Meta.Values["method"]
	if how == "" {
		how = c.Header.Meta.Values["objective"]
	}
	fmt.Fprintf(stderr, "train: depth encoder from %s (its %s, %s, %d steps)\n", path, src, how, c.Header.Meta.Steps)
	return nil
}

// sourcePrior is the forward motion between frames a source knows of (a
// synthetic world's speed / FPS), 0 when unknown: the pose network's
// initial forward-motion prior for monocular training.
func sourcePrior(source string) float64 {
	cfg, err := synth.ParseURL(source)
	if err != nil {
		return 0
	}
	w, err := synth.NewWorld(cfg)
	if err != nil {
		return 0
	}
	c := w.Config()
	return c.Speed / c.FPS
}
