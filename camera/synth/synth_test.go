package synth

import (
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/parallax-robotics/parallax/msgs"
)

func mustWorld(t testing.TB, c Config) *World {
	t.Helper()
	w, err := NewWorld(c)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// bilinear samples channel c of a packed RGB frame at pixel coordinates
// (x, y) where integer coordinates are pixel centres.
func bilinear(f *msgs.Frame, x, y float64, c int) float64 {
	x0, y0 := int(math.Floor(x)), int(math.Floor(y))
	ax, ay := x-float64(x0), y-float64(y0)
	at := func(xx, yy int) float64 {
		xx = min(max(xx, 0), f.Width-1)
		yy = min(max(yy, 0), f.Height-1)
		return float64(f.Pix[(yy*f.Width+xx)*3+c])
	}
	return (1-ay)*((1-ax)*at(x0, y0)+ax*at(x0+1, y0)) + ay*((1-ax)*at(x0, y0+1)+ax*at(x0+1, y0+1))
}

// reprojection warps every pixel of a into b using a's depth scaled by
// depthScale and the poses poseA, poseB (camera-to-world), and returns the
// mean absolute colour difference over pixels that land inside b, the
// fraction of those whose projected depth agrees with b's ground truth
// (visible, not occluded), and the colour difference over the visible ones.
//
// gain scales a's colours first, to take out the exposure drift between the
// frames (which the test knows, a learner would not).
func reprojection(a, b *msgs.Frame, poseA, poseB msgs.Pose, depthScale, gain float64) (errAll, visFrac, errVis float64) {
	k := *a.Intrinsics
	toB := poseB.Inverse().Compose(poseA)
	var nAll, nVis int
	for y := 0; y < a.Height; y++ {
		for x := 0; x < a.Width; x++ {
			z := float64(a.Truth.Depth[y*a.Width+x]) * depthScale
			pa := [3]float64{(float64(x) + 0.5 - k.Cx) / k.Fx * z, (float64(y) + 0.5 - k.Cy) / k.Fy * z, z}
			pb := toB.Apply(pa)
			if pb[2] < 0.1 {
				continue
			}
			u := k.Fx*pb[0]/pb[2] + k.Cx - 0.5
			v := k.Fy*pb[1]/pb[2] + k.Cy - 0.5
			if u < 0 || v < 0 || u > float64(b.Width-1) || v > float64(b.Height-1) {
				continue
			}
			var e float64
			for c := 0; c < 3; c++ {
				e += math.Abs(bilinear(b, u, v, c) - gain*float64(a.Pix[(y*a.Width+x)*3+c]))
			}
			e /= 3
			errAll += e
			nAll++
			zb := float64(b.Truth.Depth[int(v+0.5)*b.Width+int(u+0.5)])
			if math.Abs(zb-pb[2]) < 0.03*pb[2]+0.05 {
				errVis += e
				nVis++
			}
		}
	}
	return errAll / float64(max(nAll, 1)), float64(nVis) / float64(max(nAll, 1)), errVis / float64(max(nVis, 1))
}

// TestReprojectionTemporal checks depth and poses together: frame t warped
// into frame t+1 with the true depth and poses matches its colours, and a
// wrong depth or a wrong pose matches much worse.
func TestReprojectionTemporal(t *testing.T) {
	for _, c := range []Config{
		{Seed: 1},
		{Seed: 5, Style: StyleSuburb, Path: PathRobot},
		{Seed: 6, Width: 160, Height: 48},
		{Seed: 9, Style: StyleDesert, Speed: 10, Width: 640, Height: 192},
		{Seed: 10, Samples: 2},
	} {
		w := mustWorld(t, c)
		// Frames about 1 m apart at 320 pixels wide (two frames for a car,
		// several for the slow robot, more at low resolution), so that a
		// wrong depth moves pixels by a pixel or more.
		dist := 1.0 * 320 / float64(w.cfg.Width)
		gap := max(1, int(math.Round(dist/(w.cfg.Speed/w.cfg.FPS))))
		for _, i := range []int{3, 77} {
			a, _ := w.Render(i)
			b, _ := w.Render(i + gap)
			pa, pb := a.Truth.Pose, b.Truth.Pose
			gain := w.exposure(float64(i+gap)/w.cfg.FPS) / w.exposure(float64(i)/w.cfg.FPS)
			_, vis, good := reprojection(a, b, pa, pb, 1, gain)
			badDepth, _, _ := reprojection(a, b, pa, pb, 1.3, gain)
			// A pose error the size of the motion between the frames.
			wrong := w.PoseAt(float64(i+2*gap) / w.cfg.FPS)
			badPose, _, _ := reprojection(a, b, pa, wrong, 1, gain)
			t.Logf("%s seed %d frame %d: visible %.3f, error true %.2f, depth*1.3 %.2f, wrong pose %.2f",
				w.cfg.Style, c.Seed, i, vis, good, badDepth, badPose)
			if vis < 0.9 {
				t.Errorf("seed %d frame %d: only %.3f of in-view pixels agree with the next frame's depth", c.Seed, i, vis)
			}
			if good > 0.5*badDepth || good > 0.5*badPose {
				t.Errorf("seed %d frame %d: true error %.2f not well below depth*1.3 %.2f and wrong pose %.2f",
					c.Seed, i, good, badDepth, badPose)
			}
			if good > 8 {
				t.Errorf("seed %d frame %d: true reprojection error %.2f levels is too high", c.Seed, i, good)
			}
		}
	}
}

// TestStereo checks the rig: the right pose is the left shifted by the
// baseline along the camera x axis, the right view is reconstructed from the
// left with the GT disparity fx*B/depth, and not with a wrong disparity.
func TestStereo(t *testing.T) {
	w := mustWorld(t, Config{Seed: 3, Stereo: true})
	k := w.Intrinsics()
	B := w.cfg.Baseline
	for _, i := range []int{0, 50} {
		l, r := w.Render(i)
		if r == nil || l.Camera != ViewLeft || r.Camera != ViewRight {
			t.Fatalf("stereo render gave %v, %v", l, r)
		}
		rel := l.Truth.Pose.Inverse().Compose(r.Truth.Pose)
		want := msgs.Pose{R: [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}, T: [3]float64{B, 0, 0}}
		for j := range rel.R {
			if math.Abs(rel.R[j]-want.R[j]) > 1e-9 {
				t.Fatalf("right camera is rotated against the left: %v", rel.R)
			}
		}
		for j := range rel.T {
			if math.Abs(rel.T[j]-want.T[j]) > 1e-9 {
				t.Fatalf("right camera offset %v, want %v", rel.T, want.T)
			}
		}
		// Disparity: the right pixel of left pixel x is x - fx*B/z on the same row.
		disp := func(scale float64) (float64, float64) {
			var sum float64
			var n, vis int
			for y := 0; y < l.Height; y++ {
				for x := 0; x < l.Width; x++ {
					z := float64(l.Truth.Depth[y*l.Width+x])
					xr := float64(x) - k.Fx*B/z*scale
					if xr < 0 {
						continue
					}
					var e float64
					for c := 0; c < 3; c++ {
						e += math.Abs(bilinear(r, xr, float64(y), c) - float64(l.Pix[(y*l.Width+x)*3+c]))
					}
					sum += e / 3
					n++
					zr := float64(r.Truth.Depth[y*r.Width+int(xr+0.5)])
					if math.Abs(zr-z) < 0.03*z+0.05 {
						vis++
					}
				}
			}
			return sum / float64(n), float64(vis) / float64(n)
		}
		good, vis := disp(1)
		bad, _ := disp(1.3)
		bad2, _ := disp(0.7)
		t.Logf("frame %d: stereo error true %.2f (consistent depth %.3f), disparity*1.3 %.2f, *0.7 %.2f", i, good, vis, bad, bad2)
		if vis < 0.9 || good > 0.5*bad || good > 0.5*bad2 {
			t.Errorf("frame %d: stereo GT inconsistent: true %.2f (vis %.3f) vs wrong %.2f / %.2f", i, good, vis, bad, bad2)
		}
		// The same through poses.
		_, pvis, pgood := reprojection(l, r, l.Truth.Pose, r.Truth.Pose, 1, 1)
		if pvis < 0.9 || math.Abs(pgood-good) > 2 {
			t.Errorf("frame %d: pose-based stereo reprojection %.2f (vis %.3f) disagrees with disparity %.2f", i, pgood, pvis, good)
		}
	}
}

func framesEqual(a, b *msgs.Frame) bool {
	if string(a.Pix) != string(b.Pix) || len(a.Truth.Depth) != len(b.Truth.Depth) || a.Truth.Pose != b.Truth.Pose {
		return false
	}
	for i := range a.Truth.Depth {
		if math.Float32bits(a.Truth.Depth[i]) != math.Float32bits(b.Truth.Depth[i]) {
			return false
		}
	}
	return true
}

func meanAbsDiff(a, b []byte) float64 {
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i]) - float64(b[i]))
	}
	return s / float64(len(a))
}

