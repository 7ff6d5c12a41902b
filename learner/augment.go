package learner

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// Augment is the view generator of the contrastive methods (SimCLR's
// augmentations, on tensors, batched): a random resized crop, an optional
// horizontal mirror, colour jitter (brightness, contrast, saturation, hue),
// random greyscale and Gaussian blur. What the views share is what the
// encoder learns to be invariant to, so only nuisance factors are drawn:
// there is no vertical flip or rotation (gravity fixes where ground and
// sky are, and depth follows from it), the crop keeps the image's aspect
// ratio within MaxAspect (no strong shear of the scene's geometry), and the
// mirror, which keeps every depth valid, can be turned off. Zero fields
// take the documented defaults; a negative one turns that part off.
type Augment struct {
	// MinScale is the smallest crop area as a fraction of the image
	// (SimCLR: 0.08, too small for 64-pixel-high frames). It defaults to
	// 0.3.
	MinScale float64
	// MaxAspect bounds the crop's aspect ratio relative to the image's:
	// within [1/MaxAspect, MaxAspect], log-uniform. It defaults to 4/3.
	MaxAspect float64
	// HFlip is the probability of a left-right mirror. It defaults to 0.5.
	HFlip float64
	// Jitter is the probability of the colour jitter. It defaults to 0.8.
	Jitter float64
	// Brightness, Contrast and Saturation draw factors in [1-x, 1+x]. They
	// default to 0.4.
	Brightness, Contrast, Saturation float64
	// Hue rotates the colours about the grey axis by up to ±Hue turns. It
	// defaults to 0.1.
	Hue float64
	// Gray is the probability of a greyscale view. It defaults to 0.2.
	Gray float64
	// Blur is the probability of a Gaussian blur of sigma in [0.1,
	// MaxSigma] pixels (7 taps). It defaults to 0.5.
	Blur float64
	// MaxSigma is the largest blur sigma in pixels. It defaults to 1.5.
	MaxSigma float64
}

// blurRadius is the half width of the blur kernel (7 taps).
const blurRadius = 3

// libtorch's grid_sample enums.
const (
	gridBilinear = 0
	gridBorder   = 1
)

// filled returns a with defaults in place of zeros and 0 in place of the
// negatives (off).
func (a Augment) filled() Augment {
	def := func(v *float64, d float64) {
		switch {
		case *v == 0:
			*v = d
		case *v < 0:
			*v = 0
		}
	}
	def(&a.MinScale, 0.3)
	def(&a.MaxAspect, 4.0/3)
	def(&a.HFlip, 0.5)
	def(&a.Jitter, 0.8)
	def(&a.Brightness, 0.4)
	def(&a.Contrast, 0.4)
	def(&a.Saturation, 0.4)
	def(&a.Hue, 0.1)
	def(&a.Gray, 0.2)
	def(&a.Blur, 0.5)
	def(&a.MaxSigma, 1.5)
	if a.MaxAspect < 1 {
		a.MaxAspect = 1
	}
	return a
}

// Validate checks the ranges: probabilities in [0,1], MinScale in
// (0,1], factors below 1, MaxSigma at most 3 (the kernel's reach).
func (a Augment) Validate() error {
	f := a.filled()
	for _, p := range []float64{f.HFlip, f.Jitter, f.Gray, f.Blur} {
		if !(p >= 0 && p <= 1) {
			return fmt.Errorf("%w: augment probability %v (want 0..1)", ErrTrainConfig, p)
		}
	}
	switch {
	case !(f.MinScale > 0 && f.MinScale <= 1):
		return fmt.Errorf("%w: augment min scale %v (want 0 < s <= 1)", ErrTrainConfig, f.MinScale)
	case !(f.MaxAspect >= 1 && f.MaxAspect <= 4):
		return fmt.Errorf("%w: augment max aspect %v (want 1..4)", ErrTrainConfig, f.MaxAspect)
	case !(f.Brightness < 1 && f.Contrast < 1 && f.Saturation < 1 && f.Hue <= 0.5):
		return fmt.Errorf("%w: augment jitter %v/%v/%v/%v (want factors below 1, hue at most 0.5)", ErrTrainConfig, f.Brightness, f.Contrast, f.Saturation, f.Hue)
	case !(f.MaxSigma > 0 && f.MaxSigma <= 3):
		return fmt.Errorf("%w: augment blur sigma %v (want 0 < sigma <= 3)", ErrTrainConfig, f.MaxSigma)
	}
	return nil
}

// ViewGeom is the crop of one view: view pixel at normalised coordinates
// (gx, gy) in [-1,1] (grid_sample's, align_corners false) shows the source
// point (Cx + Sx*gx, Cy + Sy*gy); Sx < 0 is a mirrored view.
type ViewGeom struct {
	Cx, Cy, Sx, Sy float64
}

// ToView maps a source point (normalised coordinates) into the view's.
func (g ViewGeom) ToView(x, y float64) (float64, float64) {
	return (x - g.Cx) / g.Sx, (y - g.Cy) / g.Sy
}

