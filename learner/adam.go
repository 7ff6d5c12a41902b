package learner

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/sugarme/gotch/ts"
)

// adam is Adam (Kingma & Ba 2015) written out on tensors: per variable the
// first and second moment m and v, and the step count t for the bias
// correction. gotch's optimiser wraps libtorch's C++ Adam, whose state
// cannot be read or written from Go; this one's state is plain tensors that
// Save, Snapshot and Restore copy exactly. Run everything on a Worker.
type adam struct {
	beta1, beta2, eps float64
	names             []string
	m, v              []*ts.Tensor
	t                 int64
}

// newAdam makes zero moments shaped like vars.
func newAdam(names []string, vars []*ts.Tensor, beta1, beta2, eps float64) (*adam, error) {
	a := &adam{beta1: beta1, beta2: beta2, eps: eps, names: names}
	for _, p := range vars {
		m, err := p.ZerosLike(false)
		if err != nil {
			a.free()
			return nil, err
		}
		a.m = append(a.m, m)
		v, err := p.ZerosLike(false)
		if err != nil {
			a.free()
			return nil, err
		}
		a.v = append(a.v, v)
	}
	return a, nil
}

func (a *adam) free() {
	for _, x := range a.m {
		x.MustDrop()
	}
	for _, x := range a.v {
		x.MustDrop()
	}
	a.m, a.v = nil, nil
}

// update applies one Adam step with learning rate lr to vars from grads
// scaled by gscale (gradient clipping), in place. It must run with grad
// mode off. On error the step count is not advanced; variables already
// updated stay updated (errors here are device failures, not bad input).
func (a *adam) update(vars, grads []*ts.Tensor, gscale, lr float64) error {
	t := a.t + 1
	bc1 := 1 - math.Pow(a.beta1, float64(t))
	bc2 := 1 - math.Pow(a.beta2, float64(t))
	var sc scalars
	defer sc.free()
	b1, nb1 := sc.f(a.beta1), sc.f((1-a.beta1)*gscale)
	b2, nb2 := sc.f(a.beta2), sc.f((1-a.beta2)*gscale*gscale)
	step := sc.f(-lr / bc1)
	vcorr := sc.f(1 / bc2)
	eps := sc.f(a.eps)
	for i, p := range vars {
		s := &scope{fn: "adam"}
		g := grads[i]
		// m = b1 m + (1-b1) c g; v = b2 v + (1-b2) c² g²
		m1 := s.do(func() (*ts.Tensor, error) { return a.m[i].MulScalar(b1, false) })
		gm := s.do(func() (*ts.Tensor, error) { return g.MulScalar(nb1, false) })
		m := s.do(func() (*ts.Tensor, error) { return m1.Add(gm, false) })
		v1 := s.do(func() (*ts.Tensor, error) { return a.v[i].MulScalar(b2, false) })
		g2 := s.do(func() (*ts.Tensor, error) { return g.Mul(g, false) })
		g2 = s.do(func() (*ts.Tensor, error) { return g2.MulScalar(nb2, false) })
		v := s.do(func() (*ts.Tensor, error) { return v1.Add(g2, false) })
		// p -= lr * (m/bc1) / (sqrt(v/bc2) + eps)
		den := s.do(func() (*ts.Tensor, error) { return v.MulScalar(vcorr, false) })
		den = s.do(func() (*ts.Tensor, error) { return den.Sqrt(false) })
		den = s.do(func() (*ts.Tensor, error) { return den.AddScalar(eps, false) })
		upd := s.do(func() (*ts.Tensor, error) { return m.Div(den, false) })
		upd = s.do(func() (*ts.Tensor, error) { return upd.MulScalar(step, false) })
		np := s.do(func() (*ts.Tensor, error) { return p.Add(upd, false) })
		if s.err != nil {
			s.free()
			return s.err
		}
		if err := copyInto(p, np); err != nil {
			s.free()
			return err
		}
		s.keep(m)
		s.keep(v)
		a.m[i].MustDrop()
		a.v[i].MustDrop()
		a.m[i], a.v[i] = m, v
		s.free()
	}
	a.t = t
	return nil
}

// copyInto copies src into dst in place after checking what libtorch's
// copy_ would reject (gotch's Copy_ exits the process on error).
func copyInto(dst, src *ts.Tensor) error {
	ds, err := dst.Size()
	if err != nil {
		return err
	}
	ss, err := src.Size()
	if err != nil {
		return err
	}
	if fmt.Sprint(ds) != fmt.Sprint(ss) || dst.DType() != src.DType() {
		return fmt.Errorf("learner: copy %v %v into %v %v", ss, src.DType(), ds, dst.DType())
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
		return fmt.Errorf("learner: copy from %v into %v", sd, dd)
	}
	dst.Copy_(src)
	return nil
}

