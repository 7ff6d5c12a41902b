package perception

import (
	"runtime"
	"testing"

	"github.com/parallax-robotics/parallax/internal/memtest"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// TestWrapperFreesOutputSlots: upstream gotch leaked the 32-byte slot each op
// wrapper mallocs for its result (scripts/gotchpatch.go frees it now). Half a
// million tiny ops would have leaked about 16 MB; with the slots freed, RSS
// stays within a few MB of the warm-up.
func TestWrapperFreesOutputSlots(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	a := ts.MustOnes([]int64{4}, gotch.Float, gotch.CPU)
	defer a.MustDrop()
	step := func(n int) {
		for i := 0; i < n; i++ {
			b, err := a.Add(a, false)
			if err != nil {
				t.Fatal(err)
			}
			b.MustDrop()
		}
	}
	step(50_000)
	before := memtest.SettledRSS(t)
	step(500_000)
	grown := memtest.SettledRSS(t) - before
	t.Logf("RSS grew %d KiB over 500k ops", grown>>10)
	if grown > 6<<20 {
		t.Errorf("RSS grew %d KiB over 500k ops: the op wrappers leak (about 32 B an op)", grown>>10)
	}
}

// TestInPlaceOpsFreeTheOldHandle: upstream gotch's in-place ops swapped in
// the new handle libtorch returns and leaked the old one, which kept the
// storage alive: every Relu_ on a fresh 4 MB tensor leaked 4 MB.
func TestInPlaceOpsFreeTheOldHandle(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	step := func(n int) {
		for i := 0; i < n; i++ {
			x, err := ts.Ones([]int64{1000, 1000}, gotch.Float, gotch.CPU)
			if err != nil {
				t.Fatal(err)
			}
			if err := x.Relu_(); err != nil {
				t.Fatal(err)
			}
			if err := x.AddScalar_(ts.FloatScalar(1)); err != nil {
				t.Fatal(err)
			}
			x.MustDrop()
		}
	}
	step(20)
	before := memtest.SettledRSS(t)
	step(100)
	grown := memtest.SettledRSS(t) - before
	t.Logf("RSS grew %d KiB over 100 in-place rounds on 4 MB tensors", grown>>10)
	if grown > 40<<20 {
		t.Errorf("RSS grew %d MiB over 100 rounds: in-place ops leak their tensor (4 MB a round)", grown>>20)
	}
}
