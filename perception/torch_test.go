package perception

import (
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/internal/torchtest"
)

// These tests prove that the patched gotch in third_party/gotch builds, links
// against Debian's libtorch and computes the right numbers. Each test locks
// its OS thread: libtorch's grad mode and gotch's error slot are per thread.

// tensor makes a float32 tensor of the given shape, failing the test on error.
func tensor(t testing.TB, data []float32, shape ...int64) *ts.Tensor {
	t.Helper()
	x, err := ts.NewTensorFromData(data, shape)
	if err != nil {
		t.Fatalf("NewTensorFromData(shape %v): %v", shape, err)
	}
	return x
}

func assertClose(t *testing.T, what string, got []float64, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %g, want %g (all: got %v want %v)", what, i, got[i], want[i], got, want)
		}
	}
}

func assertShape(t *testing.T, what string, x *ts.Tensor, want ...int64) {
	t.Helper()
	got, err := x.Size()
	if err != nil {
		t.Fatalf("%s: Size: %v", what, err)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: shape %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: shape %v, want %v", what, got, want)
		}
	}
}

func TestMatmul(t *testing.T) {
	torchtest.LockThread(t)
	a := tensor(t, []float32{1, 2, 3, 4, 5, 6}, 2, 3)
	defer a.MustDrop()
	b := tensor(t, []float32{7, 8, 9, 10, 11, 12}, 3, 2)
	defer b.MustDrop()
	c, err := a.Matmul(b, false)
	if err != nil {
		t.Fatalf("Matmul: %v", err)
	}
	defer c.MustDrop()
	assertShape(t, "a@b", c, 2, 2)
	assertClose(t, "a@b", c.Float64Values(), []float64{58, 64, 139, 154}, 1e-6)

	// Mismatched inner dimensions are a libtorch error, returned, not a crash.
	_, err = a.Matmul(a, false)
	if err == nil || !strings.Contains(err.Error(), "cannot be multiplied") {
		t.Fatalf("Matmul(2x3, 2x3) error = %v, want a shape error", err)
	}
}

// convCase is a 2-D convolution checked against a direct Go implementation.
type convCase struct {
	name               string
	inC, outC, h, w, k int
	stride, pad        int
	outH, outW         int // expected output size
}

