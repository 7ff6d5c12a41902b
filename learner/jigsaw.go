package learner

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// Jigsaw's head and loss term.
const (
	NetJigsaw  = "jigsaw"
	TermJigsaw = "jigsaw"
)

// Jigsaw is the jigsaw-puzzle pretext task of Noroozi & Favaro 2016 on the
// shared encoder: the frame is cut into a Rows x Cols grid of cells, one
// tile is taken from each cell, the tiles are shuffled by one of a fixed
// set of permutations, each tile goes through the encoder alone (shared
// weights), and a classifier on their pooled features, concatenated in
// the shuffled order (NetJigsaw), names the permutation.
//
// The guards against shortcuts: each tile is TileFrac of its cell at a
// random offset inside it, so neighbouring tiles never share an edge to
// match across; each tile is normalised to zero mean and unit variance
// alone, so brightness and contrast gradients (vignetting, the sky's
// gradient) do not tell its place; and against chromatic aberration (the
// lens shifts colour channels by an amount that grows with the distance
// from the image centre, which a network can read off a tile to locate it)
// each colour channel of each tile is shifted by its own random offset of
// up to ChannelShift pixels, and a Gray fraction of the tiles are
// greyscale. The permutation set is chosen once, greedily, for the largest
// minimal Hamming distance between permutations (the paper's recipe), from
// a fixed seed: the classes mean the same in every run. Zero fields take
// the documented defaults.
type Jigsaw struct {
	// Rows and Cols are the grid. They default to 2 and 3 (tiles of a
	// 192x64 frame are about 51x26 pixels; a 3x3 grid of the paper would
	// leave tiles of 18 rows).
	Rows, Cols int
	// Permutations is the number of classes. It defaults to 64.
	Permutations int
	// TileFrac is a tile's side as a fraction of its cell's. It defaults to
	// 0.8.
	TileFrac float64
	// ChannelShift is the largest shift of a colour channel, in pixels. It
	// defaults to 2; negative turns it off.
	ChannelShift int
	// Gray is the fraction of greyscale tiles. It defaults to 0.3;
	// negative turns it off.
	Gray float64
	// Hidden is the classifier's hidden width. It defaults to 256.
	Hidden int
	// Seed seeds the tiles' offsets, shifts and permutations drawn. It
	// defaults to 0.
	Seed uint64
}

func (o Jigsaw) filled() Jigsaw {
	if o.Rows == 0 {
		o.Rows = 2
	}
	if o.Cols == 0 {
		o.Cols = 3
	}
	if o.Permutations == 0 {
		o.Permutations = 64
	}
	if o.TileFrac == 0 {
		o.TileFrac = 0.8
	}
	switch {
	case o.ChannelShift == 0:
		o.ChannelShift = 2
	case o.ChannelShift < 0:
		o.ChannelShift = 0
	}
	switch {
	case o.Gray == 0:
		o.Gray = 0.3
	case o.Gray < 0:
		o.Gray = 0
	}
	if o.Hidden == 0 {
		o.Hidden = 256
	}
	return o
}

// Validate checks the grid and the permutation count.
func (o Jigsaw) Validate() error {
	o = o.filled()
	n := o.Rows * o.Cols
	switch {
	case o.Rows < 1 || o.Cols < 1 || n < 2 || n > 9:
		return fmt.Errorf("%w: jigsaw grid %dx%d (want 2 to 9 cells)", ErrTrainConfig, o.Rows, o.Cols)
	case o.Permutations < 2 || o.Permutations > min(factorial(n), 1000):
		return fmt.Errorf("%w: jigsaw %d permutations of %d tiles (want 2..%d)", ErrTrainConfig, o.Permutations, n, min(factorial(n), 1000))
	case !(o.TileFrac >= 0.3 && o.TileFrac <= 1):
		return fmt.Errorf("%w: jigsaw tile fraction %v (want 0.3..1)", ErrTrainConfig, o.TileFrac)
	case o.ChannelShift > 8 || !(o.Gray <= 1) || o.Hidden < 0:
		return fmt.Errorf("%w: jigsaw channel shift %d, grey %v, hidden %d", ErrTrainConfig, o.ChannelShift, o.Gray, o.Hidden)
	}
	return nil
}

func factorial(n int) int {
	f := 1
	for i := 2; i <= n; i++ {
		f *= i
	}
	return f
}

