package synth

import (
	"math"
	"math/rand/v2"
)

// texSize is the side of every texture tile in texels (a power of two so
// wrapping is a mask).
const texSize = 256

// A mip is one level of a texture's mip chain: size x size RGB texels,
// linear 0..1, interleaved.
type mip struct {
	size int
	pix  []float32
}

// A texture is a tile of a material in world units: it covers W x H metres
// and wraps. Level 0 is texSize square; each next level halves it by a box
// filter, down to 1 texel, so distant surfaces sample a pre-filtered level
// instead of aliasing.
type texture struct {
	w, h   float64 // metres covered by the tile
	levels []mip
}

// newTexture wraps a level-0 image and builds its mip chain.
func newTexture(w, h float64, pix []float32) *texture {
	t := &texture{w: w, h: h, levels: []mip{{size: texSize, pix: pix}}}
	for s := texSize / 2; s >= 1; s /= 2 {
		prev := t.levels[len(t.levels)-1]
		p := make([]float32, s*s*3)
		for y := 0; y < s; y++ {
			for x := 0; x < s; x++ {
				for c := 0; c < 3; c++ {
					i0 := ((2*y)*prev.size+2*x)*3 + c
					i1 := i0 + prev.size*3
					p[(y*s+x)*3+c] = 0.25 * (prev.pix[i0] + prev.pix[i0+3] + prev.pix[i1] + prev.pix[i1+3])
				}
			}
		}
		t.levels = append(t.levels, mip{size: s, pix: p})
	}
	return t
}

// sample returns the trilinearly filtered colour at (u, v) metres for a
// pixel footprint of fp metres: bilinear in the two mip levels whose texels
// bracket the footprint, blended by the fractional level. The blend (rather
// than the nearest level) keeps a surface's colour continuous as the camera
// approaches it, which a photometric loss between frames relies on.
func (t *texture) sample(u, v, fp float64) (r, g, b float32) {
	texel := t.w / texSize
	lod := 0.0
	if fp > texel {
		lod = fastLog2(fp / texel)
	}
	top := float64(len(t.levels) - 1)
	if lod >= top {
		return t.levels[len(t.levels)-1].bilinear(u/t.w, v/t.h)
	}
	l0 := int(lod)
	a := float32(lod - float64(l0))
	r, g, b = t.levels[l0].bilinear(u/t.w, v/t.h)
	if a > 1.0/64 {
		r1, g1, b1 := t.levels[l0+1].bilinear(u/t.w, v/t.h)
		r += (r1 - r) * a
		g += (g1 - g) * a
		b += (b1 - b) * a
	}
	return r, g, b
}

// fastLog2 approximates log2(x) for x > 0 to about 0.01: enough to pick and
// blend mip levels, and continuous and monotonic, at a fraction of math.Log2.
func fastLog2(x float64) float64 {
	b := math.Float64bits(x)
	e := float64(int((b>>52)&0x7ff) - 1023)
	m := math.Float64frombits(b&^(0x7ff<<52)|1023<<52) - 1 // mantissa - 1, in [0, 1)
	return e + m*(1.3465-0.3465*m)
}

// bilinear samples the level at tile coordinates (x, y), wrapping; 1 is one tile.
func (m *mip) bilinear(tx, ty float64) (r, g, b float32) {
	s := float64(m.size)
	x := tx*s - 0.5
	y := ty*s - 0.5
	xf, yf := math.Floor(x), math.Floor(y)
	ax, ay := float32(x-xf), float32(y-yf)
	mask := m.size - 1
	x0 := int(int64(xf)) & mask
	y0 := int(int64(yf)) & mask
	x1 := (x0 + 1) & mask
	y1 := (y0 + 1) & mask
	p := m.pix
	i00 := (y0*m.size + x0) * 3
	i01 := (y0*m.size + x1) * 3
	i10 := (y1*m.size + x0) * 3
	i11 := (y1*m.size + x1) * 3
	w00 := (1 - ax) * (1 - ay)
	w01 := ax * (1 - ay)
	w10 := (1 - ax) * ay
	w11 := ax * ay
	r = p[i00]*w00 + p[i01]*w01 + p[i10]*w10 + p[i11]*w11
	g = p[i00+1]*w00 + p[i01+1]*w01 + p[i10+1]*w10 + p[i11+1]*w11
	b = p[i00+2]*w00 + p[i01+2]*w01 + p[i10+2]*w10 + p[i11+2]*w11
	return r, g, b
}

