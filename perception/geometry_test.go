package perception

import (
	"errors"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/parallax-robotics/parallax/internal/memtest"
	"github.com/parallax-robotics/parallax/internal/torchtest"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/msgs"
)

// geoT drops the tensors a test makes when it ends.
type geoT struct {
	t   testing.TB
	all []*ts.Tensor
}

func newGeo(t testing.TB) *geoT {
	torchtest.LockThread(t)
	g := &geoT{t: t}
	t.Cleanup(func() {
		for _, x := range g.all {
			x.MustDrop()
		}
	})
	return g
}

func (g *geoT) own(x *ts.Tensor) *ts.Tensor {
	g.all = append(g.all, x)
	return x
}

func (g *geoT) data(data []float32, shape ...int64) *ts.Tensor {
	g.t.Helper()
	return g.own(tensor(g.t, data, shape...))
}

func (g *geoT) ok1(x *ts.Tensor, err error) *ts.Tensor {
	g.t.Helper()
	if err != nil {
		g.t.Fatal(err)
	}
	return g.own(x)
}

func (g *geoT) ok2(x, y *ts.Tensor, err error) (*ts.Tensor, *ts.Tensor) {
	g.t.Helper()
	if err != nil {
		g.t.Fatal(err)
	}
	g.own(x)
	return x, g.own(y)
}

func (g *geoT) intrinsics(k ...msgs.Intrinsics) (K, invK *ts.Tensor) {
	g.t.Helper()
	return g.ok2(IntrinsicsTensor(k, gotch.CPU))
}

func (g *geoT) poses(p ...msgs.Pose) *ts.Tensor {
	g.t.Helper()
	return g.ok1(PoseTensor(p, gotch.CPU))
}

func geoValues(t testing.TB, x *ts.Tensor) []float64 {
	t.Helper()
	return x.Float64Values()
}

func geoTranslation(x, y, z float64) msgs.Pose {
	p := msgs.Identity()
	p.T = [3]float64{x, y, z}
	return p
}

// geoSmoothImage is a random smooth pattern (a few sinusoids per channel),
// [1,c,h,w] row-major values in about [0,1].
func geoSmoothImage(r *rand.Rand, c, h, w int) []float32 {
	out := make([]float32, c*h*w)
	for ch := 0; ch < c; ch++ {
		type wave struct{ fx, fy, ph, a float64 }
		var ws [4]wave
		for i := range ws {
			ws[i] = wave{r.Float64()*0.6 + 0.1, r.Float64()*0.6 + 0.1, r.Float64() * 2 * math.Pi, 0.1 + 0.1*r.Float64()}
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := 0.5
				for _, wv := range ws {
					v += wv.a * math.Sin(wv.fx*float64(x)+wv.fy*float64(y)+wv.ph)
				}
				out[(ch*h+y)*w+x] = float32(v)
			}
		}
	}
	return out
}

func geoConst(n int, v float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = v
	}
	return s
}

func TestGeometryIntrinsicsTensor(t *testing.T) {
	g := newGeo(t)
	k := msgs.Intrinsics{Width: 8, Height: 6, Fx: 7, Fy: 5, Cx: 3.25, Cy: 2.5}
	K, invK := g.intrinsics(k, k.Scaled(16, 12))
	assertShape(t, "K", K, 2, 3, 3)
	assertClose(t, "K", geoValues(t, K), []float64{7, 0, 3.25, 0, 5, 2.5, 0, 0, 1, 14, 0, 6.5, 0, 10, 5, 0, 0, 1}, 1e-6)
	prod := g.ok1(K.Matmul(invK, false))
	assertClose(t, "K*invK", geoValues(t, prod), []float64{1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1}, 1e-6)

	for _, bad := range [][]msgs.Intrinsics{
		nil,
		{{Fx: 0, Fy: 1}},
		{{Fx: 1, Fy: -1}},
		{{Fx: math.Inf(1), Fy: 1}},
		{{Fx: 1, Fy: 1, Cx: math.NaN()}},
	} {
		if _, _, err := IntrinsicsTensor(bad, gotch.CPU); !errors.Is(err, ErrGeometryInput) {
			t.Errorf("IntrinsicsTensor(%+v) error = %v, want ErrGeometryInput", bad, err)
		}
	}
}

