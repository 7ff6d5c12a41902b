package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"strings"
	"testing"

	"github.com/parallax-robotics/parallax/internal/bench"
	"github.com/parallax-robotics/parallax/perception"
)

// TestBenchCPU runs every phase of parallax bench on the CPU at a small size
// and checks the JSON report holds real measurements.
func TestBenchCPU(t *testing.T) {
	rep, progress := benchJSON(t, "bench", "--device", "cpu", "--sizes", "128x64,64x64", "--model-size", "small", "--batches", "1,2",
		"--duration", "300ms", "--warmup", "1", "--e2e", "2s", "--e2e-fps", "10", "--threads", "1", "--compare-python", "--json")
	if rep.Device != "cpu" || rep.CUDA || rep.ModelSize != perception.SizeSmall {
		t.Errorf("device %q cuda %v model %q, want cpu false small", rep.Device, rep.CUDA, rep.ModelSize)
	}
	if len(rep.Depth) != 2 || rep.Depth[0].Width != 128 || rep.Depth[1].Height != 64 {
		t.Fatalf("depth results %+v, want 128x64 and 64x64", rep.Depth)
	}
	for _, d := range rep.Depth {
		if d.Frames < 1 || !(d.FPS > 0) || !(d.P50ms > 0) || d.P99ms < d.P50ms {
			t.Errorf("depth %dx%d: %+v", d.Width, d.Height, d)
		}
	}
	if len(rep.Adapt) != 2 || rep.Adapt[1].Batch != 2 || rep.Adapt[0].Mode != "stereo" {
		t.Fatalf("adapt results %+v, want batches 1 and 2 in stereo", rep.Adapt)
	}
	for _, a := range rep.Adapt {
		if a.Steps < 1 || !(a.StepsPerS > 0) || !(a.LastLoss > 0) || math.IsInf(a.LastLoss, 0) || a.Skipped != 0 {
			t.Errorf("adapt batch %d: %+v", a.Batch, a)
		}
	}
	if c := rep.Concurrent; c == nil || !(c.DepthFPS > 0) || !(c.StepsPerS > 0) || c.Batch != 2 {
		t.Errorf("concurrent: %+v", c)
	}
	// Paced at 100 frames/s (the default) for 300 ms: never faster than
	// asked (a little slack for the clock), and every slot either served
	// or counted missed.
	if p := rep.Paced; p == nil || p.PacedFPS != 100 || !(p.DepthFPS > 0) || p.DepthFPS > 105 || !(p.StepsPerS > 0) ||
		p.Missed < 0 || p.DepthP99ms < p.DepthP50ms {
		t.Errorf("paced: %+v", p)
	} else if slots := float64(p.Missed) + p.DepthFPS*p.Seconds; slots < 15 || slots > 60 {
		t.Errorf("paced: %d missed + %.1f frames/s over %.1f s: %.0f slots, want about 30", p.Missed, p.DepthFPS, p.Seconds, slots)
	}
	e := rep.E2E
	if e == nil {
		t.Fatal("no node run in the report")
	}
	// Two cameras at 10 fps for 2 s: about 40 frames in.
	if e.FramesIn < 10 || e.Processed < 1 || e.Published < 1 || e.Latencies < 1 || !(e.LatencyP50ms > 0) {
		t.Errorf("node run: %+v", e)
	}
	// The python phase: the same network in PyTorch on 1 and 2 threads at
	// the first size, both sides' outputs equal.
	if len(rep.Python) != len(bench.PythonThreads) {
		t.Fatalf("python results %+v, want one per thread count %v", rep.Python, bench.PythonThreads)
	}
	for i, p := range rep.Python {
		if p.Threads != bench.PythonThreads[i] || p.Width != 128 || p.Height != 64 || !(p.GoMs > 0) || !(p.PythonMs > 0) ||
			math.Abs(p.Ratio-p.GoMs/p.PythonMs) > 1e-9 || !(p.MaxAbsDiff <= 1e-4) || p.Torch == "" {
			t.Errorf("python phase: %+v", p)
		}
	}
	if !strings.Contains(progress, "depth  128x64   batch 1:") || !strings.Contains(progress, "node   128x64") {
		t.Errorf("progress lines missing:\n%s", progress)
	}
}

