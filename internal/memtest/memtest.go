// Package memtest measures the process's memory for the tests that show a
// long-running loop stays flat: libtorch, libavcodec and the Go heap all
// count, so the resident set size is what is measured, not the Go heap.
package memtest

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// RSS returns the process's resident set size in bytes, from
// /proc/self/statm. A test that cannot read it fails: a memory check that
// silently did not run proves nothing.
func RSS(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatalf("memtest: %v", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		t.Fatalf("memtest: /proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatalf("memtest: /proc/self/statm: %v", err)
	}
	return pages * int64(os.Getpagesize())
}