// Name is "pretrain/jigsaw".
func (Jigsaw) Name() string { return "pretrain/" + MethodJigsaw }

// Needs only the frame.
func (Jigsaw) Needs() Needs { return Needs{} }

// Trains the encoder and the classifier.
func (o Jigsaw) Trains(cfg perception.ModelConfig) ([]string, error) {
	return pretextTrains(o, cfg, NetJigsaw)
}

// Heads is the permutation classifier on the tiles' concatenated pooled
// features.
func (o Jigsaw) Heads(size string) (map[string]perception.NetConfig, error) {
	o = o.filled()
	wd, err := encoderWidths(size)
	if err != nil {
		return nil, err
	}
	return map[string]perception.NetConfig{NetJigsaw: perception.ClassifierConfig{
		In: o.Rows * o.Cols * int(wd[4]), Hidden: o.Hidden, Classes: o.Permutations}}, nil
}

// tileSize is the size tiles are resampled to for the encoder: the cell's
// size rounded down to a multiple of 32, at least 32.
func tileSize(cell int) int { return max(32, cell/32*32) }

// Loss is the permutation cross-entropy.
func (o Jigsaw) Loss(s *perception.Scope, m *perception.Model, b *Batch) (Loss, error) {
	o = o.filled()
	e, err := pretextEncoder(m)
	if err != nil {
		return Loss{}, err
	}
	n := o.Rows * o.Cols
	perms := jigsawPermutations(n, o.Permutations)
	W, H := float64(b.Width), float64(b.Height)
	cw, ch := W/float64(o.Cols), H/float64(o.Rows)
	tw, th := tileSize(int(cw)), tileSize(int(ch))
	tcw, tch := o.TileFrac*cw, o.TileFrac*ch // a tile's extent in frame pixels
	rng := stepRNG(o.Seed, b, 5)
	nt := b.Size * n
	grids := [3][]float32{}
	for c := range grids {
		grids[c] = make([]float32, 0, nt*tw*th*2)
	}
	gray := make([]float32, 0, 9*nt)
	labels := make([]int, b.Size)
	for i := range b.Size {
		p := rng.IntN(len(perms))
		labels[i] = p
		for slot := range n {
			cell := perms[p][slot]
			x0 := float64(cell%o.Cols)*cw + rng.Float64()*(cw-tcw)
			y0 := float64(cell/o.Cols)*ch + rng.Float64()*(ch-tch)
			for c := range 3 {
				dx, dy := 0, 0
				if o.ChannelShift > 0 {
					dx, dy = rng.IntN(2*o.ChannelShift+1)-o.ChannelShift, rng.IntN(2*o.ChannelShift+1)-o.ChannelShift
				}
				for v := range th {
					sy := y0 + float64(dy) + (float64(v)+0.5)*tch/float64(th)
					for u := range tw {
						sx := x0 + float64(dx) + (float64(u)+0.5)*tcw/float64(tw)
						grids[c] = append(grids[c], float32(2*sx/W-1), float32(2*sy/H-1))
					}
				}
			}
			g := rng.Float64() < o.Gray
			for r := range 3 {
				for c := range 3 {
					v := float32(0)
					switch {
					case g:
						v = lumaWeights[c]
					case r == c:
						v = 1
					}
					gray = append(gray, v)
				}
			}
		}
	}
	dev := m.Device()
	bs, nn := int64(b.Size), int64(n)
	// Each tile samples the whole frame through its own grid: the frame
	// repeated per tile, one channel at a time (its own shift).
	chans := make([]ts.Tensor, 0, 3)
	for c := range int64(3) {
		xc := s.Do(func() (*ts.Tensor, error) { return b.Target.Narrow(1, c, 1, false) })
		xc = s.Do(func() (*ts.Tensor, error) { return xc.Unsqueeze(1, false) })
		xc = s.Do(func() (*ts.Tensor, error) {
			return xc.Expand([]int64{bs, nn, 1, int64(b.Height), int64(b.Width)}, false, false)
		})
		xc = s.Do(func() (*ts.Tensor, error) {
			return xc.Reshape([]int64{bs * nn, 1, int64(b.Height), int64(b.Width)}, false)
		})
		gt := s.Do(func() (*ts.Tensor, error) {
			return perception.FloatTensor(grids[c], []int64{bs * nn, int64(th), int64(tw), 2}, dev)
		})
		tc := s.Do(func() (*ts.Tensor, error) { return ts.GridSampler(xc, gt, gridBilinear, gridBorder, false) })
		if s.Err() != nil {
			return Loss{}, s.Err()
		}
		chans = append(chans, *tc)
	}
	tiles := s.Do(func() (*ts.Tensor, error) { return ts.Cat(chans, 1) })
	gm := s.Do(func() (*ts.Tensor, error) { return perception.FloatTensor(gray, []int64{bs * nn, 3, 3}, dev) })
	tiles = s.Do(func() (*ts.Tensor, error) { return tiles.View([]int64{bs * nn, 3, int64(th * tw)}, false) })
	tiles = s.Do(func() (*ts.Tensor, error) { return gm.Bmm(tiles, false) })
	// Per-tile normalisation, then back to the encoder's input scale: the
	// encoder maps 0.45 + 0.225 z to z exactly.
	mean := s.Do(func() (*ts.Tensor, error) { return tiles.MeanDim([]int64{1, 2}, true, gotch.Float, false) })
	cen := s.Do(func() (*ts.Tensor, error) { return tiles.Sub(mean, false) })
	vr := s.Do(func() (*ts.Tensor, error) { return cen.Square(false) })
	vr = s.Do(func() (*ts.Tensor, error) { return vr.MeanDim([]int64{1, 2}, true, gotch.Float, false) })
	vr = s.Do(func() (*ts.Tensor, error) { return vr.AddScalar(s.Scalar(1e-4), false) })
	sd := s.Do(func() (*ts.Tensor, error) { return vr.Sqrt(false) })
	z := s.Do(func() (*ts.Tensor, error) { return cen.Div(sd, false) })
	z = s.Do(func() (*ts.Tensor, error) { return z.MulScalar(s.Scalar(0.225), false) })
	z = s.Do(func() (*ts.Tensor, error) { return z.AddScalar(s.Scalar(0.45), false) })
	z = s.Do(func() (*ts.Tensor, error) { return z.View([]int64{bs * nn, 3, int64(th), int64(tw)}, false) })
	f := pooled(s, e, z)
	f = s.Do(func() (*ts.Tensor, error) { return f.Reshape([]int64{bs, -1}, false) })
	logits := mlp(s, m, NetJigsaw, f)
	l := crossEntropy(s, logits, labels)
	return Loss{Total: l, Terms: []Term{{TermJigsaw, l}}}, s.Err()
}

