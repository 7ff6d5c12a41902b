package msgs

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// axisAngle returns the rotation matrix of angle a about the unit axis u
// (Rodrigues' formula), independent of the quaternion code under test.
func axisAngle(u [3]float64, a float64) [9]float64 {
	c, s := math.Cos(a), math.Sin(a)
	x, y, z := u[0], u[1], u[2]
	return [9]float64{
		c + x*x*(1-c), x*y*(1-c) - z*s, x*z*(1-c) + y*s,
		y*x*(1-c) + z*s, c + y*y*(1-c), y*z*(1-c) - x*s,
		z*x*(1-c) - y*s, z*y*(1-c) + x*s, c + z*z*(1-c),
	}
}

func testPoses() []Pose {
	poses := []Pose{
		Identity(),
		{R: axisAngle([3]float64{1, 0, 0}, math.Pi), T: [3]float64{1, 2, 3}},  // trace -1, x largest
		{R: axisAngle([3]float64{0, 1, 0}, math.Pi), T: [3]float64{-1, 0, 0}}, // y largest
		{R: axisAngle([3]float64{0, 0, 1}, math.Pi)},                          // z largest
		{R: axisAngle([3]float64{0, 0, 1}, math.Pi/2), T: [3]float64{0, 0, 10}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		u := [3]float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		n := math.Sqrt(u[0]*u[0] + u[1]*u[1] + u[2]*u[2])
		u = [3]float64{u[0] / n, u[1] / n, u[2] / n}
		poses = append(poses, Pose{
			R: axisAngle(u, (rng.Float64()*2-1)*math.Pi),
			T: [3]float64{rng.NormFloat64() * 10, rng.NormFloat64() * 10, rng.NormFloat64() * 10},
		})
	}
	return poses
}

func closePose(a, b Pose, tol float64) bool {
	for i := range a.R {
		if math.Abs(a.R[i]-b.R[i]) > tol {
			return false
		}
	}
	for i := range a.T {
		if math.Abs(a.T[i]-b.T[i]) > tol {
			return false
		}
	}
	return true
}

func TestRotationFromQuaternion(t *testing.T) {
	for i, p := range testPoses() {
		x, y, z, w := p.Quaternion()
		r, err := RotationFromQuaternion(x, y, z, w)
		if err != nil {
			t.Fatal(err)
		}
		if !closePose(Pose{R: r}, Pose{R: p.R}, 1e-12) {
			t.Fatalf("pose %d: R(q(R)) = %v, want %v", i, r, p.R)
		}
		// The quaternion rotates vectors the way R does: q v q* = R v.
		v := [3]float64{0.3, -1.2, 2.5}
		if got, want := quatRotate([4]float64{x, y, z, w}, v), (Pose{R: p.R}).Apply(v); !closeVec(got, want, 1e-12) {
			t.Fatalf("pose %d: q v q* = %v, R v = %v", i, got, want)
		}
		// -q is the same rotation, and a scaled quaternion is normalised.
		r2, err := RotationFromQuaternion(-3*x, -3*y, -3*z, -3*w)
		if err != nil || !closePose(Pose{R: r2}, Pose{R: p.R}, 1e-12) {
			t.Fatalf("pose %d: R(-3q) = %v, %v", i, r2, err)
		}
	}
}

// quatRotate rotates v by the unit quaternion q = (x, y, z, w) with
// Hamilton products, a second derivation to check the matrix against.
func quatRotate(q [4]float64, v [3]float64) [3]float64 {
	mul := func(a, b [4]float64) [4]float64 {
		return [4]float64{
			a[3]*b[0] + a[0]*b[3] + a[1]*b[2] - a[2]*b[1],
			a[3]*b[1] - a[0]*b[2] + a[1]*b[3] + a[2]*b[0],
			a[3]*b[2] + a[0]*b[1] - a[1]*b[0] + a[2]*b[3],
			a[3]*b[3] - a[0]*b[0] - a[1]*b[1] - a[2]*b[2],
		}
	}
	r := mul(mul(q, [4]float64{v[0], v[1], v[2], 0}), [4]float64{-q[0], -q[1], -q[2], q[3]})
	return [3]float64{r[0], r[1], r[2]}
}

func closeVec(a, b [3]float64, tol float64) bool {
	return math.Abs(a[0]-b[0]) <= tol && math.Abs(a[1]-b[1]) <= tol && math.Abs(a[2]-b[2]) <= tol
}

func TestRotationFromQuaternionErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, q := range [][4]float64{{0, 0, 0, 0}, {nan, 0, 0, 1}, {0, inf, 0, 1}, {1e-12, 0, 0, 0}} {
		if _, err := RotationFromQuaternion(q[0], q[1], q[2], q[3]); !errors.Is(err, ErrInvalidPose) {
			t.Errorf("quaternion %v: error %v, want ErrInvalidPose", q, err)
		}
	}
	if _, err := PoseFromQuaternion(0, 0, 0, 1, [3]float64{0, nan, 0}); !errors.Is(err, ErrInvalidPose) || !strings.Contains(err.Error(), "translation[1]") {
		t.Errorf("NaN translation: error %v", err)
	}
}

