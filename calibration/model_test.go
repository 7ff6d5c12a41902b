package calibration

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/parallax-robotics/parallax/msgs"
)

// testCamera is a 640x480 camera with OpenCV's sample lens
// (examples/data/left_intrinsics.yml) in the given model.
func testCamera(m Model) Camera {
	c := Camera{Name: "left", Width: 640, Height: 480, Model: m, R: identity3,
		K: [9]float64{535.9, 0, 342.3, 0, 535.9, 235.6, 0, 0, 1}}
	switch m {
	case PlumbBob:
		c.D = []float64{-0.2664, -0.0386, 0.00178, -0.00028, 0.2384}
	case RationalPolynomial:
		c.D = []float64{-0.31, 0.12, 0.0011, -0.0007, 0.02, -0.05, 0.07, 0.01}
	case Equidistant:
		c.K = [9]float64{280, 0, 320.5, 0, 281, 240.25, 0, 0, 1}
		c.D = []float64{-0.013, 0.021, -0.012, 0.0023}
	}
	return c
}

// testStereo is a rectified pair: two plumb_bob cameras, the right one 8.4
// cm to the right and slightly rotated, rectified to one pinhole model.
func testStereo() Stereo {
	l := testCamera(PlumbBob)
	r := testCamera(PlumbBob)
	r.Name = "right"
	r.K = [9]float64{539.1, 0, 327.1, 0, 538.8, 246.9, 0, 0, 1}
	r.D = []float64{-0.2785, 0.0799, -0.00074, 0.00034, -0.0095}
	rot := Rodrigues([3]float64{0.0031, -0.0087, 0.0062})
	ext := &Extrinsics{R: rot, T: [3]float64{-0.0836, 0.0011, 0.0004}}
	l.R = Rodrigues([3]float64{0.0002, -0.0154, 0.0081})
	r.R = Rodrigues([3]float64{-0.0013, -0.0068, 0.0141})
	f := 521.445
	l.P = [12]float64{f, 0, 352.63, 0, 0, f, 243.4, 0, 0, 0, 1, 0}
	r.P = [12]float64{f, 0, 352.63, -f * 0.08365, 0, f, 243.4, 0, 0, 0, 1, 0}
	return Stereo{Left: l, Right: r, Extrinsics: ext}
}

func TestDistortUndistort(t *testing.T) {
	for _, m := range []Model{PlumbBob, RationalPolynomial, Equidistant} {
		t.Run(string(m), func(t *testing.T) {
			c := testCamera(m)
			worst := 0.0
			for v := 0.0; v <= 479; v += 23.9 {
				for u := 0.0; u <= 639; u += 31.9 {
					x, y, ok := c.UndistortPixel(u, v)
					if !ok {
						t.Fatalf("UndistortPixel(%g, %g) failed", u, v)
					}
					uu, vv, ok := c.Project([3]float64{x * 2, y * 2, 2})
					if !ok {
						t.Fatal("Project failed")
					}
					worst = math.Max(worst, math.Hypot(uu-u, vv-v))
				}
			}
			if worst > 1e-6 {
				t.Errorf("project(undistort(pixel)) is off by up to %.3g px", worst)
			}
		})
	}
}

func TestDistortKnownValues(t *testing.T) {
	// plumb_bob by hand: x = 0.3, y = -0.2.
	c := Camera{Model: PlumbBob, D: []float64{0.1, 0.01, 0.001, 0.002, 0.0001}}
	x, y := 0.3, -0.2
	r2 := x*x + y*y
	rad := 1 + 0.1*r2 + 0.01*r2*r2 + 0.0001*r2*r2*r2
	wx := x*rad + 2*0.001*x*y + 0.002*(r2+2*x*x)
	wy := y*rad + 0.001*(r2+2*y*y) + 2*0.002*x*y
	gx, gy := c.Distort(x, y)
	if math.Abs(gx-wx) > 1e-15 || math.Abs(gy-wy) > 1e-15 {
		t.Errorf("Distort = (%v, %v), want (%v, %v)", gx, gy, wx, wy)
	}
	// equidistant: theta_d = theta (1 + k1 theta^2 ...), along a radius.
	f := Camera{Model: Equidistant, D: []float64{0.1, 0, 0, 0}}
	th := math.Atan(0.5)
	gx, gy = f.Distort(0.5, 0)
	if want := th * (1 + 0.1*th*th); math.Abs(gx-want) > 1e-15 || gy != 0 {
		t.Errorf("fisheye Distort = (%v, %v), want (%v, 0)", gx, gy, want)
	}
}

func TestValidate(t *testing.T) {
	good := testCamera(PlumbBob)
	tests := []struct {
		name  string
		edit  func(c *Camera)
		field string
		err   error
	}{
		{"good", func(c *Camera) {}, "", nil},
		{"negative fx", func(c *Camera) { c.K[0] = -1 }, "K", ErrInvalid},
		{"K bottom row", func(c *Camera) { c.K[8] = 2 }, "K", ErrInvalid},
		{"short D", func(c *Camera) { c.D = c.D[:4] }, "D", ErrInvalid},
		{"NaN D", func(c *Camera) { c.D[1] = math.NaN() }, "D", ErrInvalid},
		{"unknown model", func(c *Camera) { c.Model = "fov" }, "distortion_model", ErrUnsupported},
		{"not a rotation", func(c *Camera) { c.R[0] = 2 }, "R", ErrInvalid},
		{"bad P", func(c *Camera) { c.P = [12]float64{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 0} }, "P", ErrInvalid},
		{"half size", func(c *Camera) { c.Height = 0 }, "size", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			c.D = append([]float64(nil), good.D...)
			tt.edit(&c)
			err := c.Validate()
			if tt.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *Error
			if !errors.Is(err, tt.err) || !errors.As(err, &e) || e.Field != tt.field {
				t.Errorf("Validate = %v, want %v at field %q", err, tt.err, tt.field)
			}
		})
	}
}

