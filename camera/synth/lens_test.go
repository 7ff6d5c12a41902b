package synth

import (
	"errors"
	"math"
	"testing"
)

func TestLensConfig(t *testing.T) {
	c, err := ParseURL("synth://?stereo=1&k1=-0.2&k2=0.03&p1=0.001&p2=-0.001&k3=0.002&right_yaw=1&right_pitch=-0.5&right_roll=0.25")
	if err != nil {
		t.Fatal(err)
	}
	if c.K1 != -0.2 || c.K3 != 0.002 || c.RightYaw != 1 || c.RightRoll != 0.25 || !c.Distorted() || !c.Unrectified() {
		t.Errorf("%+v", c)
	}
	if back, err := ParseURL(c.URL()); err != nil || back != c {
		t.Errorf("URL round trip: %+v, %v", back, err)
	}
	for _, bad := range []string{"synth://?right_yaw=1", "synth://?stereo=1&right_yaw=11", "synth://?k1=2"} {
		if _, err := ParseURL(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// TestLensGroundTruth: a distorted frame's pixels see what the ideal
// camera sees where the lens model says they look, and the right camera's
// truth pose is rotated.
func TestLensGroundTruth(t *testing.T) {
	cfg := Config{Seed: 2, Stereo: true, Exposure: -1, K1: -0.2, K2: 0.04, RightYaw: 1.5}
	w, err := NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.K1, cfg.K2 = 0, 0
	ideal, err := NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	left, right := w.Render(3)
	il, _ := ideal.Render(3)
	k := w.Intrinsics()
	cam := w.Calibration().Stereo.Left
	agree, n := 0, 0
	for y := 2; y < k.Height; y += 5 {
		for x := 2; x < k.Width; x += 5 {
			// The ray of distorted pixel (x, y) hits the ideal image at (u, v).
			a, b, ok := cam.UndistortPixel(float64(x), float64(y))
			if !ok {
				t.Fatalf("pixel (%d, %d) does not undistort", x, y)
			}
			u, v := int(math.Floor(k.Fx*a+k.Cx)), int(math.Floor(k.Fy*b+k.Cy))
			if u < 0 || v < 0 || u >= k.Width || v >= k.Height {
				continue
			}
			n++
			d, di := left.Truth.Depth[y*k.Width+x], il.Truth.Depth[v*k.Width+u]
			if math.Abs(float64(d-di)) < 0.02*float64(di) {
				agree++
			}
		}
	}
	if n == 0 || float64(agree) < 0.9*float64(n) {
		t.Errorf("only %d of %d distorted pixels see the ideal camera's depth where the lens says", agree, n)
	}
	// The right camera looks 1.5 degrees to the right of the left one.
	lz := [3]float64{left.Truth.Pose.R[2], left.Truth.Pose.R[5], left.Truth.Pose.R[8]}
	rz := [3]float64{right.Truth.Pose.R[2], right.Truth.Pose.R[5], right.Truth.Pose.R[8]}
	ang := math.Acos(lz[0]*rz[0]+lz[1]*rz[1]+lz[2]*rz[2]) * 180 / math.Pi
	if math.Abs(ang-1.5) > 1e-6 {
		t.Errorf("the optical axes are %.6f degrees apart, want 1.5", ang)
	}
}
