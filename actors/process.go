package actors

import (
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// processStatus is the node process's own health, sent with every periodic
// diagnostics summary so that a robot's monitor (and the fault suite and
// soak, from outside) can watch for leaks without attaching a profiler:
// goroutines, resident memory, Go heap, open files and uptime.
func processStatus(started time.Time) *parallaxv1.DiagnosticStatus {
	kv := func(k string, v int64) *parallaxv1.KeyValue {
		return &parallaxv1.KeyValue{Key: k, Value: strconv.FormatInt(v, 10)}
	}
	st := &parallaxv1.DiagnosticStatus{Level: parallaxv1.DiagnosticStatus_OK, Name: "process", Message: "running",
		Values: []*parallaxv1.KeyValue{
			kv("goroutines", int64(runtime.NumGoroutine())),
			kv("uptime_s", int64(time.Since(started).Seconds())),
		}}
	heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(heap)
	if heap[0].Value.Kind() == metrics.KindUint64 {
		st.Values = append(st.Values, kv("go_heap_bytes", int64(heap[0].Value.Uint64())))
	}
	if rss, ok := residentBytes(); ok {
		st.Values = append(st.Values, kv("rss_bytes", rss))
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		st.Values = append(st.Values, kv("open_files", int64(len(fds))))
	}
	return st
}

// residentBytes reads the resident set size from /proc/self/statm (Linux;
// elsewhere ok is false). It includes libtorch's native memory, which the
// Go heap figure does not.
func residentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * int64(os.Getpagesize()), true
}
