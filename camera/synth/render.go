package synth

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parallax-robotics/parallax/msgs"
)

// tileSize is the side of the square screen tiles that are culled and
// rendered as one unit of parallel work.
const tileSize = 16

// detailFade is the pixel footprint (metres) beyond which the detail texture is off.
const detailFade = 0.08

// Views of a rig.
const (
	ViewLeft  = "left"
	ViewRight = "right"
	ViewMono  = "mono"
)

// Render returns frame i (taken at time i/FPS) of the left camera and, for a
// stereo rig, of the right camera (nil when mono). Frames are a pure
// function of the config and i: random access, and byte-identical on every
// call whatever GOMAXPROCS is. Stamp is i/FPS after the Unix epoch; the
// Camera source restamps frames with its own start time.
func (w *World) Render(i int) (left, right *msgs.Frame) {
	t := float64(i) / w.cfg.FPS
	pose := w.PoseAt(t)
	name := ViewMono
	if w.cfg.Stereo {
		name = ViewLeft
	}
	left = w.renderView(name, i, t, pose)
	if w.cfg.Stereo {
		right = w.renderView(ViewRight, i, t, w.rightOf(pose))
	}
	return left, right
}

// RenderView renders frame i of one view ("left", "right" or "mono") alone.
func (w *World) RenderView(view string, i int) (*msgs.Frame, error) {
	t := float64(i) / w.cfg.FPS
	pose := w.PoseAt(t)
	switch {
	case view == ViewMono && !w.cfg.Stereo, view == ViewLeft:
		return w.renderView(view, i, t, pose), nil
	case view == ViewRight && w.cfg.Stereo:
		return w.renderView(view, i, t, w.rightOf(pose)), nil
	}
	return nil, viewError(view, w.cfg.Stereo)
}

// frameSetup is what every pixel of one view shares.
type frameSetup struct {
	w          *World
	ox, oy, oz float64    // camera centre
	d0, ex, ey [3]float64 // ray(x, y) = d0 + ex*(x+0.5) + ey*(y+0.5), z-component 1 in the camera
	rot        [9]float64 // the camera-to-world rotation, for rays through a lens
	lens       *lens      // nil: a pinhole, rays are linear in the pixel
	cOut       float64    // ox²+oy²-rOut²
	cCore      float64    // ox²+oy²-rCore²
	fpScale    float64    // pixel footprint per metre of range
	gain       float64    // exposure
	visible    []int32    // objects inside the view frustum
	tilesX     int
	tilesY     int
	pix        []byte
	depth      []float32
}

