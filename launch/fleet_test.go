package launch

import (
	"strings"
	"testing"
	"time"
)

// TestFleetSection: the fleet section's defaults, and the errors for a
// bad family, an embedded server (no JetStream) and a frozen learner.
func TestFleetSection(t *testing.T) {
	base := "cameras: [{name: left, url: \"synth://\"}]\n"
	l, err := Parse([]byte(base+"nats: {url: \"nats://a:4222,nats://b:4222\"}\nfleet: {model: street}\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if l.Fleet == nil || l.Fleet.Model != "street" || l.Fleet.Bucket != "parallax-models" || l.Fleet.Poll != 10*time.Second || l.Fleet.Tolerance != 0 {
		t.Errorf("fleet defaults: %+v", l.Fleet)
	}
	if l.Fleet.Upload || l.Fleet.Robot != "" || l.Fleet.Budget != 512<<10 || l.Fleet.DeltaEvery != 0 {
		t.Errorf("fleet upload defaults: %+v", l.Fleet)
	}
	l, err = Parse([]byte(base+"nats: {url: \"nats://a:4222\"}\nfleet: {model: street, upload: true, robot: robot7, budget: 65536, delta_every: 5m}\n"), "f.yaml")
	if err != nil || !l.Fleet.Upload || l.Fleet.Robot != "robot7" || l.Fleet.Budget != 65536 || l.Fleet.DeltaEvery != 5*time.Minute {
		t.Errorf("fleet upload: %+v %v", l.Fleet, err)
	}
	if l, _ := Parse([]byte(base), "f.yaml"); l == nil || l.Fleet != nil {
		t.Error("a file without a fleet section has one")
	}
	for _, c := range []struct{ yaml, want string }{
		{"nats: {url: \"nats://a:4222\"}\nfleet: {model: Street}\n", "not a family name"},
		{"nats: {url: \"nats://a:4222\"}\nfleet: {bucket: x}\n", "fleet.model"},
		{"fleet: {model: street}\n", "set nats.url"},
		{"nats: {url: \"nats://a:4222\"}\nlearner: {adapt: false}\nfleet: {model: street}\n", "set learner.adapt: true"},
		{"nats: {url: \"nats://a:4222\"}\nfleet: {model: street, poll: 1ms}\n", "fleet.poll"},
		{"nats: {url: \"nats://a:4222\"}\nfleet: {model: street, upload: true}\n", "set fleet.robot"},
		{"nats: {url: \"nats://a:4222\"}\nfleet: {model: street, delta_every: 1m}\n", "set fleet.robot"},
		{"nats: {url: \"nats://a:4222\"}\nfleet: {model: street, upload: true, robot: Robot7}\n", "not a family name"},
		{"nats: {url: \"nats://a:4222\"}\nfleet: {model: street, upload: true, robot: r7, budget: 100}\n", "fleet.budget"},
	} {
		_, err := Parse([]byte(base+c.yaml), "f.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error with %q", c.yaml, err, c.want)
		}
	}
}
