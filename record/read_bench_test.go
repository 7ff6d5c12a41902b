package record

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkRead reads a recording of 40 640x480 rgb8 frames (noisy
// gradients, zstd, 1 MiB chunks) linearly with Read, decompressing and
// CRC-checking every chunk: frames/s and MB/s of messages out.
func BenchmarkRead(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.mcap")
	w := &Writer{Path: path}
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	frames := benchFrames(8)
	t0 := time.Unix(1700000000, 0)
	for i := 0; i < 40; i++ {
		if err := w.Write("ns.left.raw.image", t0.Add(time.Duration(i)*time.Millisecond), frames[i%len(frames)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var n, bytes int
	for i := 0; i < b.N; i++ {
		if _, err := Read(path, nil, func(m *Message) error { n++; bytes += len(m.Data); return nil }); err != nil {
			b.Fatal(err)
		}
	}
	el := b.Elapsed().Seconds()
	b.ReportMetric(float64(n)/el, "frames/s")
	b.ReportMetric(float64(bytes)/1e6/el, "MB_out/s")
}