// Box returns the source region the view shows, in normalised
// coordinates.
func (g ViewGeom) Box() (x0, y0, x1, y1 float64) {
	return g.Cx - math.Abs(g.Sx), g.Cy - math.Abs(g.Sy), g.Cx + math.Abs(g.Sx), g.Cy + math.Abs(g.Sy)
}

// DrawGeom draws one view's crop and mirror.
func (a Augment) DrawGeom(rng *rand.Rand) ViewGeom {
	f := a.filled()
	area := f.MinScale + (1-f.MinScale)*rng.Float64()
	la := math.Log(f.MaxAspect)
	r := math.Exp((2*rng.Float64() - 1) * la)
	sx := math.Min(math.Sqrt(area*r), 1)
	sy := math.Min(math.Sqrt(area/r), 1)
	g := ViewGeom{Sx: sx, Sy: sy, Cx: (1 - sx) * (2*rng.Float64() - 1), Cy: (1 - sy) * (2*rng.Float64() - 1)}
	if rng.Float64() < f.HFlip {
		g.Sx = -g.Sx
	}
	return g
}

// Apply renders one augmented view of each image of x [B,3,H,W] in [0,1]:
// the crops geoms (one per image, from DrawGeom; bilinear, border
// padding), then colour jitter, greyscale and blur drawn from rng. The
// result belongs to s.
func (a Augment) Apply(s *perception.Scope, x *ts.Tensor, geoms []ViewGeom, rng *rand.Rand) *ts.Tensor {
	if s.Err() != nil {
		return nil
	}
	sz, err := shape4("Augment", "x", x)
	if err != nil || sz[1] != 3 || int64(len(geoms)) != sz[0] {
		if err == nil {
			err = fmt.Errorf("%w: Augment: x %v with %d crops (want [B,3,H,W], B crops)", ErrLossInput, sz, len(geoms))
		}
		s.Fail(err)
		return nil
	}
	dev, err := x.Device()
	if err != nil {
		s.Fail(err)
		return nil
	}
	f := a.filled()
	b, h, w := int(sz[0]), int(sz[2]), int(sz[3])
	grid := make([]float32, b*h*w*2)
	for i, g := range geoms {
		o := i * h * w * 2
		for y := range h {
			gy := float32(g.Cy + g.Sy*(2*(float64(y)+0.5)/float64(h)-1))
			for xx := range w {
				grid[o] = float32(g.Cx + g.Sx*(2*(float64(xx)+0.5)/float64(w)-1))
				grid[o+1] = gy
				o += 2
			}
		}
	}
	gt := s.Do(func() (*ts.Tensor, error) {
		return perception.FloatTensor(grid, []int64{int64(b), int64(h), int64(w), 2}, dev)
	})
	v := s.Do(func() (*ts.Tensor, error) { return ts.GridSampler(x, gt, gridBilinear, gridBorder, false) })

	// Colour: per image x' = A x + k * mean grey(x), clamped (see colour).
	mats := make([]float32, 0, 9*b)
	ks := make([]float32, 0, b)
	blur := make([]float64, b)
	anyBlur := false
	for i := range b {
		m, k := f.colour(rng)
		mats = append(mats, m[:]...)
		ks = append(ks, float32(k))
		if rng.Float64() < f.Blur {
			blur[i] = 0.1 + (f.MaxSigma-0.1)*rng.Float64()
			anyBlur = true
		}
	}
	at := s.Do(func() (*ts.Tensor, error) { return perception.FloatTensor(mats, []int64{int64(b), 3, 3}, dev) })
	kt := s.Do(func() (*ts.Tensor, error) { return perception.FloatTensor(ks, []int64{int64(b), 1, 1}, dev) })
	lum := s.Do(func() (*ts.Tensor, error) { return perception.FloatTensor(lumaWeights[:], []int64{3, 1}, dev) })
	mean := s.Do(func() (*ts.Tensor, error) { return v.MeanDim([]int64{2, 3}, false, gotch.Float, false) })
	gm := s.Do(func() (*ts.Tensor, error) { return mean.Mm(lum, false) })
	gm = s.Do(func() (*ts.Tensor, error) { return gm.View([]int64{int64(b), 1, 1}, false) })
	off := s.Do(func() (*ts.Tensor, error) { return gm.Mul(kt, false) })
	flat := s.Do(func() (*ts.Tensor, error) { return v.View([]int64{int64(b), 3, int64(h * w)}, false) })
	c := s.Do(func() (*ts.Tensor, error) { return at.Bmm(flat, false) })
	c = s.Do(func() (*ts.Tensor, error) { return c.Add(off, false) })
	c = s.Do(func() (*ts.Tensor, error) { return c.Clamp(s.Scalar(0), s.Scalar(1), false) })
	out := s.Do(func() (*ts.Tensor, error) { return c.View([]int64{int64(b), 3, int64(h), int64(w)}, false) })
	if anyBlur {
		out = gaussianBlur(s, out, blur, dev)
	}
	return out
}

// lumaWeights are the grey level's weights (ITU-R 601, as torchvision).
var lumaWeights = [3]float32{0.299, 0.587, 0.114}

