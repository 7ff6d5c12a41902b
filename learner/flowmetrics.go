package learner

import (
	"fmt"
	"math"
)

// FlowMetrics are KITTI's optical flow figures over a set of pixels.
type FlowMetrics struct {
	// EPE is the mean end-point error |predicted - true| in pixels.
	EPE float64 `json:"epe"`
	// Fl is the share of outliers (KITTI: error > 3 px and > 5 % of the
	// true flow's length), 0 to 1.
	Fl float64 `json:"fl"`
	// Pixels is the number of pixels counted.
	Pixels int `json:"pixels"`
}

// FlowError compares a predicted flow with the truth, both 2 values a pixel
// at one size, on the pixels where the truth is finite and mask (nil for
// all, else one value a pixel) is non-zero. It returns an error for
// mismatched lengths.
func FlowError(pred, truth []float32, mask []uint8) (FlowMetrics, error) {
	if len(pred) != len(truth) || len(pred)%2 != 0 || (mask != nil && 2*len(mask) != len(truth)) {
		return FlowMetrics{}, fmt.Errorf("%w: flow of %d values, truth %d, mask %d", ErrEvalOptions, len(pred), len(truth), len(mask))
	}
	var m FlowMetrics
	var out int
	for i := 0; i < len(truth)/2; i++ {
		if mask != nil && mask[i] == 0 {
			continue
		}
		tx, ty := float64(truth[2*i]), float64(truth[2*i+1])
		if math.IsNaN(tx) || math.IsNaN(ty) || math.IsInf(tx, 0) || math.IsInf(ty, 0) {
			continue
		}
		e := math.Hypot(float64(pred[2*i])-tx, float64(pred[2*i+1])-ty)
		m.EPE += e
		if e > 3 && e > 0.05*math.Hypot(tx, ty) {
			out++
		}
		m.Pixels++
	}
	if m.Pixels > 0 {
		m.EPE /= float64(m.Pixels)
		m.Fl = float64(out) / float64(m.Pixels)
	}
	return m, nil
}
