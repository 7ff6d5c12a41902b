package calibration

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Maps is a precomputed rectification of one camera: for every pixel of
// the rectified image, where to sample the raw image. It is what OpenCV's
// initUndistortRectifyMap computes (CV_32FC1 maps, ROS/OpenCV pixel
// convention), computed here in Go so that rectifying needs no OpenCV;
// calibration/cv remaps with OpenCV from the same X and Y. A Maps is
// immutable and safe for concurrent use.
type Maps struct {
	// Width and Height are the rectified image size.
	Width, Height int
	// SrcWidth and SrcHeight are the raw image size.
	SrcWidth, SrcHeight int
	// X and Y hold, per rectified pixel (row-major), the raw pixel it
	// samples; NaN where its ray misses the raw image's model.
	X, Y []float32
	// ZScale holds, per rectified pixel, the ratio of a point's z-depth in
	// the rectified frame to its z-depth in the raw camera frame along the
	// pixel's ray: what turns a raw depth map into a rectified one.
	ZScale []float32

	// The bilinear table of Remap: per pixel the byte offset of its top-left
	// texel (-1: outside, black) and the fractions in 1/256 (x | y<<8);
	// pixels whose 2x2 footprint crosses the border are in edge instead.
	off  []int32
	frac []uint16
	edge []int32
}

// NewMaps computes the maps of camera c, whose R and P say how to rectify
// it (the identity and [K|0] when unset: plain undistortion): for each
// rectified pixel (u, v), the ray (R⁻¹ P₃ₓ₃⁻¹ [u v 1]) is distorted and
// projected by K, as OpenCV's initUndistortRectifyMap does. The camera
// must know its image size.
func NewMaps(c Camera) (*Maps, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Width == 0 {
		return nil, fmt.Errorf("%w: the camera's image size is unknown (scale the camera to the frames first)", ErrSize)
	}
	c = c.WithDefaultRectification()
	w, h := c.RectSize()
	p := c.P
	pk := mat3{p[0], p[1], p[2], p[4], p[5], p[6], p[8], p[9], p[10]}
	ipk, ok := inv3(pk)
	if !ok {
		return nil, errAt("", 0, "P", ErrInvalid, "its left 3x3 is singular")
	}
	ir := mul3(transpose3(c.R), ipk) // rectified pixel -> raw camera ray
	m := &Maps{Width: w, Height: h, SrcWidth: c.Width, SrcHeight: c.Height,
		X: make([]float32, w*h), Y: make([]float32, w*h), ZScale: make([]float32, w*h)}
	nan := float32(math.NaN())
	parallelRows(h, func(y0, y1 int) {
		for v := y0; v < y1; v++ {
			for u := 0; u < w; u++ {
				i := v*w + u
				q := mulVec3(ir, vec3{float64(u), float64(v), 1})
				if !(q[2] > 0) {
					m.X[i], m.Y[i] = nan, nan
					continue
				}
				xd, yd := c.Distort(q[0]/q[2], q[1]/q[2])
				mx, my := c.ToPixel(xd, yd)
				m.X[i], m.Y[i] = float32(mx), float32(my)
				// The ray in the rectified frame has z = 1 per unit of
				// ipk*[u v 1]; in the raw frame its z is q[2].
				rz := ipk[6]*float64(u) + ipk[7]*float64(v) + ipk[8]
				m.ZScale[i] = float32(rz / q[2])
			}
		}
	})
	m.buildTable()
	return m, nil
}

func (m *Maps) buildTable() {
	n := m.Width * m.Height
	m.off = make([]int32, n)
	m.frac = make([]uint16, n)
	sw, sh := m.SrcWidth, m.SrcHeight
	var edges [][]int32
	var mu sync.Mutex
	parallelRows(m.Height, func(y0, y1 int) {
		var edge []int32
		for i := y0 * m.Width; i < y1*m.Width; i++ {
			x, y := float64(m.X[i]), float64(m.Y[i])
			m.off[i] = -1
			if !(x > -1 && y > -1 && x < float64(sw) && y < float64(sh)) {
				continue // NaN, or no texel of the 2x2 footprint inside: black
			}
			fx := int(math.Floor(x * 256))
			fy := int(math.Floor(y * 256))
			x0, y0 := fx>>8, fy>>8
			if x0 < 0 || y0 < 0 || x0+1 >= sw || y0+1 >= sh {
				edge = append(edge, int32(i))
				continue
			}
			m.off[i] = int32((y0*sw + x0) * 3)
			m.frac[i] = uint16(fx&255) | uint16(fy&255)<<8
		}
		mu.Lock()
		edges = append(edges, edge)
		mu.Unlock()
	})
	for _, e := range edges {
		m.edge = append(m.edge, e...)
	}
}

