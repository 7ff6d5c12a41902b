package calibration

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/parallax-robotics/parallax/msgs"
)

// GroundConfig tunes GroundScale. The zero value, with CameraHeight set,
// takes the documented defaults.
type GroundConfig struct {
	// CameraHeight is the height of the camera's optical centre above the
	// ground in metres. It is required (> 0).
	CameraHeight float64
	// Up is the expected up direction (the ground's normal) in the camera
	// frame. It defaults to (0, -1, 0): a level camera, y down.
	Up [3]float64
	// MaxTilt is the largest angle in degrees between Up and the fitted
	// ground's normal (the camera's pitch and roll, and the slope of the
	// ground). It defaults to 20.
	MaxTilt float64
	// MinGround is the smallest share of the sampled pixels that must lie
	// on the fitted plane for a scale. It defaults to 0.05.
	MinGround float64
	// Samples is about how many pixels are sampled (a regular grid). It
	// defaults to 4000.
	Samples int
	// Iterations is the number of RANSAC draws. It defaults to 200.
	Iterations int
}

func (c GroundConfig) withDefaults() GroundConfig {
	if c.Up == ([3]float64{}) {
		c.Up = vec3{0, -1, 0}
	}
	if c.MaxTilt == 0 {
		c.MaxTilt = 20
	}
	if c.MinGround == 0 {
		c.MinGround = 0.05
	}
	if c.Samples == 0 {
		c.Samples = 4000
	}
	if c.Iterations == 0 {
		c.Iterations = 200
	}
	return c
}

// Ground is what GroundScale found.
type Ground struct {
	// OK reports a scale; when false, Reason says why (too little ground,
	// no plane below the camera) and the depth stays relative.
	OK     bool
	Reason string
	// Scale turns the depth into metres: metric = Scale * depth.
	Scale float64
	// Height is the camera's height above the fitted plane in the depth
	// map's units: the median |p·n| of the plane's points.
	Height float64
	// Normal is the plane's unit normal, pointing up, in the camera frame.
	Normal [3]float64
	// Share is the share of the sampled pixels with a valid depth that lie
	// on the plane.
	Share float64
}

