package learner

import (
	"math"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/internal/fuzzseed"
	"github.com/parallax-robotics/parallax/perception"
)

// TestFuzzSeeds builds the seed corpora of FuzzDecodeAdam (the optimiser's
// own encode after real update steps over two small variables named like
// the depth network's) and FuzzMoCoState (MoCo's MarshalState of the
// fuzzer's configuration, fresh and after keys were queued); see
// internal/fuzzseed.
func TestFuzzSeeds(t *testing.T) {
	runtime.LockOSThread() // grad mode is per thread
	defer runtime.UnlockOSThread()
	names := []string{"depth.dec0.upconv0.bias", "depth.enc.stem.norm.weight"}
	shapes := [][]int64{{4}, {2, 3}}
	var vars []*ts.Tensor
	for i, s := range shapes {
		n := int64(1)
		for _, d := range s {
			n *= d
		}
		vals := make([]float32, n)
		for j := range vals {
			vals[j] = float32(math.Sin(float64(3*i+j))) / 4
		}
		v, err := perception.FloatTensor(vals, s, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		defer v.MustDrop()
		vars = append(vars, v)
	}
	var a *adam
	if err := perception.NoGrad(func() (err error) {
		a, err = newAdam(names, vars, 0.9, 0.999, 1e-8)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer a.free()
	adamSeeds := fuzzseed.New(t, "FuzzDecodeAdam")
	for step := range 3 {
		var grads []*ts.Tensor
		for i, v := range vars {
			g, err := perception.TensorFloat32s(v)
			if err != nil {
				t.Fatal(err)
			}
			for j := range g {
				g[j] = g[j]*2 - float32(step+i)/10 // d/dx of (x - c)^2
			}
			gt, err := perception.FloatTensor(g, shapes[i], gotch.CPU)
			if err != nil {
				t.Fatal(err)
			}
			defer gt.MustDrop()
			grads = append(grads, gt)
		}
		if err := perception.NoGrad(func() error {
			flat, err := a.flatGrad(grads)
			if err != nil {
				return err
			}
			defer flat.MustDrop()
			return a.update(flat, 1, 1e-2)
		}); err != nil {
			t.Fatal(err)
		}
		if step == 0 || step == 2 {
			b, err := a.encode()
			if err != nil {
				t.Fatal(err)
			}
			d, err := decodeAdam(b)
			if err != nil || len(d.m) != 2 {
				t.Fatalf("the encoded state does not decode: %v", err)
			}
			adamSeeds.Add("adam-step-"+string(rune('1'+step)), b)
		}
	}
	adamSeeds.Close()

	moco := fuzzseed.New(t, "FuzzMoCoState")
	o := &MoCo{Queue: 3, Out: 2}
	st, err := o.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	moco.Add("moco-fresh", st)
	o.enqueue([]float32{0.6, 0.8, -1, 0}, 2)
	o.keysReady = true
	st, err = o.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	if err := (&MoCo{Queue: 3, Out: 2}).LoadState(st); err != nil {
		t.Fatal(err)
	}
	moco.Add("moco-queued", st)
	moco.Close()
}