// Remap writes the rectified image of src (packed RGB, SrcWidth x
// SrcHeight) into dst (packed RGB, Width x Height), bilinear, black outside
// the raw image (OpenCV's remap with INTER_LINEAR and BORDER_CONSTANT 0,
// to within one grey level: the fractions are in 1/256 pixel). It spreads
// rows over GOMAXPROCS goroutines.
func (m *Maps) Remap(dst, src []byte) error {
	if len(src) != m.SrcWidth*m.SrcHeight*3 || len(dst) != m.Width*m.Height*3 {
		return fmt.Errorf("%w: Remap of %d bytes into %d, want %dx%d RGB into %dx%d", ErrSize, len(src), len(dst),
			m.SrcWidth, m.SrcHeight, m.Width, m.Height)
	}
	row := m.SrcWidth * 3
	parallelRows(m.Height, func(y0, y1 int) {
		for i := y0 * m.Width; i < y1*m.Width; i++ {
			o := m.off[i]
			d := dst[i*3 : i*3+3 : i*3+3]
			if o < 0 {
				d[0], d[1], d[2] = 0, 0, 0
				continue
			}
			f := m.frac[i]
			fx, fy := int32(f&255), int32(f>>8)
			w00 := (256 - fx) * (256 - fy)
			w01 := fx * (256 - fy)
			w10 := (256 - fx) * fy
			w11 := fx * fy
			s := src[o : int(o)+row+6 : int(o)+row+6]
			for ch := 0; ch < 3; ch++ {
				v := w00*int32(s[ch]) + w01*int32(s[3+ch]) + w10*int32(s[row+ch]) + w11*int32(s[row+3+ch])
				d[ch] = byte((v + 1<<15) >> 16)
			}
		}
	})
	for _, i := range m.edge {
		remapEdge(dst[i*3:i*3+3], src, m.SrcWidth, m.SrcHeight, float64(m.X[i]), float64(m.Y[i]))
	}
	return nil
}

// remapEdge samples one pixel whose footprint crosses the border, with the
// texels outside taken as black.
func remapEdge(d, src []byte, sw, sh int, x, y float64) {
	x0, y0 := math.Floor(x), math.Floor(y)
	ax, ay := x-x0, y-y0
	var acc [3]float64
	for dy := 0; dy < 2; dy++ {
		for dx := 0; dx < 2; dx++ {
			xi, yi := int(x0)+dx, int(y0)+dy
			if xi < 0 || yi < 0 || xi >= sw || yi >= sh {
				continue
			}
			w := (1 - ax) * (1 - ay)
			switch {
			case dx == 1 && dy == 0:
				w = ax * (1 - ay)
			case dx == 0 && dy == 1:
				w = (1 - ax) * ay
			case dx == 1 && dy == 1:
				w = ax * ay
			}
			o := (yi*sw + xi) * 3
			for ch := 0; ch < 3; ch++ {
				acc[ch] += w * float64(src[o+ch])
			}
		}
	}
	for ch := 0; ch < 3; ch++ {
		d[ch] = byte(math.Min(255, math.Round(acc[ch])))
	}
}

// RemapDepth writes the rectified z-depth map of a raw one (SrcWidth x
// SrcHeight metres, 0 unknown) into dst: the nearest raw pixel's depth
// (depths are not interpolated across edges), times ZScale, which turns
// z along the raw optical axis into z along the rectified one. 0 where the
// raw depth is unknown or the pixel samples outside the raw image.
func (m *Maps) RemapDepth(dst, src []float32) error {
	if len(src) != m.SrcWidth*m.SrcHeight || len(dst) != m.Width*m.Height {
		return fmt.Errorf("%w: RemapDepth of %d values into %d, want %dx%d into %dx%d", ErrSize, len(src), len(dst),
			m.SrcWidth, m.SrcHeight, m.Width, m.Height)
	}
	sw, sh := m.SrcWidth, m.SrcHeight
	parallelRows(m.Height, func(y0, y1 int) {
		for i := y0 * m.Width; i < y1*m.Width; i++ {
			x, y := m.X[i], m.Y[i]
			dst[i] = 0
			if !(x > -0.5 && y > -0.5) {
				continue
			}
			xi, yi := int(x+0.5), int(y+0.5)
			if xi >= sw || yi >= sh {
				continue
			}
			if d := src[yi*sw+xi]; d > 0 {
				dst[i] = d * m.ZScale[i]
			}
		}
	})
	return nil
}

// Valid returns the share of rectified pixels that sample inside the raw
// image (1 for a rectification without black borders).
func (m *Maps) Valid() float64 {
	n := 0
	for i := range m.X {
		x, y := m.X[i], m.Y[i]
		if x >= 0 && y >= 0 && x <= float32(m.SrcWidth-1) && y <= float32(m.SrcHeight-1) {
			n++
		}
	}
	return float64(n) / float64(len(m.X))
}

// parallelRows runs f over [0, rows) in contiguous chunks on up to
// GOMAXPROCS goroutines.
func parallelRows(rows int, f func(y0, y1 int)) {
	workers := min(runtime.GOMAXPROCS(0), rows)
	if workers <= 1 || rows < 16 {
		f(0, rows)
		return
	}
	var wg sync.WaitGroup
	chunk := (rows + workers - 1) / workers
	for y := 0; y < rows; y += chunk {
		wg.Add(1)
		go func(y0, y1 int) {
			defer wg.Done()
			f(y0, y1)
		}(y, min(y+chunk, rows))
	}
	wg.Wait()
}
