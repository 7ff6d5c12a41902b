package launch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parallax-robotics/parallax/internal/fuzzseed"
)

// TestFuzzSeeds builds the seed corpora of FuzzParse (every launch file in
// the package: the demo, the robot example, the good and bad testdata) and
// FuzzRoundTrip (the values those files hold); see internal/fuzzseed.
func TestFuzzSeeds(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("testdata/*.yaml")
	files = append(files, more...)
	if len(files) < 4 {
		t.Fatalf("found %d launch files", len(files))
	}
	parse := fuzzseed.New(t, "FuzzParse")
	rt := fuzzseed.New(t, "FuzzRoundTrip")
	accepted := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.ReplaceAll(strings.TrimSuffix(file, ".yaml"), "/", "-")
		parse.Add(name, b)
		l, err := Parse(b, file)
		if strings.HasPrefix(filepath.Base(file), "bad_") {
			if err == nil {
				t.Errorf("%s parses", file)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		accepted++
		c := l.Cameras[0]
		fx, cx, width := 185.6, 159.5, l.Model.Width
		if c.Intrinsics != nil {
			fx, cx = c.Intrinsics.Fx, c.Intrinsics.Cx
		}
		var tol string
		var baseline float64
		if l.Stereo != nil {
			tol, baseline = l.Stereo.SyncTolerance.String(), l.Stereo.Baseline
		}
		rt.Add(name, l.Namespace, c.Name, c.URL, c.Transport, fx, cx, width, tol, baseline, l.NATS.URL, l.NATS.Token)
	}
	if accepted < 2 {
		t.Errorf("%d launch files accepted, want the demo and the robot example at least", accepted)
	}
	parse.Close()
	rt.Close()
}
