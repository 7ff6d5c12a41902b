package learner

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
)

// ErrProbe is returned by the linear probe for frames without ground
// truth, a model without an encoder, or sets too small to fit.
var ErrProbe = errors.New("learner: linear probe")

// The linear probe measures what a frozen encoder's features say about
// the scene without training the encoder: a linear classifier (softmax
// regression) on the features of every cell of the stage-3 grid (1/16 of
// the input: 16x16-pixel cells) predicts the cell's coarse depth class,
// labelled from the synthetic world's ground truth (the median true depth
// of the cell's pixels). The feature of a cell is the encoder's stage-3
// feature there with the stage-4 feature above it (upsampled), each
// dimension standardised over the fit set; the classes are quantiles of
// the fit set's cell depths (Classes of them, so chance is about
// 1/Classes). The classifier is fitted on one set of frames and scored on
// another (another stretch of road, or another world).

// ProbeConfig configures the linear probe. Zero fields take the
// documented defaults.
type ProbeConfig struct {
	// Classes is the number of depth classes. It defaults to 4.
	Classes int
	// Steps is the number of full-batch Adam steps of the fit. It defaults
	// to 300.
	Steps int
	// LR is Adam's learning rate. It defaults to 0.05.
	LR float64
	// L2 is the weight decay on the classifier's weights (the features are
	// standardised). It defaults to 1e-2.
	L2 float64
}

func (c ProbeConfig) filled() ProbeConfig {
	if c.Classes == 0 {
		c.Classes = 4
	}
	if c.Steps == 0 {
		c.Steps = 300
	}
	if c.LR == 0 {
		c.LR = 0.05
	}
	if c.L2 == 0 {
		c.L2 = 1e-2
	}
	return c
}

// ProbeSet is the frozen features and true depths of the cells of some
// frames.
type ProbeSet struct {
	// Dim is the feature width.
	Dim int
	// X holds one row of Dim features a cell.
	X []float32
	// Depth is each cell's median true depth in metres.
	Depth []float64
}

// Len is the number of cells.
func (p ProbeSet) Len() int { return len(p.Depth) }

// ProbeResult is the outcome of FitProbe.
type ProbeResult struct {
	// Edges are the depth class boundaries in metres (Classes-1 of them).
	Edges []float64
	// FitAcc and TestAcc are the fraction of cells classified right on the
	// fit and the test set.
	FitAcc, TestAcc float64
	// Chance is the test set's largest class share: what always answering
	// one class scores.
	Chance float64
	// FitCells, TestCells and Dim are the sets' sizes and the feature
	// width.
	FitCells, TestCells, Dim int
}

// probeBatch is the number of frames a forward pass of ProbeFeatures.
const probeBatch = 8

