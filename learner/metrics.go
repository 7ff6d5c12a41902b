package learner

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/parallax-robotics/parallax/msgs"
)

var (
	// ErrMetricInput is returned for inputs a metric cannot use: slices of
	// different lengths, too few poses, non-finite values.
	ErrMetricInput = errors.New("learner: bad metric input")
	// ErrNoValidPixels is returned when no ground-truth pixel lies inside
	// the evaluation range, so every depth metric would be 0/0.
	ErrNoValidPixels = errors.New("learner: no valid ground-truth pixels")
	// ErrEvalOptions is returned for an evaluation range that is empty or
	// negative.
	ErrEvalOptions = errors.New("learner: bad evaluation options")
	// ErrEvalSource is returned for a source Evaluate cannot read ground
	// truth from.
	ErrEvalSource = errors.New("learner: bad evaluation source")
)

// Default evaluation range: KITTI's Eigen-split protocol evaluates ground
// truth in (1e-3, 80) m and clamps predictions to the same range.
const (
	DefaultMinDepth = 1e-3
	DefaultMaxDepth = 80
)

// EvalOptions selects the depth-evaluation protocol.
type EvalOptions struct {
	// MinDepth and MaxDepth bound the ground truth that counts (strictly
	// inside) and clamp the prediction; zero means the defaults.
	MinDepth, MaxDepth float64
	// MedianScaling rescales each prediction by median(gt)/median(pred)
	// before comparing: a monocular network knows depth only up to scale.
	// Leave it false for stereo-trained (metric) models.
	MedianScaling bool
}

func (o EvalOptions) fill() (EvalOptions, error) {
	if o.MinDepth == 0 {
		o.MinDepth = DefaultMinDepth
	}
	if o.MaxDepth == 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if !(o.MinDepth > 0) || !(o.MaxDepth > o.MinDepth) || math.IsInf(o.MaxDepth, 0) {
		return o, fmt.Errorf("%w: depth range (%g, %g) (want 0 < min < max, finite)", ErrEvalOptions, o.MinDepth, o.MaxDepth)
	}
	return o, nil
}

// Metrics are Monodepth2's depth metrics (Eigen et al.): lower is better
// for the errors, higher for the accuracies a1..a3 (fraction of pixels with
// max(gt/pred, pred/gt) below 1.25, 1.25², 1.25³).
type Metrics struct {
	AbsRel  float64 `json:"abs_rel"`
	SqRel   float64 `json:"sq_rel"`
	RMSE    float64 `json:"rmse"`
	RMSELog float64 `json:"rmse_log"`
	A1      float64 `json:"a1"`
	A2      float64 `json:"a2"`
	A3      float64 `json:"a3"`
	// Scale is the median-scaling factor applied (1 without median
	// scaling); for accumulated results its mean over images.
	Scale float64 `json:"scale"`
	// ScaleStd is the standard deviation of Scale over images divided by
	// its mean (Monodepth2 prints it to show how consistent the scale is);
	// 0 for one image.
	ScaleStd float64 `json:"scale_std"`
	// Pixels counts the evaluated pixels; Images the images averaged.
	Pixels int `json:"pixels"`
	Images int `json:"images"`
	// Missing counts the pixels with ground truth in range but no
	// estimate (a NaN prediction: SGBM's unmatched pixels); they are
	// left out of every other figure.
	Missing int `json:"missing,omitempty"`
}

