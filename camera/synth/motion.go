package synth

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/parallax-robotics/parallax/msgs"
)

// MaxMovers bounds Config.Movers.
const MaxMovers = 32

// Mover kinds.
const (
	moverCarSame = iota // a car in the camera's lane, ahead of it
	moverCarOncoming
	moverPedestrian // crosses the road from sidewalk to sidewalk
	numMoverKinds
)

// A mover is a moving object: a car (a box yawed along the road) or a
// pedestrian (a vertical cylinder, translating only, so its texture, which
// the tracer attaches in world orientation, moves rigidly with it). Movers
// keep company with the camera: the arc length of a mover is the camera's
// plus a bounded, smoothly oscillating offset, so every stretch of every
// drive sees them, approaching, receding and crossing.
type mover struct {
	kind  int
	shape object // kind, material, size, tint, texture offsets
	// along-road offset from the camera: ahead + amp*sin(omega*t + phase)
	ahead, amp, omega, phase float64
	// lateral offset from the centreline: lat0 + latAmp*sin(latOmega*t + latPhase)
	lat0, latAmp, latOmega, latPhase float64
}

func (c Config) validateMotion() error {
	if c.Movers < 0 || c.Movers > MaxMovers {
		return bad("Movers", "is %d, want 0 to %d", c.Movers, MaxMovers)
	}
	return nil
}

// motionTruthOn reports whether frames carry motion ground truth.
func (c Config) motionTruthOn() bool { return c.MotionTruth || c.Movers > 0 }

// placeMovers draws the movers from their own random stream, so adding
// movers leaves the static layout, textures and drive of a seed unchanged.
func (w *World) placeMovers(rng *rand.Rand) {
	cols := [][3]float32{{1.5, 0.35, 0.3}, {0.35, 0.5, 1.5}, {1.4, 1.3, 0.4}, {0.4, 1.3, 0.5}, {1.5, 1.5, 1.5}, {0.5, 0.5, 0.55}}
	for i := 0; i < w.cfg.Movers; i++ {
		m := mover{kind: i % numMoverKinds, phase: 2 * math.Pi * rng.Float64(), latPhase: 2 * math.Pi * rng.Float64()}
		tint := cols[rng.IntN(len(cols))]
		switch m.kind {
		case moverCarSame:
			m.ahead = 14 + 14*rng.Float64()
			m.amp = 3 + (m.ahead-12)*rng.Float64()*0.6
			m.omega = 2 * math.Pi / (4 + 5*rng.Float64())
			m.lat0, m.latAmp, m.latOmega = 2, 0.4*rng.Float64(), 2*math.Pi/(5+5*rng.Float64())
			m.shape = object{kind: kindBox, mat: matPlaster2, hx: 2.0 + 0.4*rng.Float64(), hy: 0.85 + 0.1*rng.Float64(), h: 1.4 + 0.3*rng.Float64()}
		case moverCarOncoming:
			m.ahead = 12 + 25*rng.Float64()
			m.amp = 4 + 6*rng.Float64()
			m.omega = 2 * math.Pi / (3 + 4*rng.Float64())
			m.lat0, m.latAmp, m.latOmega = -2.8, 0.3*rng.Float64(), 2*math.Pi/(5+5*rng.Float64())
			m.shape = object{kind: kindBox, mat: matPlaster, hx: 2.0 + 0.4*rng.Float64(), hy: 0.85 + 0.1*rng.Float64(), h: 1.4 + 0.4*rng.Float64()}
		default:
			m.ahead = 10 + 16*rng.Float64()
			m.amp = 2 * rng.Float64()
			m.omega = 2 * math.Pi / (5 + 5*rng.Float64())
			// Crossing at 1 to 2 m/s: latAmp*latOmega.
			m.lat0, m.latAmp = 0, 7.5
			m.latOmega = (1 + rng.Float64()) / m.latAmp
			m.shape = object{kind: kindCylinder, mat: matCrate, hx: 0.28 + 0.08*rng.Float64(), h: 1.6 + 0.25*rng.Float64()}
		}
		m.shape.tint = tint
		m.shape.uoff, m.shape.voff = 10*rng.Float64(), 10*rng.Float64()
		w.movers = append(w.movers, m)
	}
}