// TestBenchGrowth runs the growth phase at two small sizes and checks
// every cell of the table is there with a time and the memory it took.
func TestBenchGrowth(t *testing.T) {
	rep, _ := benchJSON(t, "bench", "--device", "cpu", "--phases", "growth", "--sizes", "64x64,128x64", "--model-size", "small",
		"--batches", "1,2", "--cameras", "2", "--duration", "100ms", "--warmup", "1", "--threads", "1", "--json")
	type cell struct {
		kind    string
		w, n, b int
	}
	want := []cell{{"depth", 64, 1, 0}, {"depth", 64, 2, 0}, {"adapt", 64, 0, 1}, {"adapt", 64, 0, 2},
		{"depth", 128, 1, 0}, {"depth", 128, 2, 0}, {"adapt", 128, 0, 1}, {"adapt", 128, 0, 2}}
	if len(rep.Growth) != len(want) || rep.Depth != nil || rep.Adapt != nil {
		t.Fatalf("growth %+v (depth %v, adapt %v), want %d cells and no other phase", rep.Growth, rep.Depth, rep.Adapt, len(want))
	}
	for i, g := range rep.Growth {
		c := want[i]
		frames := max(g.Cameras, g.Batch)
		if g.Kind != c.kind || g.Width != c.w || g.Height != 64 || g.Cameras != c.n || g.Batch != c.b || g.Calls < 1 ||
			!(g.MsPerCall > 0) || math.Abs(g.MsPerFrame*float64(frames)-g.MsPerCall) > 1e-9 {
			t.Errorf("cell %d: %+v, want %+v", i, g, c)
		}
		// The peak is at least where the cell started, and above it for
		// the first cell (later ones may reuse what earlier ones freed).
		if !(g.BaseRSSMiB > 0) || g.PeakRSSMiB < g.BaseRSSMiB || (i == 0 && g.PeakRSSMiB == g.BaseRSSMiB) {
			t.Errorf("cell %d: RSS %.1f -> peak %.1f MiB", i, g.BaseRSSMiB, g.PeakRSSMiB)
		}
	}
}

// TestBenchFlags checks bad values are usage errors naming the flag.
func TestBenchFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
		is   error
	}{
		{[]string{"--sizes", "100x64"}, "--sizes", bench.ErrFlag},
		{[]string{"--sizes", "640"}, "--sizes", bench.ErrFlag},
		{[]string{"--model-size", "huge"}, "--model-size", bench.ErrFlag},
		{[]string{"--batches", "0"}, "--batches", bench.ErrFlag},
		{[]string{"--mode", "sideways"}, "--mode", bench.ErrFlag},
		{[]string{"--phases", "depth,fly"}, "fly", bench.ErrFlag},
		{[]string{"--duration", "0s"}, "--duration", bench.ErrFlag},
		{[]string{"--e2e-fps", "0"}, "--e2e-fps", bench.ErrFlag},
		{[]string{"--paced-fps", "0"}, "--paced-fps", bench.ErrFlag},
		{[]string{"--cameras", "0"}, "--cameras", bench.ErrFlag},
		{[]string{"--device", "tpu"}, "tpu", perception.ErrDevice},
		{[]string{"--phases", "python", "--python", "/nonexistent/python3"}, "/nonexistent/python3", fs.ErrNotExist},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"bench", "--phases", "depth", "--sizes", "64x64", "--model-size", "small", "--duration", "10ms"}, tc.args...)
			err := dispatch(context.Background(), args, &out, &errb)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %v naming %q", err, tc.is, tc.want)
			}
		})
	}
}

// benchJSON runs parallax with args (a bench with --json) and returns the
// report it prints and its progress output (also logged).
func benchJSON(t *testing.T, args ...string) (bench.Report, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if err := dispatch(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	t.Logf("progress:\n%s", errb.String())
	var rep bench.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	return rep, errb.String()
}
