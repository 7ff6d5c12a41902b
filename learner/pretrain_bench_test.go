package learner

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/internal/memtest"
	"github.com/parallax-robotics/parallax/perception"
)

// BenchmarkPretrainStep times one pre-training step per method (batch of
// 16 frames to tensors, the views, forward, loss, backward, clipping,
// Adam) with the small encoder at 192x64 and 320x96, frames rendered at
// the network size and cached. It reports ms/step. On 2 shared cores run
// it with -benchtime=10x.
func BenchmarkPretrainStep(b *testing.B) {
	for _, sz := range []struct{ w, h int }{{192, 64}, {320, 96}} {
		batch := pretextBatch(b, 16, sz.w, sz.h)
		for _, method := range PretextMethods() {
			b.Run(fmt.Sprintf("%s_%dx%d_b16", method, sz.w, sz.h), func(b *testing.B) {
				o, err := NewPretext(method, PretextOptions{Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				tr := pretextTrainer(b, o, sz.w, sz.h, 3e-4)
				step(b, tr, batch) // warm-up
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					step(b, tr, batch)
				}
				b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
			})
		}
	}
}

// TestPretrainMemoryFlat: every method's steps (and a validation) in a
// loop keep the resident memory flat: what a step makes, it frees.
func TestPretrainMemoryFlat(t *testing.T) {
	batch := pretextBatch(t, 8, 128, 64)
	type run struct {
		name string
		tr   *Trainer
	}
	var runs []run
	for _, method := range PretextMethods() {
		o, err := NewPretext(method, PretextOptions{Seed: 1, Queue: 64})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run{method, pretextTrainer(t, o, 128, 64, 3e-4)})
	}
	loop := func(n int) {
		for i := range n {
			for _, r := range runs {
				step(t, r.tr, batch)
				if i%5 == 0 {
					if err := trainWorker(t).Do(func() error { _, err := r.tr.Validate(batch); return err }); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	loop(5) // warm the allocator
	before := memtest.SettledRSS(t)
	const n = 40
	loop(n)
	after := memtest.SettledRSS(t)
	per := float64(after-before) / float64(n*len(runs))
	t.Logf("RSS %d MB -> %d MB over %d steps of %d methods: %+.1f KB/step", before>>20, after>>20, n, len(runs), per/1024)
	if per > 64<<10 {
		t.Errorf("RSS grows %.0f KB a step", per/1024)
	}
}

// The transfer benchmark's settings (go test ./learner -run '^$' -bench
// PretrainTransfer -benchtime 1x -timeout 3h -args -transfer.seeds 3).
var (
	transferMethods  = flag.String("transfer.methods", strings.Join(PretextMethods(), ","), "BenchmarkPretrainTransfer: pre-training methods, comma-separated")
	transferSeeds    = flag.Int("transfer.seeds", 3, "BenchmarkPretrainTransfer: seeds (1..N) of pre-training and of depth training")
	transferPretrain = flag.Int("transfer.pretrain", 1000, "BenchmarkPretrainTransfer: pre-training steps (batch 16)")
	transferAt       = flag.String("transfer.at", "10,25,50,100,200", "BenchmarkPretrainTransfer: depth-training steps at which the held-out worlds are evaluated")
	transferTarget   = flag.Float64("transfer.target", 0.15, "BenchmarkPretrainTransfer: the median-scaled abs_rel whose first crossing is reported")
)

// Worlds of the transfer benchmark: pre-training on the urban training
// world (mono frames), depth training (Monodepth2 stereo) in a new place
// (suburb, seed 11), evaluation on two held-out worlds (suburb 17, desert
// 23, the first 30 frames each).
const (
	transferAdapt = "synth://?seed=11&style=suburb&stereo=1&width=192&height=64"
)

var transferHeld = []string{
	"synth://?seed=17&style=suburb&stereo=1&width=192&height=64",
	"synth://?seed=23&style=desert&stereo=1&width=192&height=64",
}

// seededTrainer makes a model of mc seeded with seed (and its encoder
// loaded from ckpt when given) and its trainer, freed with the test.
func seededTrainer(tb testing.TB, mc perception.ModelConfig, cfg TrainConfig, seed int64, ckpt string) *Trainer {
	tb.Helper()
	w := trainWorker(tb)
	var tr *Trainer
	err := w.Do(func() error {
		perception.ManualSeed(seed)
		m, err := perception.NewModel(mc, gotch.CPU)
		if err != nil {
			return err
		}
		if ckpt != "" {
			c, err := perception.ReadCheckpoint(ckpt)
			if err != nil {
				m.Close()
				return err
			}
			if _, err := m.LoadEncoder(c, perception.NetDepth); err != nil {
				m.Close()
				return err
			}
		}
		if tr, err = NewTrainer(m, cfg); err != nil {
			m.Close()
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.Do(func() error { tr.Close(); tr.Model().Close(); return nil }) })
	return tr
}

type curvePoint struct {
	step         int64
	absRel, metr float64 // median-scaled and metric abs_rel, mean over the held-out worlds
}

// depthCurve trains a fresh small depth model (seed; encoder from ckpt
// when given) with Monodepth2 stereo in the new place and evaluates it on
// the held-out worlds at the steps at (and at 0).
func depthCurve(b *testing.B, ckpt string, seed int64, at []int64) []curvePoint {
	tr := seededTrainer(b, smallModelConfig(192, 64, 0), TrainConfig{Objective: Monodepth2{Mode: ModeStereo}}, seed, ckpt)
	w := trainWorker(b)
	est := perception.NewEstimator(tr.Model(), w)
	held := make([]camera.Drive, len(transferHeld))
	for i, u := range transferHeld {
		held[i] = cachedSynth(b, u, 64)
	}
	eval := func() curvePoint {
		p := curvePoint{step: tr.Steps()}
		for i, u := range transferHeld {
			rep, err := EvaluateDrive(context.Background(), est, held[i], u, EvalConfig{Frames: 30})
			if err != nil {
				b.Fatal(err)
			}
			p.absRel += rep.Mono.AbsRel / float64(len(transferHeld))
			p.metr += rep.Metric.AbsRel / float64(len(transferHeld))
		}
		return p
	}
	out := []curvePoint{eval()}
	d := cachedSynth(b, transferAdapt, 200)
	fit := &Fit{Trainer: tr, Worker: w, Drive: d, Frames: 200, Batch: 4, Seed: uint64(seed), Steps: slices.Max(at),
		OnStep: func(StepStats) error {
			if slices.Contains(at, tr.Steps()) {
				out = append(out, eval())
			}
			return nil
		}}
	if err := fit.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	return out
}

// pretrainCheckpoint pre-trains a small encoder with method (seed) and
// saves it; it returns the path, the probe results before and after and
// the steps per second.
func pretrainCheckpoint(b *testing.B, method string, seed int64, steps int) (string, ProbeResult, ProbeResult, float64) {
	o, err := NewPretext(method, PretextOptions{Seed: uint64(seed)})
	if err != nil {
		b.Fatal(err)
	}
	mc, err := PretrainModel(o, 192, 64, perception.SizeSmall)
	if err != nil {
		b.Fatal(err)
	}
	tr := seededTrainer(b, mc, TrainConfig{Objective: o, LR: 3e-4}, seed, "")
	w := trainWorker(b)
	fitF, testF := probeSets(b)
	probe := func() ProbeResult {
		r, err := LinearProbe(w, tr.Model(), perception.NetEncoder, fitF, testF, ProbeConfig{})
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	p0 := probe()
	d := cachedSynth(b, pretrainTrain, 600)
	start := time.Now()
	fit := &Fit{Trainer: tr, Worker: w, Drive: d, Frames: 600, Batch: 16, Seed: uint64(seed), Steps: int64(steps)}
	if err := fit.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	rate := float64(steps) / time.Since(start).Seconds()
	path := filepath.Join(b.TempDir(), method+".ckpt")
	if err := w.Do(func() error { return tr.Save(path, perception.CheckpointMeta{}) }); err != nil {
		b.Fatal(err)
	}
	return path, p0, probe(), rate
}

// BenchmarkPretrainTransfer is the measurement that matters: for every
// method and seed, pre-train a small encoder on the urban world, then
// train depth (Monodepth2 stereo, lr 1e-4, batch 4) in a new place from
// it (decoder and pose net fresh, seeded like the random-init run's) and
// from random init, and evaluate on the held-out worlds along the way. It
// prints a Markdown table of the mean ± spread over seeds (BENCHMARKS.md,
// issue 14) and reports the mean median-scaled abs_rel at each step per
// method. It takes about an hour on 2 cores with the defaults; run it
// with -benchtime 1x.
func BenchmarkPretrainTransfer(b *testing.B) {
	at := []int64{}
	for _, s := range strings.Split(*transferAt, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || v < 1 {
			b.Fatalf("-transfer.at %q", *transferAt)
		}
		at = append(at, v)
	}
	slices.Sort(at)
	methods := append([]string{"random"}, strings.Split(*transferMethods, ",")...)
	type result struct {
		curves        [][]curvePoint
		probe, probe0 []float64
		rate          []float64
	}
	res := map[string]*result{}
	for _, m := range methods {
		res[m] = &result{}
	}
	for i := 0; i < b.N; i++ {
		for seed := int64(1); seed <= int64(*transferSeeds); seed++ {
			for _, m := range methods {
				ckpt := ""
				if m != "random" {
					var p0, p ProbeResult
					var rate float64
					ckpt, p0, p, rate = pretrainCheckpoint(b, m, seed, *transferPretrain)
					res[m].probe0 = append(res[m].probe0, p0.TestAcc)
					res[m].probe = append(res[m].probe, p.TestAcc)
					res[m].rate = append(res[m].rate, rate)
					fmt.Fprintf(os.Stderr, "transfer: seed %d %s: probe %.3f -> %.3f, %.2f pre-train steps/s\n", seed, m, p0.TestAcc, p.TestAcc, rate)
				}
				c := depthCurve(b, ckpt, seed, at)
				res[m].curves = append(res[m].curves, c)
				// Progress on stderr as it comes: the whole run takes
				// hours on 2 cores and b.Logf prints only at the end.
				fmt.Fprintf(os.Stderr, "transfer: seed %d %s: %v\n", seed, m, c)
			}
		}
	}
	stat := func(v []float64) string {
		if len(v) == 0 {
			return "—"
		}
		mean := 0.0
		for _, x := range v {
			mean += x
		}
		mean /= float64(len(v))
		return fmt.Sprintf("%.3f ± %.3f", mean, (slices.Max(v)-slices.Min(v))/2)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n| init | probe acc (random → pre-trained) | pre-train steps/s |")
	for _, s := range append([]int64{0}, at...) {
		fmt.Fprintf(&sb, " abs_rel @%d |", s)
	}
	fmt.Fprintf(&sb, " first step ≤ %.2f |\n|---|---|---|", *transferTarget)
	for range len(at) + 2 {
		sb.WriteString("---|")
	}
	sb.WriteString("\n")
	for _, m := range methods {
		r := res[m]
		probe := "—"
		if len(r.probe) > 0 {
			probe = stat(r.probe0) + " → " + stat(r.probe)
		}
		fmt.Fprintf(&sb, "| %s | %s | %s |", m, probe, stat(r.rate))
		for k := range len(at) + 1 {
			var v []float64
			for _, c := range r.curves {
				v = append(v, c[k].absRel)
			}
			fmt.Fprintf(&sb, " %s |", stat(v))
			if k > 0 {
				b.ReportMetric(meanOf(v), fmt.Sprintf("abs_rel@%d/%s", at[k-1], m))
			}
		}
		var first []string
		for _, c := range r.curves {
			f := "never"
			for _, p := range c {
				if p.absRel <= *transferTarget {
					f = strconv.FormatInt(p.step, 10)
					break
				}
			}
			first = append(first, f)
		}
		fmt.Fprintf(&sb, " %s |\n", strings.Join(first, ", "))
	}
	sb.WriteString("\nmetric abs_rel (no scaling):\n")
	for _, m := range methods {
		fmt.Fprintf(&sb, "| %s |", m)
		for k := range len(at) + 1 {
			var v []float64
			for _, c := range res[m].curves {
				v = append(v, c[k].metr)
			}
			fmt.Fprintf(&sb, " %s |", stat(v))
		}
		sb.WriteString("\n")
	}
	b.Log(sb.String())
}
