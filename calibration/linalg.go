package calibration

import "math"

// Small dense linear algebra on row-major 3x3 matrices and 3-vectors: all
// this package needs, without a matrix library.

type mat3 = [9]float64
type vec3 = [3]float64

var identity3 = mat3{1, 0, 0, 0, 1, 0, 0, 0, 1}

func mul3(a, b mat3) mat3 {
	var c mat3
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			c[i*3+j] = a[i*3]*b[j] + a[i*3+1]*b[3+j] + a[i*3+2]*b[6+j]
		}
	}
	return c
}

func mulVec3(a mat3, v vec3) vec3 {
	return vec3{
		a[0]*v[0] + a[1]*v[1] + a[2]*v[2],
		a[3]*v[0] + a[4]*v[1] + a[5]*v[2],
		a[6]*v[0] + a[7]*v[1] + a[8]*v[2],
	}
}

func transpose3(a mat3) mat3 {
	return mat3{a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8]}
}

func det3(a mat3) float64 {
	return a[0]*(a[4]*a[8]-a[5]*a[7]) - a[1]*(a[3]*a[8]-a[5]*a[6]) + a[2]*(a[3]*a[7]-a[4]*a[6])
}

// inv3 returns the inverse of a, ok false when a is singular.
func inv3(a mat3) (mat3, bool) {
	d := det3(a)
	if d == 0 || math.IsNaN(d) || math.IsInf(d, 0) {
		return mat3{}, false
	}
	inv := mat3{
		a[4]*a[8] - a[5]*a[7], a[2]*a[7] - a[1]*a[8], a[1]*a[5] - a[2]*a[4],
		a[5]*a[6] - a[3]*a[8], a[0]*a[8] - a[2]*a[6], a[2]*a[3] - a[0]*a[5],
		a[3]*a[7] - a[4]*a[6], a[1]*a[6] - a[0]*a[7], a[0]*a[4] - a[1]*a[3],
	}
	for i := range inv {
		inv[i] /= d
	}
	return inv, true
}

// rotationError is how far r is from a rotation: the largest entry of
// R^T R - I, plus |det R - 1|.
func rotationError(r mat3) float64 {
	rtr := mul3(transpose3(r), r)
	e := 0.0
	for i := range rtr {
		e = math.Max(e, math.Abs(rtr[i]-identity3[i]))
	}
	return e + math.Abs(det3(r)-1)
}

// Rodrigues returns the rotation matrix of the rotation vector v (axis
// times angle in radians), as OpenCV's cv::Rodrigues.
func Rodrigues(v [3]float64) [9]float64 {
	th := math.Sqrt(v[0]*v[0] + v[1]*v[1] + v[2]*v[2])
	if th < 1e-15 {
		return identity3
	}
	x, y, z := v[0]/th, v[1]/th, v[2]/th
	c, s := math.Cos(th), math.Sin(th)
	t := 1 - c
	return mat3{
		t*x*x + c, t*x*y - s*z, t*x*z + s*y,
		t*x*y + s*z, t*y*y + c, t*y*z - s*x,
		t*x*z - s*y, t*y*z + s*x, t*z*z + c,
	}
}

// RotationVector is the inverse of Rodrigues: the axis-angle vector of the
// rotation r (angle in [0, pi]).
func RotationVector(r [9]float64) [3]float64 {
	c := (r[0] + r[4] + r[8] - 1) / 2
	c = math.Max(-1, math.Min(1, c))
	th := math.Acos(c)
	if th < 1e-12 {
		return vec3{}
	}
	if math.Pi-th < 1e-6 {
		// Near pi: the axis from the diagonal of (R + I)/2 = a a^T.
		x := math.Sqrt(math.Max(0, (r[0]+1)/2))
		y := math.Sqrt(math.Max(0, (r[4]+1)/2))
		z := math.Sqrt(math.Max(0, (r[8]+1)/2))
		if r[1]+r[3] < 0 {
			y = -y
		}
		if r[2]+r[6] < 0 {
			z = -z
		}
		return vec3{x * th, y * th, z * th}
	}
	k := th / (2 * math.Sin(th))
	return vec3{(r[7] - r[5]) * k, (r[2] - r[6]) * k, (r[3] - r[1]) * k}
}

// symEigen3 returns the eigenvalues of the symmetric matrix a in
// ascending order and their unit eigenvectors (the columns of v, row-major),
// by cyclic Jacobi rotations.
func symEigen3(a mat3) (vals vec3, v mat3) {
	v = identity3
	for sweep := 0; sweep < 50; sweep++ {
		off := a[1]*a[1] + a[2]*a[2] + a[5]*a[5]
		if off < 1e-30 {
			break
		}
		for _, pq := range [3][2]int{{0, 1}, {0, 2}, {1, 2}} {
			p, q := pq[0], pq[1]
			apq := a[p*3+q]
			if math.Abs(apq) < 1e-300 {
				continue
			}
			app, aqq := a[p*3+p], a[q*3+q]
			theta := (aqq - app) / (2 * apq)
			t := 1 / (math.Abs(theta) + math.Sqrt(theta*theta+1))
			if theta < 0 {
				t = -t
			}
			c := 1 / math.Sqrt(t*t+1)
			s := t * c
			// a = J^T a J with J the rotation in the (p, q) plane.
			for k := 0; k < 3; k++ {
				akp, akq := a[k*3+p], a[k*3+q]
				a[k*3+p] = c*akp - s*akq
				a[k*3+q] = s*akp + c*akq
			}
			for k := 0; k < 3; k++ {
				apk, aqk := a[p*3+k], a[q*3+k]
				a[p*3+k] = c*apk - s*aqk
				a[q*3+k] = s*apk + c*aqk
			}
			for k := 0; k < 3; k++ {
				vkp, vkq := v[k*3+p], v[k*3+q]
				v[k*3+p] = c*vkp - s*vkq
				v[k*3+q] = s*vkp + c*vkq
			}
		}
	}
	vals = vec3{a[0], a[4], a[8]}
	// Sort ascending, permuting the columns of v with the values.
	for i := 0; i < 2; i++ {
		for j := i + 1; j < 3; j++ {
			if vals[j] < vals[i] {
				vals[i], vals[j] = vals[j], vals[i]
				for k := 0; k < 3; k++ {
					v[k*3+i], v[k*3+j] = v[k*3+j], v[k*3+i]
				}
			}
		}
	}
	return vals, v
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func allFinite(vs []float64) bool {
	for _, v := range vs {
		if !finite(v) {
			return false
		}
	}
	return true
}
