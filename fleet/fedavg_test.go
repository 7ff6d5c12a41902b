package fleet_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/fleet"
	"github.com/parallax-robotics/parallax/fleet/fleettest"
	"github.com/parallax-robotics/parallax/perception"
)

func tinyArch() perception.ModelConfig {
	return perception.DepthPose(64, 64, perception.DepthConfig{Size: perception.SizeSmall}, perception.PoseConfig{Size: perception.SizeSmall})
}

// seeded makes a model of arch with initial weights seeded by seed.
func seeded(t testing.TB, arch perception.ModelConfig, seed int64) *perception.Model {
	t.Helper()
	var m *perception.Model
	err := worker(t).Do(func() (err error) {
		perception.ManualSeed(seed)
		m, err = perception.NewModel(arch, gotch.CPU)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { worker(t).Do(func() error { m.Close(); return nil }) })
	return m
}

// values copies every variable of m, by name.
func values(t testing.TB, m *perception.Model) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	err := worker(t).Do(func() error {
		for _, nv := range m.NamedVariables() {
			v, err := perception.TensorFloat32s(nv.Tensor)
			if err != nil {
				return err
			}
			out[nv.Name] = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fedAvgWant is base + Σ n_i (w_i - base) / Σ n_i, computed in Go.
func fedAvgWant(base map[string][]float32, ws []map[string][]float32, n []float64) map[string][]float64 {
	var total float64
	for _, x := range n {
		total += x
	}
	out := map[string][]float64{}
	for name, b := range base {
		v := make([]float64, len(b))
		for k := range b {
			v[k] = float64(b[k])
			for i, w := range ws {
				v[k] += n[i] / total * (float64(w[name][k]) - float64(b[k]))
			}
		}
		out[name] = v
	}
	return out
}

func maxDiff(t testing.TB, got map[string][]float32, want map[string][]float64) float64 {
	t.Helper()
	var d float64
	if len(got) != len(want) {
		t.Fatalf("%d variables, want %d", len(got), len(want))
	}
	for name, w := range want {
		g := got[name]
		for k := range w {
			d = math.Max(d, math.Abs(float64(g[k])-w[k]))
		}
	}
	return d
}

// TestFedAvgTensors: FedAvg of three robots' weights made from one base,
// weighted 1:2:5 by samples, through the deltas they would publish
// (EncodeDelta, ParseDelta, WeightedSum onto the base), equals the
// weighted average computed in Go on every variable; a delta of another
// architecture is refused before anything is written.
func TestFedAvgTensors(t *testing.T) {
	arch := tinyArch()
	base := seeded(t, arch, 9)
	robots := []*perception.Model{seeded(t, arch, 1), seeded(t, arch, 2), seeded(t, arch, 3)}
	n := []float64{1, 2, 5}
	bv := values(t, base)
	var rv []map[string][]float32
	for _, r := range robots {
		rv = append(rv, values(t, r))
	}
	want := fedAvgWant(bv, rv, n)
	baseDigest := "sha256-" + fmtHex(64)
	var deltas []*perception.Model
	for i, r := range robots {
		var data []byte
		if err := worker(t).Do(func() (err error) {
			data, err = fleet.EncodeDelta(r, base, "robot"+string(rune('a'+i)), baseDigest, int64(n[i]))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		d, err := fleet.ParseDelta(data)
		if err != nil {
			t.Fatal(err)
		}
		if d.Base != baseDigest || d.Samples != int64(n[i]) || d.Robot != "robot"+string(rune('a'+i)) {
			t.Errorf("delta %d: %+v", i, d)
		}
		m := seeded(t, arch, 100)
		if err := worker(t).Do(func() error { return m.LoadCheckpoint(d.Checkpoint) }); err != nil {
			t.Fatal(err)
		}
		deltas = append(deltas, m)
	}
	dst := seeded(t, arch, 200)
	coef := []float64{n[0] / 8, n[1] / 8, n[2] / 8}
	if err := worker(t).Do(func() error {
		if err := dst.CopyFrom(base); err != nil {
			return err
		}
		return fleet.WeightedSum(dst, true, deltas, coef)
	}); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(t, values(t, dst), want); d > 1e-5 {
		t.Errorf("FedAvg through deltas: max difference %g from the Go average", d)
	}
	// Directly on the weights: Σ n_i w_i / Σ n_i is the same average.
	if err := worker(t).Do(func() error { return fleet.WeightedSum(dst, false, robots, coef) }); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(t, values(t, dst), want); d > 1e-5 {
		t.Errorf("FedAvg on weights: max difference %g from the Go average", d)
	}
	before := values(t, dst)
	wider := seeded(t, perception.DepthPose(96, 64, perception.DepthConfig{Size: perception.SizeSmall}, perception.PoseConfig{Size: perception.SizeSmall}), 4)
	bigger := seeded(t, perception.DepthPose(64, 64, perception.DepthConfig{Size: perception.SizeDefault}, perception.PoseConfig{Size: perception.SizeSmall}), 4)
	for _, bad := range []*perception.Model{wider, bigger} {
		err := worker(t).Do(func() error {
			return fleet.WeightedSum(dst, true, []*perception.Model{robots[0], bad}, []float64{0.5, 0.5})
		})
		if !errors.Is(err, fleet.ErrDelta) {
			t.Errorf("a model of another architecture: %v, want ErrDelta", err)
		}
	}
	if d := maxDiff(t, values(t, dst), toF64(before)); d != 0 {
		t.Errorf("a refused sum changed the weights by %g", d)
	}
	if _, err := fleet.ParseDelta(variantBytes(t)); !errors.Is(err, fleet.ErrDelta) {
		t.Errorf("a plain checkpoint as a delta: %v, want ErrDelta", err)
	}
}

func toF64(m map[string][]float32) map[string][]float64 {
	out := map[string][]float64{}
	for k, v := range m {
		f := make([]float64, len(v))
		for i := range v {
			f[i] = float64(v[i])
		}
		out[k] = f
	}
	return out
}

func fmtHex(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = "0123456789abcdef"[i%16]
	}
	return string(b)
}

func variantBytes(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.ckpt")
	m := seeded(t, tinyArch(), 5)
	if err := worker(t).Do(func() error { return m.Save(path, perception.CheckpointMeta{}) }); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestFedRound: robots publish deltas on the fleet's current version
// through JetStream; the trainer's federated round averages the fresh
// ones weighted by samples (a stale one, made on another version, and a
// malformed one are left out) and promotes the result, whose weights are
// the FedAvg.
func TestFedRound(t *testing.T) {
	c := fleettest.Start(t, 1)
	ctx := ctxT(t)
	nc := connect(t, c.URL())
	reg, err := fleet.Open(ctx, nc, fleet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	arch := tinyArch()
	base := seeded(t, arch, 9)
	path := filepath.Join(t.TempDir(), "base.ckpt")
	if err := worker(t).Do(func() error { return base.Save(path, perception.CheckpointMeta{}) }); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	v, _, err := reg.Push(ctx, "street", data, fleet.Version{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Promote(ctx, "street", v.Digest, "test", ""); err != nil {
		t.Fatal(err)
	}
	tr, err := fleet.NewTrainer(ctx, nc, worker(t), gotch.CPU, fleet.TrainerConfig{Family: "street", FetchWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	a, b := seeded(t, arch, 1), seeded(t, arch, 2)
	publish := func(robot string, m *perception.Model, digest string, n int64) {
		var d []byte
		if err := worker(t).Do(func() (err error) { d, err = fleet.EncodeDelta(m, base, robot, digest, n); return err }); err != nil {
			t.Fatal(err)
		}
		if err := fleet.PublishDelta(ctx, nc, robot, d); err != nil {
			t.Fatal(err)
		}
	}
	// The round makes the stream on first use: start it, then publish.
	done := make(chan fleet.FedReport, 1)
	errc := make(chan error, 1)
	go func() {
		rep, err := tr.FedRound(ctx, 2)
		errc <- err
		done <- rep
	}()
	time.Sleep(500 * time.Millisecond)
	publish("robot-s", b, "sha256-"+fmtHex(64), 7) // stale: another base
	if err := fleet.PublishDelta(ctx, nc, "robot-x", []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	publish("robot-a", a, v.Digest, 30)
	publish("robot-b", b, v.Digest, 10)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	rep := <-done
	t.Logf("federated round: %+v", rep)
	if rep.Deltas != 2 || rep.Stale != 1 || rep.Bad != 1 || rep.Samples != 40 || rep.Promoted == nil {
		t.Fatalf("report %+v: want 2 deltas of 40 samples, 1 stale, 1 bad, a version promoted", rep)
	}
	want := fedAvgWant(values(t, base), []map[string][]float32{values(t, a), values(t, b)}, []float64{30, 10})
	pulled, _, err := reg.Pull(ctx, "street", rep.Promoted.Digest)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := perception.ParseCheckpoint(pulled)
	if err != nil {
		t.Fatal(err)
	}
	got := seeded(t, arch, 300)
	if err := worker(t).Do(func() error { return got.LoadCheckpoint(ck) }); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(t, values(t, got), want); d > 1e-5 {
		t.Errorf("promoted version: max difference %g from FedAvg", d)
	}
	if p, err := reg.Current(ctx, "street"); err != nil || p.Digest != rep.Promoted.Digest {
		t.Errorf("current %+v %v", p, err)
	}
}