// TestBackProjectHandComputed checks points against the pixel-centre rule:
// pixel (u,v) is at ((u+0.5-cx)/fx*d, (v+0.5-cy)/fy*d, d).
func TestBackProjectHandComputed(t *testing.T) {
	g := newGeo(t)
	_, invK := g.intrinsics(msgs.Intrinsics{Width: 3, Height: 2, Fx: 2, Fy: 4, Cx: 1.2, Cy: 0.7})
	depth := g.data([]float32{1, 2, 3, 4, 5, 6}, 1, 1, 2, 3)
	pts := g.ok1(BackProject(depth, invK))
	assertShape(t, "points", pts, 1, 3, 6)
	var want [3][6]float64
	for v := 0; v < 2; v++ {
		for u := 0; u < 3; u++ {
			n := v*3 + u
			d := float64(n + 1)
			want[0][n] = (float64(u) + 0.5 - 1.2) / 2 * d
			want[1][n] = (float64(v) + 0.5 - 0.7) / 4 * d
			want[2][n] = d
		}
	}
	assertClose(t, "points", geoValues(t, pts), append(append(want[0][:], want[1][:]...), want[2][:]...), 1e-6)
	// Pixel (2,1) by hand: ((2.5-1.2)/2*6, (1.5-0.7)/4*6, 6) = (3.9, 1.2, 6).
	got := geoValues(t, pts)
	assertClose(t, "pixel (2,1)", []float64{got[5], got[11], got[17]}, []float64{3.9, 1.2, 6}, 1e-6)
}

// TestProjectRoundTrip: BackProject then Project with identity T gives every
// pixel its own centre, for a non-centred principal point and fx != fy, in a
// batch of two cameras with different intrinsics.
func TestProjectRoundTrip(t *testing.T) {
	g := newGeo(t)
	const h, w = 5, 7
	K, invK := g.intrinsics(
		msgs.Intrinsics{Width: w, Height: h, Fx: 9.3, Fy: 6.1, Cx: 2.2, Cy: 3.9},
		msgs.Intrinsics{Width: w, Height: h, Fx: 4, Fy: 11, Cx: 5.6, Cy: 1.1})
	r := rand.New(rand.NewSource(3))
	dd := make([]float32, 2*h*w)
	for i := range dd {
		dd[i] = float32(0.5 + 40*r.Float64())
	}
	depth := g.data(dd, 2, 1, h, w)
	T := g.poses(msgs.Identity(), msgs.Identity())
	pts := g.ok1(BackProject(depth, invK))
	grid, valid := g.ok2(Project(pts, K, T, h, w))
	assertShape(t, "grid", grid, 2, h, w, 2)
	assertShape(t, "valid", valid, 2, 1, h, w)
	var want []float64
	for b := 0; b < 2; b++ {
		for v := 0; v < h; v++ {
			for u := 0; u < w; u++ {
				want = append(want, 2*(float64(u)+0.5)/w-1, 2*(float64(v)+0.5)/h-1)
			}
		}
	}
	got := geoValues(t, grid)
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-5 {
			t.Fatalf("grid[%d] = %.7f, want %.7f", i, got[i], want[i])
		}
	}
	assertClose(t, "valid", geoValues(t, valid), geoConst64(2*h*w, 1), 0)

	// A single T broadcasts over the batch like a per-item one.
	grid1, _ := g.ok2(Project(pts, K, g.poses(msgs.Identity()), h, w))
	assertClose(t, "grid with T [1,4,4]", geoValues(t, grid1), got, 0)
}

