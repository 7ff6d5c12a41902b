package record

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/internal/memtest"
	"github.com/parallax-robotics/parallax/msgs"
)

// TestWriterMemoryFlat writes 3000 160x120 frames (about 170 MB of messages,
// little on disk: they compress well) and checks
// the process's RSS does not grow after the first 500: the writer keeps only
// the current chunk and 16 bytes of index a message.
func TestWriterMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 170 MB")
	}
	w := &Writer{Path: filepath.Join(t.TempDir(), "mem.mcap"), SplitSize: 64 << 20}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pix := make([]byte, 160*120*3)
	for i := range pix {
		pix[i] = byte(i * 7)
	}
	t0 := time.Unix(1700000000, 0)
	write := func(from, to int) {
		for i := from; i < to; i++ {
			pix[i%len(pix)]++
			img, err := msgs.FrameImage(&msgs.Frame{Camera: "left", Stamp: t0, Width: 160, Height: 120, Pix: pix})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write("ns.left.raw.image", t0.Add(time.Duration(i)*time.Millisecond), img); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0, 500)
	rss0 := memtest.SettledRSS(t)
	write(500, 3000)
	rss1 := memtest.SettledRSS(t)
	st := w.Stats()
	t.Logf("RSS %.1f -> %.1f MiB over %d frames, %.0f MB of messages, %.1f MB on disk", float64(rss0)/(1<<20), float64(rss1)/(1<<20), st.Messages, float64(st.PayloadBytes)/1e6, float64(st.Bytes)/1e6)
	if growth := rss1 - rss0; growth > 16<<20 {
		t.Errorf("RSS grew by %.1f MiB writing 2500 frames", float64(growth)/(1<<20))
	}
}
