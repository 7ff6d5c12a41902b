package synth

import (
	"math"
	"math/rand/v2"

	"github.com/parallax-robotics/parallax/msgs"
)

// World layout, in metres. The world frame has z up, the ground at z = 0 and
// the centre of the ring road at the origin. The road's centreline is a
// closed curve r = rc(theta) around the origin; the drive goes round it
// counter-clockwise, so the outer side is on the right.
const (
	ringRadius = 50.0 // mean radius of the road centreline
	roadHalf   = 6.0  // half width of the carriageway
	walkEdge   = 9.6  // outer edge of the sidewalks, |v| from the centreline
	facadeGap  = 11.0 // closest facade to the centreline, before setbacks
	lidHeight  = 45.0 // the clouded ceiling that closes the world above
	roadTile   = 12.0 // along-road length of the road texture tile
)

// MaxDepth, in metres, bounds the depth of every pixel for horizontal fields of
// view up to about 100 degrees (the deepest seen in a sweep of seeds,
// paths and densities is about 104 m, a ray grazing the inner facades
// and passing over the outer roofs to the far wall). The world is closed
// (ground, facades, a ring wall and a lid), so no ray escapes.
const MaxDepth = 120.0

// Object kinds.
const (
	kindBox = iota
	kindCylinder
)

// An object is a box (rotated about z) or a vertical cylinder standing on
// the ground. Objects are static today; a moving object would carry a
// velocity here and the renderer would fill msgs.GroundTruth.Motion from the
// object index of each pixel's hit.
type object struct {
	kind   uint8
	mat    uint8
	cx, cy float64 // centre of the footprint
	cosY   float64 // box yaw: the local x axis is (cosY, sinY, 0)
	sinY   float64
	hx, hy float64 // box half extents; cylinder radius in hx
	h      float64 // height
	tint   [3]float32
	uoff   float64 // texture offsets so equal materials differ per object
	voff   float64
	// bounding sphere, for culling
	bx, by, bz, br float64
}

func (o *object) bound() {
	o.bx, o.by, o.bz = o.cx, o.cy, o.h/2
	if o.kind == kindBox {
		o.br = math.Sqrt(o.hx*o.hx + o.hy*o.hy + o.h*o.h/4)
	} else {
		o.br = math.Sqrt(o.hx*o.hx + o.h*o.h/4)
	}
}

// World is a procedural, closed street world with a camera rig driving
// through it. It is immutable after NewWorld, so Render may be called from
// several goroutines at once; the one shared state, the frame its live
// cameras last skipped to (pace), has a lock of its own.
type World struct {
	cfg   Config
	pal   palette
	tex   [numMaterials + 1]*texture
	objs  []object
	sun   [3]float64
	amb   float64
	sunC  [3]float64 // sun colour
	intr  msgs.Intrinsics
	lens  *lens     // the lens distortion, nil for an ideal pinhole
	right msgs.Pose // the right camera in the left camera's frame
	camH  float64   // camera height above the ground
	rOut  float64   // radius of the far ring wall
	rCore float64   // radius of the central tower

	// the centreline: rc(theta) = ringRadius + a1 sin(3 theta + p1) + a2 sin(5 theta + p2)
	a1, p1, a2, p2 float64
	uPerRad        float64 // along-road texture coordinate per radian (seamless)
	uOutPerRad     float64 // ring wall texture coordinate per radian
	uCorePerRad    float64

	// arc length of the centreline: thetaAt[k] is the angle at length k*arcStep
	thetaAt []float64
	arcStep float64
	length  float64

	// rcTab tabulates rc over [0, 2pi] for shading the ground, where two
	// sines per pixel showed in profiles; linear interpolation is within a
	// tenth of a millimetre.
	rcTab []float64

	s0     float64    // arc length at frame 0
	movers []mover    // moving objects (motion.go), after objs in object ids
	phase  [8]float64 // phases of the path and exposure oscillations
	pace   *pace      // where the realtime cameras of this world skipped to
}

// rc is the centreline radius at angle theta.
func (w *World) rc(theta float64) float64 {
	return ringRadius + w.a1*math.Sin(3*theta+w.p1) + w.a2*math.Sin(5*theta+w.p2)
}

