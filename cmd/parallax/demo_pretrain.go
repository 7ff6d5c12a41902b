package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/perception"
)

// The demo's starting checkpoint is trained on one synthetic world
// (pretrainWorld) while the demo's camera drives through another
// (launch/demo.yaml's serve.world: another seed, style and light), so the
// online learner has a domain shift to adapt to. `make demo-checkpoint`
// regenerates assets/demo.ckpt with pretrainDemo's defaults.
const (
	pretrainWorld = "synth://?stereo=1&width=320&height=96&fps=15&seed=3&style=urban"
	// pretrainFrames is how many frames of the drive the samples come from.
	pretrainFrames = 400
)

// pretrainConfig configures pretrainDemo.
type pretrainConfig struct {
	// World is the synth:// world trained on. It defaults to pretrainWorld.
	World string
	// Model is the architecture. It defaults to the demo's: 320x96, small.
	Model perception.ModelConfig
	// Steps, Batch and LR configure the training: stereo mode (metric
	// depth), Adam. They default to 1500, 4 and 2e-4.
	Steps, Batch int
	LR           float64
	// Threads is the torch worker's thread count. It defaults to 2, or 1
	// on a machine with at most 2 CPUs (an OpenMP team of 2 that loses a
	// core to another process stalls at every barrier).
	Threads int
	// Seed seeds the initial weights and the sample order. It defaults to 1.
	Seed uint64
}

func (c *pretrainConfig) fill() {
	if c.World == "" {
		c.World = pretrainWorld
	}
	if c.Model.Width == 0 {
		c.Model = perception.DepthPose(320, 96,
			perception.DepthConfig{Size: perception.SizeSmall, MinDepth: 0.1, MaxDepth: 100},
			perception.PoseConfig{Size: perception.SizeSmall})
	}
	if c.Steps == 0 {
		c.Steps = 1500
	}
	if c.Batch == 0 {
		c.Batch = 4
	}
	if c.LR == 0 {
		c.LR = 2e-4
	}
	if c.Threads == 0 {
		c.Threads = 2
		if runtime.NumCPU() <= 2 {
			c.Threads = 1
		}
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
}

// pretrainDemo trains a model from scratch on cfg.World in stereo mode and
// writes its weights (no optimiser state: the file stays small, and the
// online learner starts its own Adam) atomically to path. progress, when
// set, gets a line every 100 steps.
func pretrainDemo(ctx context.Context, path string, cfg pretrainConfig, progress func(string)) error {
	cfg.fill()
	d, err := camera.OpenDrive(cfg.World, "")
	if err != nil {
		return err
	}
	if d, err = camera.CacheDrive(d, pretrainFrames); err != nil {
		return err
	}
	w, err := perception.NewWorker(cfg.Threads)
	if err != nil {
		return err
	}
	defer w.Close()
	var tr *learner.Trainer
	err = w.Do(func() error {
		perception.ManualSeed(int64(cfg.Seed))
		m, err := perception.NewModel(cfg.Model, gotch.CPU)
		if err != nil {
			return err
		}
		if tr, err = learner.NewTrainer(m, learner.TrainConfig{Objective: learner.Monodepth2{Mode: learner.ModeStereo}, LR: cfg.LR}); err != nil {
			m.Close()
		}
		return err
	})
	if err != nil {
		return err
	}
	defer w.Do(func() error { tr.Close(); tr.Model().Close(); return nil })
	start := time.Now()
	var sum float64
	var n int
	fit := &learner.Fit{Trainer: tr, Worker: w, Drive: d, Frames: pretrainFrames, Batch: cfg.Batch, Seed: cfg.Seed,
		Steps: int64(cfg.Steps), OnStep: func(st learner.StepStats) error {
			if !st.Skipped {
				sum += st.Loss
				n++
			}
			if i := tr.Steps(); progress != nil && !st.Skipped && (i%100 == 0 || i == int64(cfg.Steps)) {
				progress(fmt.Sprintf("step %d/%d: loss %.4f, %.0f ms/step", i, cfg.Steps, sum/float64(max(n, 1)),
					float64(time.Since(start).Milliseconds())/float64(i)))
				sum, n = 0, 0
			}
			return nil
		}}
	if err := fit.Run(ctx); err != nil {
		return err
	}
	return w.Do(func() error {
		return tr.Model().Save(path, perception.CheckpointMeta{Steps: tr.Steps(), Values: map[string]string{
			"world": cfg.World, "mode": "stereo", "batch": fmt.Sprint(cfg.Batch), "lr": fmt.Sprint(cfg.LR),
			"made_by": "parallax demo --pretrain (cmd/parallax/demo_pretrain.go)",
		}})
	})
}