// DepthMetrics compares one predicted depth map with its ground truth, both
// row-major of the same size, in metres. Only pixels whose ground truth is
// strictly inside (MinDepth, MaxDepth) count (0 marks unknown truth); the
// prediction is median-scaled when asked and then clamped to the range,
// in Monodepth2's order. A NaN prediction is "no estimate" (the node's
// convention for pixels stereo matching could not match): such pixels are
// skipped and counted in Missing; an infinite one is an error.
func DepthMetrics(pred, gt []float32, opts EvalOptions) (Metrics, error) {
	o, err := opts.fill()
	if err != nil {
		return Metrics{}, err
	}
	if len(pred) != len(gt) {
		return Metrics{}, fmt.Errorf("%w: %d predicted depths for %d ground-truth depths", ErrMetricInput, len(pred), len(gt))
	}
	p := make([]float64, 0, len(gt))
	g := make([]float64, 0, len(gt))
	missing := 0
	for i, v := range gt {
		gv := float64(v)
		if !(gv > o.MinDepth && gv < o.MaxDepth) {
			continue
		}
		pv := float64(pred[i])
		if math.IsNaN(pv) {
			missing++
			continue
		}
		if math.IsInf(pv, 0) {
			return Metrics{}, fmt.Errorf("%w: prediction %g at pixel %d", ErrMetricInput, pv, i)
		}
		p = append(p, pv)
		g = append(g, gv)
	}
	if len(g) == 0 {
		if missing > 0 {
			return Metrics{}, fmt.Errorf("%w: the %d pixels in (%g, %g) m have no estimate (NaN)", ErrNoValidPixels, missing, o.MinDepth, o.MaxDepth)
		}
		return Metrics{}, fmt.Errorf("%w: none of %d in (%g, %g) m", ErrNoValidPixels, len(gt), o.MinDepth, o.MaxDepth)
	}
	scale := 1.0
	if o.MedianScaling {
		mp := median(p)
		if !(mp > 0) {
			return Metrics{}, fmt.Errorf("%w: median prediction %g (want > 0 for median scaling)", ErrMetricInput, mp)
		}
		scale = median(g) / mp
	}
	var m Metrics
	for i := range g {
		pv := math.Min(math.Max(p[i]*scale, o.MinDepth), o.MaxDepth)
		gv := g[i]
		d := pv - gv
		m.AbsRel += math.Abs(d) / gv
		m.SqRel += d * d / gv
		m.RMSE += d * d
		l := math.Log(pv) - math.Log(gv)
		m.RMSELog += l * l
		th := math.Max(gv/pv, pv/gv)
		if th < 1.25 {
			m.A1++
		}
		if th < 1.25*1.25 {
			m.A2++
		}
		if th < 1.25*1.25*1.25 {
			m.A3++
		}
	}
	n := float64(len(g))
	m.AbsRel /= n
	m.SqRel /= n
	m.RMSE = math.Sqrt(m.RMSE / n)
	m.RMSELog = math.Sqrt(m.RMSELog / n)
	m.A1 /= n
	m.A2 /= n
	m.A3 /= n
	m.Scale = scale
	m.Pixels = len(g)
	m.Missing = missing
	m.Images = 1
	return m, nil
}

