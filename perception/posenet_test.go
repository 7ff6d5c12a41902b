package perception

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// rodrigues is the reference: R = I + sin(t) K + (1 - cos(t)) K^2 for the
// unit axis k = v/|v| and t = |v|, row-major.
func rodrigues(v [3]float64) [9]float64 {
	t := math.Sqrt(v[0]*v[0] + v[1]*v[1] + v[2]*v[2])
	r := [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}
	if t == 0 {
		return r
	}
	x, y, z := v[0]/t, v[1]/t, v[2]/t
	k := [9]float64{0, -z, y, z, 0, -x, -y, x, 0}
	var k2 [9]float64
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			for l := 0; l < 3; l++ {
				k2[i*3+j] += k[i*3+l] * k[l*3+j]
			}
		}
	}
	s, c := math.Sin(t), 1-math.Cos(t)
	for i := range r {
		r[i] += s*k[i] + c*k2[i]
	}
	return r
}

func TestPoseMatrix(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	const n = 64
	vecs := make([]float32, n*6)
	for i := range vecs {
		vecs[i] = float32(r.NormFloat64())
	}
	copy(vecs[:6], []float32{0, 0, 0, 0, 0, 0})             // zero: identity
	copy(vecs[6:12], []float32{0, 0, math.Pi / 2, 1, 2, 3}) // 90 degrees about z
	onWorker(t, func() error {
		v, err := ts.NewTensorFromData(vecs, []int64{n, 6})
		if err != nil {
			return err
		}
		defer v.MustDrop()
		m, err := PoseMatrix(v)
		if err != nil {
			return err
		}
		if got := fmt.Sprint(sizeOf(m)); got != "[64 4 4]" {
			return fmt.Errorf("shape %s", got)
		}
		got := m.Float64Values(true)
		for b := 0; b < n; b++ {
			g := got[b*16 : (b+1)*16]
			want := rodrigues([3]float64{float64(vecs[b*6]), float64(vecs[b*6+1]), float64(vecs[b*6+2])})
			var rot [9]float64
			for i := 0; i < 3; i++ {
				for j := 0; j < 3; j++ {
					rot[i*3+j] = g[i*4+j]
					if d := math.Abs(g[i*4+j] - want[i*3+j]); d > 2e-6 {
						return fmt.Errorf("vec %d: R[%d][%d] = %g, Go Rodrigues %g", b, i, j, g[i*4+j], want[i*3+j])
					}
				}
				if g[i*4+3] != float64(vecs[b*6+3+i]) {
					return fmt.Errorf("vec %d: t[%d] = %g, want %g", b, i, g[i*4+3], vecs[b*6+3+i])
				}
			}
			if g[12] != 0 || g[13] != 0 || g[14] != 0 || g[15] != 1 {
				return fmt.Errorf("vec %d: last row %v", b, g[12:])
			}
			// R R^T = I and det R = 1.
			for i := 0; i < 3; i++ {
				for j := 0; j < 3; j++ {
					var s float64
					for l := 0; l < 3; l++ {
						s += rot[i*3+l] * rot[j*3+l]
					}
					want := 0.0
					if i == j {
						want = 1
					}
					if math.Abs(s-want) > 1e-5 {
						return fmt.Errorf("vec %d: (R R^T)[%d][%d] = %g", b, i, j, s)
					}
				}
			}
			det := rot[0]*(rot[4]*rot[8]-rot[5]*rot[7]) - rot[1]*(rot[3]*rot[8]-rot[5]*rot[6]) + rot[2]*(rot[3]*rot[7]-rot[4]*rot[6])
			if math.Abs(det-1) > 1e-5 {
				return fmt.Errorf("vec %d: det R = %g", b, det)
			}
			if b == 0 {
				for i, want := range []float64{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1} {
					if g[i] != want {
						return fmt.Errorf("zero vector: %v, want the identity", g)
					}
				}
			}
			if b == 1 { // by hand: x -> y, y -> -x
				for i, want := range []float64{0, -1, 0, 1, 1, 0, 0, 2, 0, 0, 1, 3} {
					if math.Abs(g[i]-want) > 1e-6 {
						return fmt.Errorf("90 degrees about z: %v", g[:12])
					}
				}
			}
		}
		return nil
	})
}

