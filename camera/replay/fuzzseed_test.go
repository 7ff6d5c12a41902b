package replay_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/parallax-robotics/parallax/camera/replay"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/internal/fuzzseed"
)

// TestFuzzSeeds builds FuzzOpen's seed corpus: recordings written by the
// recorder's MCAP writer from a synthetic stereo world (frames, camera
// info, ground truth), mono and stereo; see internal/fuzzseed.
func TestFuzzSeeds(t *testing.T) {
	c := fuzzseed.New(t, "FuzzOpen")
	for _, s := range []struct {
		name string
		cfg  synth.Config
	}{
		{"synth-stereo", synth.Config{Seed: 2, Width: 8, Height: 8, Stereo: true}},
		{"synth-mono", synth.Config{Seed: 4, Width: 8, Height: 8}},
	} {
		path := filepath.Join(t.TempDir(), s.name+".mcap")
		recordSynth(t, path, 2, s.cfg)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := replay.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if want := 1 + btoi(s.cfg.Stereo); len(rec.Cameras()) != want {
			t.Errorf("%s: %d cameras, want %d", s.name, len(rec.Cameras()), want)
		}
		rec.Close()
		c.Add(s.name, b)
	}
	c.Close()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
