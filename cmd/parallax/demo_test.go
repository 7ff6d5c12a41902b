package main

import (
	"math"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/actors"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
)

// TestDepthEvalAbsRel checks the demo's ground-truth lookup and metric:
// the true depth scores 0, twice the true depth 1, a map at another
// resolution is compared through the estimator's crop, and a stamp off the
// frame grid is not scored.
func TestDepthEvalAbsRel(t *testing.T) {
	cfg, err := synth.ParseURL("synth://?stereo=1&width=320&height=96&fps=15")
	if err != nil {
		t.Fatal(err)
	}
	w, err := synth.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_700_000_000, 0)
	const i = 37
	left, _ := w.Render(i)
	stamp := start.Add(time.Duration(float64(i) / cfg.FPS * float64(time.Second)))
	scaled := func(s float32) []float32 {
		out := make([]float32, len(left.Truth.Depth))
		for j, v := range left.Truth.Depth {
			out[j] = s * v
		}
		return out
	}
	half := make([]float32, 160*48) // nearest samples of the truth at 160x48
	for y := 0; y < 48; y++ {
		for x := 0; x < 160; x++ {
			half[y*160+x] = left.Truth.Depth[(2*y+1)*320+2*x+1]
		}
	}
	for _, tc := range []struct {
		name  string
		w, h  int
		depth []float32
		stamp time.Time
		want  float64 // NaN: not scored
	}{
		{"truth", 320, 96, scaled(1), stamp, 0},
		{"twice", 320, 96, scaled(2), stamp, 1},
		{"half resolution", 160, 48, half, stamp, 0},
		{"off the grid", 320, 96, scaled(1), stamp.Add(5 * time.Millisecond), math.NaN()},
		{"before the start", 320, 96, scaled(1), start.Add(-time.Second), math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &depthEval{world: w, start: start, minDepth: 0.1, maxDepth: 100}
			r := &actors.DepthResult{
				Set:   &actors.FrameSet{Frames: []*msgs.Frame{{Camera: "left", Stamp: tc.stamp}}},
				Depth: perception.DepthMap{Width: tc.w, Height: tc.h, Depth: tc.depth},
			}
			got, ok := ev.absRel(r)
			if math.IsNaN(tc.want) {
				if ok {
					t.Fatalf("scored %v, want no score", got)
				}
				return
			}
			if !ok || math.Abs(got-tc.want) > 1e-6 {
				t.Fatalf("abs_rel %v (%v), want %v", got, ok, tc.want)
			}
		})
	}
}