// ProbeFeatures runs the encoder of m's sub-network net (a depth net's
// or a pre-training encoder) on frames, prepared as the Estimator
// prepares them at the model's input size, without gradients, and returns
// every cell's feature and true depth (cells whose pixels have no true
// depth are left out). The frames must carry ground truth. It runs the
// torch work on w.
func ProbeFeatures(w *perception.Worker, m *perception.Model, net string, frames []*msgs.Frame) (ProbeSet, error) {
	if w == nil || m == nil {
		return ProbeSet{}, fmt.Errorf("%w: nil worker or model", ErrProbe)
	}
	e := m.EncoderOf(net)
	if e == nil {
		return ProbeSet{}, fmt.Errorf("%w: the model has no network %s with an encoder", ErrProbe, net)
	}
	cfg := m.Config()
	mw, mh := cfg.Width, cfg.Height
	gw, gh := mw/16, mh/16
	var set ProbeSet
	for start := 0; start < len(frames); start += probeBatch {
		chunk := frames[start:min(start+probeBatch, len(frames))]
		var feats []float32
		var dim int
		err := w.Do(func() error {
			return perception.NoGrad(func() error {
				x, _, err := perception.FramesTensor(chunk, mw, mh, m.Device())
				if err != nil {
					return err
				}
				defer x.MustDrop()
				s := perception.NewScope("learner: probe features")
				defer s.Free()
				f := encodeAll(s, e, x)
				if f == nil {
					return s.Err()
				}
				up := s.Do(func() (*ts.Tensor, error) {
					return f[4].UpsampleNearest2d([]int64{int64(gh), int64(gw)}, nil, nil, false)
				})
				c := s.Do(func() (*ts.Tensor, error) {
					if s.Err() != nil {
						return nil, s.Err()
					}
					return ts.Cat([]ts.Tensor{*f[3], *up}, 1)
				})
				c = s.Do(func() (*ts.Tensor, error) { return c.Permute([]int64{0, 2, 3, 1}, false) })
				if s.Err() != nil {
					return s.Err()
				}
				sz, err := c.Size()
				if err != nil {
					return err
				}
				dim = int(sz[3])
				feats, err = perception.TensorFloat32s(c)
				return err
			})
		})
		if err != nil {
			return ProbeSet{}, fmt.Errorf("learner: probe features: %w", err)
		}
		set.Dim = dim
		for i, f := range chunk {
			truth, err := GroundTruthDepth(f, mw, mh)
			if err != nil {
				return ProbeSet{}, fmt.Errorf("%w: frame %d: %w", ErrProbe, start+i, err)
			}
			vals := make([]float64, 0, 256)
			for cy := range gh {
				for cx := range gw {
					vals = vals[:0]
					for y := cy * 16; y < cy*16+16; y++ {
						for x := cx * 16; x < cx*16+16; x++ {
							if d := truth[y*mw+x]; d > 0 && !math.IsInf(float64(d), 0) {
								vals = append(vals, float64(d))
							}
						}
					}
					if len(vals) == 0 {
						continue
					}
					sort.Float64s(vals)
					set.Depth = append(set.Depth, vals[len(vals)/2])
					o := ((i*gh+cy)*gw + cx) * dim
					set.X = append(set.X, feats[o:o+dim]...)
				}
			}
		}
	}
	return set, nil
}

