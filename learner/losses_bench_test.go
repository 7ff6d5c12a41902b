package learner

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkMonodepthLoss times the full Monodepth2-style loss without the
// networks: 3 frames (target and 2 sources), 4 disparity scales each
// upsampled to the input, per-pixel minimum reprojection with automask and
// out-of-image masks, edge-aware smoothness, forward and backward to the
// disparities. It reports ms per step.
func BenchmarkMonodepthLoss(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, sz := range []struct{ w, h int }{{160, 48}, {320, 96}} {
		b.Run(fmt.Sprintf("%dx%d_b4", sz.w, sz.h), func(b *testing.B) {
			s := newLossSetup(b, 4, sz.h, sz.w)
			if _, err := s.step(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.step(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
		})
	}
}