// rcFast is rc by table lookup, for theta in [-pi, pi] as atan2 returns.
func (w *World) rcFast(theta float64) float64 {
	if theta < 0 {
		theta += 2 * math.Pi
	}
	n := len(w.rcTab) - 2
	f := theta * float64(n) / (2 * math.Pi)
	k := int(f)
	if k > n {
		k = n
	}
	a := f - float64(k)
	return w.rcTab[k] + (w.rcTab[k+1]-w.rcTab[k])*a
}

// NewWorld validates cfg, fills its defaults and builds the world: textures,
// layout and path. It takes a few tens of milliseconds.
func NewWorld(cfg Config) (*World, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	w := &World{cfg: cfg, pal: palettes[cfg.Style], pace: &pace{}}
	// Separate streams for layout and textures so that changing Density
	// keeps the textures and the drive of a seed.
	seed := uint64(cfg.Seed)
	rngPath := rand.New(rand.NewPCG(seed, 0x9a7f))
	rngTex := rand.New(rand.NewPCG(seed, 0x7e57))
	rngLay := rand.New(rand.NewPCG(seed, 0x1a90))

	w.intr = msgs.Intrinsics{Width: cfg.Width, Height: cfg.Height, Fx: cfg.Fx, Fy: cfg.Fy, Cx: cfg.Cx, Cy: cfg.Cy}
	if cfg.Distorted() {
		var err error
		if w.lens, err = newLens(cfg, w.intr); err != nil {
			return nil, err
		}
	}
	w.right = rightInLeft(cfg)
	w.camH = 1.65
	if cfg.Path == PathRobot {
		w.camH = 0.6
	}

	// Lighting.
	el := cfg.SunElevation
	if el == 0 {
		el = w.pal.sunElevLo + (w.pal.sunElevHi-w.pal.sunElevLo)*rngPath.Float64()
	}
	az := cfg.SunAzimuth
	if az == 0 {
		az = 360 * rngPath.Float64()
	}
	elr, azr := el*math.Pi/180, az*math.Pi/180
	w.sun = [3]float64{math.Cos(elr) * math.Cos(azr), math.Cos(elr) * math.Sin(azr), math.Sin(elr)}
	w.amb = cfg.Ambient
	if w.amb == 0 {
		w.amb = w.pal.ambient
	}
	w.sunC = [3]float64{1 + w.pal.sunWarm, 1, 1 - w.pal.sunWarm}

	// Centreline and its arc-length table.
	w.a1 = 1.5 + 1.0*rngPath.Float64()
	w.a2 = 0.2 + 0.3*rngPath.Float64()
	w.p1 = 2 * math.Pi * rngPath.Float64()
	w.p2 = 2 * math.Pi * rngPath.Float64()
	for i := range w.phase {
		w.phase[i] = 2 * math.Pi * rngPath.Float64()
	}
	const n = 8192
	w.rcTab = make([]float64, n+2)
	for k := range w.rcTab {
		w.rcTab[k] = w.rc(2 * math.Pi * float64(k) / n)
	}
	cum := make([]float64, n+1)
	px, py := w.rc(0), 0.0
	for k := 1; k <= n; k++ {
		th := 2 * math.Pi * float64(k) / n
		r := w.rc(th)
		x, y := r*math.Cos(th), r*math.Sin(th)
		cum[k] = cum[k-1] + math.Hypot(x-px, y-py)
		px, py = x, y
	}
	w.length = cum[n]
	w.arcStep = 0.05
	m := int(w.length/w.arcStep) + 2
	w.thetaAt = make([]float64, m)
	j := 0
	for k := range w.thetaAt {
		s := float64(k) * w.arcStep
		for j < n-1 && cum[j+1] < s {
			j++
		}
		f := (s - cum[j]) / (cum[j+1] - cum[j])
		w.thetaAt[k] = 2 * math.Pi * (float64(j) + f) / n
	}
	w.s0 = w.length * rngPath.Float64()
	w.uPerRad = 24 * math.Round(2*math.Pi*ringRadius/24) / (2 * math.Pi)

	w.tex = makeTextures(rngTex, w.pal)
	w.layout(rngLay)
	w.placeMovers(rand.New(rand.NewPCG(seed, 0x30fe)))
	w.uOutPerRad = 48 * math.Max(1, math.Round(2*math.Pi*w.rOut/48)) / (2 * math.Pi)
	w.uCorePerRad = 12 * math.Max(1, math.Round(2*math.Pi*w.rCore/12)) / (2 * math.Pi)
	return w, nil
}

