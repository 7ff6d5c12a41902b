package calibration_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/parallax-robotics/parallax/calibration"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/msgs"
)

// TestGroundScaleSynth: on the synthetic world's ground-truth depth, known
// only up to a scale, the ground plane gives the scale back from the
// camera's height (the truth pose's z: the ground is z = 0).
func TestGroundScaleSynth(t *testing.T) {
	for _, tt := range []struct {
		url   string
		scale float64
	}{
		{"synth://?seed=4", 0.37},
		{"synth://?seed=9&path=robot&style=suburb", 2.5},
		{"synth://?seed=12&style=desert&width=640&height=192", 1},
	} {
		cfg, err := synth.ParseURL(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		w, err := synth.NewWorld(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 37, 90} {
			f, _ := w.Render(i)
			rel := make([]float32, len(f.Truth.Depth))
			for k, d := range f.Truth.Depth {
				rel[k] = d * float32(tt.scale) // an unknown scale
			}
			height := f.Truth.Pose.T[2]
			nominal := 1.65
			if cfg.Path == synth.PathRobot {
				nominal = 0.6
			}
			g, err := calibration.GroundScale(rel, *f.Intrinsics, calibration.GroundConfig{CameraHeight: nominal})
			if err != nil {
				t.Fatal(err)
			}
			if !g.OK {
				t.Fatalf("%s frame %d: no ground: %s", tt.url, i, g.Reason)
			}
			// metric = Scale * rel: the true scale is 1/tt.scale, up to the
			// camera's bobbing around its nominal height.
			want := nominal / (height * tt.scale)
			if math.Abs(g.Scale/want-1) > 0.01 {
				t.Errorf("%s frame %d: scale %.4f, want %.4f (height %.3f, ground %.0f%% of the image)", tt.url, i, g.Scale, want, height, 100*g.Share)
			}
			if g.Normal[1] > -0.95 {
				t.Errorf("%s frame %d: ground normal %v is not up", tt.url, i, g.Normal)
			}
		}
	}
}

// TestGroundScaleNoisy: with a network's kind of depth error, roughly —
// 5% multiplicative noise smooth over 8x8 blocks plus 1% per pixel — the
// scale is still within 3%.
func TestGroundScaleNoisy(t *testing.T) {
	w, err := synth.NewWorld(synth.Config{Seed: 21, Style: synth.StyleSuburb})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, i := range []int{5, 60} {
		f, _ := w.Render(i)
		k := f.Intrinsics
		block := make([]float64, (k.Width/8+1)*(k.Height/8+1))
		for b := range block {
			block[b] = 0.05 * rng.NormFloat64()
		}
		d := make([]float32, len(f.Truth.Depth))
		for p, v := range f.Truth.Depth {
			x, y := p%k.Width, p/k.Width
			d[p] = v * float32(0.5*(1+block[(y/8)*(k.Width/8+1)+x/8]+0.01*rng.NormFloat64()))
		}
		g, err := calibration.GroundScale(d, *f.Intrinsics, calibration.GroundConfig{CameraHeight: f.Truth.Pose.T[2]})
		if err != nil || !g.OK {
			t.Fatalf("frame %d: %v %+v", i, err, g)
		}
		if math.Abs(g.Scale/2-1) > 0.03 {
			t.Errorf("frame %d: scale %.4f with noise, want 2", i, g.Scale)
		}
	}
}

// TestGroundScaleNoGround: a wall, a ceiling, or a depth map without values
// give no scale, and say why.
func TestGroundScaleNoGround(t *testing.T) {
	k := msgs.Intrinsics{Width: 160, Height: 48, Fx: 93, Fy: 93, Cx: 80, Cy: 24}
	wall := make([]float32, 160*48)
	for i := range wall {
		wall[i] = 7
	}
	ceiling := make([]float32, 160*48)
	for j := 0; j < 48; j++ {
		for i := 0; i < 160; i++ {
			y := (float64(j) + 0.5 - 24) / 93
			if y < -0.01 {
				ceiling[j*160+i] = float32(-3 / y) // a plane 3 m above the camera
			} else {
				ceiling[j*160+i] = 50
			}
		}
	}
	for _, tt := range []struct {
		name  string
		depth []float32
	}{{"wall", wall}, {"ceiling", ceiling}, {"empty", make([]float32, 160*48)}} {
		g, err := calibration.GroundScale(tt.depth, k, calibration.GroundConfig{CameraHeight: 1.2})
		if err != nil {
			t.Fatal(err)
		}
		if g.OK || g.Reason == "" {
			t.Errorf("%s: %+v", tt.name, g)
		}
	}
	if _, err := calibration.GroundScale(wall, k, calibration.GroundConfig{}); err == nil {
		t.Error("no camera height accepted")
	}
	if _, err := calibration.GroundScale(wall[:10], k, calibration.GroundConfig{CameraHeight: 1}); err == nil {
		t.Error("a short depth map accepted")
	}
}

func BenchmarkGroundScale(b *testing.B) {
	w, err := synth.NewWorld(synth.Config{Seed: 4})
	if err != nil {
		b.Fatal(err)
	}
	f, _ := w.Render(0)
	for b.Loop() {
		if _, err := calibration.GroundScale(f.Truth.Depth, *f.Intrinsics, calibration.GroundConfig{CameraHeight: 1.65}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/frame")
}