// fbm returns a tileable multi-octave value-noise field of texSize^2 values
// with zero mean and unit standard deviation. The first octave has period
// base cells across the tile; each next one doubles the frequency and
// multiplies the amplitude by gain (0.5 is 1/f noise: equal energy per
// octave in a log-log spectrum). That spectrum is what gives a photometric
// loss a wide, smooth basin, unlike pixel-scale white noise.
func fbm(rng *rand.Rand, base, octaves int, gain float64) []float32 {
	out := make([]float32, texSize*texSize)
	amp := 1.0
	period := base
	for o := 0; o < octaves && period <= texSize; o++ {
		lat := make([]float64, period*period)
		for i := range lat {
			lat[i] = rng.Float64()*2 - 1
		}
		cell := float64(texSize) / float64(period)
		for y := 0; y < texSize; y++ {
			fy := (float64(y) + 0.5) / cell
			iy := int(fy)
			ty := smooth(fy - float64(iy))
			y0, y1 := iy%period, (iy+1)%period
			for x := 0; x < texSize; x++ {
				fx := (float64(x) + 0.5) / cell
				ix := int(fx)
				tx := smooth(fx - float64(ix))
				x0, x1 := ix%period, (ix+1)%period
				a := lat[y0*period+x0] + (lat[y0*period+x1]-lat[y0*period+x0])*tx
				b := lat[y1*period+x0] + (lat[y1*period+x1]-lat[y1*period+x0])*tx
				out[y*texSize+x] += float32(amp * (a + (b-a)*ty))
			}
		}
		amp *= gain
		period *= 2
	}
	var mean, sq float64
	for _, v := range out {
		mean += float64(v)
	}
	mean /= float64(len(out))
	for _, v := range out {
		sq += (float64(v) - mean) * (float64(v) - mean)
	}
	sd := math.Sqrt(sq / float64(len(out)))
	if sd == 0 {
		sd = 1
	}
	for i := range out {
		out[i] = float32((float64(out[i]) - mean) / sd)
	}
	return out
}

func smooth(t float64) float64 { return t * t * (3 - 2*t) }

// rgb is a linear colour.
type rgb [3]float64

func mix(a, b rgb, t float64) rgb {
	return rgb{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t, a[2] + (b[2]-a[2])*t}
}

func (c rgb) scale(s float64) rgb { return rgb{c[0] * s, c[1] * s, c[2] * s} }

// canvas is a level-0 texture under construction, with painting helpers in
// texel coordinates of a tile covering w x h metres.
type canvas struct {
	w, h float64
	pix  []float32
}

func newCanvas(w, h float64) *canvas {
	return &canvas{w: w, h: h, pix: make([]float32, texSize*texSize*3)}
}

// paint sets every texel from f(u, v, i) with u, v in metres and i the texel index.
func (c *canvas) paint(f func(u, v float64, i int) rgb) {
	for y := 0; y < texSize; y++ {
		v := (float64(y) + 0.5) / texSize * c.h
		for x := 0; x < texSize; x++ {
			u := (float64(x) + 0.5) / texSize * c.w
			i := y*texSize + x
			col := f(u, v, i)
			for k := 0; k < 3; k++ {
				c.pix[i*3+k] = float32(math.Max(0, math.Min(1, col[k])))
			}
		}
	}
}

func (c *canvas) texture() *texture { return newTexture(c.w, c.h, c.pix) }

// frac returns x - floor(x).
func frac(x float64) float64 { return x - math.Floor(x) }

// hash2 is a deterministic per-cell random value in [0,1).
func hash2(seed uint64, a, b int) float64 {
	h := seed ^ uint64(int64(a))*0x9E3779B97F4A7C15 ^ uint64(int64(b))*0xC2B2AE3D27D4EB4F
	h ^= h >> 33
	h *= 0xFF51AFD7ED558CCD
	h ^= h >> 33
	h *= 0xC4CEB9FE1A85EC53
	h ^= h >> 33
	return float64(h>>11) / float64(1<<53)
}

// Material ids: one texture each.
const (
	matRoad = iota
	matSidewalk
	matVerge
	matBrick
	matPlaster
	matPlaster2
	matBackdrop
	matCore
	matLid
	matPole
	matCrate
	matBollard
	numMaterials
	// matDetail is not a surface: a grey 1 m tile of fine 1/f noise that
	// modulates every surface, so that surfaces seen from up close (where
	// their own tile is magnified) keep texture at the pixel scale. Its mip
	// chain averages it to 1 at a distance.
	matDetail = numMaterials
)