// Config returns the config with its defaults filled in.
func (w *World) Config() Config { return w.cfg }

// Intrinsics returns the pinhole model shared by both views.
func (w *World) Intrinsics() msgs.Intrinsics { return w.intr }

// Length returns the length of one lap of the road centreline in metres;
// the drive repeats after Length/Speed seconds, with a different lane offset.
func (w *World) Length() float64 { return w.length }

func tintOf(rng *rand.Rand, amount float64) [3]float32 {
	base := 1 + amount*(rng.Float64()*2-1)
	var t [3]float32
	for k := range t {
		t[k] = float32(base * (1 + amount/2*(rng.Float64()*2-1)))
	}
	return t
}

// layout places the buildings on both sides of the road, the far ring wall,
// the central tower and the street furniture on the sidewalks.
func (w *World) layout(rng *rand.Rand) {
	amax := w.a1 + w.a2
	w.rCore = ringRadius - amax - facadeGap - 12
	rcRange := func(a, b float64) (lo, hi float64) {
		lo, hi = math.Inf(1), math.Inf(-1)
		for k := 0; k <= 16; k++ {
			r := w.rc(a + (b-a)*float64(k)/16)
			lo, hi = math.Min(lo, r), math.Max(hi, r)
		}
		return lo, hi
	}
	house := func(th0, th1, front, depth, height float64, outer bool) object {
		mid := (th0 + th1) / 2
		half := (th1 - th0) / 2
		hw := front * math.Tan(half) * 1.03
		rc := front + depth/2
		if !outer {
			rc = front - depth/2
		}
		o := object{kind: kindBox, cx: rc * math.Cos(mid), cy: rc * math.Sin(mid),
			cosY: math.Cos(mid), sinY: math.Sin(mid), hx: depth / 2, hy: hw, h: height,
			tint: tintOf(rng, 0.12), uoff: 6 * rng.Float64(), voff: 0}
		switch x := rng.Float64(); {
		case x < 0.4:
			o.mat = matBrick
		case x < 0.7:
			o.mat = matPlaster
		default:
			o.mat = matPlaster2
		}
		o.bound()
		return o
	}
	// Inner ring: contiguous, so the view across the ring is always blocked.
	nIn := int(math.Max(6, math.Round(2*math.Pi*(ringRadius-facadeGap)/11)))
	for i := 0; i < nIn; i++ {
		th0 := 2 * math.Pi * float64(i) / float64(nIn)
		th1 := 2 * math.Pi * float64(i+1) / float64(nIn)
		lo, _ := rcRange(th0, th1)
		front := (lo - facadeGap - 1.5*rng.Float64()) * math.Cos((th1-th0)/2)
		depth := front - w.rCore + 1
		w.objs = append(w.objs, house(th0, th1, front, depth, 16+16*rng.Float64(), false))
	}
	// Outer ring: some plots are courtyards, a lower house set back by 4 m,
	// so the facade line has recesses but no see-through gaps (which would
	// open sight lines to the far wall beyond MaxDepth).
	nOut := int(math.Round(2 * math.Pi * (ringRadius + facadeGap) / 13))
	w.rOut = 0
	for i := 0; i < nOut; i++ {
		th0 := 2 * math.Pi * float64(i) / float64(nOut)
		th1 := 2 * math.Pi * float64(i+1) / float64(nOut)
		_, hi := rcRange(th0, th1)
		front := hi + facadeGap + 2*rng.Float64()
		depth := 6 + 3*rng.Float64()
		height := 12 + 18*rng.Float64()
		if rng.Float64() < math.Min(0.3, 0.12*w.cfg.Density) {
			front += 4
			depth = 3
			height = 10 + 6*rng.Float64()
		}
		o := house(th0, th1, front, depth, height, true)
		w.objs = append(w.objs, o)
		w.rOut = math.Max(w.rOut, math.Hypot(front+depth, o.hy))
	}
	w.rOut += 2
	// Street furniture on both sidewalks, never on the carriageway.
	for side := -1; side <= 1; side += 2 {
		s := 3 * rng.Float64()
		for {
			s += (6 + 8*rng.Float64()) / w.cfg.Density
			if s >= w.length-1 {
				break
			}
			th := w.thetaAtArc(s)
			kind := rng.Float64()
			var o object
			switch {
			case kind < 0.35: // lamp post / pole
				v := 7.0 + 1.5*rng.Float64()
				r := w.rc(th) + float64(side)*v
				o = object{kind: kindCylinder, mat: matPole, cx: r * math.Cos(th), cy: r * math.Sin(th),
					hx: 0.08 + 0.06*rng.Float64(), h: 4 + 4*rng.Float64(), tint: tintOf(rng, 0.1)}
			case kind < 0.65: // bollard
				v := 6.7 + 0.5*rng.Float64()
				r := w.rc(th) + float64(side)*v
				o = object{kind: kindCylinder, mat: matBollard, cx: r * math.Cos(th), cy: r * math.Sin(th),
					hx: 0.12 + 0.06*rng.Float64(), h: 0.8 + 0.4*rng.Float64(), tint: tintOf(rng, 0.08)}
			default: // crate or cabinet
				size := 0.5 + 0.7*rng.Float64()
				v := 7.6 + 1.2*rng.Float64()
				r := w.rc(th) + float64(side)*v
				yaw := th + 0.6*(rng.Float64()-0.5)
				o = object{kind: kindBox, mat: matCrate, cx: r * math.Cos(th), cy: r * math.Sin(th),
					cosY: math.Cos(yaw), sinY: math.Sin(yaw), hx: size / 2, hy: size / 2 * (0.8 + 0.6*rng.Float64()),
					h: size * (0.7 + 0.8*rng.Float64()), tint: tintOf(rng, 0.15)}
			}
			o.uoff, o.voff = rng.Float64(), rng.Float64()
			o.bound()
			w.objs = append(w.objs, o)
		}
	}
}

