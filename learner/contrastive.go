package learner

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// The losses of pre-training on gotch tensors, in the style of losses.go:
// differentiable, batched, inputs checked (an error, never a panic), every
// intermediate freed; the caller owns what is returned. Embeddings are
// float32 [N,D]. scripts/reference_pretrain_losses.py recomputes InfoNCE,
// InfoNCEQueue and BarlowTwinsLoss (values and input gradients) in
// PyTorch.

// embed2 checks x is a defined float32 [N,D] tensor with N >= minN.
func embed2(fn, name string, x *ts.Tensor, minN int64) ([]int64, error) {
	if x == nil {
		return nil, fmt.Errorf("%w: %s: %s is nil", ErrLossInput, fn, name)
	}
	sz, err := x.Size()
	if err != nil {
		return nil, fmt.Errorf("learner: %s: %s: %w", fn, name, err)
	}
	if x.DType() != gotch.Float {
		return nil, fmt.Errorf("%w: %s: %s must be float32, got %v", ErrLossInput, fn, name, x.DType())
	}
	if len(sz) != 2 || sz[0] < minN || sz[1] < 1 {
		return nil, fmt.Errorf("%w: %s: %s must be [N,D] with N >= %d, got %v", ErrLossInput, fn, name, minN, sz)
	}
	return sz, nil
}

// embedPair checks two views' embeddings z1, z2: both [N,D] with N >= 2
// (a batch with negatives) and the same shape, row i of each a positive
// pair. It returns their shape.
func embedPair(fn string, z1, z2 *ts.Tensor) ([]int64, error) {
	sz, err := embed2(fn, "z1", z1, 2)
	if err != nil {
		return nil, err
	}
	sz2, err := embed2(fn, "z2", z2, 2)
	if err != nil {
		return nil, err
	}
	if sz[0] != sz2[0] || sz[1] != sz2[1] {
		return nil, fmt.Errorf("%w: %s: z1 %v and z2 %v differ", ErrLossInput, fn, sz, sz2)
	}
	return sz, nil
}

func checkTemperature(fn string, t float64) error {
	if !(t > 0) || math.IsInf(t, 0) {
		return fmt.Errorf("%w: %s: temperature %v (want > 0)", ErrLossInput, fn, t)
	}
	return nil
}

// l2Normalize divides each row of x [N,D] by max(|row|, 1e-12), as
// torch.nn.functional.normalize does.
func l2Normalize(s *perception.Scope, x *ts.Tensor) *ts.Tensor {
	n := s.Do(func() (*ts.Tensor, error) {
		return x.LinalgNorm(s.Scalar(2), []int64{1}, true, gotch.Float, false)
	})
	n = s.Do(func() (*ts.Tensor, error) { return n.ClampMin(s.Scalar(1e-12), false) })
	return s.Do(func() (*ts.Tensor, error) { return x.Div(n, false) })
}

