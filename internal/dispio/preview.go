package dispio

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"sort"
)

// Preview renders m as a colour-mapped PNG (Turbo: blue low, red high;
// black where unknown) with a scale bar under it: the colour ramp from lo
// to hi and their values with unit ("px", "m") written at its ends and
// middle. lo and hi of NaN pick the map's 2nd and 98th percentiles, so a
// few outliers do not wash the preview out. invert maps high values to
// blue (for depth: near is red, as for disparity).
func Preview(m Map, lo, hi float64, unit string, invert bool) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	if math.IsNaN(lo) || math.IsNaN(hi) {
		plo, phi := percentiles(m.Data, 0.02, 0.98)
		if math.IsNaN(lo) {
			lo = plo
		}
		if math.IsNaN(hi) {
			hi = phi
		}
	}
	if !(hi > lo) {
		hi = lo + 1
	}
	// The text is drawn at an integer zoom of a 3x5 font, about 1/40 of
	// the width high, at least 1.
	zoom := max(1, m.Width/240)
	barH, textH, pad := 6*zoom, 5*zoom, 2*zoom
	h := m.Height + pad + barH + pad + textH + pad
	img := image.NewRGBA(image.Rect(0, 0, m.Width, h))
	ramp := func(v float64) color.RGBA {
		t := (v - lo) / (hi - lo)
		if invert {
			t = 1 - t
		}
		return Turbo(t)
	}
	for y := 0; y < m.Height; y++ {
		for x := 0; x < m.Width; x++ {
			v := float64(m.Data[y*m.Width+x])
			c := color.RGBA{A: 255}
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				c = ramp(v)
			}
			img.SetRGBA(x, y, c)
		}
	}
	for y := m.Height; y < h; y++ {
		for x := 0; x < m.Width; x++ {
			img.SetRGBA(x, y, color.RGBA{255, 255, 255, 255})
		}
	}
	y0 := m.Height + pad
	for x := 0; x < m.Width; x++ {
		c := ramp(lo + (hi-lo)*float64(x)/float64(max(1, m.Width-1)))
		for y := y0; y < y0+barH; y++ {
			img.SetRGBA(x, y, c)
		}
	}
	ty := y0 + barH + pad
	labels := []string{label(lo, unit), label((lo+hi)/2, unit), label(hi, unit)}
	for i, s := range labels {
		w := textWidth(s, zoom)
		x := 0
		switch i {
		case 1:
			x = (m.Width - w) / 2
		case 2:
			x = m.Width - w
		}
		drawText(img, max(0, x), ty, s, zoom)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func label(v float64, unit string) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	case a >= 10:
		return fmt.Sprintf("%.1f %s", v, unit)
	default:
		return fmt.Sprintf("%.2f %s", v, unit)
	}
}

// percentiles returns the a and b quantiles of the finite values (0, 1 when
// there are none).
func percentiles(data []float32, a, b float64) (float64, float64) {
	v := make([]float64, 0, len(data))
	for _, d := range data {
		if f := float64(d); !math.IsNaN(f) && !math.IsInf(f, 0) {
			v = append(v, f)
		}
	}
	if len(v) == 0 {
		return 0, 1
	}
	sort.Float64s(v)
	at := func(q float64) float64 { return v[int(q*float64(len(v)-1))] }
	return at(a), at(b)
}

// Turbo is Google's Turbo colour map at t in [0, 1] (clamped), from its
// published polynomial approximation (Mikhailov 2019).
func Turbo(t float64) color.RGBA {
	t = math.Min(math.Max(t, 0), 1)
	poly := func(c [6]float64) uint8 {
		v := c[0] + t*(c[1]+t*(c[2]+t*(c[3]+t*(c[4]+t*c[5]))))
		return uint8(math.Round(255 * math.Min(math.Max(v, 0), 1)))
	}
	return color.RGBA{
		R: poly([6]float64{0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943}),
		G: poly([6]float64{0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604}),
		B: poly([6]float64{0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973}),
		A: 255,
	}
}

// font is a 3x5 bitmap font for the scale bar's labels: each glyph is five
// rows of three bits, the high bit on the left.
var font = map[rune][5]uint8{
	'0': {7, 5, 5, 5, 7}, '1': {2, 6, 2, 2, 7}, '2': {7, 1, 7, 4, 7}, '3': {7, 1, 7, 1, 7},
	'4': {5, 5, 7, 1, 1}, '5': {7, 4, 7, 1, 7}, '6': {7, 4, 7, 5, 7}, '7': {7, 1, 1, 1, 1},
	'8': {7, 5, 7, 5, 7}, '9': {7, 5, 7, 1, 7}, '.': {0, 0, 0, 0, 2}, '-': {0, 0, 7, 0, 0},
	'p': {0, 6, 5, 6, 4}, 'x': {0, 5, 2, 5, 0}, 'm': {0, 6, 7, 5, 5}, ' ': {},
}

func textWidth(s string, zoom int) int { return 4 * zoom * len([]rune(s)) }

func drawText(img *image.RGBA, x0, y0 int, s string, zoom int) {
	for i, r := range []rune(s) {
		g, ok := font[r]
		if !ok {
			g = [5]uint8{7, 7, 7, 7, 7} // a box for what the font lacks
		}
		for row := 0; row < 5; row++ {
			for col := 0; col < 3; col++ {
				if g[row]&(4>>col) == 0 {
					continue
				}
				for dy := 0; dy < zoom; dy++ {
					for dx := 0; dx < zoom; dx++ {
						img.SetRGBA(x0+4*zoom*i+col*zoom+dx, y0+row*zoom+dy, color.RGBA{0, 0, 0, 255})
					}
				}
			}
		}
	}
}
