package main

import (
	"fmt"
	"testing"

	"github.com/parallax-robotics/parallax/internal/fuzzseed"
	"github.com/parallax-robotics/parallax/launch"
)

// TestFuzzSeeds builds FuzzParseSize's seed corpus from the model sizes of
// the launch examples, as `train --size` takes them; see internal/fuzzseed.
func TestFuzzSeeds(t *testing.T) {
	c := fuzzseed.New(t, "FuzzParseSize")
	for _, file := range []string{"demo", "robot.example"} {
		l, err := launch.Load("../../launch/" + file + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		s := fmt.Sprintf("%dx%d", l.Model.Width, l.Model.Height)
		if w, h, err := parseSize(s); err != nil || w != l.Model.Width || h != l.Model.Height {
			t.Fatalf("%s: parseSize(%q) = %d, %d, %v", file, s, w, h, err)
		}
		c.Add("launch-"+file, s)
	}
	c.Close()
}
