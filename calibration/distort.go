package calibration

import "math"

// The lens models' mathematics, in normalised image coordinates (x, y) =
// (X/Z, Y/Z) of a point in the camera frame, and pixels in the ROS/OpenCV
// convention. Distort follows OpenCV's projectPoints (and cv::fisheye's
// for Equidistant) term for term, so maps and reprojection errors computed
// here agree with OpenCV's.

// Distort maps undistorted normalised coordinates to distorted ones.
func (c *Camera) Distort(x, y float64) (xd, yd float64) {
	d := c.D
	switch c.Model {
	case Equidistant:
		r := math.Hypot(x, y)
		if r < 1e-12 {
			return x, y
		}
		th := math.Atan(r)
		th2 := th * th
		thd := th * (1 + th2*(d[0]+th2*(d[1]+th2*(d[2]+th2*d[3]))))
		s := thd / r
		return x * s, y * s
	case PlumbBob, RationalPolynomial:
		var k1, k2, p1, p2, k3, k4, k5, k6 float64
		k1, k2, p1, p2, k3 = d[0], d[1], d[2], d[3], d[4]
		if c.Model == RationalPolynomial {
			k4, k5, k6 = d[5], d[6], d[7]
		}
		r2 := x*x + y*y
		r4 := r2 * r2
		r6 := r4 * r2
		radial := (1 + k1*r2 + k2*r4 + k3*r6) / (1 + k4*r2 + k5*r4 + k6*r6)
		a1, a2, a3 := 2*x*y, r2+2*x*x, r2+2*y*y
		return x*radial + p1*a1 + p2*a2, y*radial + p1*a3 + p2*a1
	}
	return x, y
}

// ToPixel maps distorted normalised coordinates to a raw pixel through K.
func (c *Camera) ToPixel(xd, yd float64) (u, v float64) {
	k := c.K
	return k[0]*xd + k[1]*yd + k[2], k[4]*yd + k[5]
}

// FromPixel maps a raw pixel to distorted normalised coordinates (K⁻¹).
func (c *Camera) FromPixel(u, v float64) (xd, yd float64) {
	k := c.K
	yd = (v - k[5]) / k[4]
	xd = (u - k[2] - k[1]*yd) / k[0]
	return xd, yd
}

// Project maps a point in the camera frame to its raw pixel; ok is false
// for a point on or behind the camera plane.
func (c *Camera) Project(p [3]float64) (u, v float64, ok bool) {
	if !(p[2] > 0) {
		return 0, 0, false
	}
	xd, yd := c.Distort(p[0]/p[2], p[1]/p[2])
	u, v = c.ToPixel(xd, yd)
	return u, v, true
}

// Undistort inverts Distort: the undistorted normalised coordinates of
// distorted ones, by Newton's method (to 1e-12, at most 30 steps; OpenCV's
// undistortPoints runs 5 fixed-point steps by default and is less exact
// at the image corners). ok is false where the model does not invert (far
// outside the calibrated field of view).
func (c *Camera) Undistort(xd, yd float64) (x, y float64, ok bool) {
	if !c.Distorted() {
		return xd, yd, true
	}
	if c.Model == Equidistant {
		return c.undistortEquidistant(xd, yd)
	}
	x, y = xd, yd
	for it := 0; it < 30; it++ {
		fx, fy := c.Distort(x, y)
		ex, ey := fx-xd, fy-yd
		if math.Abs(ex) < 1e-12 && math.Abs(ey) < 1e-12 {
			return x, y, true
		}
		// The Jacobian by central differences: Distort is a smooth
		// rational function, and h keeps the error near 1e-10.
		const h = 1e-6
		ax, ay := c.Distort(x+h, y)
		bx, by := c.Distort(x-h, y)
		cx, cy := c.Distort(x, y+h)
		dx, dy := c.Distort(x, y-h)
		j00, j10 := (ax-bx)/(2*h), (ay-by)/(2*h)
		j01, j11 := (cx-dx)/(2*h), (cy-dy)/(2*h)
		det := j00*j11 - j01*j10
		if !(math.Abs(det) > 1e-12) {
			return 0, 0, false
		}
		sx := (j11*ex - j01*ey) / det
		sy := (-j10*ex + j00*ey) / det
		x, y = x-sx, y-sy
		if !finite(x) || !finite(y) || math.Abs(x) > 1e3 || math.Abs(y) > 1e3 {
			return 0, 0, false
		}
	}
	fx, fy := c.Distort(x, y)
	if math.Abs(fx-xd) < 1e-9 && math.Abs(fy-yd) < 1e-9 {
		return x, y, true
	}
	return 0, 0, false
}

func (c *Camera) undistortEquidistant(xd, yd float64) (x, y float64, ok bool) {
	thd := math.Hypot(xd, yd)
	if thd < 1e-12 {
		return xd, yd, true
	}
	d := c.D
	th := math.Min(thd, math.Pi/2-1e-6)
	for it := 0; it < 30; it++ {
		th2 := th * th
		f := th*(1+th2*(d[0]+th2*(d[1]+th2*(d[2]+th2*d[3])))) - thd
		df := 1 + th2*(3*d[0]+th2*(5*d[1]+th2*(7*d[2]+9*th2*d[3])))
		if !(math.Abs(df) > 1e-12) {
			return 0, 0, false
		}
		step := f / df
		th -= step
		if math.Abs(step) < 1e-14 {
			break
		}
	}
	if !(th >= 0) || th >= math.Pi/2 {
		return 0, 0, false
	}
	s := math.Tan(th) / thd
	return xd * s, yd * s, true
}

// UndistortPixel maps a raw pixel to undistorted normalised coordinates.
func (c *Camera) UndistortPixel(u, v float64) (x, y float64, ok bool) {
	xd, yd := c.FromPixel(u, v)
	return c.Undistort(xd, yd)
}

// RectifyPixel maps a raw pixel to the rectified image: undistort, rotate
// by R, project by P (the default rectification when R and P are unset).
// ok is false where the ray does not reach the rectified image plane.
func (c *Camera) RectifyPixel(u, v float64) (ur, vr float64, ok bool) {
	x, y, ok := c.UndistortPixel(u, v)
	if !ok {
		return 0, 0, false
	}
	r := c.R
	if r == ([9]float64{}) {
		r = identity3
	}
	q := mulVec3(r, vec3{x, y, 1})
	if !(q[2] > 0) {
		return 0, 0, false
	}
	p := c.P
	if !c.HasRectification() {
		k := c.K
		p = [12]float64{k[0], k[1], k[2], 0, k[3], k[4], k[5], 0, k[6], k[7], k[8], 0}
	}
	xr, yr := q[0]/q[2], q[1]/q[2]
	return p[0]*xr + p[1]*yr + p[2], p[5]*yr + p[6], true
}