// TestPoseMatrixGradAtZero: the gradient through the identity is finite (the
// untrained pose net outputs near-zero vectors).
func TestPoseMatrixGradAtZero(t *testing.T) {
	onWorker(t, func() error {
		v, err := ts.Zeros([]int64{2, 6}, gotch.Float, gotch.CPU)
		if err != nil {
			return err
		}
		defer v.MustDrop()
		if err := v.RequiresGrad_(true); err != nil {
			return err
		}
		m, err := PoseMatrix(v)
		if err != nil {
			return err
		}
		l, err := m.Sum(gotch.Float, true)
		if err != nil {
			return err
		}
		defer l.MustDrop()
		if err := l.Backward(); err != nil {
			return err
		}
		g, err := v.Grad(false)
		if err != nil {
			return err
		}
		for i, x := range g.Float64Values(true) {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("grad[%d] = %g at the zero vector", i, x)
			}
			if i%6 >= 3 && x != 1 { // d sum / d t = 1
				return fmt.Errorf("grad of translation %d = %g, want 1", i, x)
			}
		}
		return nil
	})
}

func TestPoseMatrixBadShape(t *testing.T) {
	onWorker(t, func() error {
		for _, s := range [][]int64{{6}, {2, 5}, {2, 6, 1}} {
			x, err := ts.Zeros(s, gotch.Float, gotch.CPU)
			if err != nil {
				return err
			}
			_, err = PoseMatrix(x)
			x.MustDrop()
			if !errors.Is(err, ErrInputShape) {
				return fmt.Errorf("shape %v: %v, want ErrInputShape", s, err)
			}
		}
		return nil
	})
}

func TestPoseNet(t *testing.T) {
	for _, tc := range []struct {
		size  string
		prior float64
	}{{SizeSmall, 0}, {SizeDefault, 0}, {SizeSmall, 0.5}} {
		onWorker(t, func() error {
			vs := nn.NewVarStore(gotch.CPU)
			net, err := NewPoseNet(vs.Root(), PoseConfig{Size: tc.size, ForwardPrior: tc.prior})
			if err != nil {
				return err
			}
			a, err := randImage(1, 3, 64, 128)
			if err != nil {
				return err
			}
			defer a.MustDrop()
			b, err := randImage(2, 3, 64, 128)
			if err != nil {
				return err
			}
			defer b.MustDrop()
			out, err := net.Forward(a, b)
			if err != nil {
				return err
			}
			if got := fmt.Sprint(sizeOf(out)); got != "[3 6]" {
				return fmt.Errorf("shape %s, want [3 6]", got)
			}
			v := out.Float64Values(true)
			for i, x := range v {
				want := 0.0
				if i%6 == 5 {
					want = -tc.prior // warp a->b of a camera moving forward
				}
				if math.Abs(x-want) > 0.05 {
					return fmt.Errorf("%s prior %g: untrained output[%d] = %g, want about %g", tc.size, tc.prior, i, x, want)
				}
			}
			c, err := randImage(2, 3, 64, 96)
			if err != nil {
				return err
			}
			defer c.MustDrop()
			if _, err := net.Forward(a, c); !errors.Is(err, ErrInputShape) {
				return fmt.Errorf("different sizes: %v, want ErrInputShape", err)
			}
			return nil
		})
	}
	vs := nn.NewVarStore(gotch.CPU)
	if _, err := NewPoseNet(vs.Root(), PoseConfig{Size: "tiny"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("size tiny: %v, want ErrConfig", err)
	}
}

// BenchmarkPoseForward: pose inference for one pair, 2 threads, no grad.
func BenchmarkPoseForward(b *testing.B) {
	for _, size := range []string{SizeSmall, SizeDefault} {
		for _, res := range [][2]int{{320, 96}, {640, 192}} {
			b.Run(fmt.Sprintf("%s/%dx%d", size, res[0], res[1]), func(b *testing.B) {
				w, err := NewWorker(2)
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				var net *PoseNet
				var x, y *ts.Tensor
				if err := w.Do(func() (err error) {
					vs := nn.NewVarStore(gotch.CPU)
					if net, err = NewPoseNet(vs.Root(), PoseConfig{Size: size}); err != nil {
						return err
					}
					if x, err = randImage(1, 1, res[1], res[0]); err != nil {
						return err
					}
					y, err = randImage(2, 1, res[1], res[0])
					return err
				}); err != nil {
					b.Fatal(err)
				}
				defer w.Do(func() error { x.MustDrop(); y.MustDrop(); return nil })
				b.ReportAllocs()
				b.ResetTimer()
				err = w.Do(func() error {
					return NoGrad(func() error {
						for i := 0; i < b.N; i++ {
							v, err := net.Forward(x, y)
							if err != nil {
								return err
							}
							m, err := PoseMatrix(v)
							v.MustDrop()
							if err != nil {
								return err
							}
							m.MustDrop()
						}
						return nil
					})
				})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/pair")
			})
		}
	}
}