// median returns the median of v (the mean of the middle two for an even
// count, as numpy does); it sorts v.
func median(v []float64) float64 {
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// MetricsAccumulator averages per-image metrics with equal weight per
// image, as Monodepth2 does (a big image does not count more). The zero
// value is ready to use.
type MetricsAccumulator struct {
	sum     Metrics
	scaleSq float64
	n       int
	pixels  int
	missing int
}

// Add records one image's metrics (from DepthMetrics).
func (a *MetricsAccumulator) Add(m Metrics) {
	a.sum.AbsRel += m.AbsRel
	a.sum.SqRel += m.SqRel
	a.sum.RMSE += m.RMSE
	a.sum.RMSELog += m.RMSELog
	a.sum.A1 += m.A1
	a.sum.A2 += m.A2
	a.sum.A3 += m.A3
	a.sum.Scale += m.Scale
	a.scaleSq += m.Scale * m.Scale
	a.pixels += m.Pixels
	a.missing += m.Missing
	a.n++
}

// Result returns the per-image mean of every metric; ErrNoValidPixels
// when nothing was added.
func (a *MetricsAccumulator) Result() (Metrics, error) {
	if a.n == 0 {
		return Metrics{}, fmt.Errorf("%w: no images accumulated", ErrNoValidPixels)
	}
	n := float64(a.n)
	r := Metrics{
		AbsRel: a.sum.AbsRel / n, SqRel: a.sum.SqRel / n, RMSE: a.sum.RMSE / n, RMSELog: a.sum.RMSELog / n,
		A1: a.sum.A1 / n, A2: a.sum.A2 / n, A3: a.sum.A3 / n,
		Scale: a.sum.Scale / n, Pixels: a.pixels, Images: a.n, Missing: a.missing,
	}
	if v := a.scaleSq/n - r.Scale*r.Scale; v > 0 && r.Scale != 0 {
		r.ScaleStd = math.Sqrt(v) / r.Scale
	}
	return r, nil
}

// ATE is the absolute trajectory error over short snippets.
type ATE struct {
	// Mean and Std are over snippets, in the ground truth's units.
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	// Snippets counts the snippets evaluated.
	Snippets int `json:"snippets"`
}

// SnippetATE computes SfMLearner's ATE: for every window of snippet
// consecutive poses (stride 1), both trajectories are expressed relative to
// the window's first pose (which aligns the first frames), the prediction's
// positions are scaled by the least-squares factor
// s = Σ gt·pred / Σ pred·pred, and the window's error is the RMSE of the
// position differences sqrt(mean ||s·pred_i − gt_i||²). (SfMLearner divides
// sqrt(Σ||e||²) by the frame count instead; its numbers are smaller by
// sqrt(snippet).) Poses are camera-to-world. The scale fit makes the metric
// blind to a monocular network's unknown scale; metric models are scored
// the same way.
func SnippetATE(gt, pred []msgs.Pose, snippet int) (ATE, error) {
	if len(gt) != len(pred) {
		return ATE{}, fmt.Errorf("%w: %d predicted poses for %d ground-truth poses", ErrMetricInput, len(pred), len(gt))
	}
	if snippet < 2 || len(gt) < snippet {
		return ATE{}, fmt.Errorf("%w: %d poses for snippets of %d (want snippet >= 2 and at least that many poses)", ErrMetricInput, len(gt), snippet)
	}
	if err := checkPoses(gt, pred); err != nil {
		return ATE{}, err
	}
	var errs []float64
	for s := 0; s+snippet <= len(gt); s++ {
		g0, p0 := gt[s].Inverse(), pred[s].Inverse()
		var gp, pp float64
		gs := make([][3]float64, snippet)
		ps := make([][3]float64, snippet)
		for i := range snippet {
			gs[i] = g0.Compose(gt[s+i]).T
			ps[i] = p0.Compose(pred[s+i]).T
			for k := range 3 {
				gp += gs[i][k] * ps[i][k]
				pp += ps[i][k] * ps[i][k]
			}
		}
		scale := 0.0
		if pp > 0 {
			scale = gp / pp
		}
		var se float64
		for i := range snippet {
			for k := range 3 {
				d := scale*ps[i][k] - gs[i][k]
				se += d * d
			}
		}
		errs = append(errs, math.Sqrt(se/float64(snippet)))
	}
	var a ATE
	for _, e := range errs {
		a.Mean += e
	}
	a.Mean /= float64(len(errs))
	for _, e := range errs {
		a.Std += (e - a.Mean) * (e - a.Mean)
	}
	a.Std = math.Sqrt(a.Std / float64(len(errs)))
	a.Snippets = len(errs)
	return a, nil
}

func checkPoses(gt, pred []msgs.Pose) error {
	for i := range gt {
		for _, p := range []msgs.Pose{gt[i], pred[i]} {
			for _, v := range append(p.R[:], p.T[:]...) {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return fmt.Errorf("%w: non-finite pose %d", ErrMetricInput, i)
				}
			}
		}
	}
	return nil
}