// at returns the mover's object at time t, and its yaw.
func (m *mover) at(w *World, t float64) (object, float64) {
	s := w.arcAt(t) + m.ahead + m.amp*math.Sin(m.omega*t+m.phase)
	lat := m.lat0 + m.latAmp*math.Sin(m.latOmega*t+m.latPhase)
	pos := func(s float64) (float64, float64) {
		th := w.thetaAtArc(s)
		r := w.rc(th) + lat
		return r * math.Cos(th), r * math.Sin(th)
	}
	o := m.shape
	o.cx, o.cy = pos(s)
	yaw := 0.0
	if o.kind == kindBox {
		xa, ya := pos(s - 0.5)
		xb, yb := pos(s + 0.5)
		yaw = math.Atan2(yb-ya, xb-xa)
	}
	o.cosY, o.sinY = math.Cos(yaw), math.Sin(yaw)
	o.bound()
	return o, yaw
}

// objectsAt returns the objects at time t: the static ones, then the movers
// where they are at t (object ids are stable: a mover's is len(objs)+k).
func (w *World) objectsAt(t float64) []object {
	if len(w.movers) == 0 {
		return w.objs
	}
	out := make([]object, len(w.objs), len(w.objs)+len(w.movers))
	copy(out, w.objs)
	for k := range w.movers {
		o, _ := w.movers[k].at(w, t)
		out = append(out, o)
	}
	return out
}

// moveTo returns where the point p of object j at time t is at time t2:
// static points stay, a mover's points follow its translation and yaw.
func (w *World) moveTo(j int32, p [3]float64, t, t2 float64) [3]float64 {
	k := int(j) - len(w.objs)
	if j < 0 || k < 0 || k >= len(w.movers) {
		return p
	}
	a, ya := w.movers[k].at(w, t)
	b, yb := w.movers[k].at(w, t2)
	dx, dy := p[0]-a.cx, p[1]-a.cy
	c, s := math.Cos(yb-ya), math.Sin(yb-ya)
	return [3]float64{b.cx + c*dx - s*dy, b.cy + s*dx + c*dy, p[2]}
}

// viewPose is the camera-to-world pose of a view at time t.
func (w *World) viewPose(view string, t float64) msgs.Pose {
	p := w.PoseAt(t)
	if view == ViewRight {
		return w.rightOf(p)
	}
	return p
}

// newSetup makes the ray basis and culling of a view at pose and time t,
// for tracing single rays (the motion truth); renderView has its own.
func (w *World) newSetup(pose msgs.Pose, t float64) *frameSetup {
	f := &frameSetup{w: w, objs: w.objectsAt(t)}
	R := pose.R
	f.ox, f.oy, f.oz = pose.T[0], pose.T[1], pose.T[2]
	k := w.intr
	for r := 0; r < 3; r++ {
		f.ex[r] = R[r*3] / k.Fx
		f.ey[r] = R[r*3+1] / k.Fy
		f.d0[r] = R[r*3+2] - f.ex[r]*k.Cx - f.ey[r]*k.Cy
	}
	rr := f.ox*f.ox + f.oy*f.oy
	f.cOut = rr - w.rOut*w.rOut
	f.cCore = rr - w.rCore*w.rCore
	// A margin of a quarter of the image around the frustum keeps objects
	// that a pixel of the previous frame lands on just outside.
	W, H := float64(w.cfg.Width), float64(w.cfg.Height)
	planes := f.frustum(-W/4, -H/4, W*1.25, H*1.25)
	for j := range f.objs {
		if f.sphereIn(&planes, &f.objs[j]) {
			f.visible = append(f.visible, int32(j))
		}
	}
	return f
}

