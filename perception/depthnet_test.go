package perception

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/internal/torchtest"
)

// randImage returns a [b,3,h,w] tensor of smooth random values in [0,1]:
// a blurry pattern (sums of sinusoids) so activations look like images.
func randImage(seed int64, b, h, w int) (*ts.Tensor, error) {
	r := rand.New(rand.NewSource(seed))
	data := make([]float32, b*3*h*w)
	for bi := 0; bi < b; bi++ {
		for c := 0; c < 3; c++ {
			fx, fy, ph := r.Float64()*0.3, r.Float64()*0.3, r.Float64()*6
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					v := 0.5 + 0.3*math.Sin(fx*float64(x)+fy*float64(y)+ph) + 0.1*r.Float64()
					data[((bi*3+c)*h+y)*w+x] = float32(v)
				}
			}
		}
	}
	return ts.NewTensorFromData(data, []int64{int64(b), 3, int64(h), int64(w)})
}

func sizeOf(t *ts.Tensor) []int64 {
	s, _ := t.Size()
	return s
}

func dropAll(xs []*ts.Tensor) {
	for _, x := range xs {
		x.MustDrop()
	}
}

func TestDepthNetShapes(t *testing.T) {
	cases := []struct {
		size string
		w, h int
	}{
		{SizeSmall, 64, 64},
		{SizeSmall, 128, 64},
		{SizeSmall, 160, 96},
		{SizeDefault, 96, 64},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%dx%d", tc.size, tc.w, tc.h), func(t *testing.T) {
			onWorker(t, func() error {
				vs := nn.NewVarStore(gotch.CPU)
				net, err := NewDepthNet(vs.Root(), DepthConfig{Size: tc.size})
				if err != nil {
					return err
				}
				x, err := randImage(1, 2, tc.h, tc.w)
				if err != nil {
					return err
				}
				defer x.MustDrop()
				out, err := net.Forward(x, true)
				if err != nil {
					return err
				}
				defer dropAll(out)
				if len(out) != NumScales {
					return fmt.Errorf("%d outputs, want %d", len(out), NumScales)
				}
				for s, d := range out {
					want := fmt.Sprint([]int64{2, 1, int64(tc.h >> s), int64(tc.w >> s)})
					if got := fmt.Sprint(sizeOf(d)); got != want {
						return fmt.Errorf("scale %d: shape %s, want %s", s, got, want)
					}
					for _, v := range d.Float64Values() {
						if !(v > 0 && v < 1) {
							return fmt.Errorf("scale %d: disparity %g outside (0,1)", s, v)
						}
					}
				}
				return nil
			})
		})
	}
}

func TestDepthNetBadInput(t *testing.T) {
	onWorker(t, func() error {
		vs := nn.NewVarStore(gotch.CPU)
		net, err := NewDepthNet(vs.Root(), DepthConfig{Size: SizeSmall})
		if err != nil {
			return err
		}
		shapes := [][]int64{
			{1, 3, 65, 64}, {1, 3, 64, 80}, {1, 3, 32, 64}, {1, 3, 64, 32}, {1, 1, 64, 64}, {3, 64, 64}, {0, 3, 64, 64},
		}
		for _, s := range shapes {
			x, err := ts.Zeros(s, gotch.Float, gotch.CPU)
			if err != nil {
				return err
			}
			out, err := net.Forward(x, false)
			x.MustDrop()
			if !errors.Is(err, ErrInputShape) {
				dropAll(out)
				return fmt.Errorf("shape %v: error %v, want ErrInputShape", s, err)
			}
		}
		x, err := ts.Zeros([]int64{1, 3, 64, 64}, gotch.Double, gotch.CPU)
		if err != nil {
			return err
		}
		defer x.MustDrop()
		if _, err := net.Forward(x, false); !errors.Is(err, ErrInputShape) {
			return fmt.Errorf("float64 input: error %v, want ErrInputShape", err)
		}
		if _, err := net.Forward(nil, false); !errors.Is(err, ErrInputShape) {
			return fmt.Errorf("nil input: error %v, want ErrInputShape", err)
		}
		return nil
	})
}

