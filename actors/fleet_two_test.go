package actors

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/fleet"
	"github.com/parallax-robotics/parallax/fleet/fleettest"
	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
)

// The two robots' worlds of TestFleetOfTwoNodes: another seed, style,
// layout, palette and sun; 64x64 so that two nodes and a trainer fit on
// two shared cores. The nodes drive them at fleetSpeed; their held-out
// frames are rendered at the default 8 m/s (the speed moves the camera, not
// the world) on a stretch of the road the nodes do not reach.
const (
	fleetWorldA = "synth://?seed=3&stereo=1&width=64&height=64&fps=10"
	fleetWorldB = "synth://?seed=11&style=suburb&stereo=1&width=64&height=64&fps=10"
	fleetSpeed  = 0.5 // m/s, the nodes' drive
)

// heldOutArc is where a world's evaluation frames start along its road, a
// share of one lap (about 315 m) from where a node starts: the nodes drive
// below it during the test (checked), so neither a node nor the trainer
// has trained on them.
const heldOutArc = 0.55

// offsetDrive is a drive's frames from off on.
type offsetDrive struct {
	camera.Drive
	off int
}

func (d offsetDrive) Frame(i int) (left, right *msgs.Frame, err error) {
	return d.Drive.Frame(i + d.off)
}

// heldOut is world's evaluation drive and the length of its road's lap.
func heldOut(t testing.TB, world string) (camera.Drive, float64) {
	t.Helper()
	cfg, err := synth.ParseURL(world)
	if err != nil {
		t.Fatal(err)
	}
	d, err := synth.NewDrive(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lap, c := d.World().Length(), d.World().Config() // defaults filled in
	return offsetDrive{Drive: d, off: int(heldOutArc * lap / c.Speed * c.FPS)}, lap
}

// loadModel parses a checkpoint into a model on w, closed when the test
// ends.
func loadModel(t testing.TB, w *perception.Worker, data []byte) *perception.Model {
	t.Helper()
	c, err := perception.ParseCheckpoint(data)
	if err != nil {
		t.Fatal(err)
	}
	var m *perception.Model
	err = w.Do(func() error {
		if m, err = perception.NewModel(c.Header.Arch, gotch.CPU); err != nil {
			return err
		}
		return m.LoadCheckpoint(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Do(func() error { m.Close(); return nil }) })
	return m
}

// heldOutAbsRel is m's metric abs_rel on 16 held-out frames of world.
func heldOutAbsRel(t testing.TB, w *perception.Worker, m *perception.Model, world string) float64 {
	t.Helper()
	d, _ := heldOut(t, world)
	rep, err := learner.EvaluateDrive(context.Background(), perception.NewEstimator(m, w), d, world, learner.EvalConfig{Frames: 16})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Metric.AbsRel
}

// TestFleetOfTwoNodes: two nodes driving two different synthetic worlds,
// adapting and uploading their picks to a 3-server JetStream cluster one
// server of which is killed during the uploads, and one fleet-train
// (fleet.Trainer, in process) training the shared model on both. Every
// sample JetStream acknowledged reaches the trainer, the promoted version
// is on the surviving servers, both nodes validate it on their own frames
// and serve it, and the shared model's depth error on each world is lower
// than the other node's own adapted model on that world.
func TestFleetOfTwoNodes(t *testing.T) {
	cl := fleettest.Start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	w, err := perception.NewWorker(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	admin, err := nats.Connect(cl.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	reg, err := fleet.Open(ctx, admin, fleet.Config{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.EnsureSamples(ctx, js, fleet.StreamConfig{Replicas: 3}); err != nil {
		t.Fatal(err)
	}

	// Version 0, what both nodes start from and the trainer trains on.
	dir := t.TempDir()
	v0path := filepath.Join(dir, "v0.ckpt")
	v0 := seededCheckpoint(t, v0path, 64, 64, 3)
	ver0, _, err := reg.Push(ctx, "street", v0, fleet.Version{TrainedOn: "init"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Promote(ctx, "street", ver0.Digest, "test", "initial"); err != nil {
		t.Fatal(err)
	}

	worlds := map[string]string{"robot-a": fleetWorldA, "robot-b": fleetWorldB}
	nodes := map[string]*Node{}
	// The slow drive moves a tuple's frames a few centimetres apart: the
	// motion gates are off (stereo needs none).
	drive := fmt.Sprintf("&speed=%g", fleetSpeed)
	started := time.Now()
	for r, world := range worlds {
		// tolerance 0.25, as a fleet that trusts its trainer's held-out set
		// would deploy it: a node that adapted an earlier shared version
		// further scores the next one up to 14 % worse on its 4 held-out
		// tuples (noise of that size); with 0 one node refused every
		// trainer version in most quiet-machine runs, with 0.1 in 1 of 4.
		nodes[r] = startNode(t, &Node{Launch: parseLaunch(t, `
namespace: `+r+`
cameras:
  - {name: left, url: "`+world+drive+`", role: left}
  - {name: right, url: "`+world+drive+`", role: right}
model: {width: 64, height: 64, size: small, checkpoint: "`+v0path+`"}
device: cpu
nats: {url: "`+cl.URL()+`"}
learner: {adapt: true, mode: stereo, lr: 0.0003, steps_per_s: 2, check_every: 2, hand_over_every: 2, buffer: 16, replay: 1,
  checkpoint: "`+filepath.Join(dir, r+".ckpt")+`", checkpoint_every: 1s,
  min_translation: 0, min_pixel_change: 0.01}
fleet: {model: street, poll: 500ms, upload: true, robot: `+r+`, tolerance: 0.25}`)})
	}

	// Kill a server once both nodes have had samples acknowledged, and go
	// on uploading on the other two.
	sent := func(r string) int64 { st, _ := nodes[r].FleetStats(); return st.Upload.Sent }
	waitFor(t, 2*time.Minute, "both nodes' first samples acknowledged", func() bool { return sent("robot-a") >= 8 && sent("robot-b") >= 8 })
	cl.Stop(0)
	t.Logf("server 0 killed after %d and %d samples", sent("robot-a"), sent("robot-b"))
	waitFor(t, 3*time.Minute, "both nodes uploading on the remaining servers", func() bool { return sent("robot-a") >= 30 && sent("robot-b") >= 30 })

	// Stop the picks (the learners go on adapting) and let the queues
	// drain: what was acknowledged by then is what the trainer must get.
	acked := map[string]int64{}
	for r, n := range nodes {
		n.learn.pick.Store(nil)
		// Drained, and no offer for a second (one may have been under way).
		offered, since := int64(-1), time.Now()
		waitFor(t, time.Minute, r+"'s upload queue drained", func() bool {
			st, _ := n.FleetStats()
			u := st.Upload
			if u.Offered != offered {
				offered, since = u.Offered, time.Now()
			}
			return u.Sent+u.Failed+u.Dropped == u.Offered && time.Since(since) > time.Second
		})
		st, _ := n.FleetStats()
		acked[r] = st.Upload.Sent
		t.Logf("%s: offered %d, acknowledged %d, dropped %d, failed %d (%s), %d bytes", r, st.Upload.Offered, st.Upload.Sent,
			st.Upload.Dropped, st.Upload.Failed, st.Upload.LastError, st.Upload.Bytes)
	}

	tnc, err := nats.Connect(cl.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer tnc.Close()
	tr, err := fleet.NewTrainer(ctx, tnc, w, gotch.CPU, fleet.TrainerConfig{Family: "street", Registry: fleet.Config{Replicas: 3},
		Stream: fleet.StreamConfig{Replicas: 3}, LR: 3e-4, RoundSteps: 80, Name: "fleet-train@test", FetchWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for {
		k, err := tr.Pull(ctx, 64)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
	}
	st := tr.Stats()
	for r, n := range acked {
		if st.PerRobot[r] != n {
			t.Errorf("%s: the trainer took %d samples, JetStream acknowledged %d: an acknowledged sample was lost (or doubled)", r, st.PerRobot[r], n)
		}
	}
	t.Logf("trainer took %d training and %d held-out samples, %d bad", st.Samples, st.HeldOut, st.Bad)

	// The nodes' own adapted weights, as they stand before the shared
	// model reaches them (their latest periodic checkpoints).
	own := map[string]*perception.Model{}
	for r := range nodes {
		data, err := os.ReadFile(filepath.Join(dir, r+".ckpt"))
		if err != nil {
			t.Fatal(err)
		}
		own[r] = loadModel(t, w, data)
	}

	// Five rounds of 80 steps, about what each node made on its own: with
	// three of 40 the shared model scored 0.278 on world B in a CI run, and
	// node A's own (which generalises to B: 0.276 to 0.340 over runs) 0.276;
	// with five of 80 it scores 0.267.
	var promoted []*fleet.Version
	for i := 0; i < 5; i++ {
		rep, err := tr.Round(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d steps in %s, held-out photometric %.4f vs current %.4f, promoted %v", i+1, rep.Steps, rep.Took.Round(time.Millisecond),
			rep.Candidate, rep.Current, rep.Promoted != nil)
		if rep.Promoted != nil {
			promoted = append(promoted, rep.Promoted)
		}
	}
	if len(promoted) == 0 {
		t.Fatal("no round beat the initial version")
	}
	last := promoted[len(promoted)-1]
	promotedAt := time.Now()

	// The versions are on the surviving servers, each asked alone.
	for _, i := range []int{1, 2} {
		nc, err := nats.Connect(cl.ServerURL(i))
		if err != nil {
			t.Fatal(err)
		}
		r, err := fleet.Open(ctx, nc, fleet.Config{Replicas: 3})
		if err != nil {
			t.Fatal(err)
		}
		p, err := r.Current(ctx, "street")
		if err != nil || p.Digest != last.Digest {
			t.Errorf("server %d: current %+v (%v), want %s", i, p, err, last.Short())
		}
		for _, v := range append([]*fleet.Version{&ver0}, promoted...) {
			if _, _, err := r.Pull(ctx, "street", v.Digest); err != nil {
				t.Errorf("server %d: version %s: %v", i, v.Short(), err)
			}
		}
		nc.Close()
	}

	// Both nodes validate the shared model on their own frames and serve
	// it: the last version, or an earlier one of this training when the
	// last scores worse on the node's own held-out tuples (the guard's
	// refusal, logged with its numbers).
	served := func(d string) bool {
		for _, v := range promoted {
			if v.Digest == d {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(3 * time.Minute)
	for r, n := range nodes {
		for {
			st, _ := n.FleetStats()
			if st.Serving == last.Digest || strings.Contains(st.LastRefusal, last.Short()) {
				t.Logf("%s decided on %s %v after its promotion: serving %s (accepted %d, refused %d; last refusal: %q; hand-over latency of the served one %v)",
					r, last.Short(), time.Since(promotedAt).Round(time.Millisecond), fleet.ShortDigest(st.Serving), st.Accepted, st.Refused,
					st.LastRefusal, st.HandOverLatency.Round(time.Millisecond))
				if !served(st.Serving) {
					t.Errorf("%s serves %s, none of the trainer's versions", r, fleet.ShortDigest(st.Serving))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s has not validated the promoted %s: %+v", r, last.Short(), st)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("both nodes decided %v after the promotion", time.Since(promotedAt).Round(time.Millisecond))

	// The nodes never drove into the held-out stretches.
	for r, world := range worlds {
		_, lap := heldOut(t, world)
		if drove := fleetSpeed * time.Since(started).Seconds(); drove >= heldOutArc*lap {
			t.Fatalf("%s drove %.0f m of its %.0f m lap: into the held-out frames from %.0f m on", r, drove, lap, heldOutArc*lap)
		}
	}
	sharedA, sharedB := heldOutAbsRel(t, w, tr.Model(), fleetWorldA), heldOutAbsRel(t, w, tr.Model(), fleetWorldB)
	aOnB, bOnA := heldOutAbsRel(t, w, own["robot-a"], fleetWorldB), heldOutAbsRel(t, w, own["robot-b"], fleetWorldA)
	t.Logf("metric abs_rel on held-out frames: world A shared %.3f, node B's own %.3f (node A's own %.3f); world B shared %.3f, node A's own %.3f (node B's own %.3f)",
		sharedA, bOnA, heldOutAbsRel(t, w, own["robot-a"], fleetWorldA), sharedB, aOnB, heldOutAbsRel(t, w, own["robot-b"], fleetWorldB))
	if !(sharedA < bOnA) || !(sharedB < aOnB) {
		t.Errorf("shared model: %.3f on A, %.3f on B; want below the other node's own %.3f on A and %.3f on B", sharedA, sharedB, bOnA, aOnB)
	}
}
