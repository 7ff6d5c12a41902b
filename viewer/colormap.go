package viewer

import "math"

// turbo is Google's Turbo colour map (Anton Mikhailov, 2019) as a 256-entry
// table, evaluated from its published fifth-order polynomial fit (Ruofei
// Du's): index 0 is dark blue-violet, 128 green-yellow, 255 dark red. Turbo
// keeps the rainbow's contrast without its false bands, and reads in
// greyscale as a monotonic ramp.
var turbo = func() (t [256][3]uint8) {
	// Coefficients of 1, x, x^2, x^3, x^4, x^5 per channel.
	coef := [3][6]float64{
		{0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943},
		{0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604},
		{0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973},
	}
	for i := range t {
		x := float64(i) / 255
		for c := 0; c < 3; c++ {
			v, p := 0.0, 1.0
			for _, k := range coef[c] {
				v += k * p
				p *= x
			}
			t[i][c] = uint8(math.Round(255 * math.Min(math.Max(v, 0), 1)))
		}
	}
	return t
}()

// Turbo returns the Turbo colour of x in [0, 1] (clamped) as 8-bit RGB.
func Turbo(x float64) (r, g, b uint8) {
	if !(x > 0) { // NaN too
		x = 0
	}
	c := turbo[int(math.Round(math.Min(x, 1)*255))]
	return c[0], c[1], c[2]
}