// palette holds the base colours and light of a style.
type palette struct {
	asphalt, marking, slab, grout, verge1, verge2   rgb
	brick, mortar, plaster1, plaster2, glass, frame rgb
	far, haze, cloud, pole, wood, bollard, stripe   rgb
	ambient, sunElevLo, sunElevHi, sunWarm          float64
}

var palettes = map[string]palette{
	StyleUrban: {
		asphalt: rgb{0.25, 0.25, 0.27}, marking: rgb{0.85, 0.85, 0.8}, slab: rgb{0.55, 0.53, 0.5}, grout: rgb{0.3, 0.3, 0.3},
		verge1: rgb{0.35, 0.33, 0.3}, verge2: rgb{0.25, 0.35, 0.18},
		brick: rgb{0.55, 0.25, 0.18}, mortar: rgb{0.7, 0.68, 0.62}, plaster1: rgb{0.75, 0.68, 0.55}, plaster2: rgb{0.6, 0.62, 0.65},
		glass: rgb{0.15, 0.2, 0.27}, frame: rgb{0.85, 0.85, 0.82},
		far: rgb{0.45, 0.47, 0.52}, haze: rgb{0.7, 0.75, 0.82}, cloud: rgb{0.8, 0.83, 0.9},
		pole: rgb{0.3, 0.35, 0.32}, wood: rgb{0.6, 0.45, 0.28}, bollard: rgb{0.6, 0.6, 0.58}, stripe: rgb{0.8, 0.15, 0.1},
		ambient: 0.35, sunElevLo: 40, sunElevHi: 65, sunWarm: 0.02,
	},
	StyleSuburb: {
		asphalt: rgb{0.42, 0.42, 0.42}, marking: rgb{0.9, 0.8, 0.3}, slab: rgb{0.7, 0.7, 0.66}, grout: rgb{0.45, 0.45, 0.42},
		verge1: rgb{0.2, 0.45, 0.15}, verge2: rgb{0.35, 0.55, 0.2},
		brick: rgb{0.85, 0.85, 0.8}, mortar: rgb{0.55, 0.55, 0.55}, plaster1: rgb{0.6, 0.75, 0.85}, plaster2: rgb{0.9, 0.8, 0.6},
		glass: rgb{0.2, 0.28, 0.3}, frame: rgb{0.3, 0.2, 0.15},
		far: rgb{0.25, 0.45, 0.25}, haze: rgb{0.55, 0.7, 0.85}, cloud: rgb{0.65, 0.78, 0.95},
		pole: rgb{0.45, 0.35, 0.25}, wood: rgb{0.7, 0.55, 0.35}, bollard: rgb{0.85, 0.85, 0.85}, stripe: rgb{0.1, 0.4, 0.1},
		ambient: 0.45, sunElevLo: 25, sunElevHi: 50, sunWarm: 0.05,
	},
	StyleDesert: {
		asphalt: rgb{0.55, 0.48, 0.38}, marking: rgb{0.95, 0.9, 0.8}, slab: rgb{0.75, 0.62, 0.45}, grout: rgb{0.5, 0.4, 0.3},
		verge1: rgb{0.8, 0.65, 0.45}, verge2: rgb{0.65, 0.5, 0.32},
		brick: rgb{0.8, 0.55, 0.3}, mortar: rgb{0.9, 0.8, 0.6}, plaster1: rgb{0.9, 0.7, 0.45}, plaster2: rgb{0.75, 0.45, 0.3},
		glass: rgb{0.1, 0.1, 0.12}, frame: rgb{0.35, 0.25, 0.15},
		far: rgb{0.75, 0.55, 0.4}, haze: rgb{0.9, 0.8, 0.65}, cloud: rgb{0.95, 0.85, 0.7},
		pole: rgb{0.3, 0.25, 0.2}, wood: rgb{0.5, 0.35, 0.2}, bollard: rgb{0.7, 0.6, 0.45}, stripe: rgb{0.2, 0.3, 0.6},
		ambient: 0.3, sunElevLo: 12, sunElevHi: 30, sunWarm: 0.12,
	},
}

// roadWidthTex is the lateral extent of the road tile: the whole carriageway.
const roadWidthTex = 2 * roadHalf

