package msgs

import (
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

func TestCameraCalibrationRoundTrip(t *testing.T) {
	k := Intrinsics{Width: 640, Height: 192, Fx: 580.5, Fy: 575.25, Cx: 320, Cy: 96.5}
	for _, baseline := range []float64{0, 0.54} {
		c, err := CameraCalibration(testStamp, "left", k, baseline)
		if err != nil {
			t.Fatal(err)
		}
		// ROS puts the top-left pixel centre at (0, 0), msgs.Intrinsics at (0.5, 0.5).
		wantK := []float64{580.5, 0, 319.5, 0, 575.25, 96, 0, 0, 1}
		wantP := []float64{580.5, 0, 319.5, -580.5 * baseline, 0, 575.25, 96, 0, 0, 0, 1, 0}
		if !equalF64(c.K, wantK) || !equalF64(c.P, wantP) || !equalF64(c.R, []float64{1, 0, 0, 0, 1, 0, 0, 0, 1}) {
			t.Fatalf("K %v P %v R %v", c.K, c.P, c.R)
		}
		if c.DistortionModel != "plumb_bob" || !equalF64(c.D, []float64{0, 0, 0, 0, 0}) || c.Width != 640 || c.Height != 192 {
			t.Fatalf("model %q D %v size %dx%d", c.DistortionModel, c.D, c.Width, c.Height)
		}
		b, err := proto.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var got foxglove.CameraCalibration
		if err := proto.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		gk, err := IntrinsicsFromCalibration(&got)
		if err != nil || gk != k {
			t.Fatalf("IntrinsicsFromCalibration = %+v, %v; want %+v", gk, err, k)
		}
		gb, err := StereoBaseline(&got)
		if err != nil || math.Abs(gb-baseline) > 1e-15 || math.Signbit(gb) {
			t.Fatalf("StereoBaseline = %v, %v; want %v", gb, err, baseline)
		}
	}
}

func equalF64(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCameraCalibrationErrors(t *testing.T) {
	good := Intrinsics{Width: 64, Height: 48, Fx: 50, Fy: 50, Cx: 32, Cy: 24}
	tests := []struct {
		name     string
		k        Intrinsics
		baseline float64
		substr   string
	}{
		{"zero size", Intrinsics{Fx: 1, Fy: 1}, 0, "image size 0x0"},
		{"negative fx", Intrinsics{Width: 1, Height: 1, Fx: -1, Fy: 1}, 0, "fx -1"},
		{"nan fy", Intrinsics{Width: 1, Height: 1, Fx: 1, Fy: math.NaN()}, 0, "fy NaN"},
		{"inf cx", Intrinsics{Width: 1, Height: 1, Fx: 1, Fy: 1, Cx: math.Inf(1)}, 0, "principal point"},
		{"nan baseline", good, math.NaN(), "baseline NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CameraCalibration(testStamp, "left", tt.k, tt.baseline)
			if !errors.Is(err, ErrInvalidCalibration) || !strings.Contains(err.Error(), tt.substr) {
				t.Fatalf("error %v, want ErrInvalidCalibration containing %q", err, tt.substr)
			}
		})
	}
}

func TestIntrinsicsFromCalibrationErrors(t *testing.T) {
	good := func() *foxglove.CameraCalibration {
		c, err := CameraCalibration(testStamp, "left", Intrinsics{Width: 64, Height: 48, Fx: 50, Fy: 50, Cx: 32, Cy: 24}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name   string
		mutate func(*foxglove.CameraCalibration)
		want   error
		substr string
	}{
		{"distorted", func(c *foxglove.CameraCalibration) { c.D[1] = 0.1 }, ErrInvalidCalibration, "D[1] = 0.1"},
		{"short K", func(c *foxglove.CameraCalibration) { c.K = c.K[:8] }, ErrInvalidCalibration, "K has 8 values"},
		{"skew", func(c *foxglove.CameraCalibration) { c.K[1] = 0.5 }, ErrInvalidCalibration, "is not [fx 0 cx"},
		{"zero fx", func(c *foxglove.CameraCalibration) { c.K[0] = 0 }, ErrInvalidCalibration, "fx 0"},
		{"zero height", func(c *foxglove.CameraCalibration) { c.Height = 0 }, ErrInvalidCalibration, "64x0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.mutate(c)
			if _, err := IntrinsicsFromCalibration(c); !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.substr) {
				t.Fatalf("error %v, want %v containing %q", err, tt.want, tt.substr)
			}
		})
	}
	// No D at all is distortion-free too.
	c := good()
	c.D = nil
	if _, err := IntrinsicsFromCalibration(c); err != nil {
		t.Fatalf("empty D: %v", err)
	}
	if _, err := IntrinsicsFromCalibration(nil); !errors.Is(err, ErrMissingField) {
		t.Fatalf("nil: %v", err)
	}
	c = good()
	c.P = c.P[:11]
	if _, err := StereoBaseline(c); !errors.Is(err, ErrInvalidCalibration) {
		t.Fatalf("short P: %v", err)
	}
	if _, err := StereoBaseline(nil); !errors.Is(err, ErrMissingField) {
		t.Fatalf("nil: %v", err)
	}
}