// GroundScale recovers the metric scale of a depth map known up to scale
// (a monocular network's) from the camera's height above the ground:
// back-project a grid of pixels through k (msgs convention), keep those
// whose local surface normal is within MaxTilt of Up, fit a plane to them
// with RANSAC (inliers within 4% of the height plus 1% of the depth), refit
// it by least squares on the inliers, and take the height as the median
// |p·n| of the inliers; Scale = CameraHeight / Height. It is
// deterministic. depth is row-major k.Width x k.Height, 0 or NaN where
// unknown.
func GroundScale(depth []float32, k msgs.Intrinsics, cfg GroundConfig) (Ground, error) {
	if len(depth) != k.Width*k.Height || k.Width < 2 || k.Height < 2 {
		return Ground{}, fmt.Errorf("%w: a %d-value depth map for %dx%d intrinsics", ErrSize, len(depth), k.Width, k.Height)
	}
	if !(cfg.CameraHeight > 0) || !finite(cfg.CameraHeight) {
		return Ground{}, fmt.Errorf("%w: camera height %g m", ErrInvalid, cfg.CameraHeight)
	}
	if !(k.Fx > 0) || !(k.Fy > 0) {
		return Ground{}, fmt.Errorf("%w: focal lengths %g, %g", ErrInvalid, k.Fx, k.Fy)
	}
	cfg = cfg.withDefaults()
	up := normalize(cfg.Up)
	cosTilt := math.Cos(cfg.MaxTilt * math.Pi / 180)
	stride := max(1, int(math.Sqrt(float64(k.Width*k.Height)/float64(cfg.Samples))))
	at := func(i, j int) (vec3, bool) {
		d := float64(depth[j*k.Width+i])
		if !(d > 0) || math.IsInf(d, 0) {
			return vec3{}, false
		}
		return vec3{(float64(i) + msgs.PixelCentre - k.Cx) / k.Fx * d, (float64(j) + msgs.PixelCentre - k.Cy) / k.Fy * d, d}, true
	}
	var pts []vec3 // candidates: locally level
	valid := 0
	for j := 0; j+stride < k.Height; j += stride {
		for i := 0; i+stride < k.Width; i += stride {
			p, ok := at(i, j)
			if !ok {
				continue
			}
			valid++
			pr, ok1 := at(i+stride, j)
			pd, ok2 := at(i, j+stride)
			if !ok1 || !ok2 {
				continue
			}
			n := normalize(cross(sub(pr, p), sub(pd, p)))
			if math.Abs(dot(n, up)) >= cosTilt {
				pts = append(pts, p)
			}
		}
	}
	g := Ground{}
	if valid == 0 {
		g.Reason = "no valid depth"
		return g, nil
	}
	minPts := int(math.Ceil(cfg.MinGround * float64(valid)))
	if len(pts) < max(minPts, 10) {
		g.Reason = fmt.Sprintf("too little level surface: %.1f%% of the image, want %.1f%%", 100*float64(len(pts))/float64(valid), 100*cfg.MinGround)
		g.Share = float64(len(pts)) / float64(valid)
		return g, nil
	}
	// A point is on the plane within 4% of the height plus 1% of its depth
	// (depth errors grow with depth); the refinement tightens that while
	// the plane keeps most of its points, so low level surfaces far away
	// (tops of walls and crates) stop pulling the fit.
	tol := 1.0
	inlier := func(n vec3, h float64, p vec3) bool {
		return math.Abs(dot(n, p)+h) < tol*(0.04*h+0.01*p[2])
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var bestN vec3
	bestH, best := 0.0, 0
	for it := 0; it < cfg.Iterations; it++ {
		a, b, c := pts[rng.IntN(len(pts))], pts[rng.IntN(len(pts))], pts[rng.IntN(len(pts))]
		n := cross(sub(b, a), sub(c, a))
		if norm(n) < 1e-12 {
			continue
		}
		n = normalize(n)
		if dot(n, up) < 0 {
			n = vec3{-n[0], -n[1], -n[2]}
		}
		if dot(n, up) < cosTilt {
			continue
		}
		h := -dot(n, a) // the camera's height: n·p = -h on the plane
		if !(h > 0) {
			continue // a plane above the camera (a ceiling)
		}
		cnt := 0
		for _, p := range pts {
			if inlier(n, h, p) {
				cnt++
			}
		}
		if cnt > best {
			best, bestN, bestH = cnt, n, h
		}
	}
	if best < max(minPts, 10) {
		g.Reason = fmt.Sprintf("no ground plane below the camera: the best holds %.1f%% of the image, want %.1f%%", 100*float64(best)/float64(valid), 100*cfg.MinGround)
		g.Share = float64(best) / float64(valid)
		return g, nil
	}
	n, h := bestN, bestH
	var in []vec3
	for round := 0; round < 6; round++ {
		var next []vec3
		for _, p := range pts {
			if inlier(n, h, p) {
				next = append(next, p)
			}
		}
		if len(next) < 3 || (in != nil && len(next) < len(in)*6/10) {
			break // tighter than the depth's noise: keep the last plane
		}
		nn, hh, ok := fitPlane(next, up)
		if !ok || dot(nn, up) < cosTilt || !(hh > 0) {
			break
		}
		n, h, in = nn, hh, next
		if round >= 1 {
			tol /= 2
		}
	}
	if len(in) < max(minPts, 10) {
		g.Reason = fmt.Sprintf("the ground plane holds %.1f%% of the image, want %.1f%%", 100*float64(len(in))/float64(valid), 100*cfg.MinGround)
		return g, nil
	}
	heights := make([]float64, len(in))
	for i, p := range in {
		heights[i] = math.Abs(dot(p, n))
	}
	slices.Sort(heights)
	med := heights[len(heights)/2]
	if len(heights)%2 == 0 {
		med = (heights[len(heights)/2-1] + heights[len(heights)/2]) / 2
	}
	return Ground{OK: true, Scale: cfg.CameraHeight / med, Height: med, Normal: n, Share: float64(len(in)) / float64(valid)}, nil
}

// fitPlane fits n·p + h = 0 by least squares (the normal is the covariance's
// smallest eigenvector), n oriented along up.
func fitPlane(pts []vec3, up vec3) (n vec3, h float64, ok bool) {
	var c vec3
	for _, p := range pts {
		c = add(c, p)
	}
	inv := 1 / float64(len(pts))
	c = vec3{c[0] * inv, c[1] * inv, c[2] * inv}
	var cov mat3
	for _, p := range pts {
		d := sub(p, c)
		for i := 0; i < 3; i++ {
			for j := 0; j < 3; j++ {
				cov[i*3+j] += d[i] * d[j]
			}
		}
	}
	_, v := symEigen3(cov)
	n = vec3{v[0], v[3], v[6]}
	if norm(n) < 1e-9 {
		return vec3{}, 0, false
	}
	n = normalize(n)
	if dot(n, up) < 0 {
		n = vec3{-n[0], -n[1], -n[2]}
	}
	return n, -dot(n, c), true
}

func dot(a, b vec3) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func sub(a, b vec3) vec3    { return vec3{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func add(a, b vec3) vec3    { return vec3{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func norm(a vec3) float64   { return math.Sqrt(dot(a, a)) }
func cross(a, b vec3) vec3 {
	return vec3{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
func normalize(a vec3) vec3 {
	l := norm(a)
	if l == 0 {
		return a
	}
	return vec3{a[0] / l, a[1] / l, a[2] / l}
}
