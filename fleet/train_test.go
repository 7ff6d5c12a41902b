package fleet_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/fleet"
	"github.com/parallax-robotics/parallax/fleet/fleettest"
	"github.com/parallax-robotics/parallax/internal/memtest"
	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/perception"
)

var (
	workerOnce sync.Once
	workerW    *perception.Worker
	workerErr  error
)

// worker is the tests' one-thread torch worker.
func worker(t testing.TB) *perception.Worker {
	t.Helper()
	workerOnce.Do(func() { workerW, workerErr = perception.NewWorker(1) })
	if workerErr != nil {
		t.Fatal(workerErr)
	}
	return workerW
}

// The two robots' worlds: another seed, style, layout, palette and sun.
const (
	worldA = "synth://?seed=3&stereo=1&width=64&height=64"
	worldB = "synth://?seed=11&style=suburb&stereo=1&width=64&height=64"
)

func smallArch() perception.ModelConfig {
	return perception.DepthPose(64, 64, perception.DepthConfig{Size: perception.SizeSmall}, perception.PoseConfig{Size: perception.SizeSmall})
}

// seededModel is a fresh small model with seeded initial weights, saved
// as a checkpoint (the fleet's first version) and returned with its bytes.
func seededModel(t testing.TB, seed int64) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "v0.ckpt")
	err := worker(t).Do(func() error {
		perception.ManualSeed(seed)
		m, err := perception.NewModel(smallArch(), gotch.CPU)
		if err != nil {
			return err
		}
		defer m.Close()
		return m.Save(path, perception.CheckpointMeta{})
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// ownModel trains a robot's own model from ckpt on its own samples only
// (what its node's adaptation sees), steps steps of batch 4.
func ownModel(t testing.TB, ckpt []byte, samples []learner.Sample, steps int, lr float64) *perception.Model {
	t.Helper()
	c, err := perception.ParseCheckpoint(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	var m *perception.Model
	rng := rand.New(rand.NewPCG(7, 7))
	err = worker(t).Do(func() error {
		if m, err = perception.NewModel(c.Header.Arch, gotch.CPU); err != nil {
			return err
		}
		if err := m.LoadCheckpoint(c); err != nil {
			return err
		}
		tr, err := learner.NewTrainer(m, learner.TrainConfig{Objective: learner.Monodepth2{Mode: learner.ModeStereo}, LR: lr})
		if err != nil {
			return err
		}
		defer tr.Close()
		for i := 0; i < steps; i++ {
			var b []learner.Sample
			for _, j := range rng.Perm(len(samples))[:4] {
				b = append(b, samples[j])
			}
			if _, err := tr.Step(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { worker(t).Do(func() error { m.Close(); return nil }) })
	return m
}

// absRel is m's metric abs_rel on the first 16 frames of d (frames no
// robot uploaded: their samples start at frame 30).
func absRel(t testing.TB, m *perception.Model, d camera.Drive, name string) float64 {
	t.Helper()
	rep, err := learner.EvaluateDrive(context.Background(), perception.NewEstimator(m, worker(t)), d, name, learner.EvalConfig{Frames: 16})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Metric.AbsRel
}

// TestFleetTrain: two robots driving two different synthetic worlds upload
// their picks to a 3-server JetStream cluster, one server of which is
// killed during the uploads; fleet-train takes every acknowledged sample
// (none lost, a malformed one refused), trains the shared model from the
// fleet's current version, and promotes versions only when they beat it on
// the held-out samples. The shared model's depth error on each world is
// then lower than the other robot's own model (trained on its own world
// only) on that world.
func TestFleetTrain(t *testing.T) {
	c := fleettest.Start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	admin := connect(t, c.URL())
	reg, err := fleet.Open(ctx, admin, fleet.Config{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	v0 := seededModel(t, 3)
	ver0, _, err := reg.Push(ctx, "street", v0, fleet.Version{TrainedOn: "init"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Promote(ctx, "street", ver0.Digest, "test", "initial"); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.EnsureSamples(ctx, js, fleet.StreamConfig{Replicas: 3}); err != nil {
		t.Fatal(err)
	}

	// Small enough for 2 shared cores: 64x64, 3 rounds of 40 steps; each
	// robot's own model gets as many steps on its own samples.
	const rounds, roundSteps = 3, 40
	drives := map[string]camera.Drive{"robot-a": testDrive(t, worldA), "robot-b": testDrive(t, worldB)}
	const from, to = 30, 110 // sample centres uploaded: 80 a robot
	picks := map[string][]learner.Sample{}
	for r, d := range drives {
		for i := from; i < to; i++ {
			picks[r] = append(picks[r], driveSample(t, d, i))
		}
	}
	// Upload both robots' picks; kill server 0 after the first quarter.
	var wg sync.WaitGroup
	sent := map[string]int64{}
	var mu sync.Mutex
	var quarter sync.Once
	killed := make(chan struct{})
	for r := range drives {
		nc := connect(t, c.URL())
		u, err := fleet.NewUploader(nc, fleet.UploadConfig{Robot: r, Family: "street", Budget: 8 << 20, Queue: 128})
		if err != nil {
			t.Fatal(err)
		}
		u.OnSent = func(h fleet.SampleHeader, _ int) {
			if h.Seq == uint64(len(picks[r])/4) {
				quarter.Do(func() { go func() { c.Stop(0); close(killed) }() })
			}
		}
		wg.Add(1)
		go func(r string, u *fleet.Uploader) {
			defer wg.Done()
			for _, s := range picks[r] {
				if !u.Offer(s) {
					t.Errorf("%s: a pick dropped under a budget of 8 MB/s", r)
				}
				time.Sleep(20 * time.Millisecond)
			}
			deadline := time.Now().Add(2 * time.Minute)
			for {
				st := u.Stats()
				if st.Sent+st.Failed+st.Dropped == st.Offered || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			u.Close()
			st := u.Stats()
			t.Logf("%s: offered %d, acknowledged %d, failed %d (%s)", r, st.Offered, st.Sent, st.Failed, st.LastError)
			mu.Lock()
			sent[r] = st.Sent
			mu.Unlock()
		}(r, u)
	}
	wg.Wait()
	<-killed
	if sent["robot-a"] < 60 || sent["robot-b"] < 60 {
		t.Errorf("acknowledged %v of 80 each: the cluster should take most while a server is down", sent)
	}
	// A malformed sample and one published on another robot's subject.
	if _, err := js.Publish(ctx, fleet.SampleSubject("robot-c"), []byte("not a sample")); err != nil {
		t.Fatal(err)
	}
	forged, err := fleet.EncodeSample(fleet.SampleHeader{Robot: "robot-a"}, picks["robot-a"][0], fleet.EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, fleet.SampleSubject("robot-c"), forged); err != nil {
		t.Fatal(err)
	}

	tnc := connect(t, c.URL())
	tr, err := fleet.NewTrainer(ctx, tnc, worker(t), gotch.CPU, fleet.TrainerConfig{Family: "street", Registry: fleet.Config{Replicas: 3},
		Stream: fleet.StreamConfig{Replicas: 3}, LR: 3e-4, RoundSteps: roundSteps, HoldOut: 40, Name: "fleet-train@test", FetchWait: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	want := sent["robot-a"] + sent["robot-b"] + 2
	for took := int64(0); took < want; {
		n, err := tr.Pull(ctx, 64)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			st := tr.Stats()
			if st.Samples+st.HeldOut+st.Bad >= want {
				break
			}
			t.Fatalf("the consumer ran dry after %d samples of %d acknowledged (stats %+v)", st.Samples+st.HeldOut, want-2, st)
		}
		st := tr.Stats()
		took = st.Samples + st.HeldOut + st.Bad
	}
	st := tr.Stats()
	for r, n := range sent {
		if st.PerRobot[r] != n {
			t.Errorf("%s: %d samples taken, %d acknowledged: an acknowledged sample was lost (or doubled)", r, st.PerRobot[r], n)
		}
	}
	if st.Bad != 2 || !strings.Contains(st.LastBad, "published on fleet.samples.robot-c") {
		t.Errorf("bad samples %d (%q): want the garbage and the forged one refused", st.Bad, st.LastBad)
	}
	t.Logf("trainer took %d training and %d held-out samples, %d bad", st.Samples, st.HeldOut, st.Bad)

	var promoted []*fleet.Version
	for i := 0; i < rounds; i++ {
		rep, err := tr.Round(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d steps in %s, held-out photometric %.4f vs current %.4f, promoted %v", i+1, rep.Steps, rep.Took.Round(time.Millisecond),
			rep.Candidate, rep.Current, rep.Promoted != nil)
		if rep.Promoted != nil {
			if !(rep.Candidate < rep.Current) {
				t.Errorf("round %d promoted %.4f over %.4f", i+1, rep.Candidate, rep.Current)
			}
			promoted = append(promoted, rep.Promoted)
		}
	}
	if len(promoted) == 0 {
		t.Fatal("no round beat the initial version")
	}
	last := promoted[len(promoted)-1]
	p, err := reg.Current(ctx, "street")
	if err != nil || p.Digest != last.Digest {
		t.Errorf("current %+v %v, want the last promoted %s", p, err, last.Short())
	}
	if last.Samples != st.Samples || last.Score == nil || last.TrainedOn != "fleet-train@test" {
		t.Errorf("version metadata %+v", last)
	}

	// The shared model against each robot's own, each on the other's world.
	ownA := ownModel(t, v0, picks["robot-a"], rounds*roundSteps, 3e-4)
	ownB := ownModel(t, v0, picks["robot-b"], rounds*roundSteps, 3e-4)
	sharedA, sharedB := absRel(t, tr.Model(), drives["robot-a"], worldA), absRel(t, tr.Model(), drives["robot-b"], worldB)
	aOnB, bOnA := absRel(t, ownA, drives["robot-b"], worldB), absRel(t, ownB, drives["robot-a"], worldA)
	t.Logf("metric abs_rel: world A shared %.3f, robot B's own %.3f (robot A's own %.3f); world B shared %.3f, robot A's own %.3f (robot B's own %.3f)",
		sharedA, bOnA, absRel(t, ownA, drives["robot-a"], worldA), sharedB, aOnB, absRel(t, ownB, drives["robot-b"], worldB))
	if !(sharedA < bOnA) || !(sharedB < aOnB) {
		t.Errorf("shared model: %.3f on A, %.3f on B; want below the other robot's own %.3f on A and %.3f on B", sharedA, sharedB, bOnA, aOnB)
	}
}

// TestTrainersShareDurable: two trainers on the same durable consumer
// split the samples: each gets some, none gets one twice, together all.
func TestTrainersShareDurable(t *testing.T) {
	c := fleettest.Start(t, 1)
	ctx := ctxT(t)
	nc := connect(t, c.URL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.EnsureSamples(ctx, js, fleet.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	reg, err := fleet.Open(ctx, nc, fleet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := reg.Push(ctx, "street", seededModel(t, 1), fleet.Version{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Promote(ctx, "street", v.Digest, "test", ""); err != nil {
		t.Fatal(err)
	}
	d := testDrive(t, "synth://?seed=3&stereo=1&width=64&height=32")
	const n = 30
	for i := 1; i <= n; i++ {
		data, err := fleet.EncodeSample(fleet.SampleHeader{Robot: "r1", Seq: uint64(i)}, driveSample(t, d, i), fleet.EncodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, fleet.SampleSubject("r1"), data); err != nil {
			t.Fatal(err)
		}
	}
	cfg := fleet.TrainerConfig{Family: "street", FetchWait: 200 * time.Millisecond}
	var trs [2]*fleet.Trainer
	for i := range trs {
		if trs[i], err = fleet.NewTrainer(ctx, connect(t, c.URL()), worker(t), gotch.CPU, cfg); err != nil {
			t.Fatal(err)
		}
		defer trs[i].Close()
	}
	var got [2]int
	for round := 0; got[0]+got[1] < n && round < 50; round++ {
		for i, tr := range trs {
			k, err := tr.Pull(ctx, 4)
			if err != nil {
				t.Fatal(err)
			}
			got[i] += k
		}
	}
	for i, tr := range trs {
		if k, err := tr.Pull(ctx, 4); err != nil || k != 0 {
			t.Errorf("trainer %d took %d more (%v) after all %d were taken", i, k, err, n)
		}
	}
	if got[0] == 0 || got[1] == 0 || got[0]+got[1] != n {
		t.Errorf("trainers took %v of %d samples: want both some, all together", got, n)
	}
	cons, err := js.Consumer(ctx, fleet.SamplesStream, fleet.DefaultDurable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Delivered.Consumer != n || info.NumAckPending != 0 || info.NumRedelivered != 0 {
		t.Errorf("consumer delivered %d, pending acks %d, redelivered %d: want %d, 0, 0", info.Delivered.Consumer, info.NumAckPending, info.NumRedelivered, n)
	}
}

// TestTrainerMemoryFlat: fleet-train's loop of rounds (training steps,
// both validations on the held-out set) keeps the resident set flat. The
// margin keeps every candidate from promotion: the in-process JetStream
// server's own memory would otherwise grow with the stored versions.
func TestTrainerMemoryFlat(t *testing.T) {
	c := fleettest.Start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	nc := connect(t, c.URL())
	reg, err := fleet.Open(ctx, nc, fleet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := reg.Push(ctx, "street", seededModel(t, 3), fleet.Version{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Promote(ctx, "street", v.Digest, "test", ""); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.EnsureSamples(ctx, js, fleet.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	d := testDrive(t, worldA)
	for i := 1; i <= 20; i++ {
		data, err := fleet.EncodeSample(fleet.SampleHeader{Robot: "r1", Seq: uint64(i)}, driveSample(t, d, i), fleet.EncodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, fleet.SampleSubject("r1"), data); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := fleet.NewTrainer(ctx, nc, worker(t), gotch.CPU, fleet.TrainerConfig{Family: "street", RoundSteps: 5, Margin: 0.99,
		FetchWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for took := 0; took < 20; {
		k, err := tr.Pull(ctx, 64)
		if err != nil || k == 0 {
			t.Fatalf("took %d of 20: %v", took, err)
		}
		took += k
	}
	round := func() {
		rep, err := tr.Round(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Promoted != nil {
			t.Fatal("a candidate was promoted past a 99% margin")
		}
	}
	for i := 0; i < 4; i++ { // warm up allocator caches
		round()
	}
	before := memtest.SettledRSS(t)
	const n = 20
	for i := 0; i < n; i++ {
		round()
	}
	after := memtest.SettledRSS(t)
	growth := after - before
	t.Logf("RSS %d MB -> %d MB over %d rounds of 5 steps and 2 validations (%+d KB/round)", before>>20, after>>20, n, growth/1024/n)
	// A leaked batch (4 tuples of 4 64x64 images as float) is ~0.8 MB a
	// step, 80 MB over the run; allow allocator noise only.
	if growth > 30<<20 {
		t.Errorf("RSS grew by %d MB over %d rounds", growth>>20, n)
	}
}
