package learner

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// adam is Adam (Kingma & Ba 2015) written out on tensors: the first and
// second moments m and v of every trained variable, and the step count t
// for the bias correction. gotch's optimiser wraps libtorch's C++ Adam,
// whose state cannot be read or written from Go; this one's state is plain
// tensors that Save, Snapshot and Restore copy exactly. Run everything on a
// Worker.
//
// The moments of all variables live in one flat float32 tensor each (the
// variables' values concatenated in order, off[i] the first element of
// variable i), and update works on the flat gradient: one step costs a
// dozen tensor ops whatever the number of variables, plus one in-place add
// per variable to apply it. On a GPU the step is bound by how many ops the
// host dispatches, not by arithmetic, so per-variable arithmetic (about 14
// ops and a checked copy per variable before) was most of the step's time.
// The per-name layout (offsets and sizes) keeps the checkpoint format per
// variable name, as it was.
type adam struct {
	beta1, beta2, eps float64
	names             []string
	numel             []int64 // values per variable
	off               []int64 // first element of each variable in m and v
	total             int64
	m, v              *ts.Tensor // flat, total values each
	// pflat are flat views (shared storage) of the trained variables,
	// made once, through which update adds the step in place.
	pflat []*ts.Tensor
	t     int64
}

// newAdam makes zero moments for vars (float32, all on one device) and
// the flat views of vars that update writes through. Run it with grad mode
// off: the views must not join the autograd graph.
func newAdam(names []string, vars []*ts.Tensor, beta1, beta2, eps float64) (*adam, error) {
	a := &adam{beta1: beta1, beta2: beta2, eps: eps, names: names}
	if len(vars) == 0 {
		return nil, fmt.Errorf("learner: adam: no variables")
	}
	dev, err := vars[0].Device()
	if err != nil {
		return nil, err
	}
	for i, p := range vars {
		if p.DType() != gotch.Float {
			return nil, fmt.Errorf("learner: adam: variable %s is %v, want float32", names[i], p.DType())
		}
		d, err := p.Device()
		if err != nil {
			return nil, err
		}
		if d != dev {
			return nil, fmt.Errorf("learner: adam: variable %s on %v, the others on %v", names[i], d, dev)
		}
		n := int64(p.Numel())
		a.numel = append(a.numel, n)
		a.off = append(a.off, a.total)
		a.total += n
		f, err := p.View([]int64{-1}, false)
		if err != nil {
			a.free()
			return nil, err
		}
		a.pflat = append(a.pflat, f)
	}
	if a.m, err = ts.Zeros([]int64{a.total}, gotch.Float, dev); err != nil {
		a.free()
		return nil, err
	}
	if a.v, err = ts.Zeros([]int64{a.total}, gotch.Float, dev); err != nil {
		a.free()
		return nil, err
	}
	return a, nil
}

func (a *adam) free() {
	for _, x := range []*ts.Tensor{a.m, a.v} {
		if x != nil {
			x.MustDrop()
		}
	}
	for _, x := range a.pflat {
		x.MustDrop()
	}
	a.m, a.v, a.pflat = nil, nil, nil
}

// flatGrad concatenates the variables' gradients (grads[i] shaped like
// variable i; nil means no gradient reached it: zeros) into one flat
// tensor. Run it with grad mode off.
func (a *adam) flatGrad(grads []*ts.Tensor) (*ts.Tensor, error) {
	s := perception.NewScope("learner: adam")
	defer s.Free()
	parts := make([]ts.Tensor, len(grads))
	for i, g := range grads {
		var f *ts.Tensor
		if g == nil {
			f = s.Do(func() (*ts.Tensor, error) { return a.m.Narrow(0, a.off[i], a.numel[i], false) })
			f = s.Do(func() (*ts.Tensor, error) { return f.ZerosLike(false) })
		} else {
			f = s.Do(func() (*ts.Tensor, error) { return g.View([]int64{-1}, false) })
		}
		if s.Err() != nil {
			return nil, s.Err()
		}
		parts[i] = *f
	}
	return ts.Cat(parts, 0)
}