func TestDeterminism(t *testing.T) {
	c := Config{Seed: 42, Stereo: true}
	w1 := mustWorld(t, c)
	w2 := mustWorld(t, c)
	prev := runtime.GOMAXPROCS(1)
	l1, r1 := w1.Render(17)
	runtime.GOMAXPROCS(max(prev, 4))
	l2, r2 := w2.Render(17)
	runtime.GOMAXPROCS(prev)
	if !framesEqual(l1, l2) || !framesEqual(r1, r2) {
		t.Fatal("same seed and frame rendered differently (GOMAXPROCS 1 vs 4)")
	}
	// Random access: rendering other frames in between changes nothing.
	w1.Render(300)
	l3, _ := w1.Render(17)
	if !framesEqual(l1, l3) {
		t.Fatal("frame 17 changed after rendering frame 300")
	}
	for _, o := range []Config{{Seed: 43, Stereo: true}, {Seed: 42, Stereo: true, Style: StyleDesert}} {
		l4, _ := mustWorld(t, o).Render(17)
		if d := meanAbsDiff(l1.Pix, l4.Pix); d < 10 {
			t.Errorf("%+v looks like seed 42: mean abs difference only %.1f levels", o, d)
		}
	}
}

// TestTextureEverywhere checks that nearly every 8x8 block has a luminance
// standard deviation above a small bound: no flat, untextured surfaces.
func TestTextureEverywhere(t *testing.T) {
	for _, c := range []Config{
		{Seed: 1}, {Seed: 2, Style: StyleSuburb}, {Seed: 3, Style: StyleDesert, Path: PathRobot},
		{Seed: 4, Width: 640, Height: 192},
	} {
		w := mustWorld(t, c)
		for _, i := range []int{0, 60, 200} {
			f, _ := w.Render(i)
			var blocks, textured int
			for by := 0; by+8 <= f.Height; by += 8 {
				for bx := 0; bx+8 <= f.Width; bx += 8 {
					var s, ss float64
					for y := by; y < by+8; y++ {
						for x := bx; x < bx+8; x++ {
							p := (y*f.Width + x) * 3
							l := 0.299*float64(f.Pix[p]) + 0.587*float64(f.Pix[p+1]) + 0.114*float64(f.Pix[p+2])
							s += l
							ss += l * l
						}
					}
					sd := math.Sqrt(math.Max(0, ss/64-(s/64)*(s/64)))
					blocks++
					if sd > 2 {
						textured++
					}
				}
			}
			frac := float64(textured) / float64(blocks)
			if frac < 0.95 {
				t.Errorf("%s seed %d frame %d: only %.3f of 8x8 blocks are textured", w.cfg.Style, c.Seed, i, frac)
			} else {
				t.Logf("%s seed %d frame %d: %.3f of 8x8 blocks textured", w.cfg.Style, c.Seed, i, frac)
			}
		}
	}
}

