package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/parallax-robotics/parallax/internal/bench"
	"github.com/parallax-robotics/parallax/perception"
)

// runBench measures depth inference, adaptation steps, both at once, and
// the whole node on a synthetic camera, on the device the node would use.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "[--device auto|cpu|cuda[:N]] [--json] [flags]", stderr,
		"parallax bench --phases depth --duration 3s",
		"parallax bench --device cuda --sizes 640x192,1024x320 --json > bench.json",
		"parallax bench --device cpu --model-size small --sizes 320x96 --e2e 0",
		"parallax bench --phases depth --sizes 640x192 --compare-python",
		"parallax bench --phases growth --sizes 320x96,640x192,1280x384 --batches 1,2,4 --cameras 4 --duration 3s")
	device := fs.String("device", "auto", "torch device: auto (CUDA when libtorch sees a GPU), cpu, cuda or cuda:N")
	sizes := fs.String("sizes", "640x192,1024x320", "depth inference sizes WxH, comma separated (multiples of 32); adaptation and the node run use the first")
	modelSize := fs.String("model-size", perception.SizeDefault, "network widths: default (32-64-128-256-256) or small (16-32-64-96-128)")
	batches := fs.String("batches", "1,4", "adaptation batch sizes, comma separated (the live learner's batch is replay+1, 4 by default)")
	mode := fs.String("mode", "stereo", "adaptation mode: mono, stereo or both")
	duration := fs.Duration("duration", 10*time.Second, "measured time of each phase")
	warmup := fs.Int("warmup", 5, "untimed iterations before each phase (CUDA kernel selection, allocator)")
	e2e := fs.Duration("e2e", 15*time.Second, "run time of the whole node on a synth:// stereo camera with adaptation on; 0 skips it")
	e2eFPS := fs.Float64("e2e-fps", 30, "frame rate of the synthetic camera in the node run")
	e2eSteps := fs.Float64("e2e-steps", 100, "learner.steps_per_s of the node run (its compute share stays at the default 0.5)")
	threads := fs.Int("threads", 0, "intra-op threads of each torch worker (0: 2, or 1 on a machine with at most 2 CPUs)")
	phases := fs.String("phases", "depth,adapt,both,paced,e2e", "phases to run, comma separated (paced: depth at --paced-fps while adapting flat out; python: as --compare-python; growth: time and peak memory of depth for 1 to --cameras cameras and of adaptation for each of --batches, at every size)")
	cameras := fs.Int("cameras", 4, "growth phase: depth for 1 to this many cameras (stereo pairs' reference views) in one forward")
	comparePython := fs.Bool("compare-python", false, "also run the same depth network with the same weights in PyTorch on the CPU (1 and 2 threads, the first size) and print Go's time over Python's")
	python := fs.String("python", "", "python3 with torch for --compare-python (default: $PARALLAX_PYTHON, python3, /usr/bin/python3)")
	pacedFPS := fs.Float64("paced-fps", 100, "depth frame rate of the paced phase, one frame every 1/fps s as from a camera")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	cfg, err := bench.Flags{Device: *device, Sizes: *sizes, ModelSize: *modelSize, Batches: *batches, Mode: *mode,
		Phases: *phases, Duration: *duration, Warmup: *warmup, E2E: *e2e, E2EFPS: *e2eFPS, E2ESteps: *e2eSteps,
		Threads: *threads, PacedFPS: *pacedFPS, ComparePython: *comparePython, Python: *python, Cameras: *cameras}.Config()
	if err != nil {
		return err
	}
	rep, err := bench.Run(ctx, cfg, func(line string) {
		if !*asJSON {
			fmt.Fprintln(stdout, line)
		} else {
			fmt.Fprintln(stderr, line)
		}
	})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return nil
}
