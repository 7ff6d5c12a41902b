package perception

import (
	"errors"
	"math"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// TestCopyFrom: after CopyFrom two independently initialised models are
// bit-identical (same fingerprint, same depth), the source is untouched,
// and a later change of the source does not reach the copy.
func TestCopyFrom(t *testing.T) {
	onWorker(t, func() error {
		a, err := NewModel(smallConfig(), gotch.CPU)
		if err != nil {
			return err
		}
		defer a.Close()
		b, err := NewModel(smallConfig(), gotch.CPU)
		if err != nil {
			return err
		}
		defer b.Close()
		// Make a differ from a fresh init: perturb one variable.
		first := a.NamedVariables()[0]
		vals, err := TensorFloat32s(first.Tensor)
		if err != nil {
			return err
		}
		for i := range vals {
			vals[i] += 0.25
		}
		if err := NoGrad(func() error { return AssignValues(first.Tensor, vals) }); err != nil {
			return err
		}
		fa, _ := a.Fingerprint()
		fb, _ := b.Fingerprint()
		if fa == fb {
			t.Fatal("different weights, same fingerprint")
		}
		if err := b.CopyFrom(a); err != nil {
			return err
		}
		fa2, _ := a.Fingerprint()
		fb2, err := b.Fingerprint()
		if err != nil {
			return err
		}
		if fa2 != fa {
			t.Error("CopyFrom changed the source")
		}
		if fb2 != fa {
			t.Errorf("copy fingerprint %x, source %x", fb2, fa)
		}
		x, err := randImage(3, 1, 64, 128)
		if err != nil {
			return err
		}
		defer x.MustDrop()
		var da, db []float32
		for _, m := range []*Model{a, b} {
			var disps []*ts.Tensor
			if err := NoGrad(func() (err error) { disps, err = m.Depth().Forward(x, false); return err }); err != nil {
				return err
			}
			v, err := TensorFloat32s(disps[0])
			dropAll(disps)
			if err != nil {
				return err
			}
			if m == a {
				da = v
			} else {
				db = v
			}
		}
		for i := range da {
			if da[i] != db[i] {
				t.Fatalf("disparity %d: %v != %v after the copy", i, da[i], db[i])
			}
		}
		// The copy owns its storage.
		for i := range vals {
			vals[i] -= 1
		}
		if err := NoGrad(func() error { return AssignValues(first.Tensor, vals) }); err != nil {
			return err
		}
		if fb3, _ := b.Fingerprint(); fb3 != fb2 {
			t.Error("changing the source changed the copy")
		}
		return nil
	})
}

// TestCopyFromMismatch: another architecture is refused, naming it, and
// leaves the destination unchanged.
func TestCopyFromMismatch(t *testing.T) {
	onWorker(t, func() error {
		a, err := NewModel(smallConfig(), gotch.CPU)
		if err != nil {
			return err
		}
		defer a.Close()
		cfg := smallConfig()
		cfg.Width = 192
		b, err := NewModel(cfg, gotch.CPU)
		if err != nil {
			return err
		}
		defer b.Close()
		before, _ := b.Fingerprint()
		if err := b.CopyFrom(a); !errors.Is(err, ErrArchMismatch) {
			t.Errorf("CopyFrom another size: %v, want ErrArchMismatch", err)
		}
		if after, _ := b.Fingerprint(); after != before {
			t.Error("a refused copy changed the destination")
		}
		if err := b.CopyFrom(nil); !errors.Is(err, ErrConfig) {
			t.Errorf("CopyFrom(nil): %v", err)
		}
		return nil
	})
}

// TestFinite finds a NaN planted in one variable.
func TestFinite(t *testing.T) {
	onWorker(t, func() error {
		m, err := NewModel(smallConfig(), gotch.CPU)
		if err != nil {
			return err
		}
		defer m.Close()
		if ok, bad, err := m.Finite(); err != nil || !ok {
			t.Fatalf("fresh model: finite %v (%s), %v", ok, bad, err)
		}
		nv := m.NamedVariables()[3]
		vals, err := TensorFloat32s(nv.Tensor)
		if err != nil {
			return err
		}
		vals[len(vals)/2] = float32(math.NaN())
		if err := NoGrad(func() error { return AssignValues(nv.Tensor, vals) }); err != nil {
			return err
		}
		ok, bad, err := m.Finite()
		if err != nil || ok || bad != nv.Name {
			t.Errorf("NaN in %s: finite %v, first bad %q, %v", nv.Name, ok, bad, err)
		}
		return nil
	})
}
