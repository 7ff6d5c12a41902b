package perception

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/msgs"
)

// BenchmarkReproject times view synthesis (BackProject + Project + Warp of a
// 3-channel image, batch 1, 2 libtorch threads) at the network resolutions,
// forward only and forward+backward of an L1 photometric loss into depth and
// the pose parameters (through TransformFromAxisAngle), as a training step
// needs it.
func BenchmarkReproject(b *testing.B) {
	for _, size := range []struct{ w, h int }{{320, 96}, {640, 192}} {
		for _, backward := range []bool{false, true} {
			name := fmt.Sprintf("%dx%d/forward", size.w, size.h)
			if backward {
				name += "+backward"
			}
			b.Run(name, func(b *testing.B) { benchReproject(b, size.w, size.h, backward) })
		}
	}
}

func benchReproject(b *testing.B, w, h int, backward bool) {
	g := newGeo(b)
	if err := TuneMalloc(); err != nil {
		b.Fatal(err)
	}
	threads := ts.GetNumThreads()
	ts.MustSetNumThreads(2)
	b.Cleanup(func() { ts.MustSetNumThreads(threads) })
	r := rand.New(rand.NewSource(8))
	k := msgs.Intrinsics{Width: w, Height: h, Fx: 0.58 * float64(w), Fy: 0.58 * float64(w), Cx: float64(w) / 2, Cy: float64(h) / 2}
	K, invK := g.intrinsics(k)
	src := g.data(geoSmoothImage(r, 3, h, w), 1, 3, int64(h), int64(w))
	tgt := g.data(geoSmoothImage(r, 3, h, w), 1, 3, int64(h), int64(w))
	dd := make([]float32, h*w)
	for i := range dd {
		dd[i] = float32(2 + 30*r.Float64())
	}
	depth := g.data(dd, 1, 1, int64(h), int64(w))
	aa := g.data([]float32{0.01, -0.02, 0.005}, 1, 3)
	tr := g.data([]float32{0.05, 0, 0.6}, 1, 3)
	if backward {
		for _, p := range []*ts.Tensor{depth, aa, tr} {
			if err := p.RequiresGrad_(true); err != nil {
				b.Fatal(err)
			}
		}
	}
	step := func() {
		T, err := TransformFromAxisAngle(aa, tr)
		if err != nil {
			b.Fatal(err)
		}
		warped, valid, err := Reproject(src, depth, K, invK, T)
		if err != nil {
			b.Fatal(err)
		}
		T.MustDrop()
		if !backward {
			warped.MustDrop()
			valid.MustDrop()
			return
		}
		d := warped.MustSub(tgt, true)
		a := d.MustAbs(true)
		m := a.MustMul(valid, true)
		valid.MustDrop()
		l := m.MustMean(gotch.Float, true)
		l.MustBackward()
		l.MustDrop()
		for _, p := range []*ts.Tensor{depth, aa, tr} {
			p.ZeroGrad()
		}
	}
	for i := 0; i < 3; i++ { // warm-up: allocator, thread pool
		step()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/frame")
}