func TestFoxglovePoseRoundTrip(t *testing.T) {
	for i, p := range testPoses() {
		fp := FoxglovePose(p)
		if fp.Orientation.W < 0 {
			t.Fatalf("pose %d: w = %g < 0", i, fp.Orientation.W)
		}
		b, err := proto.Marshal(PoseInFrame(testStamp, "odom", p))
		if err != nil {
			t.Fatal(err)
		}
		var pif foxglove.PoseInFrame
		if err := proto.Unmarshal(b, &pif); err != nil {
			t.Fatal(err)
		}
		got, err := PoseFromFoxglove(pif.Pose)
		if err != nil {
			t.Fatal(err)
		}
		if !closePose(got, p, 1e-12) || pif.FrameId != "odom" || !pif.Timestamp.AsTime().Equal(testStamp) {
			t.Fatalf("pose %d: round trip %+v in %q, want %+v", i, got, pif.FrameId, p)
		}
		tf := FrameTransform(testStamp, "odom", "left", p)
		got, err = PoseFromFrameTransform(tf)
		if err != nil || !closePose(got, p, 1e-12) || tf.ParentFrameId != "odom" || tf.ChildFrameId != "left" {
			t.Fatalf("pose %d: frame transform round trip %+v, %v", i, got, err)
		}
	}
}

func TestPoseFromFoxgloveErrors(t *testing.T) {
	tests := []struct {
		name    string
		pose    *foxglove.Pose
		wantErr error
	}{
		{"nil", nil, ErrMissingField},
		{"no orientation", &foxglove.Pose{Position: &foxglove.Vector3{X: 1}}, ErrMissingField},
		{"zero quaternion", &foxglove.Pose{Orientation: &foxglove.Quaternion{}}, ErrInvalidPose},
		{"inf position", &foxglove.Pose{Position: &foxglove.Vector3{Z: math.Inf(-1)}, Orientation: &foxglove.Quaternion{W: 1}}, ErrInvalidPose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := PoseFromFoxglove(tt.pose); !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
		})
	}
	// An unset position is the origin.
	p, err := PoseFromFoxglove(&foxglove.Pose{Orientation: &foxglove.Quaternion{W: 1}})
	if err != nil || !closePose(p, Identity(), 0) {
		t.Fatalf("identity without position = %+v, %v", p, err)
	}
	if _, err := PoseFromFrameTransform(nil); !errors.Is(err, ErrMissingField) {
		t.Fatalf("nil transform: error %v", err)
	}
}

