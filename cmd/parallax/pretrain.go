package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/perception"
)

// pretrainOptions are runPretrain's parsed flags.
type pretrainOptions struct {
	source, out, evalSource, net, device, method string
	steps                                        int64
	batch, width, height, frames, evalFrames     int
	evalEvery, saveEvery                         int64
	threads                                      int
	seed                                         uint64
	resume, force                                bool
	pretext                                      learner.PretextOptions
	lr, clip                                     float64
}

// runPretrain pre-trains the depth network's encoder on unlabeled frames
// with a pretext or contrastive method and writes a resumable checkpoint
// whose encoder `train --init-encoder` and a launch file's
// model.encoder_init load into a depth net.
func runPretrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("pretrain", "--source SOURCE --method "+strings.Join(learner.PretextMethods(), "|")+" --steps N -o CKPT [--resume] [flags]", stderr,
		"parallax pretrain --source 'synth://?seed=3&width=192&height=64' --method simclr --steps 1000 -o simclr.ckpt --eval-every 100",
		"parallax pretrain --source mcap://drive.mcap --method barlow --frames 5000 --steps 20000 -o drive-barlow.ckpt --resume",
		"parallax train --source 'synth://?seed=11&style=suburb&stereo=1' --init-encoder simclr.ckpt --size 192x64 --steps 200 -o depth.ckpt")
	source := fs.String("source", "synth://?seed=3", "unlabeled drive: synth://, mcap:// or kitti:// (only the left camera's frames are used)")
	method := fs.String("method", learner.MethodSimCLR, "pre-training method: "+strings.Join(learner.PretextMethods(), ", "))
	steps := fs.Int64("steps", 1000, "pre-train until this many optimizer steps in total (a resumed run continues up to it; 0 writes the initial weights)")
	out := fs.String("out", "", "checkpoint to write (encoder, heads, optimizer and method state, step); required")
	fs.short("o", "out")
	resume := fs.Bool("resume", false, "continue from --out: weights, Adam state, the method's state (MoCo's queue) and step count")
	force := fs.Bool("force", false, "overwrite an existing --out instead of refusing")
	batch := fs.Int("batch", 16, "frames per step (the contrastive methods' negatives are the batch's other frames)")
	lr := fs.Float64("lr", 3e-4, "Adam learning rate")
	clip := fs.Float64("clip", 10, "clip the gradient's global norm to this (negative: off)")
	size := fs.String("size", "192x64", "network input WxH, multiples of 32 (use the depth training's size)")
	net := fs.String("net", perception.SizeSmall, "encoder width: small or default (use the depth training's --net)")
	frames := fs.Int("frames", 600, "sample training frames from the first N frames of the source")
	seed := fs.Uint64("seed", 1, "seed of the initial weights, the sample order and the method's random draws")
	temperature := fs.Float64("temperature", 0, "simclr, moco, dense: InfoNCE temperature (0: the method's default)")
	queue := fs.Int("queue", 0, "moco: number of queued keys (0: the default)")
	momentum := fs.Float64("momentum", 0, "moco: key-encoder momentum m in theta_k = m theta_k + (1-m) theta_q (0: the default)")
	lambda := fs.Float64("lambda", 0, "barlow: weight of the off-diagonal (redundancy) term (0: the default)")
	evalEvery := fs.Int64("eval-every", 0, "every K steps print the pretext loss on fixed frames of --eval-source: the held-out curve (0: off)")
	evalSource := fs.String("eval-source", "synth://?seed=11&style=suburb", "held-out drive for --eval-every")
	evalFrames := fs.Int("eval-frames", 16, "frames of --eval-source in the held-out batch (spread over its first 300 frames)")
	saveEvery := fs.Int64("save-every", 250, "write the checkpoint every this many steps (0: only at the end)")
	device := fs.String("device", "cpu", "torch device: cpu or cuda[:N]")
	threads := fs.Int("threads", 2, "torch threads")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	bad := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "pretrain: "+format+"\n", a...)
		fmt.Fprintln(stderr, "Run 'parallax pretrain --help' for its flags and examples.")
		return errUsage
	}
	o := pretrainOptions{source: *source, out: *out, evalSource: *evalSource, net: *net, device: *device, method: *method,
		steps: *steps, batch: *batch, frames: *frames, evalFrames: *evalFrames, evalEvery: *evalEvery,
		saveEvery: *saveEvery, threads: *threads, seed: *seed, resume: *resume, force: *force, lr: *lr, clip: *clip,
		pretext: learner.PretextOptions{Seed: *seed, Temperature: *temperature, Queue: *queue, Momentum: *momentum, Lambda: *lambda}}
	var err error
	if o.out == "" {
		return bad("--out is required")
	}
	if o.steps < 0 {
		return bad("--steps %d: want 0 (write the initial weights) or more", o.steps)
	}
	if o.batch < 2 || o.batch > 1024 {
		return bad("--batch %d: want 2..1024", o.batch)
	}
	if o.width, o.height, err = parseSize(*size); err != nil {
		return bad("--size %q: %v", *size, err)
	}
	if o.frames < 2 {
		return bad("--frames %d: want at least 2", o.frames)
	}
	if o.evalEvery < 0 || o.saveEvery < 0 {
		return bad("--eval-every %d / --save-every %d: want >= 0", o.evalEvery, o.saveEvery)
	}
	if o.evalFrames < 2 || o.evalFrames > 256 {
		return bad("--eval-frames %d: want 2..256", o.evalFrames)
	}
	if o.threads < 1 || o.threads > 256 {
		return bad("--threads %d: want 1..256", o.threads)
	}
	if *net != perception.SizeSmall && *net != perception.SizeDefault {
		return bad("--net %q: want small or default", *net)
	}
	if !(o.lr > 0) || math.IsInf(o.lr, 0) {
		return bad("--lr %v: want a positive number", o.lr)
	}
	for name, v := range map[string]float64{"temperature": *temperature, "momentum": *momentum, "lambda": *lambda} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return bad("--%s %v: want a positive number (0: the default)", name, v)
		}
	}
	if *momentum >= 1 {
		return bad("--momentum %v: want below 1", *momentum)
	}
	if *queue < 0 {
		return bad("--queue %d: want >= 0", *queue)
	}
	if _, err := learner.NewPretext(o.method, o.pretext); err != nil {
		return bad("--method %q: %v", o.method, err)
	}
	set := fs.set()
	if o.resume && (set["size"] || set["net"]) {
		return bad("--size and --net come from the checkpoint when resuming")
	}
	if err := pretrainLoop(ctx, o, stdout, stderr); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	return nil
}