func (w *World) renderView(name string, i int, t float64, pose msgs.Pose) *msgs.Frame {
	W, H := w.cfg.Width, w.cfg.Height
	f := &frameSetup{w: w, pix: make([]byte, W*H*3), depth: make([]float32, W*H)}
	R := pose.R
	f.rot, f.lens = R, w.lens
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
	f.fpScale = 1 / math.Min(k.Fx, k.Fy)
	f.gain = w.exposure(t)
	f.tilesX = (W + tileSize - 1) / tileSize
	f.tilesY = (H + tileSize - 1) / tileSize

	// Frame-level culling against the whole image's frustum.
	planes := f.frustum(0, 0, float64(W), float64(H))
	f.visible = make([]int32, 0, 64)
	for j := range w.objs {
		if f.sphereIn(&planes, &w.objs[j]) {
			f.visible = append(f.visible, int32(j))
		}
	}

	nt := f.tilesX * f.tilesY
	workers := runtime.GOMAXPROCS(0)
	if workers > nt {
		workers = nt
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	work := func() {
		cand := make([]int32, 0, len(f.visible))
		for {
			ti := int(next.Add(1) - 1)
			if ti >= nt {
				return
			}
			cand = f.renderTile(ti%f.tilesX, ti/f.tilesX, cand[:0])
		}
	}
	wg.Add(workers - 1)
	for g := 1; g < workers; g++ {
		go func() { defer wg.Done(); work() }()
	}
	work()
	wg.Wait()

	intr := w.intr
	return &msgs.Frame{
		Camera:     name,
		Seq:        uint64(i),
		Stamp:      time.Unix(0, 0).Add(time.Duration(t * float64(time.Second))),
		Width:      W,
		Height:     H,
		Pix:        f.pix,
		Intrinsics: &intr,
		Truth:      &msgs.GroundTruth{Depth: f.depth, Pose: pose},
	}
}

// ray returns the world direction through the point (x, y) of the image
// (z-component 1 in the camera frame), through the lens when there is one.
func (f *frameSetup) ray(x, y float64) [3]float64 {
	if f.lens != nil {
		a, b, ok := f.lens.undistort(x, y)
		if !ok {
			a, b = (x-f.lens.k.Cx)/f.lens.k.Fx, (y-f.lens.k.Cy)/f.lens.k.Fy
		}
		return f.rayNorm(a, b)
	}
	return [3]float64{
		f.d0[0] + f.ex[0]*x + f.ey[0]*y,
		f.d0[1] + f.ex[1]*x + f.ey[1]*y,
		f.d0[2] + f.ex[2]*x + f.ey[2]*y,
	}
}

// rayNorm returns the world direction of the undistorted normalised image
// point (a, b): R [a b 1].
func (f *frameSetup) rayNorm(a, b float64) [3]float64 {
	r := &f.rot
	return [3]float64{r[0]*a + r[1]*b + r[2], r[3]*a + r[4]*b + r[5], r[6]*a + r[7]*b + r[8]}
}

// centreRay returns the ray through the centre of pixel (x, y).
func (f *frameSetup) centreRay(x, y int) [3]float64 {
	if l := f.lens; l != nil {
		i := 2 * (y*l.k.Width + x)
		return f.rayNorm(float64(l.cent[i]), float64(l.cent[i+1]))
	}
	return f.ray(float64(x)+0.5, float64(y)+0.5)
}

// frustum returns the four side planes (normals pointing inside, through the
// camera centre) of the image rectangle [x0,x1]x[y0,y1]; through a lens, of
// the bounding box of its undistorted image.
func (f *frameSetup) frustum(x0, y0, x1, y1 float64) [4][3]float64 {
	var c [4][3]float64
	var mid [3]float64
	if f.lens != nil {
		a0, b0, a1, b1 := f.lens.box(x0, y0, x1, y1)
		c = [4][3]float64{f.rayNorm(a0, b0), f.rayNorm(a1, b0), f.rayNorm(a1, b1), f.rayNorm(a0, b1)}
		mid = f.rayNorm((a0+a1)/2, (b0+b1)/2)
	} else {
		c = [4][3]float64{f.ray(x0, y0), f.ray(x1, y0), f.ray(x1, y1), f.ray(x0, y1)}
		mid = f.ray((x0+x1)/2, (y0+y1)/2)
	}
	var p [4][3]float64
	for i := 0; i < 4; i++ {
		a, b := c[i], c[(i+1)%4]
		n := [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
		l := math.Sqrt(n[0]*n[0] + n[1]*n[1] + n[2]*n[2])
		if n[0]*mid[0]+n[1]*mid[1]+n[2]*mid[2] < 0 {
			l = -l
		}
		p[i] = [3]float64{n[0] / l, n[1] / l, n[2] / l}
	}
	return p
}

func (f *frameSetup) sphereIn(p *[4][3]float64, o *object) bool {
	dx, dy, dz := o.bx-f.ox, o.by-f.oy, o.bz-f.oz
	for i := range p {
		if p[i][0]*dx+p[i][1]*dy+p[i][2]*dz < -o.br {
			return false
		}
	}
	return true
}

// hit is the nearest surface along one ray.
type hit struct {
	t          float64 // z-depth
	mat        uint8
	nx, ny, nz float64 // unit normal
	u, v       float64 // texture coordinates in metres
	lit        bool    // Lambertian (true) or self-lit backdrop (false)
	tint       *[3]float32
	// obj is the index of the object hit, -1 for the ground, walls and lid:
	// what a moving object's per-pixel motion would be looked up by.
	obj int32
}

var noTint = [3]float32{1, 1, 1}

func (f *frameSetup) renderTile(tx, ty int, cand []int32) []int32 {
	w := f.w
	W, H := w.cfg.Width, w.cfg.Height
	x0, y0 := tx*tileSize, ty*tileSize
	x1, y1 := min(x0+tileSize, W), min(y0+tileSize, H)
	planes := f.frustum(float64(x0), float64(y0), float64(x1), float64(y1))
	for _, j := range f.visible {
		if f.sphereIn(&planes, &w.objs[j]) {
			cand = append(cand, j)
		}
	}
	n := w.cfg.Samples
	inv := 1 / float64(n)
	fpSub := f.fpScale * inv
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			// The depth is always that of the ray through the pixel centre.
			d := f.centreRay(x, y)
			var h hit
			f.trace(d, cand, &h)
			f.depth[y*W+x] = float32(h.t)
			var r, g, b float64
			if n == 1 {
				r, g, b = f.shade(d, &h, f.fpScale)
			} else {
				// Supersampling: the mean of n x n stratified rays, each with
				// a footprint of a sub-pixel.
				for sy := 0; sy < n; sy++ {
					for sx := 0; sx < n; sx++ {
						ds := f.ray(float64(x)+(float64(sx)+0.5)*inv, float64(y)+(float64(sy)+0.5)*inv)
						var hs hit
						f.trace(ds, cand, &hs)
						rs, gs, bs := f.shade(ds, &hs, fpSub)
						r, g, b = r+rs, g+gs, b+bs
					}
				}
				k := inv * inv
				r, g, b = r*k, g*k, b*k
			}
			p := (y*W + x) * 3
			f.pix[p] = toByte(r)
			f.pix[p+1] = toByte(g)
			f.pix[p+2] = toByte(b)
		}
	}
	return cand
}

