package actors

import (
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"time"

	"github.com/parallax-robotics/parallax/internal/procmem"
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
	if rss, err := procmem.Resident(); err == nil {
		st.Values = append(st.Values, kv("rss_bytes", rss))
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		st.Values = append(st.Values, kv("open_files", int64(len(fds))))
	}
	return st
}