func TestDepthConfigErrors(t *testing.T) {
	for _, c := range []DepthConfig{
		{Size: "huge"},
		{MinDepth: 5, MaxDepth: 1},
		{MinDepth: -1},
		{InitDepth: 200},
	} {
		vs := nn.NewVarStore(gotch.CPU)
		if _, err := NewDepthNet(vs.Root(), c); !errors.Is(err, ErrConfig) {
			t.Errorf("NewDepthNet(%+v) error = %v, want ErrConfig", c, err)
		}
	}
}

func TestDispToDepth(t *testing.T) {
	onWorker(t, func() error {
		in := []float32{0, 0.009009009, 0.25, 0.5, 0.75, 1}
		d, err := ts.NewTensorFromData(in, []int64{1, 1, 1, int64(len(in))})
		if err != nil {
			return err
		}
		defer d.MustDrop()
		depth, err := DispToDepth(d, 0.1, 100)
		if err != nil {
			return err
		}
		got := depth.Float64Values(true)
		// By hand: 1 / (0.01 + 9.99*disp).
		want := []float64{100, 10, 1 / (0.01 + 9.99*0.25), 1 / (0.01 + 9.99*0.5), 1 / (0.01 + 9.99*0.75), 0.1}
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-5*want[i] {
				return fmt.Errorf("disp %g: depth %g, want %g", in[i], got[i], want[i])
			}
			if i > 0 && !(got[i] < got[i-1]) {
				return fmt.Errorf("depth not decreasing with disparity: %v", got)
			}
		}
		if _, err := DispToDepth(d, 1, 1); !errors.Is(err, ErrConfig) {
			return fmt.Errorf("range 1..1: %v, want ErrConfig", err)
		}
		return nil
	})
}

// TestInitialDepthMidRange: the untrained network predicts about InitDepth
// (10 m) everywhere, for any image (RECIPES trap 3).
func TestInitialDepthMidRange(t *testing.T) {
	for _, size := range []string{SizeSmall, SizeDefault} {
		onWorker(t, func() error {
			vs := nn.NewVarStore(gotch.CPU)
			net, err := NewDepthNet(vs.Root(), DepthConfig{Size: size})
			if err != nil {
				return err
			}
			x, err := randImage(7, 2, 64, 128)
			if err != nil {
				return err
			}
			defer x.MustDrop()
			out, err := net.Forward(x, false)
			if err != nil {
				return err
			}
			defer dropAll(out)
			for s, d := range out {
				depth, err := DispToDepth(d, 0.1, 100)
				if err != nil {
					return err
				}
				v := depth.Float64Values(true)
				sort.Float64s(v)
				med, lo, hi := v[len(v)/2], v[0], v[len(v)-1]
				t.Logf("%s scale %d: depth min %.2f median %.2f max %.2f", size, s, lo, med, hi)
				if med < 7 || med > 14 || lo < 3 || hi > 30 {
					return fmt.Errorf("%s scale %d: initial depth min %.2f median %.2f max %.2f, want about 10 m", size, s, lo, med, hi)
				}
			}
			return nil
		})
	}
}

