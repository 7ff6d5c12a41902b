// Package procmem reads the process's own memory from Linux's /proc: the
// resident set size (what libtorch, libavcodec and the Go heap hold
// together, which the Go heap figure alone does not show) and its peak.
// The node's process stats, the tests' memory checks and the benchmark's
// growth table all read it here.
package procmem