// trace finds the nearest hit of the ray o + t*d. The world is closed, so
// something is always hit.
func (f *frameSetup) trace(d [3]float64, cand []int32, h *hit) {
	w := f.w
	ox, oy, oz := f.ox, f.oy, f.oz
	dx, dy, dz := d[0], d[1], d[2]
	h.t = math.Inf(1)
	h.tint = &noTint
	h.obj = -1
	// Ground and lid.
	if dz < 0 {
		h.t = -oz / dz
		h.mat = matRoad // refined in shade
		h.nx, h.ny, h.nz = 0, 0, 1
		h.lit = true
	} else if dz > 0 {
		h.t = (lidHeight - oz) / dz
		h.mat = matLid
		h.nx, h.ny, h.nz = 0, 0, -1
		h.lit = false
	}
	a := dx*dx + dy*dy
	if a > 1e-12 {
		bb := ox*dx + oy*dy
		// Far ring wall, seen from inside: the far root.
		if disc := bb*bb - a*f.cOut; disc > 0 {
			t := (-bb + math.Sqrt(disc)) / a
			if t > 0 && t < h.t {
				h.t, h.mat, h.lit = t, matBackdrop, false
				px, py := ox+t*dx, oy+t*dy
				h.nx, h.ny, h.nz = -px/w.rOut, -py/w.rOut, 0
			}
		}
		// Central tower, seen from outside: the near root.
		if disc := bb*bb - a*f.cCore; disc > 0 {
			t := (-bb - math.Sqrt(disc)) / a
			if t > 0 && t < h.t {
				h.t, h.mat, h.lit = t, matCore, true
				px, py := ox+t*dx, oy+t*dy
				h.nx, h.ny, h.nz = px/w.rCore, py/w.rCore, 0
			}
		}
	}
	for _, j := range cand {
		o := &w.objs[j]
		rx, ry := ox-o.cx, oy-o.cy
		if o.kind == kindCylinder {
			if a < 1e-12 {
				continue
			}
			bb := rx*dx + ry*dy
			c := rx*rx + ry*ry - o.hx*o.hx
			disc := bb*bb - a*c
			if disc <= 0 {
				continue
			}
			t := (-bb - math.Sqrt(disc)) / a
			if t <= 0 || t >= h.t {
				continue
			}
			z := oz + t*dz
			if z >= 0 && z <= o.h {
				h.t, h.mat, h.lit, h.tint, h.obj = t, o.mat, true, &o.tint, j
				px, py := rx+t*dx, ry+t*dy
				h.nx, h.ny, h.nz = px/o.hx, py/o.hx, 0
				h.u = (math.Atan2(py, px)/(2*math.Pi) + 0.5) + o.uoff
				h.v = z + o.voff
				continue
			}
			if z > o.h && dz < 0 { // the top cap
				tc := (o.h - oz) / dz
				px, py := rx+tc*dx, ry+tc*dy
				if tc > 0 && tc < h.t && px*px+py*py <= o.hx*o.hx {
					h.t, h.mat, h.lit, h.tint, h.obj = tc, o.mat, true, &o.tint, j
					h.nx, h.ny, h.nz = 0, 0, 1
					h.u, h.v = px+o.uoff, py+o.voff
				}
			}
			continue
		}
		// Box: slab test in the box frame.
		lx := rx*o.cosY + ry*o.sinY
		ly := -rx*o.sinY + ry*o.cosY
		dlx := dx*o.cosY + dy*o.sinY
		dly := -dx*o.sinY + dy*o.cosY
		tmin, tmax := 0.0, h.t
		axis, sign := -1, 0.0
		ok := true
		for ax := 0; ax < 3 && ok; ax++ {
			var p, dd, lo, hi float64
			switch ax {
			case 0:
				p, dd, lo, hi = lx, dlx, -o.hx, o.hx
			case 1:
				p, dd, lo, hi = ly, dly, -o.hy, o.hy
			default:
				p, dd, lo, hi = oz, dz, 0, o.h
			}
			if math.Abs(dd) < 1e-12 {
				if p < lo || p > hi {
					ok = false
				}
				continue
			}
			t1, t2 := (lo-p)/dd, (hi-p)/dd
			s := -1.0
			if t1 > t2 {
				t1, t2 = t2, t1
				s = 1
			}
			if t1 > tmin {
				tmin, axis, sign = t1, ax, s
			}
			if t2 < tmax {
				tmax = t2
			}
			if tmin > tmax {
				ok = false
			}
		}
		if !ok || axis < 0 || tmin >= h.t {
			continue
		}
		h.t, h.mat, h.lit, h.tint, h.obj = tmin, o.mat, true, &o.tint, j
		px, py, z := lx+tmin*dlx, ly+tmin*dly, oz+tmin*dz
		switch axis {
		case 0:
			h.nx, h.ny, h.nz = sign*o.cosY, sign*o.sinY, 0
			h.u, h.v = py+o.uoff, z+o.voff
		case 1:
			h.nx, h.ny, h.nz = -sign*o.sinY, sign*o.cosY, 0
			h.u, h.v = px+o.uoff, z+o.voff
		default:
			h.nx, h.ny, h.nz = 0, 0, sign
			h.u, h.v = px+o.uoff, py+o.voff
		}
	}
}

