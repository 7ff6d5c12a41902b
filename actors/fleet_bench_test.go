package actors

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parallax-robotics/parallax/assets"
	"github.com/parallax-robotics/parallax/fleet"
	"github.com/parallax-robotics/parallax/fleet/fleettest"
	"github.com/parallax-robotics/parallax/perception"
)

// BenchmarkFleetHandOver: time from `model promote` (the KV put) to
// perception serving the version on a running, adapting node: the watch's
// delivery, the pull (4.6 MB), validation on the held-out tuples and the
// swap. A 3-server cluster; tolerance 0.5 so that versions with the
// pretrained weights are accepted however far the node adapted.
func BenchmarkFleetHandOver(b *testing.B) {
	cl := fleettest.Start(b, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	admin, err := nats.Connect(cl.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	reg, err := fleet.Open(ctx, admin, fleet.Config{Replicas: 3})
	if err != nil {
		b.Fatal(err)
	}
	c, err := perception.ParseCheckpoint(assets.DemoCheckpoint())
	if err != nil {
		b.Fatal(err)
	}
	var digests []string
	for i := 0; i <= b.N; i++ {
		c.Header.Meta.Steps = int64(1000 + i)
		path := filepath.Join(b.TempDir(), "v.ckpt")
		if err := perception.WriteCheckpoint(path, c.Header, c.Sections...); err != nil {
			b.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		v, _, err := reg.Push(ctx, "street", data, fleet.Version{})
		if err != nil {
			b.Fatal(err)
		}
		digests = append(digests, v.Digest)
	}
	n := startNode(b, &Node{Launch: parseLaunch(b, `
namespace: test
cameras:
  - {name: left, url: "`+testWorld+`", role: left}
  - {name: right, url: "`+testWorld+`", role: right}
model: {width: 320, height: 96, size: small}
device: cpu
nats: {url: "`+cl.URL()+`"}
learner: {adapt: true, steps_per_s: 2, check_every: 2, hand_over_every: 2, buffer: 8, replay: 1}
fleet: {model: street, poll: 1s, tolerance: 0.5}`)})
	served := func(d string) func() bool {
		return func() bool { st, _ := n.FleetStats(); return st.Serving == d }
	}
	if _, err := reg.Promote(ctx, "street", digests[0], "bench", ""); err != nil {
		b.Fatal(err)
	}
	waitFor(b, time.Minute, "the first version served", served(digests[0]))
	var total time.Duration
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		t0 := time.Now()
		if _, err := reg.Promote(ctx, "street", digests[i], "bench", ""); err != nil {
			b.Fatal(err)
		}
		waitFor(b, time.Minute, "the promoted version served", served(digests[i]))
		total += time.Since(t0)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "promote_to_served_ms")
}
