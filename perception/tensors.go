package perception

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Tensors to and from Go memory, and in-place copies. gotch's own
// NewTensorFromData and CopyData walk the data by reflection (one
// allocation per element: 6 million for a 1280x384 frame, ~100 ms), so
// these copy with one memcpy through DataPtr. Every function runs on a
// Worker.

// FloatTensor copies vals into a new float32 tensor of the given shape on
// dev.
func FloatTensor(vals []float32, shape []int64, dev gotch.Device) (*ts.Tensor, error) {
	n := numel(shape)
	if n != int64(len(vals)) {
		return nil, fmt.Errorf("perception: %d values for shape %v", len(vals), shape)
	}
	t, err := ts.Empty(shape, gotch.Float, gotch.CPU)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		p, err := t.DataPtr()
		if err != nil {
			t.MustDrop()
			return nil, err
		}
		copy(unsafe.Slice((*float32)(p), n), vals)
	}
	return onDevice(t, dev)
}

// BytesTensor copies pix into a new uint8 CPU tensor of the given shape.
func BytesTensor(pix []byte, shape []int64) (*ts.Tensor, error) {
	n := numel(shape)
	if n != int64(len(pix)) || n == 0 {
		return nil, fmt.Errorf("%w: %d bytes for shape %v", ErrFrame, len(pix), shape)
	}
	t, err := ts.Empty(shape, gotch.Uint8, gotch.CPU)
	if err != nil {
		return nil, err
	}
	p, err := t.DataPtr()
	if err != nil {
		t.MustDrop()
		return nil, err
	}
	copy(unsafe.Slice((*byte)(p), n), pix)
	return t, nil
}

// onDevice moves a fresh CPU tensor t to dev, freeing t when it moved.
func onDevice(t *ts.Tensor, dev gotch.Device) (*ts.Tensor, error) {
	if !dev.IsCuda() {
		return t, nil
	}
	return t.To(dev, true)
}

func numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// TensorFloat32s copies a float32 tensor, on any device, into Go memory.
func TensorFloat32s(t *ts.Tensor) ([]float32, error) {
	src := t
	if dev, err := t.Device(); err == nil && dev.IsCuda() {
		c, err := t.To(gotch.CPU, false)
		if err != nil {
			return nil, err
		}
		defer c.MustDrop()
		src = c
	}
	c, err := src.Contiguous(false)
	if err != nil {
		return nil, err
	}
	defer c.MustDrop()
	if c.DType() != gotch.Float {
		return nil, fmt.Errorf("perception: tensor dtype %v, want float32", c.DType())
	}
	n := c.Numel()
	out := make([]float32, n)
	if n == 0 {
		return out, nil
	}
	p, err := c.DataPtr()
	if err != nil {
		return nil, err
	}
	copy(out, unsafe.Slice((*float32)(p), n))
	return out, nil
}

// ScalarValue reads a one-element float32 tensor.
func ScalarValue(t *ts.Tensor) (float64, error) {
	v, err := TensorFloat32s(t)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("perception: %d values where one was expected", len(v))
	}
	return float64(v[0]), nil
}

// Assign copies src into dst in place: dst keeps its identity, so an
// optimiser or VarStore holding it sees the new values. src may live on
// another device (it is moved first). It checks what libtorch's copy_
// would reject before calling it: gotch's Copy_ exits the process on
// error, and its other in-place wrappers leak a tensor handle per call.
// Call it with grad mode off when dst requires grad.
func Assign(dst, src *ts.Tensor) error {
	ds, err := dst.Size()
	if err != nil {
		return err
	}
	ss, err := src.Size()
	if err != nil {
		return err
	}
	if !slices.Equal(ds, ss) || dst.DType() != src.DType() {
		return fmt.Errorf("perception: assign %v %v to %v %v", ss, src.DType(), ds, dst.DType())
	}
	dd, err := dst.Device()
	if err != nil {
		return err
	}
	sd, err := src.Device()
	if err != nil {
		return err
	}
	if dd != sd {
		moved, err := src.To(dd, false)
		if err != nil {
			return err
		}
		defer moved.MustDrop()
		src = moved
	}
	dst.Copy_(src)
	return nil
}

// AssignValues copies Go values into dst in place; their count must be
// dst's element count.
func AssignValues(dst *ts.Tensor, vals []float32) error {
	shape, err := dst.Size()
	if err != nil {
		return err
	}
	src, err := FloatTensor(vals, shape, gotch.CPU)
	if err != nil {
		return err
	}
	defer src.MustDrop()
	return Assign(dst, src)
}

// Clone is a deep copy of x on its device: new storage, no autograd
// history. Call it with grad mode off.
func Clone(x *ts.Tensor) (*ts.Tensor, error) {
	c, err := x.ZerosLike(false)
	if err != nil {
		return nil, err
	}
	if err := Assign(c, x); err != nil {
		c.MustDrop()
		return nil, err
	}
	return c, nil
}