// refConv computes out[o][y][x] = b[o] + sum_c,i,j w[o][c][i][j] * xin[c][y*s+i-p][x*s+j-p]
// and, for L = sum(out * g), the gradients dL/dx, dL/dw, dL/db.
func refConv(cc convCase, x, w, b, g []float32) (out, gx, gw, gb []float64) {
	idx4 := func(a, b, c, d, B, C, D int) int { return ((a*B+b)*C+c)*D + d }
	out = make([]float64, cc.outC*cc.outH*cc.outW)
	gx = make([]float64, len(x))
	gw = make([]float64, len(w))
	gb = make([]float64, cc.outC)
	for o := 0; o < cc.outC; o++ {
		for y := 0; y < cc.outH; y++ {
			for xx := 0; xx < cc.outW; xx++ {
				oi := (o*cc.outH+y)*cc.outW + xx
				s := float64(b[o])
				gv := float64(g[oi])
				gb[o] += gv
				for c := 0; c < cc.inC; c++ {
					for i := 0; i < cc.k; i++ {
						for j := 0; j < cc.k; j++ {
							u, v := y*cc.stride+i-cc.pad, xx*cc.stride+j-cc.pad
							if u < 0 || v < 0 || u >= cc.h || v >= cc.w {
								continue
							}
							xi := (c*cc.h+u)*cc.w + v
							wi := idx4(o, c, i, j, cc.inC, cc.k, cc.k)
							s += float64(w[wi]) * float64(x[xi])
							gw[wi] += gv * float64(x[xi])
							gx[xi] += gv * float64(w[wi])
						}
					}
				}
				out[oi] = s
			}
		}
	}
	return out, gx, gw, gb
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func TestConv2dForwardBackward(t *testing.T) {
	torchtest.LockThread(t)
	cases := []convCase{
		{name: "3x3 same", inC: 2, outC: 3, h: 5, w: 6, k: 3, stride: 1, pad: 1, outH: 5, outW: 6},
		{name: "3x3 valid", inC: 1, outC: 2, h: 4, w: 4, k: 3, stride: 1, pad: 0, outH: 2, outW: 2},
		{name: "stride 2", inC: 3, outC: 4, h: 7, w: 8, k: 3, stride: 2, pad: 1, outH: 4, outW: 4},
		{name: "1x1", inC: 4, outC: 2, h: 3, w: 3, k: 1, stride: 1, pad: 0, outH: 3, outW: 3},
	}
	r := rand.New(rand.NewSource(1))
	for _, cc := range cases {
		t.Run(cc.name, func(t *testing.T) {
			xd := randSlice(r, cc.inC*cc.h*cc.w)
			wd := randSlice(r, cc.outC*cc.inC*cc.k*cc.k)
			bd := randSlice(r, cc.outC)
			gd := randSlice(r, cc.outC*cc.outH*cc.outW)
			wantOut, wantGX, wantGW, wantGB := refConv(cc, xd, wd, bd, gd)

			x := tensor(t, xd, 1, int64(cc.inC), int64(cc.h), int64(cc.w))
			defer x.MustDrop()
			w := tensor(t, wd, int64(cc.outC), int64(cc.inC), int64(cc.k), int64(cc.k))
			defer w.MustDrop()
			b := tensor(t, bd, int64(cc.outC))
			defer b.MustDrop()
			g := tensor(t, gd, 1, int64(cc.outC), int64(cc.outH), int64(cc.outW))
			defer g.MustDrop()
			for _, p := range []*ts.Tensor{x, w, b} {
				if err := p.RequiresGrad_(true); err != nil {
					t.Fatalf("RequiresGrad_: %v", err)
				}
			}

			s, pad := int64(cc.stride), int64(cc.pad)
			out, err := ts.Conv2d(x, w, b, []int64{s, s}, []int64{pad, pad}, []int64{1, 1}, 1)
			if err != nil {
				t.Fatalf("Conv2d: %v", err)
			}
			defer out.MustDrop()
			assertShape(t, "out", out, 1, int64(cc.outC), int64(cc.outH), int64(cc.outW))
			assertClose(t, "out", out.Float64Values(), wantOut, 1e-4)

			// L = sum(out * g): the gradients are what refConv says.
			prod := out.MustMul(g, false)
			defer prod.MustDrop()
			loss := prod.MustSum(gotch.Float, false)
			defer loss.MustDrop()
			if err := loss.Backward(); err != nil {
				t.Fatalf("Backward: %v", err)
			}
			for _, gc := range []struct {
				name string
				p    *ts.Tensor
				want []float64
			}{{"dL/dx", x, wantGX}, {"dL/dw", w, wantGW}, {"dL/db", b, wantGB}} {
				grad, err := gc.p.Grad(false)
				if err != nil {
					t.Fatalf("%s: Grad: %v", gc.name, err)
				}
				assertClose(t, gc.name, grad.Float64Values(), gc.want, 1e-4)
				grad.MustDrop()
			}
		})
	}
}

// TestGradNumeric checks autograd against a central finite difference on a
// small non-linear function: L = sum(tanh(x @ W)^2).
func TestGradNumeric(t *testing.T) {
	torchtest.LockThread(t)
	r := rand.New(rand.NewSource(2))
	xd := randSlice(r, 2*3)
	wd := randSlice(r, 3*2)
	loss := func(wv []float32) float64 {
		var l float64
		for i := 0; i < 2; i++ {
			for j := 0; j < 2; j++ {
				var s float64
				for k := 0; k < 3; k++ {
					s += float64(xd[i*3+k]) * float64(wv[k*2+j])
				}
				l += math.Pow(math.Tanh(s), 2)
			}
		}
		return l
	}
	x := tensor(t, xd, 2, 3)
	defer x.MustDrop()
	w := tensor(t, wd, 3, 2)
	defer w.MustDrop()
	w.MustRequiresGrad_(true)
	y := x.MustMatmul(w, false)
	th := y.MustTanh(true)
	sq := th.MustSquare(true)
	l := sq.MustSum(gotch.Float, true)
	defer l.MustDrop()
	if got, want := l.Float64Values()[0], loss(wd); math.Abs(got-want) > 1e-5 {
		t.Fatalf("loss = %g, want %g", got, want)
	}
	l.MustBackward()
	grad := w.MustGrad(false)
	defer grad.MustDrop()
	got := grad.Float64Values()
	const h = 1e-3
	want := make([]float64, len(wd))
	for i := range wd {
		p := append([]float32(nil), wd...)
		m := append([]float32(nil), wd...)
		p[i] += h
		m[i] -= h
		want[i] = (loss(p) - loss(m)) / (2 * h)
	}
	assertClose(t, "dL/dW", got, want, 2e-3)
}

func TestNumThreads(t *testing.T) {
	torchtest.LockThread(t)
	orig := ts.GetNumThreads()
	if orig < 1 {
		t.Fatalf("GetNumThreads() = %d before any change, want >= 1", orig)
	}
	defer ts.MustSetNumThreads(orig)
	for _, n := range []int{1, 2, 1} {
		if err := ts.SetNumThreads(n); err != nil {
			t.Fatalf("SetNumThreads(%d): %v", n, err)
		}
		if got := ts.GetNumThreads(); got != n {
			t.Fatalf("after SetNumThreads(%d), GetNumThreads() = %d", n, got)
		}
	}
	for _, n := range []int{0, -3} {
		if err := ts.SetNumThreads(n); err == nil {
			t.Fatalf("SetNumThreads(%d) = nil, want an error", n)
		}
	}
	if got := ts.GetNumThreads(); got != 1 {
		t.Fatalf("a refused SetNumThreads changed the count to %d", got)
	}
}

// TestConvTranspose2D proves the weight-shape patch: upstream gotch makes
// [out, in/groups, k, k], which libtorch rejects whenever in != out.
func TestConvTranspose2D(t *testing.T) {
	torchtest.LockThread(t)
	cases := []struct {
		name           string
		in, out, g     int64
		stride, pad    int64
		h, w           int64
		wantH, wantW   int64
		wantWeightSize []int64
	}{
		{"3->5 up x2", 3, 5, 1, 2, 1, 6, 8, 12, 16, []int64{3, 5, 4, 4}},
		{"8->2", 8, 2, 1, 1, 0, 5, 5, 8, 8, []int64{8, 2, 4, 4}},
		{"4->6 groups 2", 4, 6, 2, 2, 1, 3, 4, 6, 8, []int64{4, 3, 4, 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vs := nn.NewVarStore(gotch.CPU)
			cfg := &nn.ConvTranspose2DConfig{
				Stride:        []int64{tc.stride, tc.stride},
				Padding:       []int64{tc.pad, tc.pad},
				OutputPadding: []int64{0, 0},
				Dilation:      []int64{1, 1},
				Groups:        tc.g,
				Bias:          true,
				WsInit:        nn.NewKaimingUniformInit(),
				BsInit:        nn.NewConstInit(0),
			}
			ct := nn.NewConvTranspose2D(vs.Root(), tc.in, tc.out, []int64{4, 4}, cfg)
			assertShape(t, "weight", ct.Ws, tc.wantWeightSize...)
			x := ts.MustRandn([]int64{2, tc.in, tc.h, tc.w}, gotch.Float, gotch.CPU)
			defer x.MustDrop()
			// The error-returning call, so a wrong shape fails the test
			// instead of exiting through gotch's log.Fatal.
			y, err := ts.ConvTranspose2d(x, ct.Ws, ct.Bs, cfg.Stride, cfg.Padding, cfg.OutputPadding, cfg.Groups, cfg.Dilation)
			if err != nil {
				t.Fatalf("ConvTranspose2d: %v", err)
			}
			defer y.MustDrop()
			assertShape(t, "output", y, 2, tc.out, tc.wantH, tc.wantW)
		})
	}
}

// TestStubbedWrapper calls ops whose wrappers scripts/gotch.sh replaced with a
// throw: the caller gets a Go error naming the op, and the thread's error slot
// is clean afterwards.
func TestStubbedWrapper(t *testing.T) {
	torchtest.LockThread(t)
	a := ts.MustRandn([]int64{4, 3}, gotch.Float, gotch.CPU)
	defer a.MustDrop()
	b := ts.MustRandn([]int64{4, 1}, gotch.Float, gotch.CPU)
	defer b.MustDrop()

	cases := []struct {
		name string
		call func() error
		want string
	}{
		{"lstsq", func() error { _, _, err := b.Lstsq(a, false); return err }, "atg_lstsq is not available"},
		{"nansum", func() error { _, err := a.Nansum(gotch.Float, false); return err }, "atg_nansum is not available"},
		{"eig", func() error { _, _, err := a.Eig(true, false); return err }, "atg_eig is not available"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			// The next op on this thread must not see a stale error.
			s, err := a.Sum(gotch.Float, false)
			if err != nil {
				t.Fatalf("Sum after the stubbed call: %v", err)
			}
			s.MustDrop()
		})
	}
}

