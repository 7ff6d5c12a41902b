package calibration

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMapsInvertRectifyPixel: the map of the rectified pixel a raw pixel
// rectifies to points back at that raw pixel.
func TestMapsInvertRectifyPixel(t *testing.T) {
	st := testStereo()
	for _, c := range []Camera{st.Left, st.Right, testCamera(RationalPolynomial), testCamera(Equidistant)} {
		m, err := NewMaps(c)
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for v := 40.0; v < 440; v += 37 {
			for u := 40.0; u < 600; u += 41 {
				ur, vr, ok := c.RectifyPixel(u, v)
				if !ok {
					t.Fatalf("%s: RectifyPixel(%g, %g) failed", c.Name, u, v)
				}
				// Bilinear interpolation of the map at (ur, vr).
				x, y, ok := sampleMap(m, ur, vr)
				if !ok {
					continue
				}
				worst = math.Max(worst, math.Hypot(x-u, y-v))
			}
		}
		// The map is smooth: bilinear interpolation between pixels is
		// good to a few thousandths of a pixel.
		if worst > 0.01 {
			t.Errorf("%s %s: maps are off RectifyPixel's inverse by %.4f px", c.Name, c.Model, worst)
		}
	}
}

func sampleMap(m *Maps, u, v float64) (x, y float64, ok bool) {
	i, j := int(math.Floor(u)), int(math.Floor(v))
	if i < 0 || j < 0 || i+1 >= m.Width || j+1 >= m.Height {
		return 0, 0, false
	}
	a, b := u-float64(i), v-float64(j)
	at := func(s []float32, di, dj int) float64 { return float64(s[(j+dj)*m.Width+i+di]) }
	lerp := func(s []float32) float64 {
		return (1-a)*(1-b)*at(s, 0, 0) + a*(1-b)*at(s, 1, 0) + (1-a)*b*at(s, 0, 1) + a*b*at(s, 1, 1)
	}
	return lerp(m.X), lerp(m.Y), true
}

// TestRemapIdentity: a camera with nothing to correct remaps to itself.
func TestRemapIdentity(t *testing.T) {
	c := NewCamera(37, 21, 30, 30, 18, 10)
	m, err := NewMaps(c)
	if err != nil {
		t.Fatal(err)
	}
	src := make([]byte, 37*21*3)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range src {
		src[i] = byte(rng.IntN(256))
	}
	dst := make([]byte, len(src))
	if err := m.Remap(dst, src); err != nil {
		t.Fatal(err)
	}
	for i := range src {
		if dst[i] != src[i] {
			t.Fatalf("byte %d: %d, want %d", i, dst[i], src[i])
		}
	}
	if m.Valid() != 1 {
		t.Errorf("Valid = %v", m.Valid())
	}
}

// TestRemapBilinear: a map shifted by a fraction of a pixel interpolates
// (within the 1/256-pixel fractions), and samples outside are black.
func TestRemapBilinear(t *testing.T) {
	const w, h = 16, 8
	m := &Maps{Width: w, Height: h, SrcWidth: w, SrcHeight: h, X: make([]float32, w*h), Y: make([]float32, w*h)}
	for j := 0; j < h; j++ {
		for i := 0; i < w; i++ {
			m.X[j*w+i] = float32(i) - 0.25
			m.Y[j*w+i] = float32(j) + 0.5
		}
	}
	m.X[5] = float32(math.NaN())
	m.X[6] = -3
	m.buildTable()
	src := make([]byte, w*h*3)
	for j := 0; j < h; j++ {
		for i := 0; i < w; i++ {
			for ch := 0; ch < 3; ch++ {
				src[(j*w+i)*3+ch] = byte(10*i + 7*j + ch)
			}
		}
	}
	dst := make([]byte, len(src))
	if err := m.Remap(dst, src); err != nil {
		t.Fatal(err)
	}
	val := func(x, y float64, ch int) float64 {
		if x < 0 || y < 0 || x > w-1 || y > h-1 {
			return 0
		}
		return 10*x + 7*y + float64(ch)
	}
	for j := 0; j < h; j++ {
		for i := 0; i < w; i++ {
			for ch := 0; ch < 3; ch++ {
				got := float64(dst[(j*w+i)*3+ch])
				want := 0.0
				switch {
				case j*w+i == 5 || j*w+i == 6:
				case i == 0 || j == h-1: // partly outside: the outside texels are black
					x, y := float64(i)-0.25, float64(j)+0.5
					x0, y0 := math.Floor(x), math.Floor(y)
					ax, ay := x-x0, y-y0
					want = (1-ax)*(1-ay)*val(x0, y0, ch) + ax*(1-ay)*val(x0+1, y0, ch) + (1-ax)*ay*val(x0, y0+1, ch) + ax*ay*val(x0+1, y0+1, ch)
				default:
					want = val(float64(i)-0.25, float64(j)+0.5, ch)
				}
				if math.Abs(got-want) > 1 {
					t.Fatalf("pixel (%d, %d) channel %d = %v, want %.2f", i, j, ch, got, want)
				}
			}
		}
	}
}

// TestRemapDepth: a plane's raw z-depth becomes its z-depth in a rotated
// rectified frame.
func TestRemapDepth(t *testing.T) {
	c := NewCamera(64, 48, 50, 50, 31.5, 23.5)
	c.R = Rodrigues([3]float64{0, 0.1, 0}) // rectified frame yawed by 0.1 rad
	c.P = [12]float64{50, 0, 31.5, 0, 0, 50, 23.5, 0, 0, 0, 1, 0}
	m, err := NewMaps(c)
	if err != nil {
		t.Fatal(err)
	}
	// The raw camera sees the plane z = 5 (its own frame).
	raw := make([]float32, 64*48)
	for i := range raw {
		raw[i] = 5
	}
	rect := make([]float32, len(raw))
	if err := m.RemapDepth(rect, raw); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for v := 0; v < 48; v++ {
		for u := 0; u < 64; u++ {
			d := float64(rect[v*64+u])
			if d == 0 {
				continue
			}
			// The rectified ray through (u, v), scaled to the depth d,
			// lies on the raw plane z = 5 when rotated back.
			r := vec3{(float64(u) - 31.5) / 50 * d, (float64(v) - 23.5) / 50 * d, d}
			p := mulVec3(transpose3(c.R), r)
			if math.Abs(p[2]-5) > 1e-4 {
				t.Fatalf("pixel (%d, %d): rectified depth %v puts the point at raw z %v, want 5", u, v, d, p[2])
			}
			checked++
		}
	}
	if checked < 64*40 {
		t.Errorf("only %d pixels have a depth", checked)
	}
}

func BenchmarkRemap(b *testing.B) {
	for _, size := range []struct{ w, h int }{{640, 480}, {1280, 720}} {
		c := testCamera(PlumbBob)
		c, err := c.Scaled(size.w, size.w*3/4)
		if err != nil {
			b.Fatal(err)
		}
		if size.h != c.Height {
			c.Height = size.h
			c.K[5] = float64(size.h) / 2
		}
		m, err := NewMaps(c)
		if err != nil {
			b.Fatal(err)
		}
		src := make([]byte, size.w*size.h*3)
		dst := make([]byte, len(src))
		b.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(b *testing.B) {
			b.SetBytes(int64(len(dst)))
			for b.Loop() {
				if err := m.Remap(dst, src); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/frame")
		})
	}
}
