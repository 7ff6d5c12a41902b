package learner

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// MoCo's key networks: a copy of the encoder and of the projection head,
// updated by momentum, never by the optimiser.
const (
	NetKeyEncoder    = "key"
	NetKeyProjection = "key_proj"
)

// ErrObjectiveState is returned by MoCo.CheckState and LoadState for a
// state that is not one (damaged, or of another queue size or width).
var ErrObjectiveState = errors.New("learner: bad objective state")

// MoCo is Momentum Contrast (He et al. 2020, with v2's projection head and
// augmentations) on the shared encoder. The query is the encoder and
// projection head (NetProjection), trained by the optimiser; the key is a
// second encoder and head (NetKeyEncoder, NetKeyProjection) that follows
// them by momentum, theta_k = m theta_k + (1-m) theta_q, before every
// step's keys are computed (as MoCo's code does), and starts as a copy of
// them. Each query is scored against the key of its own other view (the
// positive) and against a queue of the keys of earlier batches (the
// negatives), InfoNCEQueue; the batch's keys then replace the oldest in
// the queue, so the number of negatives, Queue, is decoupled from the
// batch size.
//
// State: the key networks are sub-networks of the model, so their weights
// are saved and restored with every other weight ("weights" section); the
// queue (its keys, in slot order, and the slot the next key goes to) and
// whether the key networks have been initialised are the objective's own
// state (StatefulObjective: the checkpoint section SectionObjective, see
// MarshalState), restored by Trainer.Resume; a resumed run continues
// exactly. Validation batches neither move the key networks nor touch the
// queue. A step skipped by the non-finite guard has already updated both
// (they are not the optimiser's). Use a *MoCo with one Trainer.
type MoCo struct {
	// Temperature divides the cosine scores. It defaults to 0.2 (MoCo v2).
	Temperature float64
	// Momentum is m of the key update. It defaults to 0.99 (MoCo's 0.999
	// suits hundreds of thousands of steps; a few thousand need faster
	// keys).
	Momentum float64
	// Queue is the number of queued keys (negatives). It defaults to 1024.
	Queue int
	// Hidden and Out are the projection heads' widths. They default to 256
	// and 128.
	Hidden, Out int
	// Augment makes the views.
	Augment Augment
	// Seed seeds the views and the queue's initial random keys. It
	// defaults to 0.
	Seed uint64

	queue     []float32 // Queue x Out unit keys, slot-major
	ptr       int       // the slot the next key is written to
	keysReady bool      // the key networks were copied from the query ones
}

func (o *MoCo) filled() MoCo {
	c := *o
	if c.Temperature == 0 {
		c.Temperature = 0.2
	}
	if c.Momentum == 0 {
		c.Momentum = 0.99
	}
	if c.Queue == 0 {
		c.Queue = 1024
	}
	if c.Out == 0 {
		c.Out = 128
	}
	return c
}

// Validate checks the settings.
func (o *MoCo) Validate() error {
	c := o.filled()
	if err := validTemperature(c.Temperature); err != nil {
		return err
	}
	if !(c.Momentum >= 0 && c.Momentum < 1) {
		return fmt.Errorf("%w: moco momentum %v (want 0 <= m < 1)", ErrTrainConfig, c.Momentum)
	}
	if c.Queue < 1 || c.Queue > 1<<20 || c.Out < 1 || c.Out > 1<<16 {
		return fmt.Errorf("%w: moco queue %d of %d-d keys (want 1..%d keys)", ErrTrainConfig, c.Queue, c.Out, 1<<20)
	}
	return c.Augment.Validate()
}

// Name is "pretrain/moco".
func (*MoCo) Name() string { return "pretrain/" + MethodMoCo }

// Needs only the frame.
func (*MoCo) Needs() Needs { return Needs{} }

// Trains the encoder and the projection head (the query); the key
// networks must be there too.
func (o *MoCo) Trains(cfg perception.ModelConfig) ([]string, error) {
	if err := requireNets(o.Name(), cfg, NetKeyEncoder, NetKeyProjection); err != nil {
		return nil, err
	}
	return pretextTrains(o, cfg, NetProjection)
}

// Heads are the query's projection and the key encoder and projection.
func (o *MoCo) Heads(size string) (map[string]perception.NetConfig, error) {
	c := o.filled()
	wd, err := encoderWidths(size)
	if err != nil {
		return nil, err
	}
	proj := perception.ProjectionConfig{In: int(wd[4]), Hidden: c.Hidden, Out: c.Out}
	if size == "" {
		size = perception.SizeDefault
	}
	return map[string]perception.NetConfig{
		NetProjection:    proj,
		NetKeyEncoder:    perception.EncoderConfig{Size: size},
		NetKeyProjection: proj,
	}, nil
}

