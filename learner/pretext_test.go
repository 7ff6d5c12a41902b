package learner

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/parallax-robotics/parallax/perception"
)

// pretextTrainer makes a fresh seeded pre-training model of a small
// encoder and o's heads, and its trainer, on the shared worker.
func pretextTrainer(t testing.TB, o Pretext, w, h int, lr float64) *Trainer {
	t.Helper()
	mc, err := PretrainModel(o, w, h, perception.SizeSmall)
	if err != nil {
		t.Fatal(err)
	}
	return newTestTrainer(t, mc, TrainConfig{Objective: o, LR: lr})
}

// pretextBatch is samples 0, 7, 14, ... of the learning tests' training
// world (mono frames suffice).
func pretextBatch(t testing.TB, n, w, h int) []Sample {
	t.Helper()
	d := testDrive(t, "synth://?seed=3&width="+strconv.Itoa(w)+"&height="+strconv.Itoa(h))
	idx := make([]int, n)
	for i := range idx {
		idx[i] = 7 * i
	}
	b, err := NewSamples(d, Needs{}, idx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPretextObjectives: every method, one model each: its heads, a step
// with finite terms that moves the encoder and its heads only (MoCo's key
// networks by momentum, not by the optimiser), a Validate that changes
// neither weights nor state, and its refusals.
func TestPretextObjectives(t *testing.T) {
	batch := pretextBatch(t, 4, 192, 64)
	for _, method := range PretextMethods() {
		t.Run(method, func(t *testing.T) {
			o, err := NewPretext(method, PretextOptions{Seed: 5, Queue: 16})
			if err != nil {
				t.Fatal(err)
			}
			tr := pretextTrainer(t, o, 192, 64, 1e-3)
			nets := tr.TrainedNets()
			if !slices.Contains(nets, perception.NetEncoder) || len(nets) != 2 {
				t.Errorf("trains %v, want the encoder and one head", nets)
			}
			before := weightsOf(t, tr)
			var state []byte
			so, stateful := o.(StatefulObjective)
			st := step(t, tr, batch)
			if st.Skipped || !finite(st.Loss) || !finite(st.GradNorm) || st.GradNorm == 0 {
				t.Fatalf("step: %+v", st)
			}
			for name, v := range st.Terms {
				if !finite(v) {
					t.Errorf("term %s = %v", name, v)
				}
			}
			after := weightsOf(t, tr)
			moved := map[string]bool{}
			for name, v := range after {
				if _, same := sameWeights(map[string][]float32{name: v}, map[string][]float32{name: before[name]}); !same {
					moved[perception.NetOf(name)] = true
				}
			}
			for _, n := range nets {
				if !moved[n] {
					t.Errorf("%s did not move", n)
				}
			}
			for n := range moved {
				if !slices.Contains(nets, n) && !(method == MethodMoCo && (n == NetKeyEncoder || n == NetKeyProjection)) {
					t.Errorf("%s moved, the objective does not train it", n)
				}
			}
			if stateful {
				if state, err = so.MarshalState(); err != nil {
					t.Fatal(err)
				}
			}
			var v1, v2 StepStats
			err = trainWorker(t).Do(func() (err error) {
				if v1, err = tr.Validate(batch); err != nil {
					return err
				}
				v2, err = tr.Validate(batch)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if v1.Loss != v2.Loss || !finite(v1.Loss) {
				t.Errorf("two validations: %v and %v (want the same draws)", v1.Loss, v2.Loss)
			}
			if _, same := sameWeights(after, weightsOf(t, tr)); !same {
				t.Error("Validate changed the weights")
			}
			if stateful {
				s2, _ := so.MarshalState()
				if !bytes.Equal(state, s2) {
					t.Error("Validate changed the objective's state")
				}
			}
			// A model without the heads is refused.
			if _, err := o.Trains(perception.DepthPose(192, 64, perception.DepthConfig{}, perception.PoseConfig{})); !errors.Is(err, ErrTrainConfig) {
				t.Errorf("Trains on a depth model: %v", err)
			}
			// SimCLR and Barlow Twins need the batch's other samples; MoCo's
			// negatives are queued and the dense method's are other points.
			if method == MethodSimCLR || method == MethodBarlow {
				err := trainWorker(t).Do(func() error { _, err := tr.Step(batch[:1]); return err })
				if !errors.Is(err, ErrTrainInput) {
					t.Errorf("a batch of one: %v, want ErrTrainInput", err)
				}
			}
		})
	}
	if _, err := NewPretext("colorization", PretextOptions{}); !errors.Is(err, ErrTrainConfig) {
		t.Errorf("unknown method: %v", err)
	}
	for _, o := range []Pretext{SimCLR{Temperature: -1}, &MoCo{Momentum: 1}, BarlowTwins{Lambda: 2}, Jigsaw{Rows: 5, Cols: 5},
		Jigsaw{Permutations: 1000}, Inpaint{HoleFrac: 0.9}, DenseContrast{Points: -3}, SimCLR{Augment: Augment{HFlip: 2}}} {
		if err := o.(interface{ Validate() error }).Validate(); !errors.Is(err, ErrTrainConfig) {
			t.Errorf("%#v: %v, want ErrTrainConfig", o, err)
		}
	}
}

// TestMoCoMomentumUpdate: theta_k = m theta_k + (1-m) theta_q on every
// variable of the key networks, exactly; the first step copies.
func TestMoCoMomentumUpdate(t *testing.T) {
	o := &MoCo{Queue: 8, Momentum: 0.9}
	tr := pretextTrainer(t, o, 64, 64, 1e-3)
	m := tr.Model()
	w := trainWorker(t)
	set := func(net string, v float32) {
		t.Helper()
		err := w.Do(func() error {
			return perception.NoGrad(func() error {
				for _, nv := range m.NamedVariables(net) {
					vals := make([]float32, nv.Tensor.Numel())
					for i := range vals {
						vals[i] = v
					}
					if err := perception.AssignValues(nv.Tensor, vals); err != nil {
						return err
					}
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	set(perception.NetEncoder, 1)
	set(NetKeyEncoder, 3)
	if err := w.Do(func() error {
		return perception.NoGrad(func() error { return momentumUpdate(m, NetKeyEncoder, perception.NetEncoder, 0.9) })
	}); err != nil {
		t.Fatal(err)
	}
	for name, v := range weightsOf(t, tr) {
		if perception.NetOf(name) != NetKeyEncoder {
			continue
		}
		for _, x := range v {
			if want := float32(0.9*3 + 0.1*1); math.Abs(float64(x-want)) > 1e-6 {
				t.Fatalf("%s = %v after the update, want %v", name, x, want)
			}
		}
	}
	if err := w.Do(func() error {
		return perception.NoGrad(func() error { return momentumUpdate(m, NetKeyEncoder, NetProjection, 0.9) })
	}); err == nil {
		t.Error("an update between networks of different kinds was accepted")
	}
	// The first training step copies the query networks (m = 0).
	step(t, tr, pretextBatch(t, 2, 64, 64))
	ws := weightsOf(t, tr)
	for name, v := range ws {
		if perception.NetOf(name) == NetKeyProjection {
			q := ws[NetProjection+name[len(NetKeyProjection):]]
			// The projection moved by one Adam step after the copy: the
			// key is the query before the step, within one step's size.
			for i := range v {
				if math.Abs(float64(v[i]-q[i])) > 2e-3 {
					t.Fatalf("%s[%d] = %v, query %v: not a copy", name, i, v[i], q[i])
				}
			}
		}
	}
}

// TestMoCoQueueOrder: the queue is first in, first out, its size
// independent of the batch's (5 slots, batches of 2 wrap round), and its
// state round-trips and is checked.
func TestMoCoQueueOrder(t *testing.T) {
	o := &MoCo{Queue: 5, Out: 2}
	keys, next := o.QueueKeys()
	if len(keys) != 5 || next != 0 {
		t.Fatalf("fresh queue: %d keys, next %d", len(keys), next)
	}
	for b := range 3 {
		o.enqueue([]float32{float32(10 * b), 1, float32(10*b + 1), 1}, 2)
	}
	keys, next = o.QueueKeys()
	// 6 keys went into 5 slots: the first (0) was overwritten by the last
	// (21); oldest first: 1, 10, 11, 20, 21.
	var got []float32
	for _, k := range keys {
		got = append(got, k[0])
	}
	if !slices.Equal(got, []float32{1, 10, 11, 20, 21}) || next != 1 {
		t.Errorf("queue oldest first %v, next slot %d; want [1 10 11 20 21], 1", got, next)
	}
	st, err := o.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	o2 := &MoCo{Queue: 5, Out: 2}
	if err := o2.LoadState(st); err != nil {
		t.Fatal(err)
	}
	k2, n2 := o2.QueueKeys()
	if n2 != next || !slices.EqualFunc(k2, keys, slices.Equal[[]float32]) {
		t.Error("state round trip changed the queue")
	}
	for name, bad := range map[string][]byte{
		"empty": nil, "truncated": st[:len(st)-1], "magic": append([]byte("PLXMOCO2"), st[8:]...),
	} {
		if err := o2.CheckState(bad); !errors.Is(err, ErrObjectiveState) {
			t.Errorf("%s: %v, want ErrObjectiveState", name, err)
		}
	}
	if err := (&MoCo{Queue: 6, Out: 2}).CheckState(st); !errors.Is(err, ErrObjectiveState) {
		t.Errorf("another queue size: %v", err)
	}
	if err := o2.LoadState(st[:10]); err == nil || o2.ptr != next {
		t.Error("a bad state was loaded, or changed the queue")
	}
}

// FuzzMoCoState: any bytes are refused or load, never panic; what loads
// marshals back to the same bytes.
func FuzzMoCoState(f *testing.F) {
	o := &MoCo{Queue: 3, Out: 2}
	st, _ := o.MarshalState()
	f.Add(st)
	f.Add([]byte("PLXMOCO1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := &MoCo{Queue: 3, Out: 2}
		if err := m.LoadState(data); err != nil {
			return
		}
		back, err := m.MarshalState()
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("loaded state marshals to %d other bytes (%v)", len(back), err)
		}
	})
}

// TestMoCoResumeExact: a MoCo run saved and resumed (weights, key
// networks, Adam, the queue) continues bit for bit.
func TestMoCoResumeExact(t *testing.T) {
	batches := [][]Sample{pretextBatch(t, 2, 64, 64), pretextBatch(t, 3, 64, 64)[1:], pretextBatch(t, 2, 64, 64)}
	run := func(tr *Trainer, from, to int) {
		for i := from; i < to; i++ {
			step(t, tr, batches[i%len(batches)])
		}
	}
	a := &MoCo{Queue: 5, Out: 8, Hidden: 16}
	ta := pretextTrainer(t, a, 64, 64, 1e-3)
	run(ta, 0, 6)
	b := &MoCo{Queue: 5, Out: 8, Hidden: 16}
	tb := pretextTrainer(t, b, 64, 64, 1e-3)
	run(tb, 0, 3)
	path := t.TempDir() + "/moco.ckpt"
	if err := trainWorker(t).Do(func() error { return tb.Save(path, perception.CheckpointMeta{}) }); err != nil {
		t.Fatal(err)
	}
	c := &MoCo{Queue: 5, Out: 8, Hidden: 16}
	tc := pretextTrainer(t, c, 64, 64, 1e-3)
	err := trainWorker(t).Do(func() error {
		ck, err := perception.ReadCheckpoint(path)
		if err != nil {
			return err
		}
		if _, ok := ck.Section(SectionObjective); !ok {
			t.Error("no objective state in the checkpoint")
		}
		return tc.Resume(ck)
	})
	if err != nil {
		t.Fatal(err)
	}
	run(tc, 3, 6)
	if name, same := sameWeights(weightsOf(t, ta), weightsOf(t, tc)); !same {
		t.Errorf("resumed run differs at %s", name)
	}
	sa, _ := a.MarshalState()
	sc, _ := c.MarshalState()
	if !bytes.Equal(sa, sc) {
		t.Error("resumed queue differs")
	}
	// A checkpoint without the state does not resume a MoCo.
	noState := &perception.Checkpoint{}
	err = trainWorker(t).Do(func() error {
		ck, err := perception.ReadCheckpoint(path)
		if err != nil {
			return err
		}
		for _, s := range ck.Sections {
			if s.Name != SectionObjective {
				noState.Sections = append(noState.Sections, s)
			}
		}
		noState.Header = ck.Header
		return tc.Resume(noState)
	})
	if !errors.Is(err, ErrResume) {
		t.Errorf("resume without the queue: %v, want ErrResume", err)
	}
}