// L2Normalize returns the rows of x [N,D] scaled to unit length.
func L2Normalize(x *ts.Tensor) (out *ts.Tensor, err error) {
	const fn = "L2Normalize"
	defer perception.Recover("learner", fn, &err)
	if _, err := embed2(fn, "x", x, 1); err != nil {
		return nil, err
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	out = l2Normalize(s, x)
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// InfoNCE is SimCLR's NT-Xent loss of two views' embeddings z1, z2
// [N,D] (row i of z1 and row i of z2 are a positive pair): the 2N
// embeddings are L2-normalised, the score of a pair is its cosine over
// temperature, and each of the 2N embeddings is classified against the
// other 2N-1 (its positive and the 2N-2 embeddings of the other samples,
// the batch's negatives) with cross-entropy; the result is the mean over
// the 2N, a scalar. It needs N >= 2.
func InfoNCE(z1, z2 *ts.Tensor, temperature float64) (out *ts.Tensor, err error) {
	const fn = "InfoNCE"
	defer perception.Recover("learner", fn, &err)
	sz, err := embedPair(fn, z1, z2)
	if err != nil {
		return nil, err
	}
	if err := checkTemperature(fn, temperature); err != nil {
		return nil, err
	}
	n := sz[0]
	dev, err := z1.Device()
	if err != nil {
		return nil, err
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	z := s.Do(func() (*ts.Tensor, error) { return ts.Cat([]ts.Tensor{*z1, *z2}, 0) })
	z = l2Normalize(s, z)
	zt := s.Do(func() (*ts.Tensor, error) { return z.Transpose(0, 1, false) })
	sim := s.Do(func() (*ts.Tensor, error) { return z.Mm(zt, false) })
	sim = s.Do(func() (*ts.Tensor, error) { return sim.MulScalar(s.Scalar(1/temperature), false) })
	// Leave each embedding out of its own softmax: a large negative score
	// on the diagonal (exp underflows to exactly 0).
	eye := s.Do(func() (*ts.Tensor, error) { return ts.Eye(2*n, gotch.Float, dev) })
	mask := s.Do(func() (*ts.Tensor, error) { return eye.MulScalar(s.Scalar(-1e9), false) })
	sim = s.Do(func() (*ts.Tensor, error) { return sim.Add(mask, false) })
	// Row i's positive is i+N (i < N) or i-N.
	pos := make([]int, 2*n)
	for i := range pos {
		pos[i] = (i + int(n)) % int(2*n)
	}
	out = crossEntropy(s, sim, pos)
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// InfoNCEQueue is MoCo's InfoNCE: each query q_i [N,D] is classified
// against its key k_i [N,D] (the positive) and the K keys of queue [K,D]
// (the negatives, decoupled from the batch size), with cosine scores over
// temperature: the mean over i of -log(exp(q_i·k_i/t) / (exp(q_i·k_i/t) +
// Σ_j exp(q_i·queue_j/t))), every vector L2-normalised first. The caller
// passes keys without gradient (MoCo's key encoder).
func InfoNCEQueue(q, k, queue *ts.Tensor, temperature float64) (out *ts.Tensor, err error) {
	const fn = "InfoNCEQueue"
	defer perception.Recover("learner", fn, &err)
	qs, err := embed2(fn, "q", q, 1)
	if err != nil {
		return nil, err
	}
	ks, err := embed2(fn, "k", k, 1)
	if err != nil {
		return nil, err
	}
	us, err := embed2(fn, "queue", queue, 1)
	if err != nil {
		return nil, err
	}
	if qs[0] != ks[0] || qs[1] != ks[1] || us[1] != qs[1] {
		return nil, fmt.Errorf("%w: %s: q %v, k %v, queue %v (want [N,D], [N,D], [K,D])", ErrLossInput, fn, qs, ks, us)
	}
	if err := checkTemperature(fn, temperature); err != nil {
		return nil, err
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	qn, kn, un := l2Normalize(s, q), l2Normalize(s, k), l2Normalize(s, queue)
	lpos := s.Do(func() (*ts.Tensor, error) { return qn.Mul(kn, false) })
	lpos = s.Do(func() (*ts.Tensor, error) { return lpos.SumDimIntlist([]int64{1}, true, gotch.Float, false) })
	ut := s.Do(func() (*ts.Tensor, error) { return un.Transpose(0, 1, false) })
	lneg := s.Do(func() (*ts.Tensor, error) { return qn.Mm(ut, false) })
	logits := s.Do(func() (*ts.Tensor, error) {
		if s.Err() != nil {
			return nil, s.Err()
		}
		return ts.Cat([]ts.Tensor{*lpos, *lneg}, 1)
	})
	logits = s.Do(func() (*ts.Tensor, error) { return logits.MulScalar(s.Scalar(1/temperature), false) })
	out = crossEntropy(s, logits, make([]int, qs[0]))
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// BarlowEps is added to the batch variance when Barlow Twins normalises
// the embeddings (BatchNorm1d's eps).
const BarlowEps = 1e-5

// BarlowTwinsLoss is Barlow Twins' loss (Zbontar et al. 2021) of two views'
// embeddings z1, z2 [N,D]: each is normalised along the batch (zero mean,
// unit biased variance per dimension, BatchNorm without affine), C =
// z1nᵀ z2n / N is their D x D cross-correlation, and the loss is
// Σ_i (1 - C_ii)² + lambda Σ_{i≠j} C_ij²: the invariance term pulls the
// diagonal to 1, the redundancy-reduction term pushes the rest to 0. It
// needs N >= 2.
func BarlowTwinsLoss(z1, z2 *ts.Tensor, lambda float64) (out *ts.Tensor, err error) {
	const fn = "BarlowTwinsLoss"
	defer perception.Recover("learner", fn, &err)
	sz, err := embedPair(fn, z1, z2)
	if err != nil {
		return nil, err
	}
	if !(lambda >= 0) || math.IsInf(lambda, 0) {
		return nil, fmt.Errorf("%w: %s: lambda %v (want >= 0)", ErrLossInput, fn, lambda)
	}
	n, d := sz[0], sz[1]
	dev, err := z1.Device()
	if err != nil {
		return nil, err
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	a, b := batchNorm(s, z1), batchNorm(s, z2)
	at := s.Do(func() (*ts.Tensor, error) { return a.Transpose(0, 1, false) })
	c := s.Do(func() (*ts.Tensor, error) { return at.Mm(b, false) })
	c = s.Do(func() (*ts.Tensor, error) { return c.MulScalar(s.Scalar(1/float64(n)), false) })
	eye := s.Do(func() (*ts.Tensor, error) { return ts.Eye(d, gotch.Float, dev) })
	// Off-diagonal: (C - I)² weighted by lambda off the diagonal and by 1 on
	// it, i.e. the weights lambda + (1-lambda) I.
	diff := s.Do(func() (*ts.Tensor, error) { return c.Sub(eye, false) })
	sq := s.Do(func() (*ts.Tensor, error) { return diff.Square(false) })
	w := s.Do(func() (*ts.Tensor, error) { return eye.MulScalar(s.Scalar(1-lambda), false) })
	w = s.Do(func() (*ts.Tensor, error) { return w.AddScalar(s.Scalar(lambda), false) })
	wsq := s.Do(func() (*ts.Tensor, error) { return sq.Mul(w, false) })
	out = s.Do(func() (*ts.Tensor, error) { return wsq.Sum(gotch.Float, false) })
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// batchNorm normalises each column of x [N,D] to zero mean and unit
// biased variance (plus BarlowEps).
func batchNorm(s *perception.Scope, x *ts.Tensor) *ts.Tensor {
	m := s.Do(func() (*ts.Tensor, error) { return x.MeanDim([]int64{0}, true, gotch.Float, false) })
	c := s.Do(func() (*ts.Tensor, error) { return x.Sub(m, false) })
	v := s.Do(func() (*ts.Tensor, error) { return c.Square(false) })
	v = s.Do(func() (*ts.Tensor, error) { return v.MeanDim([]int64{0}, true, gotch.Float, false) })
	v = s.Do(func() (*ts.Tensor, error) { return v.AddScalar(s.Scalar(BarlowEps), false) })
	sd := s.Do(func() (*ts.Tensor, error) { return v.Sqrt(false) })
	return s.Do(func() (*ts.Tensor, error) { return c.Div(sd, false) })
}

// crossEntropy is the mean cross-entropy of logits [N,C] against class
// labels (one per row), through log-softmax and a one-hot mask (no int64
// tensors, no weight argument: gotch's CrossEntropyLoss needs a defined
// weight tensor).
func crossEntropy(s *perception.Scope, logits *ts.Tensor, labels []int) *ts.Tensor {
	if s.Err() != nil {
		return nil
	}
	sz, err := logits.Size()
	if err != nil {
		s.Fail(err)
		return nil
	}
	if len(sz) != 2 || sz[0] != int64(len(labels)) {
		s.Fail(fmt.Errorf("%w: cross-entropy of logits %v with %d labels", ErrLossInput, sz, len(labels)))
		return nil
	}
	dev, err := logits.Device()
	if err != nil {
		s.Fail(err)
		return nil
	}
	onehot := make([]float32, sz[0]*sz[1])
	for i, l := range labels {
		if l < 0 || int64(l) >= sz[1] {
			s.Fail(fmt.Errorf("%w: label %d of %d classes", ErrLossInput, l, sz[1]))
			return nil
		}
		onehot[int64(i)*sz[1]+int64(l)] = 1
	}
	oh := s.Do(func() (*ts.Tensor, error) { return perception.FloatTensor(onehot, sz, dev) })
	lsm := s.Do(func() (*ts.Tensor, error) { return logits.LogSoftmax(1, gotch.Float, false) })
	pick := s.Do(func() (*ts.Tensor, error) { return lsm.Mul(oh, false) })
	sum := s.Do(func() (*ts.Tensor, error) { return pick.Sum(gotch.Float, false) })
	return s.Do(func() (*ts.Tensor, error) { return sum.MulScalar(s.Scalar(-1/float64(sz[0])), false) })
}

// CrossEntropy is the mean cross-entropy of logits [N,C] against labels.
func CrossEntropy(logits *ts.Tensor, labels []int) (out *ts.Tensor, err error) {
	const fn = "CrossEntropy"
	defer perception.Recover("learner", fn, &err)
	if _, err := embed2(fn, "logits", logits, 1); err != nil {
		return nil, err
	}
	s := perception.NewScope("learner: " + fn)
	defer s.Free()
	out = crossEntropy(s, logits, labels)
	if s.Err() != nil {
		return nil, s.Err()
	}
	return s.Keep(out), nil
}

// EmbeddingStd returns, per dimension, the standard deviation over the
// rows of the L2-normalised embeddings z [N][D] (rows in Go memory): the
// collapse check of SimSiam. Unit vectors spread over D dimensions give
// about 1/sqrt(D) in every dimension; a collapsed embedding (every row the
// same) gives 0.
func EmbeddingStd(z [][]float32) []float64 {
	if len(z) == 0 {
		return nil
	}
	d := len(z[0])
	mean := make([]float64, d)
	sq := make([]float64, d)
	for _, row := range z {
		var n float64
		for _, v := range row {
			n += float64(v) * float64(v)
		}
		n = math.Max(math.Sqrt(n), 1e-12)
		for j, v := range row {
			u := float64(v) / n
			mean[j] += u
			sq[j] += u * u
		}
	}
	out := make([]float64, d)
	for j := range out {
		m := mean[j] / float64(len(z))
		out[j] = math.Sqrt(math.Max(sq[j]/float64(len(z))-m*m, 0))
	}
	return out
}