func TestDepthBounded(t *testing.T) {
	for _, c := range []Config{{Seed: 1}, {Seed: 6, Path: PathRobot, Style: StyleSuburb}, {Seed: 7, Density: 3.5},
		{Seed: 8, Path: PathRobot, Width: 160, Height: 48, Fx: 0.4 * 160}} {
		w := mustWorld(t, c)
		var maxD float32
		for i := 0; i < 600; i += 37 {
			f, _ := w.Render(i)
			if f.Truth.Motion != nil {
				t.Fatal("static world has motion")
			}
			for j, d := range f.Truth.Depth {
				if !(d > 0) || d > MaxDepth || math.IsInf(float64(d), 0) {
					t.Fatalf("seed %d frame %d pixel %d: depth %v not in (0, %v]", c.Seed, i, j, d, MaxDepth)
				}
				maxD = max(maxD, d)
			}
		}
		t.Logf("seed %d: deepest pixel %.1f m", c.Seed, maxD)
	}
}

// TestPathClear drives several laps and checks that the camera never comes
// near an object and its pose stays a rotation at a sane height.
func TestPathClear(t *testing.T) {
	for _, c := range []Config{{Seed: 1}, {Seed: 2, Path: PathRobot}, {Seed: 3, Density: 4}, {Seed: 4, Path: PathRobot, Density: 4}} {
		w := mustWorld(t, c)
		laps := 3.0
		dur := laps * w.Length() / w.cfg.Speed
		minC := math.Inf(1)
		for tt := 0.0; tt < dur; tt += 0.1 {
			p := w.PoseAt(tt)
			cl := w.Clearance(p.T[0], p.T[1])
			minC = math.Min(minC, cl)
			if cl < 1.5 {
				t.Fatalf("seed %d t=%.1f s: camera at (%.2f, %.2f) only %.2f m from an object", c.Seed, tt, p.T[0], p.T[1], cl)
			}
			r := p.R
			for i := 0; i < 3; i++ {
				for j := 0; j < 3; j++ {
					dot := r[i]*r[j] + r[3+i]*r[3+j] + r[6+i]*r[6+j]
					want := 0.0
					if i == j {
						want = 1
					}
					if math.Abs(dot-want) > 1e-9 {
						t.Fatalf("pose at %.1f s is not a rotation: %v", tt, r)
					}
				}
			}
			if p.T[2] < 0.4 || p.T[2] > 2 {
				t.Fatalf("camera height %.2f at %.1f s", p.T[2], tt)
			}
		}
		// Speed: the distance between frames matches Speed/FPS within the
		// lane-offset and sway effect.
		p0, p1 := w.PoseAt(10), w.PoseAt(10+1/w.cfg.FPS)
		step := math.Hypot(p1.T[0]-p0.T[0], p1.T[1]-p0.T[1])
		if want := w.cfg.Speed / w.cfg.FPS; math.Abs(step-want) > 0.15*want {
			t.Errorf("seed %d: step %.3f m per frame, want %.3f", c.Seed, step, want)
		}
		t.Logf("seed %d %s: lap %.0f m, min clearance %.2f m", c.Seed, w.cfg.Path, w.Length(), minC)
	}
}