func geoConst64(n int, v float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// TestProjectKnownShift: a pure x translation tx with constant depth d moves
// every pixel by fx*tx/d: hand-computed grid values and the validity mask.
func TestProjectKnownShift(t *testing.T) {
	g := newGeo(t)
	const h, w = 4, 10
	k := msgs.Intrinsics{Width: w, Height: h, Fx: 8, Fy: 6, Cx: 4.5, Cy: 2.5}
	K, invK := g.intrinsics(k)
	depth := g.data(geoConst(h*w, 4), 1, 1, h, w)
	// tx = 1.25 m at 4 m: 8*1.25/4 = 2.5 pixels to the right.
	T := g.poses(geoTranslation(1.25, 0, 0))
	pts := g.ok1(BackProject(depth, invK))
	grid, valid := g.ok2(Project(pts, K, T, h, w))
	gv, vv := geoValues(t, grid), geoValues(t, valid)
	for _, c := range []struct {
		u, v   int
		gx, gy float64 // by hand: x = u+0.5+2.5, gx = 2x/10-1; y = v+0.5, gy = 2y/4-1
	}{
		{0, 0, -0.4, -0.75},
		{3, 1, 0.2, -0.25},
		{7, 3, 1.0, 0.75}, // x = 10: exactly the right edge of the image
		{8, 2, 1.2, 0.25}, // x = 11: outside
		{9, 3, 1.4, 0.75}, // outside
		{5, 2, 0.6, 0.25}, // inside
		{2, 0, 0, -0.75},  // centre line
	} {
		n := c.v*w + c.u
		if math.Abs(gv[2*n]-c.gx) > 1e-5 || math.Abs(gv[2*n+1]-c.gy) > 1e-5 {
			t.Errorf("pixel (%d,%d): grid (%.6f, %.6f), want (%.6f, %.6f)", c.u, c.v, gv[2*n], gv[2*n+1], c.gx, c.gy)
		}
	}
	// Valid exactly where x = u+3 <= 10, i.e. u <= 7.
	for v := 0; v < h; v++ {
		for u := 0; u < w; u++ {
			want := 0.0
			if u <= 7 {
				want = 1
			}
			if vv[v*w+u] != want {
				t.Errorf("valid(%d,%d) = %v, want %v", u, v, vv[v*w+u], want)
			}
		}
	}
}

// TestProjectValidity: points behind the source camera or projecting outside
// the image are invalid, and the grid stays finite.
func TestProjectValidity(t *testing.T) {
	g := newGeo(t)
	const h, w = 4, 6
	k := msgs.Intrinsics{Width: w, Height: h, Fx: 5, Fy: 5, Cx: 3, Cy: 2}
	K, invK := g.intrinsics(k)
	dd := geoConst(h*w, 2)
	dd[0] = 0.5 // 0.5 m: behind the camera after moving it 1 m forward
	dd[1] = 1   // exactly at the camera centre plane: z = 0
	depth := g.data(dd, 1, 1, h, w)
	pts := g.ok1(BackProject(depth, invK))

	// Source camera 1 m forward: p_src = p_tgt - (0,0,1).
	fwd := g.poses(geoTranslation(0, 0, -1))
	grid, valid := g.ok2(Project(pts, K, fwd, h, w))
	vv, gv := geoValues(t, valid), geoValues(t, grid)
	for i, x := range gv {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			t.Fatalf("grid[%d] = %v, want finite", i, x)
		}
	}
	if vv[0] != 0 || vv[1] != 0 {
		t.Errorf("points behind / at the camera valid = %v, %v, want 0, 0", vv[0], vv[1])
	}
	// The rest sit at z = 1 from 2: they spread by 2x from the principal
	// point; pixel u is at x = 3 + 2*(u+0.5-3): inside for u in 1..4 (x in [0,6]),
	// y = 2 + 2*(v+0.5-2): inside for v in 1..2... and the edges at 0 / 4
	// exactly (v = 0.5 and 3.5 would be) are not hit; rows 0 and 3 land at
	// y = -1 and 5: outside.
	for v := 0; v < h; v++ {
		for u := 0; u < w; u++ {
			n := v*w + u
			if n < 2 {
				continue
			}
			x := 3 + 2*(float64(u)+0.5-3)
			y := 2 + 2*(float64(v)+0.5-2)
			want := 0.0
			if x >= 0 && x <= w && y >= 0 && y <= h {
				want = 1
			}
			if vv[n] != want {
				t.Errorf("valid(%d,%d) = %v, want %v (x %.1f y %.1f)", u, v, vv[n], want, x, y)
			}
		}
	}

	// Rotated 180 degrees about y: everything is behind the camera.
	back := msgs.Pose{R: [9]float64{-1, 0, 0, 0, 1, 0, 0, 0, -1}}
	_, valid2 := g.ok2(Project(pts, K, g.poses(back), h, w))
	assertClose(t, "valid behind", geoValues(t, valid2), geoConst64(h*w, 0), 0)
}