// colour draws one image's colour transform, x' = M x + k*g with g the
// image's mean grey level: with probability Jitter brightness b (x*b),
// contrast c (a blend with the mean grey: c*x + (1-c)*g, after the
// brightness), saturation s (a blend with the pixel's grey) and a hue
// rotation about the grey axis, in that fixed order (torchvision draws
// the order; every one is linear here, so they fold into one 3x3 matrix
// and an offset); then greyscale with probability Gray.
func (a Augment) colour(rng *rand.Rand) (m [9]float32, k float64) {
	id := [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	mat := id
	if rng.Float64() < a.Jitter {
		factor := func(x float64) float64 { return 1 + x*(2*rng.Float64()-1) }
		b, c, sat := factor(a.Brightness), factor(a.Contrast), factor(a.Saturation)
		th := 2 * math.Pi * a.Hue * (2*rng.Float64() - 1)
		// Saturation: s I + (1-s) 1 wᵀ.
		var S [3][3]float64
		for i := range 3 {
			for j := range 3 {
				S[i][j] = (1 - sat) * float64(lumaWeights[j])
				if i == j {
					S[i][j] += sat
				}
			}
		}
		// Hue: rotation by th about u = (1,1,1)/sqrt(3) (Rodrigues).
		u := 1 / math.Sqrt(3)
		cs, sn := math.Cos(th), math.Sin(th)
		ux := [3][3]float64{{0, -u, u}, {u, 0, -u}, {-u, u, 0}}
		var H [3][3]float64
		for i := range 3 {
			for j := range 3 {
				H[i][j] = cs*id[i][j] + sn*ux[i][j] + (1-cs)*u*u
			}
		}
		mat = mul3(H, S)
		for i := range 3 {
			for j := range 3 {
				mat[i][j] *= c * b
			}
		}
		// The contrast's offset (1-c)*b*g on every channel: H S 1 = 1.
		k = (1 - c) * b
	}
	if rng.Float64() < a.Gray {
		var G [3][3]float64
		for i := range 3 {
			for j := range 3 {
				G[i][j] = float64(lumaWeights[j])
			}
		}
		mat = mul3(G, mat) // G 1 = 1: the offset stays
	}
	for i := range 3 {
		for j := range 3 {
			m[3*i+j] = float32(mat[i][j])
		}
	}
	return m, k
}

func mul3(a, b [3][3]float64) (c [3][3]float64) {
	for i := range 3 {
		for j := range 3 {
			for l := range 3 {
				c[i][j] += a[i][l] * b[l][j]
			}
		}
	}
	return c
}

// gaussianBlur blurs image i of x [B,3,H,W] with a separable 7-tap
// Gaussian of sigma[i] pixels (0: unchanged), reflection padding, as one
// grouped convolution per direction.
func gaussianBlur(s *perception.Scope, x *ts.Tensor, sigma []float64, dev gotch.Device) *ts.Tensor {
	if s.Err() != nil {
		return nil
	}
	sz, err := x.Size()
	if err != nil {
		s.Fail(err)
		return nil
	}
	b, h, w := sz[0], sz[2], sz[3]
	const taps = 2*blurRadius + 1
	kern := make([]float32, 0, int(b)*3*taps)
	for _, sg := range sigma {
		var k [taps]float64
		if sg <= 0 {
			k[blurRadius] = 1
		} else {
			var sum float64
			for t := range taps {
				d := float64(t - blurRadius)
				k[t] = math.Exp(-d * d / (2 * sg * sg))
				sum += k[t]
			}
			for t := range k {
				k[t] /= sum
			}
		}
		for range 3 {
			for _, v := range k {
				kern = append(kern, float32(v))
			}
		}
	}
	g := b * 3
	kx := s.Do(func() (*ts.Tensor, error) { return perception.FloatTensor(kern, []int64{g, 1, 1, taps}, dev) })
	ky := s.Do(func() (*ts.Tensor, error) { return perception.FloatTensor(kern, []int64{g, 1, taps, 1}, dev) })
	zb := s.Do(func() (*ts.Tensor, error) { return ts.Zeros([]int64{g}, gotch.Float, dev) })
	y := s.Do(func() (*ts.Tensor, error) { return x.View([]int64{1, g, h, w}, false) })
	y = s.Do(func() (*ts.Tensor, error) { return y.ReflectionPad2d([]int64{blurRadius, blurRadius, 0, 0}, false) })
	y = s.Do(func() (*ts.Tensor, error) {
		return ts.Conv2d(y, kx, zb, []int64{1, 1}, []int64{0, 0}, []int64{1, 1}, g)
	})
	y = s.Do(func() (*ts.Tensor, error) { return y.ReflectionPad2d([]int64{0, 0, blurRadius, blurRadius}, false) })
	y = s.Do(func() (*ts.Tensor, error) {
		return ts.Conv2d(y, ky, zb, []int64{1, 1}, []int64{0, 0}, []int64{1, 1}, g)
	})
	return s.Do(func() (*ts.Tensor, error) { return y.View([]int64{b, 3, h, w}, false) })
}
