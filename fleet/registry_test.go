package fleet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallax-robotics/parallax/assets"
	"github.com/parallax-robotics/parallax/fleet"
	"github.com/parallax-robotics/parallax/fleet/fleettest"
	"github.com/parallax-robotics/parallax/perception"
)

// variant returns a valid checkpoint: the demo's weights under a header
// whose step count is steps (so each variant has its own digest).
func variant(t testing.TB, steps int64) []byte {
	t.Helper()
	c, err := perception.ParseCheckpoint(assets.DemoCheckpoint())
	if err != nil {
		t.Fatal(err)
	}
	hdr := c.Header
	hdr.Meta.Steps = steps
	path := filepath.Join(t.TempDir(), "v.ckpt")
	if err := perception.WriteCheckpoint(path, hdr, c.Sections...); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestRegistryOnCluster: push, pull by digest and prefix, list, promote
// and roll back on a real 3-server JetStream cluster with 3 replicas; with
// a server lost, every version and the pointer are still there.
func TestRegistryOnCluster(t *testing.T) {
	t0 := time.Now()
	cl := fleettest.Start(t, 3)
	t.Logf("cluster up in %v", time.Since(t0))
	ctx := ctxT(t)
	nc := connect(t, cl.URL())
	reg, err := fleet.Open(ctx, nc, fleet.Config{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	a, b := variant(t, 100), variant(t, 200)
	score := 0.21
	va, up, err := reg.Push(ctx, "street", a, fleet.Version{TrainedOn: "robot1", Samples: 640, Score: &score, ScoreName: "abs_rel"})
	if err != nil || !up {
		t.Fatalf("push a: %v uploaded %v", err, up)
	}
	if va.Digest != fleet.Digest(a) || va.Size != int64(len(a)) || va.Steps != 100 || va.Arch != "320x96 depth,pose small" {
		t.Errorf("version a: %+v", va)
	}
	again, up, err := reg.Push(ctx, "street", a, fleet.Version{TrainedOn: "elsewhere"})
	if err != nil || up || again.TrainedOn != "robot1" {
		t.Errorf("pushing a again: uploaded %v, %+v, %v (want the stored version unchanged)", up, again, err)
	}
	vb, _, err := reg.Push(ctx, "street", b, fleet.Version{TrainedOn: "trainer", Parent: va.Digest})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.Push(ctx, "street", []byte("not a checkpoint"), fleet.Version{}); !errors.Is(err, fleet.ErrCheckpoint) {
		t.Errorf("pushing junk: %v, want ErrCheckpoint", err)
	}
	if _, _, err := reg.Push(ctx, "Street/x", a, fleet.Version{}); !errors.Is(err, fleet.ErrFamily) {
		t.Errorf("bad family: %v, want ErrFamily", err)
	}
	got, v, err := reg.Pull(ctx, "street", vb.Digest)
	if err != nil || !bytes.Equal(got, b) || v.Parent != va.Digest {
		t.Fatalf("pull b: %v (bytes equal %v, %+v)", err, bytes.Equal(got, b), v)
	}
	if d, err := reg.Resolve(ctx, "street", va.Short()[:8]); err != nil || d != va.Digest {
		t.Errorf("resolve prefix: %s %v", d, err)
	}
	if _, err := reg.Resolve(ctx, "street", "abcdef0123"); !errors.Is(err, fleet.ErrNoVersion) {
		t.Errorf("resolve unknown: %v", err)
	}
	list, err := reg.List(ctx, "street")
	if err != nil || len(list) != 2 || list[0].Digest != va.Digest || *list[0].Score != score || list[0].Samples != 640 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, err := reg.Current(ctx, "street"); !errors.Is(err, fleet.ErrNoCurrent) {
		t.Errorf("current before any promotion: %v", err)
	}
	if _, err := reg.Promote(ctx, "street", fleet.Digest([]byte("x")), "me", ""); !errors.Is(err, fleet.ErrNoVersion) {
		t.Errorf("promoting an unknown digest: %v", err)
	}
	if _, err := reg.Promote(ctx, "street", va.Digest, "me", "first"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Promote(ctx, "street", va.Digest, "me", "again"); err == nil {
		t.Error("promoting the current version again succeeded")
	}
	if _, err := reg.Rollback(ctx, "street", "me", ""); !errors.Is(err, fleet.ErrRollback) {
		t.Errorf("rollback with one promotion: %v", err)
	}
	if _, err := reg.Promote(ctx, "street", vb.Digest, "trainer", "beats a"); err != nil {
		t.Fatal(err)
	}
	if p, _ := reg.Current(ctx, "street"); p.Digest != vb.Digest || p.From != va.Digest {
		t.Errorf("current after promoting b: %+v", p)
	}
	p, err := reg.Rollback(ctx, "street", "operator", "b is worse on the dock")
	if err != nil || p.Digest != va.Digest || p.From != vb.Digest {
		t.Fatalf("rollback: %+v %v", p, err)
	}
	h, err := reg.History(ctx, "street")
	if err != nil || len(h) != 3 {
		t.Fatalf("history: %+v %v", h, err)
	}
	want := []string{fleet.ActionPromote + va.Digest, fleet.ActionPromote + vb.Digest, fleet.ActionRollback + va.Digest}
	for i, p := range h {
		if p.Action+p.Digest != want[i] || p.At.IsZero() {
			t.Errorf("history %d: %+v", i, p)
		}
	}
	if h[2].Reason != "b is worse on the dock" || h[2].By != "operator" {
		t.Errorf("audit trail lost who and why: %+v", h[2])
	}
	if _, err := reg.Rollback(ctx, "street", "me", ""); !errors.Is(err, fleet.ErrRollback) {
		t.Errorf("rolling back past the first promotion: %v", err)
	}
	fams, err := reg.Families(ctx)
	if err != nil || fmt.Sprint(fams) != "[street]" {
		t.Errorf("families: %v %v", fams, err)
	}

	// A server of the cluster lost: the versions and the pointer survive.
	t0 = time.Now()
	cl.Stop(0)
	t.Logf("stop took %v", time.Since(t0))
	// Requests in flight to a lost leader get no answer: each call gets a
	// short deadline and is retried while the cluster elects a new one.
	nc1 := connect(t, cl.ServerURL(1))
	var reg1 *fleet.Registry
	retry(t, func(ctx context.Context) (err error) {
		reg1, err = fleet.Bind(ctx, nc1, fleet.DefaultBucket)
		return err
	})
	t.Logf("bind after the loss: %v", time.Since(t0))
	for _, d := range []string{va.Digest, vb.Digest} {
		retry(t, func(ctx context.Context) error { _, _, err := reg1.Pull(ctx, "street", d); return err })
	}
	retry(t, func(ctx context.Context) error {
		p, err := reg1.Current(ctx, "street")
		if err == nil && p.Digest != va.Digest {
			t.Fatalf("current with server 0 down: %+v", p)
		}
		return err
	})
}

// retry runs f with 2 s deadlines until it succeeds, for 30 s.
func retry(t testing.TB, f func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
}

// TestBindWithoutRegistry: a node binding a registry nobody created gets
// ErrNoRegistry, not a hang.
func TestBindWithoutRegistry(t *testing.T) {
	cl := fleettest.Start(t, 1)
	nc := connect(t, cl.URL())
	if _, err := fleet.Bind(ctxT(t), nc, "nothing-here"); !errors.Is(err, fleet.ErrNoRegistry) {
		t.Errorf("bind: %v, want ErrNoRegistry", err)
	}
}

// TestPullRefusesDamagedObject: an object whose stored bytes no longer
// hash to its version's digest (overwritten by another tool here) is
// refused with ErrDigest, after the retries, never handed out.
func TestPullRefusesDamagedObject(t *testing.T) {
	cl := fleettest.Start(t, 1)
	ctx := ctxT(t)
	nc := connect(t, cl.URL())
	reg, err := fleet.Open(ctx, nc, fleet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a := variant(t, 100)
	va, _, err := reg.Push(ctx, "street", a, fleet.Version{TrainedOn: "robot1"})
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := js.ObjectStore(ctx, fleet.DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := obj.GetInfo(ctx, "street/"+va.Digest)
	if err != nil {
		t.Fatal(err)
	}
	b := variant(t, 200)
	if _, err := obj.Put(ctx, info.ObjectMeta, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.Pull(ctx, "street", va.Digest); !errors.Is(err, fleet.ErrDigest) {
		t.Fatalf("pull of a damaged object: %v, want ErrDigest", err)
	}
}

// TestFollowerAcrossOutage: a follower connected to one server of the
// cluster gets the current version at start (a node that was off catches
// up), a promotion made while its server is down arrives after the server
// returns, and it never re-delivers a version it handled.
func TestFollowerAcrossOutage(t *testing.T) {
	cl := fleettest.Start(t, 3)
	ctx := ctxT(t)
	admin := connect(t, cl.ServerURL(1))
	reg, err := fleet.Open(ctx, admin, fleet.Config{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	a, b := variant(t, 1), variant(t, 2)
	va, _, _ := reg.Push(ctx, "street", a, fleet.Version{})
	vb, _, _ := reg.Push(ctx, "street", b, fleet.Version{})
	if _, err := reg.Promote(ctx, "street", va.Digest, "test", ""); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	var statuses []string
	f := &fleet.Follower{Conn: connect(t, cl.ServerURL(0)), Family: "street", Poll: 300 * time.Millisecond, Timeout: time.Second,
		Handle: func(_ context.Context, p fleet.Pointer, v fleet.Version, ckpt []byte) error {
			mu.Lock()
			defer mu.Unlock()
			if fleet.Digest(ckpt) != p.Digest || v.Digest != p.Digest {
				t.Errorf("handed %s with bytes of %s", p.Digest, fleet.Digest(ckpt))
			}
			got = append(got, p.Digest)
			return nil
		},
		Status: func(ok bool, msg string) {
			mu.Lock()
			statuses = append(statuses, fmt.Sprint(ok, " ", msg))
			mu.Unlock()
		}}
	fctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(fctx) }()
	defer func() { stop(); <-done }()
	waitFor := func(what string, n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			k := len(got)
			mu.Unlock()
			if k >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("the current version at start", 1)
	cl.Stop(0)
	// The stopped server may have led the KV's stream: until the cluster
	// has elected another, a request finds no responders; retry as an
	// operator would.
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := reg.Promote(ctx, "street", vb.Digest, "test", "during the outage")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // the follower polls a dead server meanwhile
	cl.Restart(t, 0)
	waitFor("the version promoted during the outage", 2)
	time.Sleep(time.Second) // several polls: nothing is delivered twice
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != va.Digest || got[1] != vb.Digest {
		t.Errorf("handled %v, want a then b once each", got)
	}
	t.Logf("statuses: %v", statuses)
}