// shade returns the colour of a hit: texture (at the mip level of the
// pixel's footprint) times Lambertian sun plus ambient light, times the
// exposure. Shading depends on the surface only, never on the viewpoint, so
// a point has the same colour in every frame but for the slow exposure drift.
//
// fpScale is the pixel's (or sub-pixel's) footprint per metre of range. The
// result is in 0..255 units, not yet rounded or clamped.
func (f *frameSetup) shade(d [3]float64, h *hit, fpScale float64) (r, g, b float64) {
	w := f.w
	t := h.t
	px, py, pz := f.ox+t*d[0], f.oy+t*d[1], f.oz+t*d[2]
	mat := h.mat
	u, v := h.u, h.v
	switch mat {
	case matRoad: // the ground: road, sidewalk or verge by distance from the centreline
		th := math.Atan2(py, px)
		lat := math.Hypot(px, py) - w.rcFast(th)
		al := th * w.uPerRad
		switch {
		case math.Abs(lat) < roadHalf:
			u, v = al, lat+roadHalf
		case math.Abs(lat) < walkEdge:
			mat, u, v = matSidewalk, al, lat
		default:
			mat, u, v = matVerge, px, py
		}
	case matLid:
		u, v = px, py
	case matBackdrop:
		u, v = math.Atan2(py, px)*w.uOutPerRad, pz
	case matCore:
		u, v = math.Atan2(py, px)*w.uCorePerRad, pz
	}
	dd := d[0]*d[0] + d[1]*d[1] + d[2]*d[2]
	nd := math.Abs(h.nx*d[0] + h.ny*d[1] + h.nz*d[2])
	// Footprint of the pixel on the surface: range over focal length,
	// stretched by the incidence (capped, so grazing ground keeps some detail).
	fp := t * dd * fpScale / math.Max(nd, 0.3*math.Sqrt(dd))
	tr, tg, tb := w.tex[mat].sample(u, v, fp)
	if fp < detailFade {
		// Fade the detail out with the footprint, so there is no seam where it stops.
		k, _, _ := w.tex[matDetail].sample(u, v, fp)
		k = 1 + (2*k-1)*float32(1-fp/detailFade)
		tr, tg, tb = tr*k, tg*k, tb*k
	}
	var lr, lg, lb float64
	if h.lit {
		ns := math.Max(0, h.nx*w.sun[0]+h.ny*w.sun[1]+h.nz*w.sun[2])
		l := (1 - w.amb) * 1.15 * ns
		lr, lg, lb = w.amb+l*w.sunC[0], w.amb+l*w.sunC[1], w.amb+l*w.sunC[2]
	} else {
		lr, lg, lb = 0.9, 0.9, 0.9
	}
	tn := h.tint
	k := f.gain * 255
	return float64(tr*tn[0]) * lr * k, float64(tg*tn[1]) * lg * k, float64(tb*tn[2]) * lb * k
}

func toByte(v float64) byte {
	if v <= 0 {
		return 0
	}
	if v >= 255 {
		return 255
	}
	return byte(v + 0.5)
}