func TestTuneMalloc(t *testing.T) {
	if err := TuneMalloc(); err != nil {
		t.Fatal(err)
	}
	// Tensor work still runs after the change.
	torchtest.LockThread(t)
	x := ts.MustOnes([]int64{1024, 1024}, gotch.Float, gotch.CPU) // 4 MiB
	defer x.MustDrop()
	s := x.MustSum(gotch.Float, false)
	defer s.MustDrop()
	if got := s.Float64Values()[0]; got != 1024*1024 {
		t.Fatalf("sum of ones = %g, want %d", got, 1024*1024)
	}
}

// BenchmarkConv2dForwardBackward times one 3x3 conv layer, forward and
// backward, at a depth-network size (16 channels, 96x320), on 2 threads.
func BenchmarkConv2dForwardBackward(b *testing.B) {
	torchtest.LockThread(b)
	if err := TuneMalloc(); err != nil {
		b.Fatal(err)
	}
	ts.MustSetNumThreads(2)
	x := ts.MustRandn([]int64{1, 16, 96, 320}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	w := ts.MustRandn([]int64{16, 16, 3, 3}, gotch.Float, gotch.CPU)
	defer w.MustDrop()
	w.MustRequiresGrad_(true)
	bias := ts.MustZeros([]int64{16}, gotch.Float, gotch.CPU)
	defer bias.MustDrop()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		y := ts.MustConv2d(x, w, bias, []int64{1, 1}, []int64{1, 1}, []int64{1, 1}, 1)
		l := y.MustSum(gotch.Float, true)
		l.MustBackward()
		l.MustDrop()
		w.MustGrad(false).MustDrop()
		w.ZeroGrad()
	}
	// Forward and the weight gradient are one 3x3 convolution's worth of
	// multiply-adds each (x needs no gradient).
	const flopsPerStep = 2 * 2 * 16 * 16 * 9 * 96 * 320
	b.ReportMetric(flopsPerStep*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
