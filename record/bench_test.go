package record

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchFrames makes n 640x480 frames of smooth gradients with a moving
// pattern and some noise: between synthetic renders and camera noise in
// how well zstd compresses them.
func benchFrames(n int) []*foxglove.RawImage {
	var out []*foxglove.RawImage
	seed := uint32(1)
	for i := 0; i < n; i++ {
		w, h := 640, 480
		pix := make([]byte, w*h*3)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				seed = seed*1664525 + 1013904223
				noise := byte(seed >> 29)
				o := (y*w + x) * 3
				pix[o] = byte(x+i*3) + noise
				pix[o+1] = byte(y*2) + noise
				pix[o+2] = byte((x^y)+i) + noise
			}
		}
		img, _ := msgs.FrameImage(&msgs.Frame{Camera: "left", Stamp: time.Unix(1, 0), Width: w, Height: h, Pix: pix})
		out = append(out, img)
	}
	return out
}

// BenchmarkWrite records 640x480 rgb8 frames (noisy gradients, and renders
// of the synthetic world) (921,600 bytes each) through
// the Writer (zstd fastest, CRCs, 1 MiB chunks) to a file: frames/s, MB/s
// of frames in, MB/s to disk, and the CPU it costs per frame.
func BenchmarkWrite(b *testing.B) {
	b.Run("noisy", func(b *testing.B) { benchWrite(b, benchFrames(8)) })
	b.Run("synth", func(b *testing.B) {
		w, err := synth.NewWorld(synth.Config{Width: 640, Height: 480})
		if err != nil {
			b.Fatal(err)
		}
		var frames []*foxglove.RawImage
		for i := 0; i < 8; i++ {
			f, _ := w.Render(i * 3)
			img, _ := msgs.FrameImage(f)
			frames = append(frames, img)
		}
		benchWrite(b, frames)
	})
}

func benchWrite(b *testing.B, frames []*foxglove.RawImage) {
	w := &Writer{Path: filepath.Join(b.TempDir(), "bench.mcap")}
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	t0 := time.Unix(1700000000, 0)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if err := w.Write("ns.left.raw.image", t0.Add(time.Duration(i)*time.Millisecond), frames[i%len(frames)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	cpu := cpuTime() - cpu0
	el := b.Elapsed().Seconds()
	st := w.Stats()
	b.ReportMetric(float64(b.N)/el, "frames/s")
	b.ReportMetric(float64(st.PayloadBytes)/1e6/el, "MB_in/s")
	b.ReportMetric(float64(st.Bytes)/1e6/el, "MB_disk/s")
	b.ReportMetric(float64(st.PayloadBytes)/float64(st.Bytes), "ratio")
	b.ReportMetric(cpu.Seconds()*1e3/float64(b.N), "cpu-ms/frame")
}
