package memtest

// #include <malloc.h>
import "C"

import (
	"runtime/debug"
	"testing"

	"github.com/parallax-robotics/parallax/internal/procmem"
)

// RSS returns the process's resident set size in bytes, from
// /proc/self/statm (procmem.Resident). A test that cannot read it fails: a memory check that
// silently did not run proves nothing.
func RSS(t testing.TB) int64 {
	t.Helper()
	n, err := procmem.Resident()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// SettledRSS returns the resident set size once the memory that is free but
// still resident has been handed back: the Go heap is collected and returned
// (debug.FreeOSMemory) and glibc's malloc trims its arenas (malloc_trim), so
// libtorch's freed buffers do not count. Two settled readings around a loop
// differ by what the loop kept, not by when the allocators felt like giving
// pages back.
func SettledRSS(t testing.TB) int64 {
	t.Helper()
	n, err := ReadSettledRSS()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// ReadSettledRSS is SettledRSS off the test's goroutine.
func ReadSettledRSS() (int64, error) {
	debug.FreeOSMemory()
	C.malloc_trim(0)
	return procmem.Resident()
}
