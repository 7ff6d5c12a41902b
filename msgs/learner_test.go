package msgs

import (
	"testing"

	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

func TestLossTerms(t *testing.T) {
	terms := LossTerms(map[string]float64{"total": 0.3, "photometric": 0.2, "smoothness": 0.1})
	var names []string
	for _, l := range terms {
		names = append(names, l.Name)
	}
	if want := []string{"photometric", "smoothness", "total"}; !equalStrings(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	s := &parallaxv1.LearnerStats{Losses: terms}
	if v, ok := Loss(s, "smoothness"); !ok || v != 0.1 {
		t.Fatalf("Loss(smoothness) = %v, %v", v, ok)
	}
	if _, ok := Loss(s, "census"); ok {
		t.Fatal("Loss found a term that is not there")
	}
	if _, ok := Loss(nil, "total"); ok {
		t.Fatal("Loss(nil) found a term")
	}
	if got := LossTerms(nil); len(got) != 0 {
		t.Fatalf("LossTerms(nil) = %v", got)
	}
}