func TestOdometry(t *testing.T) {
	p := testPoses()[7]
	o := Odometry(testStamp, "odom", "left", 42, p)
	o.PoseCovariance = make([]float64, 36)
	got, err := OdometryPose(o)
	if err != nil || !closePose(got, p, 1e-12) || o.Seq != 42 {
		t.Fatalf("OdometryPose = %+v, %v", got, err)
	}

	tf := TransformFromOdometry(o)
	if tf.ParentFrameId != "odom" || tf.ChildFrameId != "left" || !proto.Equal(tf.Timestamp, o.Timestamp) {
		t.Fatalf("transform header %q <- %q at %v", tf.ParentFrameId, tf.ChildFrameId, tf.Timestamp)
	}
	if got, err := PoseFromFrameTransform(tf); err != nil || !closePose(got, p, 1e-12) {
		t.Fatalf("transform pose = %+v, %v", got, err)
	}
	tf.Translation.X = 1e9 // must not write through to the odometry
	pif := PoseInFrameFromOdometry(o)
	if pif.FrameId != "odom" || !proto.Equal(pif.Pose, o.Pose) {
		t.Fatalf("PoseInFrame = %v, want pose %v in odom", pif, o.Pose)
	}

	tests := []struct {
		name   string
		mutate func(*parallaxv1.Odometry)
		want   error
		substr string
	}{
		{"short pose covariance", func(o *parallaxv1.Odometry) { o.PoseCovariance = make([]float64, 35) }, ErrInvalidCovariance, "pose_covariance has 35 values"},
		{"nan twist covariance", func(o *parallaxv1.Odometry) {
			o.TwistCovariance = make([]float64, 36)
			o.TwistCovariance[5] = math.NaN()
		}, ErrInvalidCovariance, "twist_covariance[5]"},
		{"no pose", func(o *parallaxv1.Odometry) { o.Pose = nil }, ErrMissingField, "pose"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Odometry(testStamp, "odom", "left", 0, p)
			tt.mutate(o)
			if _, err := OdometryPose(o); !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.substr) {
				t.Fatalf("error %v, want %v containing %q", err, tt.want, tt.substr)
			}
		})
	}
	if _, err := OdometryPose(nil); !errors.Is(err, ErrMissingField) {
		t.Fatalf("nil odometry: error %v", err)
	}
}

// FuzzPoseFromFoxglove checks that any seven doubles either make a proper
// rotation or a clear error.
func FuzzPoseFromFoxglove(f *testing.F) {
	f.Add(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
	f.Add(1.0, 2.0, 3.0, 0.5, 0.5, 0.5, 0.5)
	f.Add(0.0, 0.0, 0.0, 1e-300, 0.0, 0.0, 0.0)
	f.Add(0.0, 0.0, 0.0, 1e300, 1e300, 0.0, 0.0)
	f.Fuzz(func(t *testing.T, px, py, pz, qx, qy, qz, qw float64) {
		p, err := PoseFromFoxglove(&foxglove.Pose{
			Position:    &foxglove.Vector3{X: px, Y: py, Z: pz},
			Orientation: &foxglove.Quaternion{X: qx, Y: qy, Z: qz, W: qw},
		})
		if err != nil {
			if !errors.Is(err, ErrInvalidPose) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		// R R^T = I and det R = 1.
		r := p.R
		for i := 0; i < 3; i++ {
			for j := 0; j < 3; j++ {
				d := r[3*i]*r[3*j] + r[3*i+1]*r[3*j+1] + r[3*i+2]*r[3*j+2]
				if want := map[bool]float64{true: 1, false: 0}[i == j]; math.Abs(d-want) > 1e-9 {
					t.Fatalf("R = %v is not orthonormal: row %d . row %d = %g", r, i, j, d)
				}
			}
		}
		det := r[0]*(r[4]*r[8]-r[5]*r[7]) - r[1]*(r[3]*r[8]-r[5]*r[6]) + r[2]*(r[3]*r[7]-r[4]*r[6])
		if math.Abs(det-1) > 1e-9 {
			t.Fatalf("det R = %g", det)
		}
	})
}

func TestRotationFromQuaternionLarge(t *testing.T) {
	// A huge but finite quaternion is still a rotation: 180 degrees about x.
	r, err := RotationFromQuaternion(1e200, 0, 0, 0)
	if err != nil || !closePose(Pose{R: r}, Pose{R: axisAngle([3]float64{1, 0, 0}, math.Pi)}, 1e-12) {
		t.Fatalf("R(1e200, 0, 0, 0) = %v, %v", r, err)
	}
}