func TestConfigValidation(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		c     Config
		field string
	}{
		{Config{Width: 4}, "Width"},
		{Config{Width: -1}, "Width"},
		{Config{Height: 100000}, "Height"},
		{Config{Baseline: -0.5}, "Baseline"},
		{Config{FPS: -1}, "FPS"},
		{Config{FPS: nan}, "FPS"},
		{Config{Speed: 100}, "Speed"},
		{Config{Fx: -3}, "Fx"},
		{Config{Fy: math.Inf(1)}, "Fy"},
		{Config{Cx: 1e9}, "Cx"},
		{Config{Density: 9}, "Density"},
		{Config{SunElevation: 120}, "SunElevation"},
		{Config{SunAzimuth: nan}, "SunAzimuth"},
		{Config{Ambient: 2}, "Ambient"},
		{Config{Exposure: 0.9}, "Exposure"},
		{Config{Samples: 5}, "Samples"},
		{Config{Samples: -1}, "Samples"},
		{Config{Path: "boat"}, "Path"},
		{Config{Style: "mars"}, "Style"},
	} {
		_, err := NewWorld(tc.c)
		if err == nil {
			t.Errorf("%+v: no error", tc.c)
			continue
		}
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%+v: error %q does not name %s or wrap ErrInvalidConfig", tc.c, err, tc.field)
		}
	}
	w := mustWorld(t, Config{})
	got := w.Config()
	if got.Width != 320 || got.Height != 96 || got.FPS != 15 || got.Speed != 8 || got.Baseline != 0.54 ||
		math.Abs(got.Fx-0.58*320) > 1e-9 || got.Cx != 160 || got.Cy != 48 || got.Path != PathCar || got.Style != StyleUrban {
		t.Errorf("defaults: %+v", got)
	}
	if k := w.Intrinsics(); k.Width != 320 || k.Fy != got.Fx {
		t.Errorf("intrinsics %+v", k)
	}
	if _, err := w.RenderView(ViewRight, 0); !errors.Is(err, ErrUnknownView) {
		t.Errorf("right view of a mono rig: %v", err)
	}
}
