package synth_test

import (
	"net/url"
	"testing"

	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/internal/fuzzseed"
	"github.com/parallax-robotics/parallax/launch"
)

// TestFuzzSeeds builds FuzzParseURL's seed corpus: the synth:// worlds the
// launch examples serve and the URLs the demo's worlds write; see
// internal/fuzzseed.
func TestFuzzSeeds(t *testing.T) {
	c := fuzzseed.New(t, "FuzzParseURL")
	l, err := launch.Load("../../launch/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if l.Serve == nil || l.Serve.World == "" {
		t.Fatal("the demo launch serves no world")
	}
	urls := map[string]string{"launch-demo": l.Serve.World}
	for _, s := range []string{synth.StyleUrban, synth.StyleSuburb, synth.StyleDesert} {
		cfg, err := synth.ParseURL(l.Serve.World)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Style, cfg.Movers, cfg.MotionTruth = s, 2, true
		urls["written-"+s] = cfg.URL()
	}
	for name, u := range urls {
		if _, err := synth.ParseURL(u); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if _, err := url.Parse(u); err != nil {
			t.Fatal(err)
		}
		c.Add(name, u)
	}
	c.Close()
}