// makeTextures paints every material's tile for a palette; rng makes the
// noise and the random shapes differ per seed.
func makeTextures(rng *rand.Rand, p palette) [numMaterials + 1]*texture {
	var t [numMaterials + 1]*texture

	// Road: asphalt 1/f noise, darker tar patches, a dashed centre line and
	// solid edge lines (the tile spans the carriageway laterally, v from
	// -roadHalf at 0 to +roadHalf at roadWidthTex).
	{
		c := newCanvas(roadTile, roadWidthTex)
		n1 := fbm(rng, 4, 7, 0.6)
		n2 := fbm(rng, 16, 4, 0.75)
		seed := rng.Uint64()
		c.paint(func(u, v float64, i int) rgb {
			col := p.asphalt.scale(1 + 0.25*float64(n1[i]) + 0.15*float64(n2[i]))
			if hash2(seed, int(u/1.5), int(v/1.5)) < 0.12 {
				col = col.scale(0.75)
			}
			lat := v - roadHalf
			line := false
			if math.Abs(lat) < 0.07 && frac(u/6) < 0.5 {
				line = true
			}
			if math.Abs(math.Abs(lat)-(roadHalf-0.35)) < 0.08 {
				line = true
			}
			if line {
				col = mix(col, p.marking, 0.8+0.1*float64(n2[i]))
			}
			return col
		})
		t[matRoad] = c.texture()
	}
	// Sidewalk: 0.5 m slabs with grout lines, per-slab shade, 1/f noise.
	{
		c := newCanvas(4, 4)
		n := fbm(rng, 4, 6, 0.55)
		seed := rng.Uint64()
		c.paint(func(u, v float64, i int) rgb {
			su, sv := u/0.5, v/0.5
			col := p.slab.scale(0.85 + 0.3*hash2(seed, int(su), int(sv)) + 0.12*float64(n[i]))
			if frac(su) < 0.05 || frac(sv) < 0.05 {
				col = p.grout.scale(1 + 0.1*float64(n[i]))
			}
			return col
		})
		t[matSidewalk] = c.texture()
	}
	// Verge: two colours blended by large-scale noise, plus stones.
	{
		c := newCanvas(8, 8)
		n1 := fbm(rng, 2, 7, 0.6)
		n2 := fbm(rng, 8, 5, 0.75)
		c.paint(func(u, v float64, i int) rgb {
			m := 0.5 + 0.35*float64(n1[i])
			col := mix(p.verge1, p.verge2, math.Max(0, math.Min(1, m)))
			return col.scale(1 + 0.18*float64(n2[i]))
		})
		t[matVerge] = c.texture()
	}
	// Facades: a 6 x 6.4 m tile holds two windows on one floor. Brick
	// facades have 0.4 x 0.2 m bricks in running bond; plaster facades have
	// stains and a floor band.
	window := func(u, v float64) (glass, frame bool) {
		wu, wv := frac(u/3)*3, v
		inU, inV := wu > 0.8 && wu < 2.2, wv > 1.6 && wv < 4.6
		if !inU || !inV {
			return false, false
		}
		if wu < 0.9 || wu > 2.1 || wv < 1.7 || wv > 4.5 || math.Abs(wu-1.5) < 0.04 || math.Abs(wv-3.2) < 0.04 {
			return false, true
		}
		return true, false
	}
	// Glass is dark, so it gets an additive sky reflection with strong
	// fine noise, or its texture would vanish in absolute terms.
	gl := fbm(rng, 8, 6, 0.8)
	glassCol := func(n float32, v float64, i int) rgb {
		c := p.glass.scale(1 + 0.5*float64(n) + 0.3*(v-1.6)/3)
		return mix(c, p.haze, math.Max(0, math.Min(0.6, 0.25+0.15*float64(gl[i])+0.1*float64(n))))
	}
	{
		c := newCanvas(6, 6.4)
		n := fbm(rng, 2, 7, 0.55)
		n2 := fbm(rng, 8, 4, 0.5)
		seed := rng.Uint64()
		c.paint(func(u, v float64, i int) rgb {
			if g, f := window(u, v); g {
				return glassCol(n2[i], v, i)
			} else if f {
				return p.frame.scale(1 + 0.05*float64(n[i]))
			}
			row := int(v / 0.2)
			off := 0.2 * float64(row%2)
			bu := (u + off) / 0.4
			if frac(bu) < 0.05 || frac(v/0.2) < 0.1 {
				return p.mortar.scale(1 + 0.08*float64(n[i]))
			}
			return p.brick.scale(0.8 + 0.4*hash2(seed, int(math.Floor(bu)), row) + 0.12*float64(n[i]))
		})
		t[matBrick] = c.texture()
	}
	// Plaster: one base colour per material (two materials, so houses
	// differ), with weathering stains at 1/f scales and a floor band.
	for _, pc := range []struct {
		mat int
		col rgb
	}{{matPlaster, p.plaster1}, {matPlaster2, p.plaster2}} {
		c := newCanvas(6, 6.4)
		n := fbm(rng, 2, 7, 0.6)
		n2 := fbm(rng, 8, 5, 0.75)
		c.paint(func(u, v float64, i int) rgb {
			if g, f := window(u, v); g {
				return glassCol(n2[i], v, i)
			} else if f {
				return p.frame.scale(1 + 0.05*float64(n[i]))
			}
			col := pc.col.scale(1 + 0.13*float64(n[i]))
			if v > 5.9 && v < 6.2 {
				col = col.scale(0.7)
			}
			return col.scale(1 + 0.15*float64(n2[i]))
		})
		t[pc.mat] = c.texture()
	}
	// Backdrop: the far ring wall, painted as a hazy skyline of far blocks
	// with lit windows under a clouded sky, all at 1/f scales.
	{
		c := newCanvas(48, 48)
		n := fbm(rng, 2, 7, 0.6)
		n2 := fbm(rng, 16, 4, 0.5)
		n3 := fbm(rng, 8, 6, 0.8)
		seed := rng.Uint64()
		c.paint(func(u, v float64, i int) rgb {
			// v grows upward from the ground (see shading of the ring).
			bi := int(u / 6)
			top := 10 + 22*hash2(seed, bi, 0)
			if v < top {
				col := p.far.scale(0.8 + 0.4*hash2(seed, bi, 1) + 0.1*float64(n[i]) + 0.12*float64(n3[i]))
				if frac(u/1.5) > 0.4 && frac(v/2) > 0.45 {
					col = col.scale(0.6 + 0.3*float64(n2[i]))
				}
				return col
			}
			return mix(p.haze, p.cloud, 0.5+0.35*float64(n[i]))
		})
		t[matBackdrop] = c.texture()
	}
	// Core: the inner tower ring, large windows on a panelled wall.
	{
		c := newCanvas(12, 12.8)
		n := fbm(rng, 2, 7, 0.55)
		c.paint(func(u, v float64, i int) rgb {
			if g, f := window(u/2, v/2); g {
				return glassCol(n[i], v/2, i)
			} else if f {
				return p.frame
			}
			col := p.plaster2.scale(0.9 + 0.15*float64(n[i]))
			if frac(u/1.5) < 0.03 || frac(v/1.6) < 0.03 {
				col = col.scale(0.8)
			}
			return col
		})
		t[matCore] = c.texture()
	}
	// Lid: an overcast ceiling of clouds that closes the world above.
	{
		c := newCanvas(96, 96)
		n := fbm(rng, 2, 7, 0.6)
		c.paint(func(u, v float64, i int) rgb {
			return mix(p.haze, p.cloud, 0.5+0.4*float64(n[i]))
		})
		t[matLid] = c.texture()
	}
	// Pole: painted metal with rings and scratches.
	{
		c := newCanvas(1, 2)
		n := fbm(rng, 2, 6, 0.55)
		c.paint(func(u, v float64, i int) rgb {
			col := p.pole.scale(1 + 0.2*float64(n[i]))
			if frac(v/0.5) < 0.1 {
				col = col.scale(0.6)
			}
			return col
		})
		t[matPole] = c.texture()
	}
	// Crate: planks with grain along u.
	{
		c := newCanvas(1.2, 1.2)
		n := fbm(rng, 4, 6, 0.55)
		seed := rng.Uint64()
		c.paint(func(u, v float64, i int) rgb {
			pl := int(v / 0.2)
			col := p.wood.scale(0.8 + 0.35*hash2(seed, pl, 0) + 0.12*float64(n[i]) + 0.08*math.Sin(u*40+v*7))
			if frac(v/0.2) < 0.08 || frac(u/0.6) < 0.05 {
				col = col.scale(0.5)
			}
			return col
		})
		t[matCrate] = c.texture()
	}
	// Bollard: concrete with a coloured band.
	{
		c := newCanvas(1, 1.2)
		n := fbm(rng, 4, 6, 0.55)
		c.paint(func(u, v float64, i int) rgb {
			col := p.bollard.scale(1 + 0.15*float64(n[i]))
			if v > 0.75 && v < 0.95 {
				col = p.stripe.scale(1 + 0.1*float64(n[i]))
			}
			return col
		})
		t[matBollard] = c.texture()
	}
	{
		c := newCanvas(1, 1)
		n := fbm(rng, 4, 7, 0.7)
		c.paint(func(u, v float64, i int) rgb {
			g := 0.5 + 0.1*float64(n[i]) // stored around 0.5: texels clamp to 0..1
			return rgb{g, g, g}
		})
		t[matDetail] = c.texture()
	}
	return t
}