// runReference runs the PyTorch reference on what ExportDepthReference
// wrote into dir.
func runReference(t testing.TB, dir string, threads, iters int) DepthReference {
	t.Helper()
	r, err := RunDepthReference(context.Background(), torchtest.Python(t), dir, threads, iters)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDepthNetMatchesPyTorch rebuilds the network in PyTorch (Debian's
// python3-torch, the same libtorch) with the same weights and compares the
// four disparity maps.
func TestDepthNetMatchesPyTorch(t *testing.T) {
	for _, size := range []string{SizeSmall, SizeDefault} {
		t.Run(size, func(t *testing.T) {
			dir := t.TempDir()
			onWorker(t, func() error {
				m, err := NewModel(DepthPose(128, 64, DepthConfig{Size: size}, PoseConfig{}), gotch.CPU)
				if err != nil {
					return err
				}
				defer m.Close()
				x, err := randImage(5, 2, 64, 128)
				if err != nil {
					return err
				}
				defer x.MustDrop()
				return ExportDepthReference(dir, m, x)
			})
			r := runReference(t, dir, 2, 2)
			t.Logf("torch %s: max |python - go| per scale %v", r.Torch, r.MaxAbsDiff)
			if len(r.MaxAbsDiff) != NumScales {
				t.Fatalf("reference compared %d scales", len(r.MaxAbsDiff))
			}
			for s, d := range r.MaxAbsDiff {
				if !(d <= 1e-5) {
					t.Fatalf("scale %d: max |python - go| = %g, want <= 1e-5", s, d)
				}
			}
		})
	}
}

// BenchmarkDepthForward: depth inference, batch 1, 2 threads, no grad.
func BenchmarkDepthForward(b *testing.B) {
	for _, size := range []string{SizeSmall, SizeDefault} {
		for _, res := range [][2]int{{320, 96}, {640, 192}} {
			b.Run(fmt.Sprintf("%s/%dx%d", size, res[0], res[1]), func(b *testing.B) {
				w, err := NewWorker(2)
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				var m *Model
				var x *ts.Tensor
				if err := w.Do(func() (err error) {
					if m, err = NewModel(DepthPose(res[0], res[1], DepthConfig{Size: size}, PoseConfig{}), gotch.CPU); err != nil {
						return err
					}
					x, err = randImage(1, 1, res[1], res[0])
					return err
				}); err != nil {
					b.Fatal(err)
				}
				defer w.Do(func() error { x.MustDrop(); m.Close(); return nil })
				b.ReportAllocs()
				b.ResetTimer()
				err = w.Do(func() error {
					return NoGrad(func() error {
						for i := 0; i < b.N; i++ {
							out, err := m.Depth().Forward(x, false)
							if err != nil {
								return err
							}
							dropAll(out)
						}
						return nil
					})
				})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/frame")
			})
		}
	}
}

// BenchmarkDepthGoVsPython runs the same network with the same weights in
// Go and in PyTorch (python3-torch, same libtorch .so files) on 2 threads
// at 640x192 and reports both times and their ratio (goal: go/py <= 1.05).
// Timed in turns (Go, Python, Go), b.N rounds (use -benchtime 5x), each
// side's median per round, the best round of each reported.
func BenchmarkDepthGoVsPython(b *testing.B) {
	for _, size := range []string{SizeSmall, SizeDefault} {
		b.Run(size, func(b *testing.B) {
			const iters = 20
			dir := b.TempDir()
			w, err := NewWorker(2)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			var m *Model
			var x *ts.Tensor
			if err := w.Do(func() (err error) {
				if m, err = NewModel(ModelConfig{Nets: map[string]NetConfig{NetDepth: DepthConfig{Size: size}, NetPose: PoseConfig{}}}, gotch.CPU); err != nil {
					return err
				}
				if x, err = randImage(1, 1, 192, 640); err != nil {
					return err
				}
				return ExportDepthReference(dir, m, x)
			}); err != nil {
				b.Fatal(err)
			}
			defer w.Do(func() error { x.MustDrop(); m.Close(); return nil })
			// The fastest round of each side estimates its uncontended
			// speed; others share this machine's 2 cores.
			goMs, pyMs := math.Inf(1), math.Inf(1)
			for i := 0; i < b.N; i++ {
				g1, err := TimeDepthForward(w, m, x, iters)
				if err != nil {
					b.Fatal(err)
				}
				r := runReference(b, dir, 2, iters)
				g2, err := TimeDepthForward(w, m, x, iters)
				if err != nil {
					b.Fatal(err)
				}
				for s, d := range r.MaxAbsDiff {
					if !(d <= 1e-4) {
						b.Fatalf("scale %d: max |python - go| = %g", s, d)
					}
				}
				goMs = math.Min(goMs, math.Min(g1, g2))
				pyMs = math.Min(pyMs, r.MsPerFrame)
			}
			b.ReportMetric(goMs, "go-ms/frame")
			b.ReportMetric(pyMs, "py-ms/frame")
			b.ReportMetric(goMs/pyMs, "go/py")
		})
	}
}
