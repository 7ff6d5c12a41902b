package memtest

// #include <malloc.h>
import "C"

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// RSS returns the process's resident set size in bytes, from
// /proc/self/statm. A test that cannot read it fails: a memory check that
// silently did not run proves nothing.
func RSS(t testing.TB) int64 {
	t.Helper()
	n, err := ReadRSS()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// ReadRSS is RSS for code that runs off the test's goroutine (a node's
// worker), where t.Fatal must not be called.
func ReadRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("memtest: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("memtest: /proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("memtest: /proc/self/statm: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
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
	return ReadRSS()
}
