package learner

import (
	"math"
	"runtime"
	"testing"

	"github.com/parallax-robotics/parallax/perception"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// TestAdamFlatMatchesPerVariable checks the flat Adam (one moment buffer
// for all variables, the update applied through views) against Adam
// written out per element in Go: two variables of different shapes, one
// of them without a gradient in the second step (zeros), clipping scale
// and bias correction over three steps. The variables must change in
// place (the model's handles see the update) and the per-name state that
// encode writes must be each variable's own moments.
func TestAdamFlatMatchesPerVariable(t *testing.T) {
	runtime.LockOSThread() // grad mode is per thread
	defer runtime.UnlockOSThread()
	const b1, b2, eps = 0.9, 0.999, 1e-8
	shapes := [][]int64{{2, 3}, {4}}
	p0 := [][]float32{{1, -2, 3, 0.5, 0, -1}, {0.25, 0.5, -0.75, 2}}
	grads := [][][]float32{ // per step, per variable; nil: no gradient
		{{0.1, -0.2, 0.3, 0, 1, -1}, {2, -2, 0.5, 0.01}},
		{{-0.1, 0.2, 0.3, 0.4, -1, 1}, nil},
		{{0.5, 0.5, -0.5, 0, 0, 3}, {1, 1, 1, 1}},
	}
	scale := []float64{1, 0.5, 2}
	lr := []float64{1e-2, 5e-3, 1e-3}
	var vars []*ts.Tensor
	for i := range shapes {
		v, err := perception.FloatTensor(p0[i], shapes[i], gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		defer v.MustDrop()
		vars = append(vars, v)
	}
	var a *adam
	err := perception.NoGrad(func() (err error) {
		a, err = newAdam([]string{"a", "b"}, vars, b1, b2, eps)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.free()
	// The reference, per element in float64.
	ref := [][]float64{}
	m := [][]float64{}
	v := [][]float64{}
	for i := range p0 {
		r := make([]float64, len(p0[i]))
		for j, x := range p0[i] {
			r[j] = float64(x)
		}
		ref = append(ref, r)
		m = append(m, make([]float64, len(r)))
		v = append(v, make([]float64, len(r)))
	}
	for s, gs := range grads {
		var gt []*ts.Tensor
		for i, g := range gs {
			if g == nil {
				gt = append(gt, nil)
				continue
			}
			x, err := perception.FloatTensor(g, shapes[i], gotch.CPU)
			if err != nil {
				t.Fatal(err)
			}
			gt = append(gt, x)
		}
		err := perception.NoGrad(func() error {
			flat, err := a.flatGrad(gt)
			if err != nil {
				return err
			}
			defer flat.MustDrop()
			return a.update(flat, scale[s], lr[s])
		})
		for _, x := range gt {
			if x != nil {
				x.MustDrop()
			}
		}
		if err != nil {
			t.Fatalf("step %d: %v", s+1, err)
		}
		n := float64(s + 1)
		for i := range ref {
			for j := range ref[i] {
				g := 0.0
				if gs[i] != nil {
					g = float64(gs[i][j]) * scale[s]
				}
				m[i][j] = b1*m[i][j] + (1-b1)*g
				v[i][j] = b2*v[i][j] + (1-b2)*g*g
				ref[i][j] -= lr[s] * (m[i][j] / (1 - math.Pow(b1, n))) / (math.Sqrt(v[i][j]/(1-math.Pow(b2, n))) + eps)
			}
		}
		if a.t != int64(s+1) {
			t.Fatalf("step %d: adam step count %d", s+1, a.t)
		}
		for i, x := range vars {
			got, err := perception.TensorFloat32s(x)
			if err != nil {
				t.Fatal(err)
			}
			for j := range got {
				if d := math.Abs(float64(got[j]) - ref[i][j]); d > 1e-6 {
					t.Errorf("step %d: variable %d[%d] = %v, want %v", s+1, i, j, got[j], ref[i][j])
				}
			}
		}
	}
	// The per-name moments encode writes are each variable's own.
	d, err := a.encode()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := decodeAdam(d)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a", "b"} {
		for j := range m[i] {
			if e := math.Abs(float64(dec.m[name][j]) - m[i][j]); e > 1e-6 {
				t.Errorf("encoded m of %s[%d] = %v, want %v", name, j, dec.m[name][j], m[i][j])
			}
			if e := math.Abs(float64(dec.v[name][j]) - v[i][j]); e > 1e-7 {
				t.Errorf("encoded v of %s[%d] = %v, want %v", name, j, dec.v[name][j], v[i][j])
			}
		}
	}
}