// keyPairs maps each key network to the query network it follows.
var keyPairs = [][2]string{{NetKeyEncoder, perception.NetEncoder}, {NetKeyProjection, NetProjection}}

// momentumUpdate sets every variable of the network dst to m*dst +
// (1-m)*src's variable of the same name, in place, outside autograd (the
// caller turns grad mode off). m = 0 copies.
func momentumUpdate(model *perception.Model, dst, src string, m float64) error {
	from := map[string]*ts.Tensor{}
	for _, nv := range model.NamedVariables(src) {
		from[strings.TrimPrefix(nv.Name, src+".")] = nv.Tensor
	}
	to := model.NamedVariables(dst)
	if len(to) != len(from) || len(to) == 0 {
		return fmt.Errorf("%w: momentum update of %s (%d variables) from %s (%d)", ErrTrainInput, dst, len(to), src, len(from))
	}
	s := perception.NewScope("learner: momentum update")
	defer s.Free()
	for _, nv := range to {
		q, ok := from[strings.TrimPrefix(nv.Name, dst+".")]
		if !ok {
			return fmt.Errorf("%w: %s has no counterpart in %s", ErrTrainInput, nv.Name, src)
		}
		k := nv.Tensor
		a := s.Do(func() (*ts.Tensor, error) { return k.MulScalar(s.Scalar(m), false) })
		b := s.Do(func() (*ts.Tensor, error) { return q.MulScalar(s.Scalar(1-m), false) })
		c := s.Do(func() (*ts.Tensor, error) { return a.Add(b, false) })
		if s.Err() != nil {
			return s.Err()
		}
		if err := perception.Assign(k, c); err != nil {
			return fmt.Errorf("learner: momentum update %s: %w", nv.Name, err)
		}
		s.Free()
	}
	return nil
}

// initQueue fills the queue with random unit keys drawn from the seed
// (MoCo starts from random keys too).
func (o *MoCo) initQueue(c MoCo) {
	if len(o.queue) == c.Queue*c.Out {
		return
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x6d6f636f))
	o.queue = make([]float32, c.Queue*c.Out)
	for i := range c.Queue {
		row := o.queue[i*c.Out : (i+1)*c.Out]
		var n float64
		for j := range row {
			v := rng.NormFloat64()
			row[j] = float32(v)
			n += v * v
		}
		n = math.Sqrt(n)
		for j := range row {
			row[j] = float32(float64(row[j]) / n)
		}
	}
	o.ptr = 0
}

// enqueue writes the keys (rows of width Out) into the queue from the
// slot after the last written, wrapping round: the oldest keys go first.
func (o *MoCo) enqueue(keys []float32, width int) {
	for r := 0; r+width <= len(keys); r += width {
		copy(o.queue[o.ptr*width:(o.ptr+1)*width], keys[r:r+width])
		o.ptr = (o.ptr + 1) % (len(o.queue) / width)
	}
}

// QueueKeys returns a copy of the queue in age order, oldest first, and
// the slot the next key goes to.
func (o *MoCo) QueueKeys() (keys [][]float32, next int) {
	c := o.filled()
	o.initQueue(c)
	for i := range c.Queue {
		j := (o.ptr + i) % c.Queue
		keys = append(keys, append([]float32(nil), o.queue[j*c.Out:(j+1)*c.Out]...))
	}
	return keys, o.ptr
}