// update applies one Adam step with learning rate lr from the flat
// gradient g (flatGrad, whose values it consumes: g holds the scaled
// gradient afterwards) scaled by gscale (gradient clipping), in place. It
// must run with grad mode off. The moments are updated in place and only
// two temporaries of the flat size are made (on a CPU, a dozen fresh
// buffers the size of the model each step cost more in page faults and
// memory traffic than the dispatch saved). The arithmetic per element is
// the same as Adam per variable. On error the step count is not advanced,
// but the moments and some variables may be (errors here are device
// failures, not bad input; the non-finite guard runs before update).
func (a *adam) update(g *ts.Tensor, gscale, lr float64) error {
	t := a.t + 1
	bc1 := 1 - math.Pow(a.beta1, float64(t))
	bc2 := 1 - math.Pow(a.beta2, float64(t))
	sc := perception.NewScope("learner: adam")
	defer sc.Free()
	b1, nb1 := sc.Scalar(a.beta1), sc.Scalar((1-a.beta1)*gscale)
	b2, nb2 := sc.Scalar(a.beta2), sc.Scalar((1-a.beta2)*gscale*gscale)
	step := sc.Scalar(-lr / bc1)
	vcorr := sc.Scalar(1 / bc2)
	eps := sc.Scalar(a.eps)
	// v = b2 v + (1-b2) c² g²
	g2, err := g.Mul(g, false)
	if err != nil {
		return err
	}
	err = g2.MulScalar_(nb2)
	if err == nil {
		err = a.v.MulScalar_(b2)
	}
	if err == nil {
		err = a.v.Add_(g2)
	}
	g2.MustDrop()
	// m = b1 m + (1-b1) c g
	if err == nil {
		err = g.MulScalar_(nb1)
	}
	if err == nil {
		err = a.m.MulScalar_(b1)
	}
	if err == nil {
		err = a.m.Add_(g)
	}
	if err != nil {
		return err
	}
	// p -= lr * (m/bc1) / (sqrt(v/bc2) + eps)
	den, err := a.v.MulScalar(vcorr, false)
	if err != nil {
		return err
	}
	err = den.Sqrt_()
	if err == nil {
		err = den.AddScalar_(eps)
	}
	var upd *ts.Tensor
	if err == nil {
		upd, err = a.m.Div(den, false)
	}
	den.MustDrop()
	if err != nil {
		return err
	}
	defer upd.MustDrop()
	if err := upd.MulScalar_(step); err != nil {
		return err
	}
	if err := a.apply(upd); err != nil {
		return err
	}
	a.t = t
	return nil
}

// apply adds the flat update upd to the variables in place: one split
// (views, no copy) and one add per variable through the flat views.
func (a *adam) apply(upd *ts.Tensor) error {
	parts, err := upd.SplitWithSizes(a.numel, 0)
	if err != nil {
		return err
	}
	defer func() {
		for i := range parts {
			parts[i].MustDrop()
		}
	}()
	if len(parts) != len(a.pflat) {
		return fmt.Errorf("learner: adam: update split into %d parts for %d variables", len(parts), len(a.pflat))
	}
	for i, p := range a.pflat {
		// The patched Add_ swaps p's handle for the result's (the same
		// tensor) and frees the old one: p stays a valid view.
		if err := p.Add_(&parts[i]); err != nil {
			return err
		}
	}
	return nil
}

// state returns the flat moments as Go values (for encode).
func (a *adam) state() (m, v []float32, err error) {
	if m, err = perception.TensorFloat32s(a.m); err != nil {
		return nil, nil, err
	}
	if v, err = perception.TensorFloat32s(a.v); err != nil {
		return nil, nil, err
	}
	if int64(len(m)) != a.total || int64(len(v)) != a.total {
		return nil, nil, fmt.Errorf("learner: adam state has %d/%d values, want %d", len(m), len(v), a.total)
	}
	return m, v, nil
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
	m, v, err := a.state()
	if err != nil {
		return nil, err
	}
	for i, n := range a.names {
		lo, hi := a.off[i], a.off[i]+a.numel[i]
		binary.Write(&buf, le, uint16(len(n)))
		buf.WriteString(n)
		binary.Write(&buf, le, uint32(hi-lo))
		binary.Write(&buf, le, m[lo:hi])
		binary.Write(&buf, le, v[lo:hi])
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
