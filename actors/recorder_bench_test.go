package actors

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/record"
)

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkNodeRecorder runs the synth:// stereo node (320x96, 15 fps, small
// model, adaptation off) for b.N seconds without and with the Recorder
// (frames, ground truth and outputs): the process's CPU use (in cores) and
// what the recorder writes. Run with -benchtime 5x.
func BenchmarkNodeRecorder(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			l := synthLaunch(b, "learner: {adapt: false}")
			n := &Node{Launch: l}
			var rec *record.Recorder
			if on {
				rec = &record.Recorder{Path: filepath.Join(b.TempDir(), "drive.mcap")}
				n.Sinks = []Sink{rec}
			}
			startNode(b, n)
			time.Sleep(time.Second) // warm up: model load, first frames
			s0, cpu0, t0 := n.Stats(), processCPU(), time.Now()
			var r0 record.RecorderStats
			if rec != nil {
				r0 = rec.Stats()
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				time.Sleep(time.Second)
			}
			el := time.Since(t0).Seconds()
			s, cpu := n.Stats(), processCPU()
			b.ReportMetric((cpu-cpu0).Seconds()/el, "cores")
			b.ReportMetric(float64(s.FramesIn-s0.FramesIn)/el, "frames/s")
			b.ReportMetric(float64(s.FramesProcessed-s0.FramesProcessed)/el, "processed/s")
			if rec != nil {
				r := rec.Stats()
				b.ReportMetric(float64(r.Bytes-r0.Bytes)/1e6/el, "MB/s")
				b.ReportMetric(float64(r.Messages-r0.Messages)/el, "msgs/s")
				st, _ := n.SinkStats(rec.Name())
				b.ReportMetric(float64(st.Dropped), "dropped")
			}
			b.StopTimer()
			n.Stop()
		})
	}
}
