package perception

/*
#include <malloc.h>
#include <stdint.h>

// From gotch's libtch (compiled into its object): torch::manual_seed.
// gotch v0.7.0 declares it but has no Go wrapper.
void at_manual_seed(int64_t seed);
*/
import "C"

import (
	"errors"
	"fmt"
)

var (
	// ErrMallopt is returned when glibc refuses a malloc setting.
	ErrMallopt = errors.New("perception: mallopt failed")
)

// Malloc settings applied by TuneMalloc.
const (
	// mmapThreshold keeps allocations up to 32 MiB (a 1x64x192x640 float32
	// activation is 31 MiB) in the heap instead of fresh mmaps; 32 MiB is
	// glibc's maximum on 64-bit.
	mmapThreshold = 32 << 20
	// trimThreshold stops free() from handing heap memory back to the OS
	// until 1 GiB sits unused at the top of the heap.
	trimThreshold = 1 << 30
)

// TuneMalloc makes glibc malloc keep freed tensor memory for reuse. By
// default every large tensor is a fresh mmap that is unmapped on free, so
// each op pays for page faults and zeroing: forward+backward ran 2-5x slower
// and erratically. Call it once at start-up, before the first tensor.
func TuneMalloc() error {
	if C.mallopt(C.M_MMAP_THRESHOLD, mmapThreshold) != 1 {
		return fmt.Errorf("%w: M_MMAP_THRESHOLD=%d", ErrMallopt, mmapThreshold)
	}
	if C.mallopt(C.M_TRIM_THRESHOLD, trimThreshold) != 1 {
		return fmt.Errorf("%w: M_TRIM_THRESHOLD=%d", ErrMallopt, trimThreshold)
	}
	return nil
}

// ManualSeed seeds libtorch's random generator (torch::manual_seed): the
// weights a NewModel after it draws are then the same on every run, so a
// training run, or a learning test, can be repeated exactly (with the same
// thread count). The generator is the process's: seed right before the
// model is made, on the Worker that makes it.
func ManualSeed(seed int64) {
	C.at_manual_seed(C.int64_t(seed))
}
