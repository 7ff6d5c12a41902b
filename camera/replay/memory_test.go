package replay_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/parallax-robotics/parallax/camera/replay"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/internal/memtest"
)

// TestPlayerMemoryFlat loops a 20-frame recording 150 times (3000 frames
// read, decompressed and decoded) and checks the RSS stays flat after the
// first 500.
func TestPlayerMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("3000 frames")
	}
	path := filepath.Join(t.TempDir(), "drive.mcap")
	recordSynth(t, path, 20, synth.Config{Width: 320, Height: 96, Stereo: true})
	rec, err := replay.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	fr, _ := rec.Frames("left")
	p := &replay.Player{Stream: fr, Loop: true}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	read := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := p.Read(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	read(500)
	rss0 := memtest.SettledRSS(t)
	read(2500)
	rss1 := memtest.SettledRSS(t)
	t.Logf("RSS %.1f -> %.1f MiB", float64(rss0)/(1<<20), float64(rss1)/(1<<20))
	if growth := rss1 - rss0; growth > 16<<20 {
		t.Errorf("RSS grew by %.1f MiB over 2500 frames", float64(growth)/(1<<20))
	}
}
