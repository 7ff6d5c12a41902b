package actors

import (
	"testing"
	"time"
)

// TestHistogram: observations land in the first bucket whose bound is at
// least them, the counts are cumulative, and what is above the last bound
// counts only in Count and Sum (the +Inf bucket).
func TestHistogram(t *testing.T) {
	for _, tc := range []struct {
		name  string
		obs   []time.Duration
		want  map[time.Duration]uint64 // bound -> cumulative count
		count uint64
	}{
		{"empty", nil, map[time.Duration]uint64{time.Millisecond: 0, 10 * time.Second: 0}, 0},
		{"on a bound", []time.Duration{time.Millisecond, 10 * time.Millisecond},
			map[time.Duration]uint64{time.Millisecond: 1, 5 * time.Millisecond: 1, 10 * time.Millisecond: 2}, 2},
		{"between bounds", []time.Duration{1500 * time.Microsecond, 30 * time.Millisecond},
			map[time.Duration]uint64{time.Millisecond: 0, 2 * time.Millisecond: 1, 20 * time.Millisecond: 1, 50 * time.Millisecond: 2}, 2},
		{"above the last", []time.Duration{time.Minute, 0},
			map[time.Duration]uint64{time.Millisecond: 1, 10 * time.Second: 1}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			var sum time.Duration
			for _, d := range tc.obs {
				h.observe(d)
				sum += d
			}
			s := h.snapshot()
			if len(s.Bounds) != len(s.Counts) || len(s.Bounds) != len(LatencyBuckets) {
				t.Fatalf("%d bounds, %d counts", len(s.Bounds), len(s.Counts))
			}
			for i, b := range s.Bounds {
				if want, ok := tc.want[b]; ok && s.Counts[i] != want {
					t.Errorf("bucket <= %v: %d, want %d", b, s.Counts[i], want)
				}
				if i > 0 && s.Counts[i] < s.Counts[i-1] {
					t.Errorf("counts not cumulative at %v", b)
				}
			}
			if s.Count != tc.count || s.Sum != sum {
				t.Errorf("count %d sum %v, want %d %v", s.Count, s.Sum, tc.count, sum)
			}
		})
	}
}

// TestLatencyHistogramCameraClock: latencies measured before the camera
// clock is known stay out of the histogram but still reach Latencies.
func TestLatencyHistogramCameraClock(t *testing.T) {
	var c counters
	c.latency(3*time.Millisecond, false)
	c.latency(4*time.Millisecond, true)
	if got := len(c.takeLatencies()); got != 2 {
		t.Errorf("Latencies has %d, want 2", got)
	}
	if h := c.hist.snapshot(); h.Count != 1 || h.Sum != 4*time.Millisecond {
		t.Errorf("histogram count %d sum %v, want 1 and 4ms", h.Count, h.Sum)
	}
}