func pretrainLoop(ctx context.Context, o pretrainOptions, stdout, stderr io.Writer) error {
	obj, err := learner.NewPretext(o.method, o.pretext)
	if err != nil {
		return err
	}
	drive, err := openDrive(o.source)
	if err != nil {
		return err
	}
	if n := drive.Len(); n > 0 && n < o.frames {
		o.frames = n
	}
	if drive, err = camera.CacheDrive(drive, o.frames); err != nil {
		return err
	}
	var held []learner.Sample
	if o.evalEvery > 0 {
		ed, err := openDrive(o.evalSource)
		if err != nil {
			return fmt.Errorf("--eval-source: %w", err)
		}
		span := 300
		if n := ed.Len(); n > 0 && n < span {
			span = n
		}
		if span < o.evalFrames {
			return fmt.Errorf("--eval-source %q has %d frames, --eval-frames wants %d", o.evalSource, span, o.evalFrames)
		}
		idx := make([]int, o.evalFrames)
		for i := range idx {
			idx[i] = i * span / o.evalFrames
		}
		if held, err = learner.NewSamples(ed, learner.Needs{}, idx); err != nil {
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
	cfg := learner.TrainConfig{Objective: obj, LR: o.lr, ClipNorm: o.clip}
	if cfg.ClipNorm == 0 {
		cfg.ClipNorm = -1 // 0 means off on the command line
	}
	var tr *learner.Trainer
	err = w.Do(func() error {
		var mc perception.ModelConfig
		var c *perception.Checkpoint
		if o.resume {
			if c, err = perception.ReadCheckpoint(o.out); err != nil {
				return err
			}
			if m := c.Header.Meta.Values["method"]; m != "" && m != o.method {
				return fmt.Errorf("%s was pre-trained with --method %s, not %s", o.out, m, o.method)
			}
			mc = c.Header.Arch
		} else {
			if mc, err = learner.PretrainModel(obj, o.width, o.height, o.net); err != nil {
				return err
			}
			perception.ManualSeed(int64(o.seed))
		}
		m, err := perception.NewModel(mc, dev)
		if err != nil {
			return err
		}
		if tr, err = learner.NewTrainer(m, cfg); err != nil {
			m.Close()
			return err
		}
		if c != nil {
			if err := tr.Resume(c); err != nil {
				tr.Close()
				m.Close()
				return fmt.Errorf("%s: %w", o.out, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer w.Do(func() error { m := tr.Model(); tr.Close(); m.Close(); return nil })

	save := func() error {
		return w.Do(func() error {
			return tr.Save(o.out, perception.CheckpointMeta{Values: map[string]string{
				"source": o.source, "method": o.method, "batch": strconv.Itoa(o.batch), "pretrain": "1"}})
		})
	}
	evaluate := func(loss float64) error {
		var st learner.StepStats
		if err := w.Do(func() (err error) { st, err = tr.Validate(held); return err }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%6d %10.4f %12.4f\n", tr.Steps(), loss, st.Loss)
		return nil
	}
	if held != nil {
		fmt.Fprintf(stdout, "%6s %10s %12s\n", "step", "loss", "heldout_loss")
		if tr.Steps() == 0 {
			if err := evaluate(math.NaN()); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(stderr, "pretrain: %s on %s, encoder %s at %dx%d, batch %d, from step %d\n", o.method, o.source, encoderSizeOf(tr.Model()), tr.Model().Config().Width, tr.Model().Config().Height, o.batch, tr.Steps())
	var evalFn func(float64) error
	if held != nil {
		evalFn = evaluate
	}
	loop := &fitLoop{name: "pretrain", out: o.out, steps: o.steps, saveEvery: o.saveEvery, evalEvery: o.evalEvery, save: save, evaluate: evalFn,
		fit: &learner.Fit{Trainer: tr, Worker: w, Drive: drive, Frames: o.frames, Batch: o.batch, Seed: o.seed}}
	return loop.run(ctx, stderr)
}

// encoderSizeOf names the width of m's encoder.
func encoderSizeOf(m *perception.Model) string {
	if c, ok := m.Config().Nets[perception.NetEncoder].(perception.EncoderConfig); ok && c.Size != "" {
		return c.Size
	}
	return perception.SizeDefault
}
