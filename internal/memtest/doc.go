// Package memtest measures the process's memory for the tests that show a
// long-running loop stays flat: libtorch, libavcodec and the Go heap all
// count, so the resident set size is what is measured, not the Go heap.
package memtest
