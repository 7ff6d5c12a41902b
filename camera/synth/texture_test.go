package synth

import (
	"math"
	"testing"
)

func TestFastLog2(t *testing.T) {
	prev := math.Inf(-1)
	for x := 0.001; x < 5000; x *= 1.01 {
		got := fastLog2(x)
		if d := math.Abs(got - math.Log2(x)); d > 0.01 {
			t.Fatalf("fastLog2(%v) = %v, off by %v", x, got, d)
		}
		if got < prev {
			t.Fatalf("fastLog2 not monotonic at %v", x)
		}
		prev = got
	}
}

// TestMipAverages checks that the mip chain preserves the mean colour, so
// distant surfaces keep their brightness.
func TestMipAverages(t *testing.T) {
	w := mustWorld(t, Config{Seed: 1})
	for m, tex := range w.tex {
		var mean [3]float64
		l0 := tex.levels[0]
		for i, v := range l0.pix {
			mean[i%3] += float64(v)
		}
		top := tex.levels[len(tex.levels)-1]
		if top.size != 1 {
			t.Fatalf("material %d: last level is %d texels", m, top.size)
		}
		for c := 0; c < 3; c++ {
			mean[c] /= float64(texSize * texSize)
			if math.Abs(mean[c]-float64(top.pix[c])) > 1e-3 {
				t.Errorf("material %d channel %d: mean %v, top level %v", m, c, mean[c], top.pix[c])
			}
		}
	}
}

func TestRcFast(t *testing.T) {
	w := mustWorld(t, Config{Seed: 3})
	for th := -math.Pi; th <= math.Pi; th += 0.0007 {
		if d := math.Abs(w.rcFast(th) - w.rc(th)); d > 1e-4 {
			t.Fatalf("rcFast(%v) off by %v m", th, d)
		}
	}
}
