package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/parallax-robotics/parallax/fleet"
	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/perception"
)

// runFleetTrain is parallax fleet-train: the off-board trainer of the
// fleet (fleet.Trainer). It runs until interrupted (or --rounds rounds).
func runFleetTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("fleet-train", "FAMILY [flags]", stderr,
		"parallax fleet-train street --nats nats://a:4222,nats://b:4222,nats://c:4222 --replicas 3 --device cuda",
		"parallax fleet-train street --round-steps 200 --margin 0.01",
		"parallax fleet-train street --fedavg 4   # average 4 robots' weight deltas a round instead")
	reg := addRegistryFlags(fs)
	replicas := fs.Int("replicas", 1, "copies of the registry's buckets, the samples stream and the consumer when this creates them (3 on a 3-server cluster)")
	durable := fs.String("durable", fleet.DefaultDurable, "the pull consumer shared by every trainer of the fleet (each sample goes to one)")
	device := fs.String("device", "cpu", "torch device: cpu or cuda[:N]")
	threads := fs.Int("threads", 2, "torch threads")
	mode := fs.String("mode", "stereo", "Monodepth2 training mode: stereo, mono or both (the samples must carry what it needs)")
	lr := fs.Float64("lr", 1e-4, "Adam's learning rate")
	batch := fs.Int("batch", 4, "samples a step")
	roundSteps := fs.Int("round-steps", 100, "steps of a round, after which the candidate is validated")
	rounds := fs.Int("rounds", 0, "stop after this many rounds (0: until interrupted)")
	holdOutEvery := fs.Uint64("hold-out-every", 5, "samples whose stream sequence is a multiple of this are held out (never trained on)")
	margin := fs.Float64("margin", 0, "relative improvement on the held-out samples a version needs to be promoted")
	width := fs.Int("width", 320, "network input width when the family has no version yet (multiple of 32)")
	height := fs.Int("height", 96, "network input height when the family has no version yet (multiple of 32)")
	size := fs.String("size", perception.SizeDefault, "network size when the family has no version yet: small or default")
	maxAge := fs.Duration("max-age", 7*24*time.Hour, "samples stream retention: age")
	maxBytes := fs.Int64("max-bytes", 10<<30, "samples stream retention: bytes")
	fedavg := fs.Int("fedavg", 0, "federated rounds: average this many robots' weight deltas (fleet.delta_every) a round instead of training on samples")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 1, "the model family"); err != nil {
		return err
	}
	family := fs.Arg(0)
	m, err := learner.ParseMode(*mode)
	if err != nil {
		return err
	}
	dev, err := perception.ParseDevice(*device)
	if err != nil {
		return err
	}
	if *fedavg < 0 {
		return fmt.Errorf("fleet-train: --fedavg %d (want 0, or the deltas a round)", *fedavg)
	}
	nc, err := reg.auth.connect(*reg.url, "parallax fleet-train")
	if err != nil {
		return fmt.Errorf("fleet-train: cannot reach the NATS server at %w", err)
	}
	defer nc.Close()
	w, err := perception.NewWorker(*threads)
	if err != nil {
		return err
	}
	defer w.Close()
	octx, cancel := context.WithTimeout(ctx, *reg.timeout)
	tr, err := fleet.NewTrainer(octx, nc, w, dev, fleet.TrainerConfig{
		Family: family, Registry: fleet.Config{Bucket: *reg.bucket, Replicas: *replicas},
		Stream:  fleet.StreamConfig{Replicas: *replicas, MaxAge: *maxAge, MaxBytes: *maxBytes},
		Durable: *durable, Objective: learner.Monodepth2{Mode: m}, LR: *lr, Batch: *batch, RoundSteps: *roundSteps,
		HoldOutEvery: *holdOutEvery, Margin: *margin,
		Model: perception.DepthPose(*width, *height, perception.DepthConfig{Size: *size}, perception.PoseConfig{Size: *size}),
	})
	cancel()
	if err != nil {
		return fmt.Errorf("fleet-train: %w", err)
	}
	defer tr.Close()
	fmt.Fprintf(stdout, "fleet-train %s: consumer %s on %s\n", family, *durable, fleet.SamplesStream)
	if *fedavg > 0 {
		for n := 0; *rounds <= 0 || n < *rounds; n++ {
			rep, err := tr.FedRound(ctx, *fedavg)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("fleet-train: %w", err)
			}
			fmt.Fprintf(stdout, "fedavg %d: %d deltas of %d samples (%d stale, %d bad), held-out %s, %s\n", n+1, rep.Deltas, rep.Samples,
				rep.Stale, rep.Bad, scores(rep.Candidate, rep.Current), promoted(rep.Promoted))
		}
		return nil
	}
	start := time.Now()
	err = tr.Run(ctx, *rounds, func(r fleet.RoundReport) {
		st := tr.Stats()
		el := time.Since(start).Seconds()
		fmt.Fprintf(stdout, "round %d: %d steps in %s (%.1f samples/s, %.2f MB/s taken), %d samples (%d held out, %d bad), held-out %s, %s\n",
			st.Rounds, r.Steps, r.Took.Round(time.Millisecond), float64(r.Steps**batch)/r.Took.Seconds(), float64(st.Bytes)/1e6/el,
			st.Samples, st.HeldOut, st.Bad, scores(r.Candidate, r.Current), promoted(r.Promoted))
	})
	if err != nil {
		return fmt.Errorf("fleet-train: %w", err)
	}
	return nil
}

func scores(cand, cur float64) string {
	if math.IsNaN(cand) {
		return "not validated"
	}
	if math.IsNaN(cur) {
		return fmt.Sprintf("%.5f (no current version)", cand)
	}
	return fmt.Sprintf("%.5f against the current %.5f", cand, cur)
}

func promoted(v *fleet.Version) string {
	if v == nil {
		return "not promoted"
	}
	return "promoted " + v.Short()
}