// Loss scores the queries of view 1 against the keys of view 2 and the
// queue; outside validation it first moves the key networks and then
// enqueues the batch's keys.
func (o *MoCo) Loss(s *perception.Scope, m *perception.Model, b *Batch) (Loss, error) {
	c := o.filled()
	o.initQueue(c)
	q0, err := pretextEncoder(m)
	if err != nil {
		return Loss{}, err
	}
	ke, err := netOf[*perception.Encoder](m, NetKeyEncoder)
	if err != nil {
		return Loss{}, err
	}
	if !b.Validation {
		err := perception.NoGrad(func() error {
			mom := c.Momentum
			if !o.keysReady {
				mom = 0 // MoCo starts the key networks as copies
			}
			for _, p := range keyPairs {
				if err := momentumUpdate(m, p[0], p[1], mom); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return Loss{}, err
		}
		o.keysReady = true
	}
	x, _ := twoViews(s, c.Augment, b, stepRNG(c.Seed, b, 3), false)
	v1, v2 := halves(s, x, int64(b.Size))
	q := mlp(s, m, NetProjection, pooled(s, q0, v1))
	// The keys carry no gradient. Validate already runs without one
	// (NoGrad does not nest).
	var k *ts.Tensor
	keys := func() error {
		k = mlp(s, m, NetKeyProjection, pooled(s, ke, v2))
		k = s.Do(func() (*ts.Tensor, error) { return L2Normalize(k) })
		return s.Err()
	}
	if b.Validation {
		err = keys()
	} else {
		err = perception.NoGrad(keys)
	}
	if err != nil {
		return Loss{}, err
	}
	queue := s.Do(func() (*ts.Tensor, error) {
		return perception.FloatTensor(o.queue, []int64{int64(c.Queue), int64(c.Out)}, m.Device())
	})
	l := s.Do(func() (*ts.Tensor, error) { return InfoNCEQueue(q, k, queue, c.Temperature) })
	if s.Err() != nil {
		return Loss{}, s.Err()
	}
	if !b.Validation {
		kv, err := perception.TensorFloat32s(k)
		if err != nil {
			return Loss{}, err
		}
		for _, v := range kv {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return Loss{Total: l, Terms: []Term{{TermInfoNCE, l}}}, nil // the guard skips the step; keep the queue clean
			}
		}
		o.enqueue(kv, c.Out)
	}
	return Loss{Total: l, Terms: []Term{{TermInfoNCE, l}}}, nil
}

// The state's binary form: magic, then little-endian uint32 queue size K,
// key width D, next slot, uint8 key networks initialised, K*D float32
// keys in slot order.
const mocoStateMagic = "PLXMOCO1"

// MarshalState encodes the queue, its next slot and whether the key
// networks were initialised.
func (o *MoCo) MarshalState() ([]byte, error) {
	c := o.filled()
	o.initQueue(c)
	var buf bytes.Buffer
	buf.WriteString(mocoStateMagic)
	ready := uint8(0)
	if o.keysReady {
		ready = 1
	}
	binary.Write(&buf, binary.LittleEndian, []uint32{uint32(c.Queue), uint32(c.Out), uint32(o.ptr)})
	buf.WriteByte(ready)
	binary.Write(&buf, binary.LittleEndian, o.queue)
	return buf.Bytes(), nil
}

// decodeState parses a state of this configuration.
func (o *MoCo) decodeState(data []byte) (queue []float32, ptr int, ready bool, err error) {
	c := o.filled()
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: moco: %s", ErrObjectiveState, fmt.Sprintf(f, a...))
	}
	const head = len(mocoStateMagic) + 13
	if len(data) < head || string(data[:len(mocoStateMagic)]) != mocoStateMagic {
		return nil, 0, false, bad("not a MoCo state (%d bytes)", len(data))
	}
	h := data[len(mocoStateMagic):]
	k, d, p := binary.LittleEndian.Uint32(h), binary.LittleEndian.Uint32(h[4:]), binary.LittleEndian.Uint32(h[8:])
	if int64(k) != int64(c.Queue) || int64(d) != int64(c.Out) {
		return nil, 0, false, bad("a queue of %d %d-d keys, this objective's is %d of %d", k, d, c.Queue, c.Out)
	}
	if p >= k || h[12] > 1 {
		return nil, 0, false, bad("next slot %d of %d, flag %d", p, k, h[12])
	}
	rest := data[head:]
	if len(rest) != 4*int(k)*int(d) {
		return nil, 0, false, bad("%d bytes of keys, want %d", len(rest), 4*int(k)*int(d))
	}
	queue = make([]float32, int(k)*int(d))
	for i := range queue {
		v := math.Float32frombits(binary.LittleEndian.Uint32(rest[4*i:]))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, 0, false, bad("key value %d is %v", i, v)
		}
		queue[i] = v
	}
	return queue, int(p), h[12] == 1, nil
}

// CheckState reports whether data is a state of this configuration.
func (o *MoCo) CheckState(data []byte) error {
	_, _, _, err := o.decodeState(data)
	return err
}

// LoadState replaces the queue, its next slot and the key-networks flag.
func (o *MoCo) LoadState(data []byte) error {
	q, p, r, err := o.decodeState(data)
	if err != nil {
		return err
	}
	o.queue, o.ptr, o.keysReady = q, p, r
	return nil
}