// cloneTensor is a deep copy (new storage, no autograd history). Run it
// with grad mode off.
func cloneTensor(x *ts.Tensor) (*ts.Tensor, error) {
	c, err := x.ZerosLike(false)
	if err != nil {
		return nil, err
	}
	if err := copyInto(c, x); err != nil {
		c.MustDrop()
		return nil, err
	}
	return c, nil
}

// Optimizer state section ("optim"): magic "ADAM", uint32 version 1,
// float64 beta1 beta2 eps, int64 t, uint32 count, then per variable:
// uint16 name length, name, uint32 numel, numel float32 of m, numel float32
// of v. Little-endian.
const adamMagic = "ADAM"

func (a *adam) encode() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(adamMagic)
	le := binary.LittleEndian
	binary.Write(&buf, le, uint32(1))
	binary.Write(&buf, le, []float64{a.beta1, a.beta2, a.eps})
	binary.Write(&buf, le, a.t)
	binary.Write(&buf, le, uint32(len(a.names)))
	for i, n := range a.names {
		mv, err := tensorValues(a.m[i])
		if err != nil {
			return nil, fmt.Errorf("learner: adam state %s: %w", n, err)
		}
		vv, err := tensorValues(a.v[i])
		if err != nil {
			return nil, fmt.Errorf("learner: adam state %s: %w", n, err)
		}
		binary.Write(&buf, le, uint16(len(n)))
		buf.WriteString(n)
		binary.Write(&buf, le, uint32(len(mv)))
		binary.Write(&buf, le, mv)
		binary.Write(&buf, le, vv)
	}
	return buf.Bytes(), nil
}

// decodedAdam is a parsed optim section.
type decodedAdam struct {
	beta1, beta2, eps float64
	t                 int64
	m, v              map[string][]float32
}

func decodeAdam(data []byte) (*decodedAdam, error) {
	bad := func(what string) error { return fmt.Errorf("%w: optimizer state: %s", ErrResume, what) }
	if len(data) < 4 || string(data[:4]) != adamMagic {
		return nil, bad("not Adam state")
	}
	r := bytes.NewReader(data[4:])
	le := binary.LittleEndian
	var ver uint32
	if binary.Read(r, le, &ver) != nil || ver != 1 {
		return nil, bad(fmt.Sprintf("version %d", ver))
	}
	hp := make([]float64, 3)
	d := &decodedAdam{m: map[string][]float32{}, v: map[string][]float32{}}
	var count uint32
	if binary.Read(r, le, hp) != nil || binary.Read(r, le, &d.t) != nil || binary.Read(r, le, &count) != nil {
		return nil, bad("truncated header")
	}
	d.beta1, d.beta2, d.eps = hp[0], hp[1], hp[2]
	if d.t < 0 {
		return nil, bad(fmt.Sprintf("step %d", d.t))
	}
	for i := uint32(0); i < count; i++ {
		var nl uint16
		if binary.Read(r, le, &nl) != nil || int(nl) > r.Len() {
			return nil, bad(fmt.Sprintf("variable %d: name", i))
		}
		name := make([]byte, nl)
		r.Read(name)
		var n uint32
		if binary.Read(r, le, &n) != nil || int64(n)*8 > int64(r.Len()) {
			return nil, bad(fmt.Sprintf("variable %q: size", name))
		}
		m, v := make([]float32, n), make([]float32, n)
		binary.Read(r, le, m)
		binary.Read(r, le, v)
		if _, dup := d.m[string(name)]; dup {
			return nil, bad(fmt.Sprintf("variable %q twice", name))
		}
		d.m[string(name)], d.v[string(name)] = m, v
	}
	if r.Len() != 0 {
		return nil, bad(fmt.Sprintf("%d trailing bytes", r.Len()))
	}
	return d, nil
}

// valuesInto copies Go values into dst in place (shapes checked by numel).
func valuesInto(dst *ts.Tensor, vals []float32) error {
	shape, err := dst.Size()
	if err != nil {
		return err
	}
	dev, err := dst.Device()
	if err != nil {
		return err
	}
	src, err := floatTensor(vals, shape, dev)
	if err != nil {
		return err
	}
	defer src.MustDrop()
	return copyInto(dst, src)
}