// thetaAtArc returns the centreline angle at arc length s (any real s: the
// road is a closed loop).
func (w *World) thetaAtArc(s float64) float64 {
	s = math.Mod(s, w.length)
	if s < 0 {
		s += w.length
	}
	f := s / w.arcStep
	k := int(f)
	if k >= len(w.thetaAt)-1 {
		k = len(w.thetaAt) - 2
	}
	a := f - float64(k)
	return w.thetaAt[k] + (w.thetaAt[k+1]-w.thetaAt[k])*a
}

// offset is the lateral (radial) offset of the camera from the centreline at
// arc length s: positive is outward, the right-hand side of the drive.
func (w *World) offset(s float64) float64 {
	ph := w.phase
	if w.cfg.Path == PathRobot {
		return 1.8*math.Sin(2*math.Pi*s/53+ph[0]) + 0.6*math.Sin(2*math.Pi*s/19+ph[1])
	}
	return 2.0 + 0.7*math.Sin(2*math.Pi*s/83+ph[0])
}

// position is the camera centre (without bobbing) at arc length s.
func (w *World) position(s float64) (x, y float64) {
	th := w.thetaAtArc(s)
	r := w.rc(th) + w.offset(s)
	return r * math.Cos(th), r * math.Sin(th)
}

// arcAt is the arc length travelled at time t.
func (w *World) arcAt(t float64) float64 { return w.s0 + w.cfg.Speed*t }

// exposure is the slowly varying gain of the camera at time t.
func (w *World) exposure(t float64) float64 {
	e := w.cfg.Exposure
	return 1 + e*math.Sin(2*math.Pi*t/19+w.phase[5]) + 0.4*e*math.Sin(2*math.Pi*t/7.3+w.phase[6])
}

