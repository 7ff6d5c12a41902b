package perception

import (
	"fmt"
	"hash/fnv"
	"math"
	"unsafe"
)

// CopyFrom copies every variable of src into m, in place (m's tensors keep
// their identity, so an Estimator or optimiser holding m keeps working).
// Both models must have the same architecture and variables; everything is
// checked before the first weight is written, so on error m is unchanged.
// The copy is not atomic with respect to other work on m: run it on the
// Worker that uses m (the online learner hands weights to perception this
// way, between two inferences), with src not being trained meanwhile. Both
// models may live on different devices; the values are moved to m's.
func (m *Model) CopyFrom(src *Model) error {
	if m == nil || src == nil || m.vs == nil || src.vs == nil {
		return fmt.Errorf("%w: copy between closed or nil models", ErrConfig)
	}
	if m == src {
		return nil
	}
	if d := ArchDiff(src.cfg, m.cfg); d != "" {
		return fmt.Errorf("%w: %s (source != destination)", ErrArchMismatch, d)
	}
	dst, from := m.NamedVariables(), src.NamedVariables()
	if len(dst) != len(from) {
		return fmt.Errorf("%w: %d variables in the source, %d in the destination", ErrArchMismatch, len(from), len(dst))
	}
	for i := range dst {
		if dst[i].Name != from[i].Name {
			return fmt.Errorf("%w: variable %s in the source, %s in the destination", ErrArchMismatch, from[i].Name, dst[i].Name)
		}
		ds, err := dst[i].Tensor.Size()
		if err != nil {
			return err
		}
		ss, err := from[i].Tensor.Size()
		if err != nil {
			return err
		}
		if fmt.Sprint(ds) != fmt.Sprint(ss) || dst[i].Tensor.DType() != from[i].Tensor.DType() {
			return fmt.Errorf("%w: variable %s: %v %v in the source, %v %v in the destination",
				ErrArchMismatch, dst[i].Name, ss, from[i].Tensor.DType(), ds, dst[i].Tensor.DType())
		}
	}
	return NoGrad(func() error {
		for i := range dst {
			if err := Assign(dst[i].Tensor, from[i].Tensor); err != nil {
				return fmt.Errorf("perception: copy %s: %w", dst[i].Name, err)
			}
		}
		return nil
	})
}

// Fingerprint returns a 64-bit FNV-1a hash of every variable's name and
// exact float32 bits, in name order: equal fingerprints mean bit-identical
// weights (up to hash collisions), which is what tests of "this must not
// change the model" compare. It copies the weights to Go memory once. Run
// it on a Worker.
func (m *Model) Fingerprint() (uint64, error) {
	if m == nil || m.vs == nil {
		return 0, fmt.Errorf("%w: fingerprint of a closed model", ErrConfig)
	}
	h := fnv.New64a()
	for _, nv := range m.NamedVariables() {
		vals, err := TensorFloat32s(nv.Tensor)
		if err != nil {
			return 0, fmt.Errorf("perception: fingerprint %s: %w", nv.Name, err)
		}
		h.Write([]byte(nv.Name))
		if len(vals) > 0 {
			// The values' bytes as they are in memory (little-endian on
			// every platform libtorch runs on here).
			h.Write(unsafe.Slice((*byte)(unsafe.Pointer(&vals[0])), 4*len(vals)))
		}
	}
	return h.Sum64(), nil
}

// Finite reports whether every weight is finite (no NaN, no Inf), naming
// the first variable that is not. The online learner checks it before it
// hands weights to perception. Run it on a Worker.
func (m *Model) Finite() (ok bool, bad string, err error) {
	if m == nil || m.vs == nil {
		return false, "", fmt.Errorf("%w: check of a closed model", ErrConfig)
	}
	for _, nv := range m.NamedVariables() {
		vals, err := TensorFloat32s(nv.Tensor)
		if err != nil {
			return false, "", fmt.Errorf("perception: check %s: %w", nv.Name, err)
		}
		for _, v := range vals {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return false, nv.Name, nil
			}
		}
	}
	return true, "", nil
}
