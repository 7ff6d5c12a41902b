package dispio

import (
	"fmt"
	"math"
)

// Scores are the stereo benchmarks' disparity errors (Middlebury's bad-N and
// EPE, KITTI's D1) of an estimate against ground truth, in pixels.
//
// Pixels count only where the ground truth is known (finite and above 0).
// Density is the fraction of them with an estimate (finite); EPE and
// Bad1..Bad3 (error above 1, 2, 3 px) are over the estimated ones, the
// numbers OpenCV's and most SGBM reports give. The *All figures count a
// pixel without an estimate as wrong, as the benchmarks rank dense methods:
// D1All is KITTI's D1-all (error above 3 px and above 5 % of the true
// disparity, missing counted as wrong).
type Scores struct {
	Pixels  int     `json:"pixels"`
	Density float64 `json:"density"`
	EPE     float64 `json:"epe"`
	Bad1    float64 `json:"bad1"`
	Bad2    float64 `json:"bad2"`
	Bad3    float64 `json:"bad3"`
	Bad2All float64 `json:"bad2_all"`
	D1All   float64 `json:"d1_all"`
}

// Score compares an estimated disparity map with ground truth of the same
// size. mask, when not nil, keeps only the pixels where it is true (a
// non-occlusion mask).
func Score(est, gt Map, mask []bool) (Scores, error) {
	if err := est.check(); err != nil {
		return Scores{}, fmt.Errorf("estimate: %w", err)
	}
	if err := gt.check(); err != nil {
		return Scores{}, fmt.Errorf("ground truth: %w", err)
	}
	if est.Width != gt.Width || est.Height != gt.Height {
		return Scores{}, fmt.Errorf("%w: estimate %dx%d, ground truth %dx%d", ErrSize, est.Width, est.Height, gt.Width, gt.Height)
	}
	if mask != nil && len(mask) != len(gt.Data) {
		return Scores{}, fmt.Errorf("%w: mask of %d pixels for %dx%d", ErrSize, len(mask), gt.Width, gt.Height)
	}
	var s Scores
	var estimated, bad1, bad2, bad3, d1 int
	var sum float64
	for i, g := range gt.Data {
		gv := float64(g)
		if !(gv > 0) || math.IsInf(gv, 0) || (mask != nil && !mask[i]) {
			continue
		}
		s.Pixels++
		ev := float64(est.Data[i])
		if math.IsNaN(ev) || math.IsInf(ev, 0) {
			continue
		}
		estimated++
		e := math.Abs(ev - gv)
		sum += e
		if e > 1 {
			bad1++
		}
		if e > 2 {
			bad2++
		}
		if e > 3 {
			bad3++
			if e > 0.05*gv {
				d1++
			}
		}
	}
	if s.Pixels == 0 {
		return s, fmt.Errorf("%w: no pixel of the ground truth is known", ErrFormat)
	}
	n, e := float64(s.Pixels), float64(estimated)
	missing := s.Pixels - estimated
	s.Density = e / n
	s.Bad2All = float64(bad2+missing) / n
	s.D1All = float64(d1+missing) / n
	if estimated > 0 {
		s.EPE, s.Bad1, s.Bad2, s.Bad3 = sum/e, float64(bad1)/e, float64(bad2)/e, float64(bad3)/e
	}
	return s, nil
}