// occludedTol is how much nearer (relative) a surface in the next frame must
// be than the moved point for the point to count as hidden: z-depths of one
// surface agree to rounding, so 1 % (plus 2 cm) only absorbs that.
const occludedTol = 0.01

// motionTruth fills gt's motion fields for the view rendered by f at time
// t: each pixel centre's scene point (traced again, with its object),
// moved to the next frame's time with its object, and seen from the view's
// camera there.
func (w *World) motionTruth(f *frameSetup, view string, t float64, gt *msgs.GroundTruth) {
	if !w.cfg.motionTruthOn() {
		return
	}
	W, H := w.cfg.Width, w.cfg.Height
	n := W * H
	gt.Flow = make([]float32, 2*n)
	gt.SceneFlow = make([]float32, 3*n)
	gt.Motion = make([]float32, 3*n)
	gt.Instance = make([]int32, n)
	gt.Moving = make([]uint8, n)
	gt.Occluded = make([]uint8, n)
	stereo := w.cfg.Stereo
	if stereo {
		gt.Disparity = make([]float32, n)
		gt.NextDisparity = make([]float32, n)
	}
	t2 := t + 1/w.cfg.FPS
	pose := gt.Pose
	pose2 := w.viewPose(view, t2)
	next := w.newSetup(pose2, t2)
	k := w.intr
	fxB := k.Fx * w.cfg.Baseline
	cam := func(p msgs.Pose, x [3]float64) [3]float64 { // world to camera: Rᵀ(x - T)
		d := [3]float64{x[0] - p.T[0], x[1] - p.T[1], x[2] - p.T[2]}
		R := p.R
		return [3]float64{
			R[0]*d[0] + R[3]*d[1] + R[6]*d[2],
			R[1]*d[0] + R[4]*d[1] + R[7]*d[2],
			R[2]*d[0] + R[5]*d[1] + R[8]*d[2],
		}
	}
	nStatic := int32(len(w.objs))
	row := func(y int) {
		for x := 0; x < W; x++ {
			i := y*W + x
			u0, v0 := float64(x)+0.5, float64(y)+0.5
			d := f.ray(u0, v0)
			var h hit
			f.trace(d, f.visible, &h)
			X := [3]float64{f.ox + h.t*d[0], f.oy + h.t*d[1], f.oz + h.t*d[2]}
			X2 := w.moveTo(h.obj, X, t, t2)
			gt.Instance[i] = h.obj + 1
			if h.obj >= nStatic {
				gt.Moving[i] = 1
			}
			P := cam(pose, X)
			P2 := cam(pose2, X2)
			for c := 0; c < 3; c++ {
				gt.SceneFlow[3*i+c] = float32(P2[c] - P[c])
				gt.Motion[3*i+c] = float32(X2[c] - X[c])
			}
			if stereo {
				gt.Disparity[i] = float32(fxB / P[2])
				gt.NextDisparity[i] = float32(fxB / P2[2])
			}
			if P2[2] < 1e-3 {
				gt.Flow[2*i], gt.Flow[2*i+1] = float32(math.NaN()), float32(math.NaN())
				gt.Occluded[i] = 1
				continue
			}
			u := k.Fx*P2[0]/P2[2] + k.Cx
			v := k.Fy*P2[1]/P2[2] + k.Cy
			gt.Flow[2*i], gt.Flow[2*i+1] = float32(u-u0), float32(v-v0)
			if u < 0 || v < 0 || u >= float64(W) || v >= float64(H) {
				gt.Occluded[i] = 1
				continue
			}
			var h2 hit
			next.trace(next.ray(u, v), next.visible, &h2)
			if h2.t < P2[2]*(1-occludedTol)-0.02 {
				gt.Occluded[i] = 1
			}
		}
	}
	// Rows are independent: spread them like the renderer spreads tiles
	// (the result does not depend on the split).
	workers := min(runtime.GOMAXPROCS(0), H)
	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for y := g; y < H; y += workers {
				row(y)
			}
		}(g)
	}
	wg.Wait()
}
