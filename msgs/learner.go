package msgs

import (
	"slices"
	"strings"

	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// LossTerms turns loss values keyed by name into LearnerStats.losses,
// sorted by name as the contract promises, so that consecutive messages list
// the terms in the same order for plots and diffs.
func LossTerms(losses map[string]float64) []*parallaxv1.LossTerm {
	out := make([]*parallaxv1.LossTerm, 0, len(losses))
	for name, v := range losses {
		out = append(out, &parallaxv1.LossTerm{Name: name, Value: v})
	}
	slices.SortFunc(out, func(a, b *parallaxv1.LossTerm) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Loss returns the value of the named loss term of s, and whether s has it.
func Loss(s *parallaxv1.LearnerStats, name string) (float64, bool) {
	for _, l := range s.GetLosses() {
		if l.GetName() == name {
			return l.GetValue(), true
		}
	}
	return 0, false
}