// TestWarpIdentity: with identity T and any depth, Warp reproduces the source.
func TestWarpIdentity(t *testing.T) {
	g := newGeo(t)
	const c, h, w = 3, 12, 20
	r := rand.New(rand.NewSource(4))
	k := msgs.Intrinsics{Width: w, Height: h, Fx: 17, Fy: 13, Cx: 8.3, Cy: 7.1}
	K, invK := g.intrinsics(k)
	src := g.data(geoSmoothImage(r, c, h, w), 1, c, h, w)
	dd := make([]float32, h*w)
	for i := range dd {
		dd[i] = float32(0.3 + 60*r.Float64())
	}
	depth := g.data(dd, 1, 1, h, w)
	warped, valid := g.ok2(Reproject(src, depth, K, invK, g.poses(msgs.Identity())))
	assertShape(t, "warped", warped, 1, c, h, w)
	want, got := geoValues(t, src), geoValues(t, warped)
	var worst float64
	for i := range got {
		worst = math.Max(worst, math.Abs(got[i]-want[i]))
	}
	if worst > 1e-5 {
		t.Errorf("identity warp: max abs diff %g, want < 1e-5", worst)
	}
	assertClose(t, "valid", geoValues(t, valid), geoConst64(h*w, 1), 0)
}

// TestWarpShift: a pure x translation at constant depth shifts the image by
// fx*tx/d pixels; an integer shift gives the source pixels themselves, a
// half-pixel one their mean.
func TestWarpShift(t *testing.T) {
	g := newGeo(t)
	const c, h, w = 2, 10, 24
	r := rand.New(rand.NewSource(5))
	k := msgs.Intrinsics{Width: w, Height: h, Fx: 12, Fy: 12, Cx: 11, Cy: 5.5}
	K, invK := g.intrinsics(k)
	sd := geoSmoothImage(r, c, h, w)
	src := g.data(sd, 1, c, h, w)
	depth := g.data(geoConst(h*w, 6), 1, 1, h, w)
	at := func(ch, v, u int) float64 { return float64(sd[(ch*h+v)*w+u]) }
	for _, tc := range []struct {
		tx    float64
		shift float64 // fx*tx/d
	}{{1.5, 3}, {-1, -2}, {1.25, 2.5}} {
		warped, valid := g.ok2(Reproject(src, depth, K, invK, g.poses(geoTranslation(tc.tx, 0, 0))))
		got, vv := geoValues(t, warped), geoValues(t, valid)
		lo, frac := int(math.Floor(tc.shift)), tc.shift-math.Floor(tc.shift)
		var checked int
		for ch := 0; ch < c; ch++ {
			for v := 0; v < h; v++ {
				for u := 0; u < w; u++ {
					u0 := u + lo
					if u0 < 0 || u0+1 >= w {
						continue // the border: padding, not the shifted image
					}
					want := (1-frac)*at(ch, v, u0) + frac*at(ch, v, u0+1)
					if d := got[(ch*h+v)*w+u] - want; math.Abs(d) > 1e-5 {
						t.Fatalf("shift %.1f: warped(%d,%d,%d) = %.6f, want %.6f", tc.shift, ch, u, v, got[(ch*h+v)*w+u], want)
					}
					if vv[v*w+u] != 1 {
						t.Fatalf("shift %.1f: interior pixel (%d,%d) invalid", tc.shift, u, v)
					}
					checked++
				}
			}
		}
		if checked < c*h*(w-4) {
			t.Fatalf("shift %.1f: only %d pixels compared", tc.shift, checked)
		}
	}
}

// geoFrames turns packed RGB frames into [B,3,H,W] float32 (0..255) and
// their ground-truth depths into [B,1,H,W], depth scaled by depthScale.
func geoFrames(g *geoT, frames []*msgs.Frame, depthScale float32) (img, depth *ts.Tensor) {
	f0 := frames[0]
	h, w := f0.Height, f0.Width
	pix := make([]float32, 0, len(frames)*3*h*w)
	dep := make([]float32, 0, len(frames)*h*w)
	for _, f := range frames {
		for ch := 0; ch < 3; ch++ {
			for i := 0; i < h*w; i++ {
				pix = append(pix, float32(f.Pix[3*i+ch]))
			}
		}
		for _, d := range f.Truth.Depth {
			dep = append(dep, d*depthScale)
		}
	}
	b := int64(len(frames))
	return g.data(pix, b, 3, int64(h), int64(w)), g.data(dep, b, 1, int64(h), int64(w))
}

// photometric returns the mean absolute difference between a and b over the
// pixels where mask is 1 (every pixel where mask is nil), per batch item.
func geoPhotometric(t testing.TB, a, b, mask *ts.Tensor) []float64 {
	t.Helper()
	av, bv := a.Float64Values(), b.Float64Values()
	sz := a.MustSize()
	n, c, hw := int(sz[0]), int(sz[1]), int(sz[2]*sz[3])
	var mv []float64
	if mask != nil {
		mv = mask.Float64Values()
	}
	out := make([]float64, n)
	for i := 0; i < n; i++ {
		var sum, cnt float64
		for p := 0; p < hw; p++ {
			if mv != nil && mv[i*hw+p] == 0 {
				continue
			}
			for ch := 0; ch < c; ch++ {
				j := (i*c+ch)*hw + p
				sum += math.Abs(av[j] - bv[j])
			}
			cnt += float64(c)
		}
		out[i] = sum / math.Max(cnt, 1)
	}
	return out
}