var (
	jigsawPermsMu sync.Mutex
	jigsawPerms   = map[[2]int][][]int{}
)

// jigsawPermutations returns count permutations of n tiles chosen
// greedily for the largest minimal Hamming distance: the first at random
// (a fixed seed), then each next the permutation farthest from all chosen
// (ties to the first in lexicographic order). Cached.
func jigsawPermutations(n, count int) [][]int {
	jigsawPermsMu.Lock()
	defer jigsawPermsMu.Unlock()
	key := [2]int{n, count}
	if p, ok := jigsawPerms[key]; ok {
		return p
	}
	var all [][]int8
	var gen func(cur []int8, used int)
	gen = func(cur []int8, used int) {
		if len(cur) == n {
			all = append(all, append([]int8(nil), cur...))
			return
		}
		for i := range n {
			if used&(1<<i) == 0 {
				gen(append(cur, int8(i)), used|1<<i)
			}
		}
	}
	gen(nil, 0)
	rng := rand.New(rand.NewPCG(0x6a696773, 0x617721))
	first := rng.IntN(len(all))
	minD := make([]int, len(all))
	for i := range minD {
		minD[i] = math.MaxInt
	}
	chosen := []int{first}
	for len(chosen) < count {
		last := all[chosen[len(chosen)-1]]
		best, bestD := -1, -1
		for i, p := range all {
			d := 0
			for j := range p {
				if p[j] != last[j] {
					d++
				}
			}
			if d < minD[i] {
				minD[i] = d
			}
			if minD[i] > bestD {
				best, bestD = i, minD[i]
			}
		}
		chosen = append(chosen, best)
	}
	out := make([][]int, len(chosen))
	for i, c := range chosen {
		out[i] = make([]int, n)
		for j, v := range all[c] {
			out[i][j] = int(v)
		}
	}
	jigsawPerms[key] = out
	return out
}