// FitProbe fits the softmax-regression probe on fit and scores it on
// test. It is deterministic (zero initial weights, full batches).
func FitProbe(fit, test ProbeSet, cfg ProbeConfig) (ProbeResult, error) {
	cfg = cfg.filled()
	k, d := cfg.Classes, fit.Dim
	if k < 2 || cfg.Steps < 1 || !(cfg.LR > 0) || cfg.L2 < 0 {
		return ProbeResult{}, fmt.Errorf("%w: %d classes, %d steps, lr %v, L2 %v", ErrProbe, k, cfg.Steps, cfg.LR, cfg.L2)
	}
	if fit.Len() < 4*k || test.Len() < 1 || d < 1 || test.Dim != d || len(fit.X) != fit.Len()*d || len(test.X) != test.Len()*d {
		return ProbeResult{}, fmt.Errorf("%w: %d fit cells and %d test cells of %d and %d features (want at least %d fit cells)", ErrProbe, fit.Len(), test.Len(), fit.Dim, test.Dim, 4*k)
	}
	// Classes: quantiles of the fit depths.
	sorted := slices.Clone(fit.Depth)
	sort.Float64s(sorted)
	edges := make([]float64, k-1)
	for i := range edges {
		edges[i] = sorted[(i+1)*len(sorted)/k]
	}
	class := func(depth float64) int {
		c := sort.SearchFloat64s(edges, depth)
		if c < len(edges) && edges[c] == depth {
			c++ // a depth equal to an edge belongs to the class above it
		}
		return c
	}
	// Standardisation from the fit set.
	mean := make([]float64, d)
	sd := make([]float64, d)
	n := fit.Len()
	for i := range n {
		for j := range d {
			v := float64(fit.X[i*d+j])
			mean[j] += v
			sd[j] += v * v
		}
	}
	for j := range d {
		mean[j] /= float64(n)
		sd[j] = math.Sqrt(math.Max(sd[j]/float64(n)-mean[j]*mean[j], 0))
		if sd[j] < 1e-6 {
			sd[j] = 1
		}
	}
	std := func(s ProbeSet) ([]float64, []int) {
		x := make([]float64, len(s.X))
		for i := range s.Len() {
			for j := range d {
				x[i*d+j] = (float64(s.X[i*d+j]) - mean[j]) / sd[j]
			}
		}
		y := make([]int, s.Len())
		for i, dep := range s.Depth {
			y[i] = class(dep)
		}
		return x, y
	}
	fx, fy := std(fit)
	tx, ty := std(test)
	// Softmax regression: W [k][d+1] (last column the bias), Adam.
	np := k * (d + 1)
	wts := make([]float64, np)
	grad := make([]float64, np)
	m1 := make([]float64, np)
	m2 := make([]float64, np)
	logits := make([]float64, k)
	const b1, b2, eps = 0.9, 0.999, 1e-8
	for step := 1; step <= cfg.Steps; step++ {
		clear(grad)
		for i := range n {
			row := fx[i*d : (i+1)*d]
			softmaxRow(wts, row, logits)
			logits[fy[i]] -= 1
			for c := range k {
				g := logits[c] / float64(n)
				wc := grad[c*(d+1):]
				for j, v := range row {
					wc[j] += g * v
				}
				wc[d] += g
			}
		}
		for c := range k {
			for j := range d {
				grad[c*(d+1)+j] += cfg.L2 * wts[c*(d+1)+j]
			}
		}
		bc1, bc2 := 1-math.Pow(b1, float64(step)), 1-math.Pow(b2, float64(step))
		for p := range wts {
			m1[p] = b1*m1[p] + (1-b1)*grad[p]
			m2[p] = b2*m2[p] + (1-b2)*grad[p]*grad[p]
			wts[p] -= cfg.LR * (m1[p] / bc1) / (math.Sqrt(m2[p]/bc2) + eps)
		}
	}
	acc := func(x []float64, y []int) float64 {
		right := 0
		for i := range y {
			softmaxRow(wts, x[i*d:(i+1)*d], logits)
			if argmax(logits) == y[i] {
				right++
			}
		}
		return float64(right) / float64(len(y))
	}
	counts := make([]int, k)
	for _, c := range ty {
		counts[c]++
	}
	return ProbeResult{
		Edges: edges, FitAcc: acc(fx, fy), TestAcc: acc(tx, ty),
		Chance:   float64(slices.Max(counts)) / float64(len(ty)),
		FitCells: fit.Len(), TestCells: test.Len(), Dim: d,
	}, nil
}

// softmaxRow writes softmax(W [x 1]) into out.
func softmaxRow(w, x, out []float64) {
	d := len(x)
	mx := math.Inf(-1)
	for c := range out {
		wc := w[c*(d+1):]
		v := wc[d]
		for j, xj := range x {
			v += wc[j] * xj
		}
		out[c] = v
		mx = math.Max(mx, v)
	}
	var sum float64
	for c := range out {
		out[c] = math.Exp(out[c] - mx)
		sum += out[c]
	}
	for c := range out {
		out[c] /= sum
	}
}

func argmax(v []float64) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

// ProbeFrames returns n frames of d's left view from frame start, stride
// apart.
func ProbeFrames(d camera.Drive, start, n, stride int) ([]*msgs.Frame, error) {
	if d == nil || n < 1 || stride < 1 || start < 0 {
		return nil, fmt.Errorf("%w: %d frames from %d, stride %d", ErrProbe, n, start, stride)
	}
	out := make([]*msgs.Frame, 0, n)
	for i := range n {
		f, _, err := d.Frame(start + i*stride)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrProbe, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// LinearProbe is ProbeFeatures on the fit and test frames and FitProbe.
func LinearProbe(w *perception.Worker, m *perception.Model, net string, fitFrames, testFrames []*msgs.Frame, cfg ProbeConfig) (ProbeResult, error) {
	fit, err := ProbeFeatures(w, m, net, fitFrames)
	if err != nil {
		return ProbeResult{}, err
	}
	test, err := ProbeFeatures(w, m, net, testFrames)
	if err != nil {
		return ProbeResult{}, err
	}
	return FitProbe(fit, test, cfg)
}
