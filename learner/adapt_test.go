package learner

import (
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	"github.com/parallax-robotics/parallax/camera"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/internal/memtest"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
)

// adaptWorld is the adapter tests' stereo drive: small frames, a small
// model, so a step takes tens of milliseconds.
const adaptWorld = "synth://?stereo=1&width=160&height=64&seed=5&style=suburb"

var (
	adaptWorkerOnce sync.Once
	adaptWorkerW    *perception.Worker
	adaptWorkerErr  error
)

// adaptWorker is the adapter tests' worker: one thread, as the node gives
// its learner (two threads stall when another process holds a core).
func adaptWorker(t testing.TB) *perception.Worker {
	t.Helper()
	adaptWorkerOnce.Do(func() { adaptWorkerW, adaptWorkerErr = perception.NewWorker(1) })
	if adaptWorkerErr != nil {
		t.Fatal(adaptWorkerErr)
	}
	return adaptWorkerW
}

// newTestAdapter makes an adapter over a fresh 128x64 small model on the
// adapter tests' worker.
func newTestAdapter(t testing.TB, cfg AdaptConfig) *Adapter {
	t.Helper()
	w := adaptWorker(t)
	var m *perception.Model
	if err := w.Do(func() (err error) {
		m, err = perception.NewModel(smallModelConfig(128, 64, 0), gotch.CPU)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	a, err := NewAdapter(w, m, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func fingerprint(t testing.TB, a *Adapter) uint64 {
	t.Helper()
	var f uint64
	if err := a.w.Do(func() (err error) { f, err = a.Model().Fingerprint(); return err }); err != nil {
		t.Fatal(err)
	}
	return f
}

// driveSample is the tuple centred on frame i of d (all four frames).
func driveSample(t testing.TB, d camera.Drive, i int) Sample {
	t.Helper()
	s, err := NewSample(d, Monodepth2{Mode: ModeBoth}.Needs(), i)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// offerAndStep offers the tuples of frames from..to-1 and steps whenever
// Ready; it returns the reports.
func offerAndStep(t testing.TB, a *Adapter, d camera.Drive, from, to int) []StepReport {
	t.Helper()
	var out []StepReport
	for i := from; i < to; i++ {
		if _, err := a.Offer(driveSample(t, d, i)); err != nil {
			t.Fatal(err)
		}
		if a.Ready() {
			r, err := a.Step()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
	}
	return out
}

// noisy returns a copy of f with uniform sensor noise of +-amp grey levels.
func noisy(f *msgs.Frame, amp int, rng *rand.Rand) *msgs.Frame {
	g := *f
	g.Pix = append([]byte(nil), f.Pix...)
	for i, v := range g.Pix {
		n := int(v) + rng.IntN(2*amp+1) - amp
		g.Pix[i] = byte(min(255, max(0, n)))
	}
	return &g
}

// TestAdapterParkedCameraLeavesWeights: after driving (steps taken), a
// camera parked for a long stretch — the same view with sensor noise, a
// frozen stream, a black one — never gets past the gate, so the weights
// stay bit-identical however often Step is attempted.
func TestAdapterParkedCameraLeavesWeights(t *testing.T) {
	d := testDrive(t, adaptWorld)
	a := newTestAdapter(t, AdaptConfig{Train: TrainConfig{Objective: Monodepth2{Mode: ModeStereo}}, CheckEvery: 4, HoldOutEvery: 3})
	if reps := offerAndStep(t, a, d, 1, 16); len(reps) == 0 {
		t.Fatal("no step while driving: the gate lets nothing through")
	}
	for a.Ready() { // the last fresh tuple: train on it now, not while parked
		if _, err := a.Step(); err != nil {
			t.Fatal(err)
		}
	}
	before, st0 := fingerprint(t, a), a.Stats()
	rng := rand.New(rand.NewPCG(1, 2))
	parked := driveSample(t, d, 20)
	black := &msgs.Frame{Width: parked.Target.Width, Height: parked.Target.Height, Intrinsics: parked.Target.Intrinsics,
		Pix: make([]byte, len(parked.Target.Pix))}
	const stretch = 120
	for i := 0; i < stretch; i++ {
		var s Sample
		switch {
		case i < 80: // parked, sensor noise of +-4 grey levels on every frame
			s = Sample{Prev: noisy(parked.Target, 4, rng), Target: noisy(parked.Target, 4, rng),
				Next: noisy(parked.Target, 4, rng), Right: noisy(parked.Right, 4, rng), Baseline: parked.Baseline}
		case i < 100: // a frozen stream: the very same frame
			s = Sample{Prev: parked.Target, Target: parked.Target, Next: parked.Target, Right: parked.Right, Baseline: parked.Baseline}
		default: // a black camera
			s = Sample{Prev: black, Target: black, Next: black, Right: black, Baseline: parked.Baseline}
		}
		o, err := a.Offer(s)
		if err != nil {
			t.Fatal(err)
		}
		if o.Gate != GateStatic {
			t.Fatalf("parked offer %d: gate %v (pixel change %.3f)", i, o.Gate, o.PixelChange)
		}
		if a.Ready() {
			t.Fatalf("parked offer %d: a step is ready", i)
		}
		if _, err := a.Step(); !errors.Is(err, ErrAdaptSample) {
			t.Fatalf("Step while parked: %v, want ErrAdaptSample", err)
		}
	}
	st := a.Stats()
	if after := fingerprint(t, a); after != before {
		t.Fatalf("weights changed while parked (steps %d -> %d)", st0.Steps, st.Steps)
	}
	if st.Steps != st0.Steps || st.SkippedStatic-st0.SkippedStatic != stretch {
		t.Errorf("parked: steps %d -> %d, static skips %d -> %d (want +%d)", st0.Steps, st.Steps, st0.SkippedStatic, st.SkippedStatic, stretch)
	}
	t.Logf("driving: %d steps, %d static skips; parked for %d tuples: weights bit-identical", st0.Steps, st0.SkippedStatic, stretch)
}

// corrupt overwrites every value of the named variables with v, as a bad
// update (or a bit flip) would, on the adapter's worker.
func corrupt(t testing.TB, a *Adapter, v float32, names ...string) {
	t.Helper()
	err := a.w.Do(func() error {
		for _, nv := range a.Model().NamedVariables() {
			for _, n := range names {
				if nv.Name != n {
					continue
				}
				sc := ts.FloatScalar(float64(v))
				x, err := nv.Tensor.FullLike(sc, false)
				sc.MustDrop()
				if err != nil {
					return err
				}
				err = perception.NoGrad(func() error { nv.Tensor.Copy_(x); return nil })
				x.MustDrop()
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAdapterDriftGuardRollsBack: weights made worse between two checks
// (the disparity heads pushed to the far limit) raise the held-out error;
// the guard restores the last good weights bit for bit, backs the learning
// rate off and offers no hand-over. A NaN weight makes the next step
// non-finite: the guard rolls back at once.
func TestAdapterDriftGuardRollsBack(t *testing.T) {
	d := testDrive(t, adaptWorld)
	a := newTestAdapter(t, AdaptConfig{Train: TrainConfig{Objective: Monodepth2{Mode: ModeStereo}}, CheckEvery: 2, HoldOutEvery: 3, HandOverEvery: 2})
	// Drive until a check passes: the weights then are the good ones.
	var good uint64
	i := 1
	for ; good == 0 && i < 40; i++ {
		for _, r := range offerAndStep(t, a, d, i, i+1) {
			if r.Checked && !r.RolledBack {
				good = fingerprint(t, a)
			}
		}
	}
	if good == 0 {
		t.Fatal("no drift check passed while driving normally")
	}
	for _, bad := range []struct {
		name string
		v    float32
	}{{"far", -20}, {"nan", float32(math.NaN())}} {
		scale := a.Stats().LRScale
		corrupt(t, a, bad.v, "depth.disp0.bias", "depth.disp1.bias", "depth.disp2.bias", "depth.disp3.bias")
		var rolled *StepReport
		for ; rolled == nil && i < 80; i++ {
			for _, r := range offerAndStep(t, a, d, i, i+1) {
				if r.Checked {
					r := r
					rolled = &r
				}
			}
		}
		if rolled == nil || !rolled.RolledBack {
			t.Fatalf("%s: the check after corrupting the weights did not roll back: %+v", bad.name, rolled)
		}
		if rolled.HandOver {
			t.Errorf("%s: a rolled-back check offers a hand-over", bad.name)
		}
		if f := fingerprint(t, a); f != good {
			t.Fatalf("%s: after the rollback the weights are not the last good ones", bad.name)
		}
		if st := a.Stats(); st.LRScale >= scale {
			t.Errorf("%s: LR scale %v -> %v: not backed off", bad.name, scale, st.LRScale)
		}
		t.Logf("%s: rolled back (held-out error %.4f vs good %.4f), LR scale %.3g, non-finite steps %d",
			bad.name, rolled.Validation, rolled.Reference, a.Stats().LRScale, a.Stats().NonFinite)
	}
	if a.Stats().NonFinite == 0 {
		t.Error("the NaN weights gave no non-finite step")
	}
}

// TestAdapterAnomalyGate: after a normal drive, frames of noise have a
// photometric error far above the running mean and are not trained on.
func TestAdapterAnomalyGate(t *testing.T) {
	d := testDrive(t, adaptWorld)
	a := newTestAdapter(t, AdaptConfig{Train: TrainConfig{Objective: Monodepth2{Mode: ModeStereo}}, HoldOutEvery: 3})
	offerAndStep(t, a, d, 1, 10)
	rng := rand.New(rand.NewPCG(3, 4))
	base := driveSample(t, d, 12)
	noise := func() *msgs.Frame {
		f := *base.Target
		f.Pix = make([]byte, len(base.Target.Pix))
		for i := range f.Pix {
			f.Pix[i] = byte(rng.IntN(256))
		}
		return &f
	}
	for i := 0; i < 5; i++ {
		o, err := a.Offer(Sample{Prev: noise(), Target: noise(), Next: noise(), Right: noise(), Baseline: base.Baseline})
		if err != nil {
			t.Fatal(err)
		}
		if o.Gate != GateAnomaly {
			t.Fatalf("noise tuple %d: gate %v, photometric %.3f, running mean %.3f", i, o.Gate, o.Error, a.Stats().FreshMean)
		}
	}
	if o, err := a.Offer(driveSample(t, d, 14)); err != nil || o.Gate != GateAccepted {
		t.Fatalf("back to the drive: %v %v", o.Gate, err)
	}
}

// TestAdapterSaveResume: a saved adapter restarts with the same weights
// and step count, and keeps training.
func TestAdapterSaveResume(t *testing.T) {
	d := testDrive(t, adaptWorld)
	a := newTestAdapter(t, AdaptConfig{Train: TrainConfig{Objective: Monodepth2{Mode: ModeStereo}}, CheckEvery: 3, HoldOutEvery: 3})
	offerAndStep(t, a, d, 1, 12)
	path := filepath.Join(t.TempDir(), "learner.ckpt")
	if err := a.Save(path, perception.CheckpointMeta{}); err != nil {
		t.Fatal(err)
	}
	want, steps := fingerprint(t, a), a.Stats().Steps
	if steps == 0 {
		t.Fatal("no steps before saving")
	}
	w := adaptWorker(t)
	var m *perception.Model
	var c *perception.Checkpoint
	if err := w.Do(func() (err error) { m, c, err = perception.LoadModel(path, gotch.CPU); return err }); err != nil {
		t.Fatal(err)
	}
	b, err := NewAdapter(w, m, c, AdaptConfig{Train: TrainConfig{Objective: Monodepth2{Mode: ModeStereo}}, CheckEvery: 3, HoldOutEvery: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := fingerprint(t, b); got != want {
		t.Error("resumed weights differ from the saved ones")
	}
	if b.tr.Steps() != steps {
		t.Errorf("resumed at step %d, saved at %d", b.tr.Steps(), steps)
	}
	if reps := offerAndStep(t, b, d, 12, 18); len(reps) == 0 {
		t.Error("no step after resuming")
	}
}

func TestAdapterConfigErrors(t *testing.T) {
	w := adaptWorker(t)
	for _, c := range []AdaptConfig{
		{Buffer: 1}, {Buffer: 4, Replay: 4}, {HoldOutEvery: 1}, {DriftThreshold: -1}, {BackOff: 1},
		{MinTranslation: math.NaN()}, {Train: TrainConfig{LR: 2}},
	} {
		if err := c.Fill().Validate(); !errors.Is(err, ErrAdaptConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if _, err := NewAdapter(w, nil, nil, AdaptConfig{}); !errors.Is(err, ErrAdaptConfig) {
		t.Errorf("nil model: %v", err)
	}
	a := newTestAdapter(t, AdaptConfig{Train: TrainConfig{Objective: Monodepth2{Mode: ModeStereo}}})
	if _, err := a.Offer(Sample{}); !errors.Is(err, ErrAdaptSample) {
		t.Errorf("empty sample: %v", err)
	}
	d := testDrive(t, adaptWorld)
	s := driveSample(t, d, 3)
	s.Right = nil
	if _, err := a.Offer(s); !errors.Is(err, ErrAdaptSample) {
		t.Errorf("stereo sample without right view: %v", err)
	}
}

// TestAdapterMemoryFlat runs the whole loop (gates, steps, checks,
// snapshots, rollbacks' restores, replay) for a few hundred tuples and
// checks the RSS does not keep growing once the buffer is full.
func TestAdapterMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("long loop")
	}
	d := testDrive(t, adaptWorld)
	a := newTestAdapter(t, AdaptConfig{Train: TrainConfig{Objective: Monodepth2{Mode: ModeStereo}}, Buffer: 8, Replay: 1, CheckEvery: 3, HoldOutEvery: 3})
	// Render (and cache) every frame first: the drive's cache growing is
	// not the loop's memory.
	for i := 0; i <= 181; i++ {
		if _, _, err := d.Frame(i); err != nil {
			t.Fatal(err)
		}
	}
	// Warm up until the buffers are full and the allocator has seen every
	// size, then measure two equal windows: a leak grows both (glibc's
	// arenas make single readings jump by up to ~16 MiB once).
	offerAndStep(t, a, d, 1, 60)
	rss0 := memtest.SettledRSS(t)
	offerAndStep(t, a, d, 60, 120)
	rss1 := memtest.SettledRSS(t)
	offerAndStep(t, a, d, 120, 180)
	rss2 := memtest.SettledRSS(t)
	st := a.Stats()
	mib := func(v int64) float64 { return float64(v) / (1 << 20) }
	t.Logf("RSS %.1f -> %.1f -> %.1f MiB over %d steps, %d checks, %d rollbacks", mib(rss0), mib(rss1), mib(rss2), st.Steps, st.Checks, st.Rollbacks)
	if (rss1-rss0 > 8<<20 && rss2-rss1 > 8<<20) || rss2-rss0 > 32<<20 {
		t.Errorf("RSS keeps growing: %.1f then %.1f MiB", mib(rss1-rss0), mib(rss2-rss1))
	}
}

// TestAdapterPartial: with Partial only the depth decoder and disparity
// heads are trained.
func TestAdapterPartial(t *testing.T) {
	a := newTestAdapter(t, AdaptConfig{Train: TrainConfig{Objective: Monodepth2{Mode: ModeStereo}}, Partial: true})
	names := a.tr.TrainedVariables()
	if len(names) == 0 {
		t.Fatal("nothing trained")
	}
	for _, n := range names {
		if !partialTrained(n) {
			t.Errorf("Partial trains %s", n)
		}
	}
}

// TestAdapterOnPick: OnPick sees exactly the tuples the replay buffer
// takes (accepted and not held out), the frames the adapter trains on.
func TestAdapterOnPick(t *testing.T) {
	d := testDrive(t, adaptWorld)
	var picks []Sample
	a := newTestAdapter(t, AdaptConfig{Train: TrainConfig{Objective: Monodepth2{Mode: ModeStereo}}, HoldOutEvery: 3,
		OnPick: func(s Sample) { picks = append(picks, s) }})
	offerAndStep(t, a, d, 1, 13)
	st := a.Stats()
	if len(picks) == 0 || int64(len(picks)) != st.Accepted-st.HeldOut {
		t.Fatalf("%d picks, %d accepted, %d held out: want the accepted tuples not held out", len(picks), st.Accepted, st.HeldOut)
	}
	for _, p := range picks {
		if p.Target == nil || p.Prev == nil || p.Next == nil || p.Right == nil {
			t.Errorf("a pick without its frames: %+v", p)
		}
	}
}