// PoseAt returns the camera-to-world pose of the left (or mono) camera at
// time t seconds. The world frame has z up and the ground at z = 0.
func (w *World) PoseAt(t float64) msgs.Pose {
	s := w.arcAt(t)
	x, y := w.position(s)
	const ds = 0.3
	xa, ya := w.position(s - ds)
	xb, yb := w.position(s + ds)
	yaw := math.Atan2(yb-ya, xb-xa)
	ph := w.phase
	var z, pitch, roll float64
	if w.cfg.Path == PathRobot {
		z = w.camH + 0.01*math.Sin(2*math.Pi*s/0.9+ph[2])
		pitch = 0.012 * math.Sin(2*math.Pi*s/2.3+ph[3])
		roll = 0.02 * math.Sin(2*math.Pi*s/3.1+ph[4])
	} else {
		z = w.camH + 0.02*math.Sin(2*math.Pi*s/9.7+ph[2])
		pitch = 0.01*math.Sin(2*math.Pi*s/13.1+ph[3]) + 0.004*math.Sin(2*math.Pi*s/3.7+ph[7])
		roll = 0.008 * math.Sin(2*math.Pi*s/17.3+ph[4])
	}
	cy, sy := math.Cos(yaw), math.Sin(yaw)
	// Columns of the level camera: right, down, forward.
	base := msgs.Pose{R: [9]float64{
		sy, 0, cy,
		-cy, 0, sy,
		0, -1, 0,
	}, T: [3]float64{x, y, z}}
	cp, sp := math.Cos(pitch), math.Sin(pitch)
	cr, sr := math.Cos(roll), math.Sin(roll)
	// Pitch about the camera x axis (positive looks down), then roll about z.
	rx := msgs.Pose{R: [9]float64{1, 0, 0, 0, cp, sp, 0, -sp, cp}}
	rz := msgs.Pose{R: [9]float64{cr, -sr, 0, sr, cr, 0, 0, 0, 1}}
	return base.Compose(rx.Compose(rz))
}

// rightOf returns the pose of the right camera: the left camera shifted by
// the baseline along its own x axis and, for an unrectified rig, rotated
// about its own centre.
func (w *World) rightOf(left msgs.Pose) msgs.Pose { return left.Compose(w.right) }

// rightInLeft is the right camera's pose in the left camera's frame:
// centre at (Baseline, 0, 0), axes rotated by yaw (about y), then pitch
// (about x, positive looks down), then roll (about z).
func rightInLeft(c Config) msgs.Pose {
	rad := math.Pi / 180
	cy, sy := math.Cos(c.RightYaw*rad), math.Sin(c.RightYaw*rad)
	cp, sp := math.Cos(c.RightPitch*rad), math.Sin(c.RightPitch*rad)
	cr, sr := math.Cos(c.RightRoll*rad), math.Sin(c.RightRoll*rad)
	ry := msgs.Pose{R: [9]float64{cy, 0, sy, 0, 1, 0, -sy, 0, cy}}
	rx := msgs.Pose{R: [9]float64{1, 0, 0, 0, cp, sp, 0, -sp, cp}}
	rz := msgs.Pose{R: [9]float64{cr, -sr, 0, sr, cr, 0, 0, 0, 1}}
	p := ry.Compose(rx.Compose(rz))
	p.T = [3]float64{c.Baseline, 0, 0}
	return p
}

// Clearance returns the horizontal distance from (x, y) to the nearest
// object footprint (negative inside one), for checking that a path stays
// clear of the scenery.
func (w *World) Clearance(x, y float64) float64 {
	best := math.Inf(1)
	for i := range w.objs {
		o := &w.objs[i]
		dx, dy := x-o.cx, y-o.cy
		var d float64
		if o.kind == kindCylinder {
			d = math.Hypot(dx, dy) - o.hx
		} else {
			lx := math.Abs(dx*o.cosY+dy*o.sinY) - o.hx
			ly := math.Abs(-dx*o.sinY+dy*o.cosY) - o.hy
			if lx > 0 || ly > 0 {
				d = math.Hypot(math.Max(lx, 0), math.Max(ly, 0))
			} else {
				d = math.Max(lx, ly)
			}
		}
		best = math.Min(best, d)
	}
	r := math.Hypot(x, y)
	best = math.Min(best, math.Min(w.rOut-r, r-w.rCore))
	return best
}