// TestReprojectSyntheticWorld validates the sign conventions end to end on
// the synthetic world's ground truth: frame t reconstructed from t+gap with
// the true depth and relative pose, and the left view from the right with the
// stereo transform, match far better than with a wrong depth or pose, and
// better than not warping at all.
func TestReprojectSyntheticWorld(t *testing.T) {
	g := newGeo(t)
	// No exposure drift: the test is about geometry, and the drift adds the
	// same error to every variant, blurring the ratios.
	world, err := synth.NewWorld(synth.Config{Width: 160, Height: 48, Stereo: true, Exposure: -1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := world.Config()
	k := world.Intrinsics()
	K, invK := g.intrinsics(k)
	// Frames about 2 m apart at 160 pixels wide, so that a wrong depth moves
	// pixels by a pixel or more (as in camera/synth's own test).
	gap := max(1, int(math.Round(2/(cfg.Speed/cfg.FPS))))
	idx := []int{3, 77}
	var tgtL, tgtR, srcF []*msgs.Frame
	for _, i := range idx {
		l, r := world.Render(i)
		n, _ := world.Render(i + gap)
		tgtL, tgtR, srcF = append(tgtL, l), append(tgtR, r), append(srcF, n)
	}
	tgt, depth := geoFrames(g, tgtL, 1)
	_, depthBad := geoFrames(g, tgtL, 1.3)
	src, _ := geoFrames(g, srcF, 1)
	right, _ := geoFrames(g, tgtR, 1)

	type result struct{ good, badDepth, badPose, unwarped []float64 }
	eval := func(src, T, Tbad *ts.Tensor) result {
		var res result
		warped, valid := g.ok2(Reproject(src, depth, K, invK, T))
		res.good = geoPhotometric(t, warped, tgt, valid)
		warped, valid = g.ok2(Reproject(src, depthBad, K, invK, T))
		res.badDepth = geoPhotometric(t, warped, tgt, valid)
		warped, valid = g.ok2(Reproject(src, depth, K, invK, Tbad))
		res.badPose = geoPhotometric(t, warped, tgt, valid)
		res.unwarped = geoPhotometric(t, src, tgt, nil)
		return res
	}
	check := func(name string, r result) {
		for i := range idx {
			t.Logf("%s frame %d: photometric error true %.2f, depth*1.3 %.2f, wrong pose %.2f, unwarped %.2f",
				name, idx[i], r.good[i], r.badDepth[i], r.badPose[i], r.unwarped[i])
			if r.good[i] > 0.5*r.badDepth[i] || r.good[i] > 0.5*r.badPose[i] || r.good[i] > 0.5*r.unwarped[i] {
				t.Errorf("%s frame %d: true error %.2f not well below depth*1.3 %.2f, wrong pose %.2f, unwarped %.2f",
					name, idx[i], r.good[i], r.badDepth[i], r.badPose[i], r.unwarped[i])
			}
		}
	}

	// Temporal: T_src<-tgt = inv(P_src) * P_tgt; the wrong pose is the camera
	// of frame t+2*gap (an error the size of the motion).
	var ps, pt, pw []msgs.Pose
	for b, i := range idx {
		ps = append(ps, srcF[b].Truth.Pose)
		pt = append(pt, tgtL[b].Truth.Pose)
		pw = append(pw, world.PoseAt(float64(i+2*gap)/cfg.FPS))
	}
	T := g.ok1(RelativeTransform(ps, pt, gotch.CPU))
	Tbad := g.ok1(RelativeTransform(pw, pt, gotch.CPU))
	check("temporal", eval(src, T, Tbad))

	// Stereo: the left view from the right; the wrong pose swaps the sign of
	// the baseline (the most likely convention bug).
	S := g.ok1(StereoTransform(cfg.Baseline, len(idx), gotch.CPU))
	Sbad := g.ok1(StereoTransform(-cfg.Baseline, len(idx), gotch.CPU))
	check("stereo", eval(right, S, Sbad))
}

// TestStereoTransformMatchesRig: StereoTransform(baseline) is the relative
// pose of the synthetic rig's left (target) and right (source) cameras.
func TestStereoTransformMatchesRig(t *testing.T) {
	g := newGeo(t)
	world, err := synth.NewWorld(synth.Config{Width: 32, Height: 16, Stereo: true, Baseline: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	l, r := world.Render(5)
	rel := g.ok1(RelativeTransform([]msgs.Pose{r.Truth.Pose}, []msgs.Pose{l.Truth.Pose}, gotch.CPU))
	S := g.ok1(StereoTransform(0.3, 1, gotch.CPU))
	assertClose(t, "T_right<-left", geoValues(t, rel), geoValues(t, S), 1e-5)
	assertClose(t, "StereoTransform", geoValues(t, S), []float64{1, 0, 0, -0.3, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, 1e-7)

	if _, err := StereoTransform(0.5, 0, gotch.CPU); !errors.Is(err, ErrGeometryInput) {
		t.Errorf("StereoTransform(B=0) error = %v, want ErrGeometryInput", err)
	}
}

func TestRelativeTransform(t *testing.T) {
	g := newGeo(t)
	// Two camera-to-world poses: a point seen by the target camera, mapped to
	// the world and back into the source camera, equals T_src<-tgt applied.
	rz := func(a float64) [9]float64 {
		c, s := math.Cos(a), math.Sin(a)
		return [9]float64{c, -s, 0, s, c, 0, 0, 0, 1}
	}
	src := msgs.Pose{R: rz(0.3), T: [3]float64{1, 2, 3}}
	tgt := msgs.Pose{R: rz(-0.2), T: [3]float64{-1, 0.5, 2}}
	p := [3]float64{0.7, -0.4, 5}
	want := src.Inverse().Apply(tgt.Apply(p))
	T := g.ok1(RelativeTransform([]msgs.Pose{src}, []msgs.Pose{tgt}, gotch.CPU))
	m := geoValues(t, T)
	got := [3]float64{}
	for i := 0; i < 3; i++ {
		got[i] = m[4*i]*p[0] + m[4*i+1]*p[1] + m[4*i+2]*p[2] + m[4*i+3]
	}
	assertClose(t, "T_src<-tgt * p", got[:], want[:], 1e-5)
	if _, err := RelativeTransform([]msgs.Pose{src}, nil, gotch.CPU); !errors.Is(err, ErrGeometryInput) {
		t.Errorf("mismatched lengths: error = %v", err)
	}
	bad := src
	bad.T[1] = math.NaN()
	if _, err := PoseTensor([]msgs.Pose{bad}, gotch.CPU); !errors.Is(err, ErrGeometryInput) {
		t.Errorf("NaN pose: error = %v", err)
	}
}

func TestTransformFromAxisAngle(t *testing.T) {
	g := newGeo(t)
	aa := g.data([]float32{0, 0, math.Pi / 2, 0, 0, 0, 0.3, -0.5, 0.2}, 3, 3)
	tr := g.data([]float32{1, 2, 3, 0, 0, 0, -1, 0.5, 0.25}, 3, 3)
	T := g.ok1(TransformFromAxisAngle(aa, tr))
	assertShape(t, "T", T, 3, 4, 4)
	m := geoValues(t, T)
	// 90 degrees about z, by hand; zero rotation is the identity.
	assertClose(t, "rot z 90", m[:16], []float64{0, -1, 0, 1, 1, 0, 0, 2, 0, 0, 1, 3, 0, 0, 0, 1}, 1e-6)
	assertClose(t, "zero", m[16:32], []float64{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, 1e-7)
	// A general vector against Rodrigues in float64 with the unit axis.
	v := [3]float64{0.3, -0.5, 0.2}
	th := math.Sqrt(v[0]*v[0] + v[1]*v[1] + v[2]*v[2])
	x, y, z := v[0]/th, v[1]/th, v[2]/th
	c, s, C := math.Cos(th), math.Sin(th), 1-math.Cos(th)
	want := []float64{
		c + x*x*C, x*y*C - z*s, x*z*C + y*s, -1,
		y*x*C + z*s, c + y*y*C, y*z*C - x*s, 0.5,
		z*x*C - y*s, z*y*C + x*s, c + z*z*C, 0.25,
		0, 0, 0, 1}
	assertClose(t, "rodrigues", m[32:], want, 1e-6)

	if _, err := TransformFromAxisAngle(g.data([]float32{1, 2}, 1, 2), tr); !errors.Is(err, ErrGeometryShape) {
		t.Errorf("axisAngle [1,2]: error = %v", err)
	}
}

// TestGeometryGradients: a photometric loss on the warped image sends finite,
// non-zero gradients to depth and to the pose parameters (axis-angle and
// translation through TransformFromAxisAngle), and the translation gradient
// agrees with a central finite difference.
func TestGeometryGradients(t *testing.T) {
	g := newGeo(t)
	const c, h, w = 3, 8, 12
	r := rand.New(rand.NewSource(6))
	k := msgs.Intrinsics{Width: w, Height: h, Fx: 10, Fy: 9, Cx: 5.7, Cy: 4.2}
	K, invK := g.intrinsics(k)
	src := g.data(geoSmoothImage(r, c, h, w), 1, c, h, w)
	tgt := g.data(geoSmoothImage(r, c, h, w), 1, c, h, w)
	dd := make([]float32, h*w)
	for i := range dd {
		dd[i] = float32(3 + 2*r.Float64())
	}
	depth := g.data(dd, 1, 1, h, w)
	aa := g.data([]float32{0.01, -0.02, 0.015}, 1, 3)
	tr := g.data([]float32{0.23, -0.05, 0.1}, 1, 3)
	for _, p := range []*ts.Tensor{depth, aa, tr} {
		if err := p.RequiresGrad_(true); err != nil {
			t.Fatal(err)
		}
	}
	// loss = sum(|warped - tgt| * valid): smooth enough for a finite difference
	// as long as no sample crosses a pixel centre or sign change; the small
	// step below stays within one bilinear cell.
	loss := func(aa, tr *ts.Tensor) *ts.Tensor {
		T := g.ok1(TransformFromAxisAngle(aa, tr))
		warped, valid := g.ok2(Reproject(src, depth, K, invK, T))
		diff := g.ok1(warped.Sub(tgt, false))
		sq := g.ok1(diff.Square(false))
		m := g.ok1(sq.Mul(valid, false))
		return g.ok1(m.Sum(gotch.Float, false))
	}
	l := loss(aa, tr)
	if err := l.Backward(); err != nil {
		t.Fatal(err)
	}
	grads := map[string][]float64{}
	for name, p := range map[string]*ts.Tensor{"depth": depth, "axisAngle": aa, "translation": tr} {
		gr := g.ok1(p.Grad(false))
		gv := geoValues(t, gr)
		var norm float64
		for _, x := range gv {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				t.Fatalf("d loss / d %s has a non-finite value: %v", name, gv)
			}
			norm += x * x
		}
		if norm == 0 {
			t.Errorf("d loss / d %s is zero", name)
		}
		grads[name] = gv
	}

	// Finite differences in float64 arithmetic on float32 tensors, without grad.
	ng := ts.NewNoGradGuard()
	defer ng.Drop()
	const eps = 1e-3
	trv := []float32{0.23, -0.05, 0.1}
	aav := []float32{0.01, -0.02, 0.015}
	for _, param := range []string{"translation", "axisAngle"} {
		for i := 0; i < 3; i++ {
			at := func(d float32) float64 {
				a, tv := append([]float32(nil), aav...), append([]float32(nil), trv...)
				if param == "translation" {
					tv[i] += d
				} else {
					a[i] += d
				}
				return geoValues(t, loss(g.data(a, 1, 3), g.data(tv, 1, 3)))[0]
			}
			fd := (at(eps) - at(-eps)) / (2 * eps)
			an := grads[param][i]
			t.Logf("d loss / d %s[%d]: autograd %.5f, finite difference %.5f", param, i, an, fd)
			if math.Abs(fd-an) > 0.05*math.Abs(an)+1e-3 {
				t.Errorf("d loss / d %s[%d]: autograd %.5f, finite difference %.5f", param, i, an, fd)
			}
		}
	}
}

func TestGeometryShapeErrors(t *testing.T) {
	g := newGeo(t)
	K, invK := g.intrinsics(msgs.Intrinsics{Width: 4, Height: 3, Fx: 3, Fy: 3, Cx: 2, Cy: 1.5})
	d3 := g.data(geoConst(24, 1), 2, 3, 4)
	d4 := g.data(geoConst(12, 1), 1, 1, 3, 4)
	d2c := g.data(geoConst(24, 1), 1, 2, 3, 4)
	dInt := g.own(ts.MustOnes([]int64{1, 1, 3, 4}, gotch.Int64, gotch.CPU))
	pts := g.ok1(BackProject(d4, invK))
	I := g.poses(msgs.Identity())
	img := g.data(geoConst(36, 1), 1, 3, 3, 4)
	grid, _ := g.ok2(Project(pts, K, I, 3, 4))
	bad3 := g.data(geoConst(12, 1), 1, 3, 4)

	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"depth rank 3", func() error { _, err := BackProject(d3, invK); return err },
			"perception: bad tensor shape: BackProject: depth must be [B,1,H,W], got [2,3,4]"},
		{"depth two channels", func() error { _, err := BackProject(d2c, invK); return err }, "depth must be [B,1,H,W]"},
		{"depth int64", func() error { _, err := BackProject(dInt, invK); return err }, "depth must be float32"},
		{"depth nil", func() error { _, err := BackProject(nil, invK); return err }, "depth is nil"},
		{"invK 4x4", func() error { _, err := BackProject(d4, I); return err }, "invK must be"},
		{"points size", func() error { _, _, err := Project(pts, K, I, 4, 4); return err }, "points must be [B,3,16]"},
		{"K 4x4", func() error { _, _, err := Project(pts, I, I, 3, 4); return err }, "K must be"},
		{"T 3x3", func() error { _, _, err := Project(pts, K, K, 3, 4); return err }, "T must be"},
		{"zero size", func() error { _, _, err := Project(pts, K, I, 0, 4); return err }, "image size"},
		{"src rank 3", func() error { _, err := Warp(bad3, grid); return err }, "src must be [B,C,H,W]"},
		{"grid for image", func() error { _, err := Warp(img, img); return err }, "grid must be"},
		{"padding", func() error { _, err := WarpPadding(img, grid, 7); return err }, "unknown padding"},
		{"reproject sizes", func() error {
			_, _, err := Reproject(g.data(geoConst(30, 1), 1, 3, 2, 5), d4, K, invK, I)
			return err
		}, "must agree"},
	} {
		err := tc.call()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
			continue
		}
		if !errors.Is(err, ErrGeometryShape) && !errors.Is(err, ErrGeometryInput) {
			t.Errorf("%s: error %v wraps neither sentinel", tc.name, err)
		}
	}
}

// TestReprojectMemoryFlat runs Reproject forward and backward 300 times at
// 160x48 after a warm-up: every intermediate is freed, so RSS stays flat.
func TestReprojectMemoryFlat(t *testing.T) {
	g := newGeo(t)
	const c, h, w = 3, 48, 160
	r := rand.New(rand.NewSource(7))
	K, invK := g.intrinsics(msgs.Intrinsics{Width: w, Height: h, Fx: 93, Fy: 93, Cx: 80, Cy: 24})
	src := g.data(geoSmoothImage(r, c, h, w), 1, c, h, w)
	depth := g.data(geoConst(h*w, 5), 1, 1, h, w)
	aa := g.data([]float32{0.01, 0.02, 0}, 1, 3)
	tr := g.data([]float32{0.1, 0, 0.5}, 1, 3)
	for _, p := range []*ts.Tensor{depth, aa, tr} {
		if err := p.RequiresGrad_(true); err != nil {
			t.Fatal(err)
		}
	}
	step := func() {
		T, err := TransformFromAxisAngle(aa, tr)
		if err != nil {
			t.Fatal(err)
		}
		warped, valid, err := Reproject(src, depth, K, invK, T)
		if err != nil {
			t.Fatal(err)
		}
		m := warped.MustMul(valid, false)
		l := m.MustMean(gotch.Float, false)
		l.MustBackward()
		for _, x := range []*ts.Tensor{T, warped, valid, m, l} {
			x.MustDrop()
		}
		for _, p := range []*ts.Tensor{depth, aa, tr} {
			p.ZeroGrad()
		}
	}
	for i := 0; i < 50; i++ {
		step()
	}
	before := memtest.SettledRSS(t)
	for i := 0; i < 300; i++ {
		step()
	}
	after := memtest.SettledRSS(t)
	growth := after - before
	t.Logf("RSS %d KiB -> %d KiB after 300 Reproject forward+backward steps (%+d KiB)", before>>10, after>>10, growth>>10)
	// A leaked valid mask (30 KiB) or any larger intermediate would add 9 MiB
	// or more; what remains (~1 MiB) is gotch v0.7.0 never freeing the
	// 8-byte malloc(0) result slot of each op (~32 B x ~80 ops a step).
	if growth > 4<<20 {
		t.Errorf("RSS grew by %d KiB over 300 steps", growth>>10)
	}
}
