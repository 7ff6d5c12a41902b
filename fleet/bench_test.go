package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/fleet"
	"github.com/parallax-robotics/parallax/fleet/fleettest"
)

// BenchmarkPushPull: pushing and pulling the demo checkpoint (4.6 MB) on
// a 3-server cluster with 3 replicas, through one client; MB/s each way.
func BenchmarkPushPull(b *testing.B) {
	cl := fleettest.Start(b, 3)
	nc := connect(b, cl.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	reg, err := fleet.Open(ctx, nc, fleet.Config{Replicas: 3})
	if err != nil {
		b.Fatal(err)
	}
	data := make([][]byte, b.N)
	for i := range data {
		data[i] = variant(b, int64(i))
	}
	var push, pull time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		v, _, err := reg.Push(ctx, "bench", data[i], fleet.Version{})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, _, err := reg.Pull(ctx, "bench", v.Digest); err != nil {
			b.Fatal(err)
		}
		push += t1.Sub(t0)
		pull += time.Since(t1)
	}
	mb := float64(len(data[0])) * float64(b.N) / 1e6
	b.ReportMetric(mb/push.Seconds(), "push_MB/s")
	b.ReportMetric(mb/pull.Seconds(), "pull_MB/s")
}