func TestStereoValidate(t *testing.T) {
	s := testStereo()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if b := s.Baseline(); math.Abs(b-0.08365) > 1e-12 {
		t.Errorf("Baseline = %v", b)
	}
	bad := testStereo()
	bad.Right.P[2] += 3
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "cx'") {
		t.Errorf("another cx': %v", err)
	}
	bad = testStereo()
	bad.Right.P[3] = -bad.Right.P[3]
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "baseline") {
		t.Errorf("right camera to the left: %v", err)
	}
	bad = testStereo()
	bad.Left.P, bad.Right.P, bad.Extrinsics = [12]float64{}, [12]float64{}, nil
	if err := bad.Validate(); !errors.Is(err, ErrMissing) {
		t.Errorf("neither rectification nor extrinsics: %v", err)
	}
	q := s.Q()
	// A point at depth z in the left rectified camera has disparity
	// fx*b/z; Q maps (u, v, d) back to it.
	z := 3.0
	u, v := 400.0, 200.0
	d := s.Left.P[0] * s.Baseline() / z
	X := [4]float64{}
	for i := 0; i < 4; i++ {
		X[i] = q[i*4]*u + q[i*4+1]*v + q[i*4+2]*d + q[i*4+3]
	}
	if got := X[2] / X[3]; math.Abs(got-z) > 1e-9 {
		t.Errorf("Q gives depth %v, want %v", got, z)
	}
}

func TestScaled(t *testing.T) {
	c := testStereo().Right
	h, err := c.Scaled(320, 240)
	if err != nil {
		t.Fatal(err)
	}
	// A pixel's centre maps to the centre of the pixel it shrinks into:
	// msgs coordinates halve.
	k0, k1 := c.Intrinsics(), h.Intrinsics()
	if k1 != k0.Scaled(320, 240) {
		t.Errorf("Scaled intrinsics %+v, want %+v", k1, k0.Scaled(320, 240))
	}
	r0, b0 := c.RectifiedIntrinsics()
	r1, b1 := h.RectifiedIntrinsics()
	if r1 != r0.Scaled(320, 240) || math.Abs(b1-b0) > 1e-12 {
		t.Errorf("Scaled rectified %+v b %v, want %+v b %v", r1, b1, r0.Scaled(320, 240), b0)
	}
	if _, err := c.Scaled(640, 360); !errors.Is(err, ErrSize) {
		t.Errorf("another aspect ratio: %v", err)
	}
}

func TestIntrinsicsConvention(t *testing.T) {
	k := msgs.Intrinsics{Width: 320, Height: 96, Fx: 185.6, Fy: 185.6, Cx: 160, Cy: 48}
	c := CameraFromIntrinsics(k)
	if c.K[2] != 159.5 || c.K[5] != 47.5 {
		t.Errorf("K = %v: cx, cy must be in the ROS convention", c.K)
	}
	if got := c.Intrinsics(); got != k {
		t.Errorf("Intrinsics() = %+v, want %+v", got, k)
	}
	if got, b := c.RectifiedIntrinsics(); got != k || b != 0 {
		t.Errorf("RectifiedIntrinsics() = %+v, %v", got, b)
	}
	if c.NeedsRemap() {
		t.Error("a distortion-free camera needs no remap")
	}
}

func TestRodrigues(t *testing.T) {
	for _, v := range [][3]float64{{0, 0, 0}, {0.1, -0.2, 0.3}, {0, 0, math.Pi - 1e-9}, {1e-9, 0, 0}} {
		r := Rodrigues(v)
		if e := rotationError(r); e > 1e-12 {
			t.Errorf("Rodrigues(%v) is not a rotation (%g)", v, e)
		}
		back := RotationVector(r)
		r2 := Rodrigues(back)
		for i := range r {
			if math.Abs(r[i]-r2[i]) > 1e-8 {
				t.Errorf("RotationVector(Rodrigues(%v)) = %v", v, back)
				break
			}
		}
	}
}

func TestSymEigen(t *testing.T) {
	r := Rodrigues([3]float64{0.3, 0.5, -0.2})
	d := mat3{1, 0, 0, 0, 4, 0, 0, 0, 9}
	a := mul3(mul3(r, d), transpose3(r))
	vals, v := symEigen3(a)
	if math.Abs(vals[0]-1) > 1e-12 || math.Abs(vals[1]-4) > 1e-12 || math.Abs(vals[2]-9) > 1e-12 {
		t.Errorf("eigenvalues %v", vals)
	}
	for c := 0; c < 3; c++ {
		col := vec3{v[c], v[3+c], v[6+c]}
		av := mulVec3(a, col)
		for i := 0; i < 3; i++ {
			if math.Abs(av[i]-vals[c]*col[i]) > 1e-10 {
				t.Errorf("column %d is not an eigenvector", c)
			}
		}
	}
}

func TestCameraInfo(t *testing.T) {
	for _, c := range []Camera{testStereo().Right, testCamera(Equidistant)} {
		m := CameraInfo(c, "cam")
		back, err := FromCameraInfo(m)
		if err != nil {
			t.Fatal(err)
		}
		if !sameCamera(back, c) || m.GetDistortionModel() != string(c.Model) {
			t.Errorf("round trip %+v, want %+v", back, c)
		}
	}
}
