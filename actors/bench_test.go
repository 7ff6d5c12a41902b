package actors

import (
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

// BenchmarkEndToEndLatency measures, for the demo's rig (stereo 320x96 at
// 15 fps served as H.264 over RTSP, the small model), the latency from a
// frame's capture stamp to its depth map arriving at a NATS subscriber.
// Each iteration is one depth map received; run it with -benchtime=150x
// (10 s of video). It first waits (about 10 s) for the camera clock: until
// the first RTCP sender report, stamps are receive times.
func BenchmarkEndToEndLatency(b *testing.B) {
	srv := serveSynth(b, "127.0.0.1:0", time.Now())
	b.Cleanup(srv.Close)
	n := startNode(b, &Node{Launch: rtspLaunch(b, srv.Addr(), "")})
	nc, err := nats.Connect(n.NATSURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	type arrival struct {
		at   time.Time
		data []byte
	}
	ch := make(chan arrival, 1024)
	sub, err := nc.Subscribe("test.left.depth", func(m *nats.Msg) {
		select {
		case ch <- arrival{time.Now(), m.Data}:
		default:
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	sub.SetPendingLimits(-1, -1)
	waitFor(b, 30*time.Second, "the camera clock", n.CameraClock)
	time.Sleep(time.Second) // let the stamps settle after the switch
	for len(ch) > 0 {
		<-ch
	}
	s0 := n.Stats()
	n.Latencies()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	begin := time.Now()
	for i := 0; i < b.N; i++ {
		var a arrival
		select {
		case a = <-ch:
		case <-time.After(10 * time.Second):
			b.Fatal("no depth map for 10 s")
		}
		var img foxglove.RawImage
		if err := proto.Unmarshal(a.data, &img); err != nil {
			b.Fatal(err)
		}
		stamp, err := msgs.Time(img.Timestamp)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, a.at.Sub(stamp))
	}
	elapsed := time.Since(begin)
	b.StopTimer()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	s := n.Stats()
	// Go allocations of the whole process (camera decode, sync, sinks,
	// NATS, this subscriber) per frame set processed.
	if done := s.FramesProcessed - s0.FramesProcessed; done > 0 {
		b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(done), "allocs/frame")
		b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(done), "B/frame")
	}
	pub := n.Latencies()
	b.ReportMetric(float64(Percentile(pub, 50))/1e6, "pub-p50-ms")
	b.ReportMetric(float64(Percentile(lat, 50))/1e6, "p50-ms")
	b.ReportMetric(float64(Percentile(lat, 99))/1e6, "p99-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "depth/s")
	b.ReportMetric(float64(s.DroppedStale-s0.DroppedStale)/elapsed.Seconds(), "stale/s")
}