// TrajectoryScale is the least-squares factor s minimising
// Σ||s·p_i − g_i||² over positions relative to each trajectory's first
// pose: what a monocular trajectory must be multiplied by before a drift
// metric means anything. It is 0 when the prediction does not move.
func TrajectoryScale(gt, pred []msgs.Pose) (float64, error) {
	if len(gt) != len(pred) || len(gt) < 2 {
		return 0, fmt.Errorf("%w: %d predicted and %d ground-truth poses (want the same count, >= 2)", ErrMetricInput, len(pred), len(gt))
	}
	if err := checkPoses(gt, pred); err != nil {
		return 0, err
	}
	g0, p0 := gt[0].Inverse(), pred[0].Inverse()
	var gp, pp float64
	for i := range gt {
		g := g0.Compose(gt[i]).T
		p := p0.Compose(pred[i]).T
		for k := range 3 {
			gp += g[k] * p[k]
			pp += p[k] * p[k]
		}
	}
	if pp == 0 {
		return 0, nil
	}
	return gp / pp, nil
}

// Drift is a simplified KITTI-odometry translation error.
type Drift struct {
	// Percent is the mean over segments of ||t_pred − t_gt|| / L · 100,
	// where t is the relative translation between a segment's first and
	// last pose (in the first pose's frame) and L the segment's ground-truth
	// path length.
	Percent float64 `json:"percent"`
	// Segments counts the segments averaged.
	Segments int `json:"segments"`
}

// TranslationDrift computes the relative translation error in %: for each
// start frame i (every frame, not KITTI's every 10th) and each length L in
// lengths (metres of ground-truth path), the segment ends at the first
// frame j where the path length from i reaches L; its error is the length
// of the difference of the relative translations inv(P_i)·P_j of the
// prediction (multiplied by scale: 1 for metric models, TrajectoryScale for
// monocular ones) and of the ground truth, divided by L. Rotation error is
// not computed. Segments that run past the end are skipped; no segment at
// all is an error (the trajectory is shorter than every length).
func TranslationDrift(gt, pred []msgs.Pose, lengths []float64, scale float64) (Drift, error) {
	if len(gt) != len(pred) || len(gt) < 2 {
		return Drift{}, fmt.Errorf("%w: %d predicted and %d ground-truth poses (want the same count, >= 2)", ErrMetricInput, len(pred), len(gt))
	}
	if err := checkPoses(gt, pred); err != nil {
		return Drift{}, err
	}
	if len(lengths) == 0 {
		return Drift{}, fmt.Errorf("%w: no segment lengths", ErrMetricInput)
	}
	for _, l := range lengths {
		if !(l > 0) || math.IsInf(l, 0) {
			return Drift{}, fmt.Errorf("%w: segment length %g (want > 0)", ErrMetricInput, l)
		}
	}
	// dist[i] is the ground-truth path length from frame 0 to frame i.
	dist := make([]float64, len(gt))
	for i := 1; i < len(gt); i++ {
		a, b := gt[i-1].T, gt[i].T
		dist[i] = dist[i-1] + math.Sqrt((a[0]-b[0])*(a[0]-b[0])+(a[1]-b[1])*(a[1]-b[1])+(a[2]-b[2])*(a[2]-b[2]))
	}
	var d Drift
	for i := range gt {
		for _, l := range lengths {
			j := sort.SearchFloat64s(dist[i:], dist[i]+l) + i
			if j >= len(gt) {
				continue
			}
			g := gt[i].Inverse().Compose(gt[j]).T
			p := pred[i].Inverse().Compose(pred[j]).T
			var e float64
			for k := range 3 {
				v := scale*p[k] - g[k]
				e += v * v
			}
			d.Percent += math.Sqrt(e) / l * 100
			d.Segments++
		}
	}
	if d.Segments == 0 {
		return Drift{}, fmt.Errorf("%w: ground-truth path of %.3g m is shorter than every segment length %v", ErrMetricInput, dist[len(dist)-1], lengths)
	}
	d.Percent /= float64(d.Segments)
	return d, nil
}
