package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/fleet"
	"github.com/parallax-robotics/parallax/fleet/fleettest"
	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/perception"
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

// benchWorld is the node's default input size, stereo: the tuples a
// robot at the default launch uploads.
const benchWorld = "synth://?seed=3&stereo=1&width=320&height=96"

// BenchmarkEncodeSample: the robot's CPU cost of one 320x96 stereo tuple
// (four frames) per codec, and its size.
func BenchmarkEncodeSample(b *testing.B) {
	d := testDrive(b, benchWorld)
	s := driveSample(b, d, 5)
	for _, codec := range []string{fleet.CodecPNG, fleet.CodecJPEG} {
		b.Run(codec, func(b *testing.B) {
			var n int
			for i := 0; i < b.N; i++ {
				data, err := fleet.EncodeSample(fleet.SampleHeader{Robot: "r1"}, s, fleet.EncodeOptions{Codec: codec})
				if err != nil {
					b.Fatal(err)
				}
				n = len(data)
			}
			b.ReportMetric(float64(n)/1e3, "kB/sample")
		})
	}
}

// BenchmarkUploadDefaultBudget: one robot offering a pick every 50 ms
// (faster than the budget allows) at the default budget, to a 3-server
// cluster with 3 replicas; b.N acknowledged samples. Samples/s and MB/s
// are what the budget lets through.
func BenchmarkUploadDefaultBudget(b *testing.B) {
	cl := fleettest.Start(b, 3)
	nc := connect(b, cl.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := fleet.EnsureSamples(ctx, js, fleet.StreamConfig{Replicas: 3}); err != nil {
		b.Fatal(err)
	}
	d := testDrive(b, benchWorld)
	var picks []learner.Sample
	for i := 1; i <= 40; i++ {
		picks = append(picks, driveSample(b, d, i))
	}
	u, err := fleet.NewUploader(nc, fleet.UploadConfig{Robot: "robot7"})
	if err != nil {
		b.Fatal(err)
	}
	defer u.Close()
	b.ResetTimer()
	start := time.Now()
	for i := 0; u.Stats().Sent < int64(b.N); i++ {
		u.Offer(picks[i%len(picks)])
		time.Sleep(50 * time.Millisecond)
	}
	el := time.Since(start).Seconds()
	st := u.Stats()
	b.ReportMetric(float64(st.Sent)/el, "samples/s")
	b.ReportMetric(float64(st.Bytes)/1e6/el, "MB/s")
	b.ReportMetric(float64(st.Bytes)/float64(st.Sent)/1e3, "kB/sample")
	b.ReportMetric(float64(st.Dropped)/float64(st.Offered), "dropped/offered")
}

// BenchmarkTrainer: fleet-train's throughput on a 1-server cluster: taking
// samples (fetch, decode, ack) and training on them (320x96 small network,
// stereo, batch 4, one torch thread), in samples a second each.
func BenchmarkTrainer(b *testing.B) {
	cl := fleettest.Start(b, 1)
	nc := connect(b, cl.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := fleet.EnsureSamples(ctx, js, fleet.StreamConfig{}); err != nil {
		b.Fatal(err)
	}
	d := testDrive(b, benchWorld)
	const n = 40
	for i := 1; i <= n; i++ {
		data, err := fleet.EncodeSample(fleet.SampleHeader{Robot: "r1", Seq: uint64(i)}, driveSample(b, d, i), fleet.EncodeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := js.Publish(ctx, fleet.SampleSubject("r1"), data); err != nil {
			b.Fatal(err)
		}
	}
	arch := perception.DepthPose(320, 96, perception.DepthConfig{Size: perception.SizeSmall}, perception.PoseConfig{Size: perception.SizeSmall})
	tr, err := fleet.NewTrainer(ctx, nc, worker(b), gotch.CPU, fleet.TrainerConfig{Family: "bench", Model: arch, RoundSteps: 5,
		FetchWait: 200 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	b.ResetTimer()
	t0 := time.Now()
	for took := 0; took < n; {
		k, err := tr.Pull(ctx, 64)
		if err != nil {
			b.Fatal(err)
		}
		if k == 0 {
			b.Fatalf("took %d of %d", took, n)
		}
		took += k
	}
	pull := time.Since(t0).Seconds()
	var steps int
	var train time.Duration
	for i := 0; i < b.N; i++ {
		rep, err := tr.Round(ctx)
		if err != nil {
			b.Fatal(err)
		}
		steps += rep.Steps
		train += rep.Took
	}
	b.ReportMetric(n/pull, "taken_samples/s")
	b.ReportMetric(float64(steps*4)/train.Seconds(), "trained_samples/s")
}
