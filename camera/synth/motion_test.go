package synth

import (
	"math"
	"testing"

	"github.com/parallax-robotics/parallax/msgs"
)

// sampleAt samples channel c of an RGB frame at continuous pixel
// coordinates (pixel centres at +0.5).
func sampleAt(f *msgs.Frame, u, v float64, c int) float64 {
	x, y := u-0.5, v-0.5
	x0, y0 := int(math.Floor(x)), int(math.Floor(y))
	ax, ay := x-float64(x0), y-float64(y0)
	at := func(x, y int) float64 {
		x = min(max(x, 0), f.Width-1)
		y = min(max(y, 0), f.Height-1)
		return float64(f.Pix[(y*f.Width+x)*3+c])
	}
	return (1-ay)*((1-ax)*at(x0, y0)+ax*at(x0+1, y0)) + ay*((1-ax)*at(x0, y0+1)+ax*at(x0+1, y0+1))
}

func moverWorld(t *testing.T, seed int64) *World {
	t.Helper()
	w, err := NewWorld(Config{Seed: seed, Width: 256, Height: 96, Stereo: true, Movers: 6, Exposure: -1, Samples: 2})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Warping frame t+1 back with the true flow lands on the same texture: on
// visible pixels the colour error is a fraction of the zero-flow error,
// on moving pixels as on static ones.
func TestMotionTruthReprojects(t *testing.T) {
	for _, seed := range []int64{1, 5} {
		w := moverWorld(t, seed)
		for _, i := range []int{3, 40} {
			a, _ := w.Render(i)
			b, _ := w.Render(i + 1)
			gt := a.Truth
			if gt.Flow == nil || gt.SceneFlow == nil || gt.Moving == nil || gt.Disparity == nil {
				t.Fatalf("seed %d frame %d: motion truth missing", seed, i)
			}
			var errFlow, errZero [2]float64
			var cnt [2]int
			for y := 2; y < a.Height-2; y++ {
				for x := 2; x < a.Width-2; x++ {
					p := y*a.Width + x
					if gt.Occluded[p] == 1 {
						continue
					}
					m := int(gt.Moving[p])
					u := float64(x) + 0.5 + float64(gt.Flow[2*p])
					v := float64(y) + 0.5 + float64(gt.Flow[2*p+1])
					for c := 0; c < 3; c++ {
						ref := float64(a.Pix[p*3+c])
						errFlow[m] += math.Abs(sampleAt(b, u, v, c) - ref)
						errZero[m] += math.Abs(float64(b.Pix[p*3+c]) - ref)
					}
					cnt[m]++
				}
			}
			for m, name := range []string{"static", "moving"} {
				if cnt[m] < 50 {
					t.Fatalf("seed %d frame %d: only %d visible %s pixels", seed, i, cnt[m], name)
				}
				ef, ez := errFlow[m]/float64(3*cnt[m]), errZero[m]/float64(3*cnt[m])
				t.Logf("seed %d frame %d %s (%d px): |I2(p+flow)-I1| %.2f, zero flow %.2f", seed, i, name, cnt[m], ef, ez)
				if ef > 0.6*ez || ef > 6 {
					t.Errorf("seed %d frame %d %s: warped error %.2f vs zero-flow %.2f", seed, i, name, ef, ez)
				}
			}
		}
	}
}

// The fields agree with each other: the point P + scene flow projects to
// p + flow, D2 is the disparity of the moved point, static scenery does not
// move in the world, movers do, and instance ids are stable across frames.
func TestMotionTruthConsistent(t *testing.T) {
	w := moverWorld(t, 3)
	k := w.Intrinsics()
	fxB := k.Fx * w.Config().Baseline
	a, _ := w.Render(10)
	b, _ := w.Render(11)
	gt := a.Truth
	movIDs := map[int32]bool{}
	for p := range gt.Instance {
		x, y := float64(p%a.Width)+0.5, float64(p/a.Width)+0.5
		z := float64(gt.Depth[p])
		P := [3]float64{(x - k.Cx) / k.Fx * z, (y - k.Cy) / k.Fy * z, z}
		P2 := [3]float64{P[0] + float64(gt.SceneFlow[3*p]), P[1] + float64(gt.SceneFlow[3*p+1]), P[2] + float64(gt.SceneFlow[3*p+2])}
		u := k.Fx*P2[0]/P2[2] + k.Cx
		v := k.Fy*P2[1]/P2[2] + k.Cy
		if du, dv := u-x-float64(gt.Flow[2*p]), v-y-float64(gt.Flow[2*p+1]); math.Hypot(du, dv) > 0.01 {
			t.Fatalf("pixel %d: scene flow projects to flow %+.3f,%+.3f off", p, du, dv)
		}
		if d2 := fxB / P2[2]; math.Abs(d2-float64(gt.NextDisparity[p])) > 1e-3*d2+1e-4 {
			t.Fatalf("pixel %d: D2 %v, want %v", p, gt.NextDisparity[p], d2)
		}
		if d1 := fxB / z; math.Abs(d1-float64(gt.Disparity[p])) > 1e-3*d1+1e-4 {
			t.Fatalf("pixel %d: D1 %v, want %v", p, gt.Disparity[p], d1)
		}
		mot := math.Sqrt(float64(gt.Motion[3*p]*gt.Motion[3*p] + gt.Motion[3*p+1]*gt.Motion[3*p+1] + gt.Motion[3*p+2]*gt.Motion[3*p+2]))
		switch gt.Moving[p] {
		case 0:
			if mot != 0 {
				t.Fatalf("static pixel %d moves %v m in the world", p, mot)
			}
		case 1:
			movIDs[gt.Instance[p]] = true
			if mot < 1e-3 {
				t.Fatalf("moving pixel %d moves only %v m", p, mot)
			}
		}
	}
	if len(movIDs) == 0 {
		t.Fatal("no mover in view")
	}
	next := map[int32]bool{}
	for p, id := range b.Truth.Instance {
		if b.Truth.Moving[p] == 1 {
			next[id] = true
		}
	}
	shared := 0
	for id := range movIDs {
		if next[id] {
			shared++
		}
		if int(id) <= len(w.objs) || int(id) > len(w.objs)+len(w.movers) {
			t.Fatalf("mover instance id %d outside %d..%d", id, len(w.objs)+1, len(w.objs)+len(w.movers))
		}
	}
	if shared == 0 {
		t.Fatalf("movers %v in frame 10 and %v in frame 11 share no id", movIDs, next)
	}
}

// A static world renders as before and carries no motion truth unless
// asked; asked, its movers are none and the truth has no moving pixel.
func TestMotionTruthStatic(t *testing.T) {
	w0, err := NewWorld(Config{Seed: 2, Width: 64, Height: 32})
	if err != nil {
		t.Fatal(err)
	}
	w1, err := NewWorld(Config{Seed: 2, Width: 64, Height: 32, MotionTruth: true})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := w0.Render(4)
	b, _ := w1.Render(4)
	if a.Truth.Flow != nil {
		t.Fatal("static world without MotionTruth has flow truth")
	}
	if string(a.Pix) != string(b.Pix) || b.Truth.Flow == nil {
		t.Fatal("MotionTruth changed the image or gave no flow")
	}
	for p, m := range b.Truth.Moving {
		if m != 0 {
			t.Fatalf("pixel %d moving in a static world", p)
		}
	}
	if _, err := NewWorld(Config{Movers: MaxMovers + 1}); err == nil {
		t.Fatal("too many movers accepted")
	}
	c, err := ParseURL("synth://?movers=4&seed=3")
	if err != nil || c.Movers != 4 {
		t.Fatalf("movers=4: %+v %v", c, err)
	}
	if back, err := ParseURL(c.URL()); err != nil || back != c {
		t.Fatalf("URL round trip %q: %+v %v", c.URL(), back, err)
	}
}

// Movers are a pure function of the seed.
func TestMoversDeterministic(t *testing.T) {
	a, _ := moverWorld(t, 9).Render(7)
	b, _ := moverWorld(t, 9).Render(7)
	if string(a.Pix) != string(b.Pix) {
		t.Fatal("same seed, different frames")
	}
	for i := range a.Truth.Flow {
		if math.Float32bits(a.Truth.Flow[i]) != math.Float32bits(b.Truth.Flow[i]) {
			t.Fatalf("flow %d differs", i)
		}
	}
}

// BenchmarkMotionTruth: a 320x96 stereo frame pair with 8 movers, with the
// motion truth (against BenchmarkRender's static frames).
func BenchmarkMotionTruth(b *testing.B) {
	w, err := NewWorld(Config{Seed: 1, Stereo: true, Movers: 8})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		w.Render(i)
	}
}
