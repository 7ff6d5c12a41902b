package perception

import (
	"runtime"
	"testing"

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
	before := geoRSS(t)
	step(500_000)
	grown := geoRSS(t) - before
	t.Logf("RSS grew %d KiB over 500k ops", grown>>10)
	if grown > 6<<20 {
		t.Errorf("RSS grew %d KiB over 500k ops: the op wrappers leak (about 32 B an op)", grown>>10)
	}
}
