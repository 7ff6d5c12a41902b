package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parallax-robotics/parallax/calibration"
	"github.com/parallax-robotics/parallax/internal/cvtest"
)

// TestCalibrateStereoSample: parallax calibrate on OpenCV's own stereo
// chessboard pairs (Debian's opencv-doc) finds the board in all 13 pairs,
// prints per-view and overall RMS, writes two ROS files that read back as
// a rectified pair with OpenCV's sample baseline (about 8.4 cm; the
// library's test ties the numbers to python3-opencv within 0.5%), and
// --check reports a held-out epipolar error below 0.5 px.
func TestCalibrateStereoSample(t *testing.T) {
	left, right := cvtest.StereoSample(t)
	dir := t.TempDir()
	var out, errb bytes.Buffer
	err := dispatch(context.Background(), []string{"calibrate", "--board", "9x6", "--square", "0.025",
		"--left", strings.Join(left, ","), "--right", strings.Join(right, ","), "--check", "4", "-o", dir}, &out, &errb)
	if err != nil {
		if strings.Contains(err.Error(), "-tags nocv") {
			t.Skipf("no OpenCV in this build: %v", err)
		}
		t.Fatalf("%v\n%s%s", err, out.String(), errb.String())
	}
	s := out.String()
	for _, want := range []string{"board found (54 corners)", "held out for --check", "stereo RMS", "held-out views", "wrote"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if n := strings.Count(s, "board found"); n != 13 {
		t.Errorf("%d pairs with the board, want 13", n)
	}
	var held float64 = -1
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "px on the 10 calibration views, "); i >= 0 {
			if _, err := fmtSscan(line[i+len("px on the 10 calibration views, "):], &held); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !(held >= 0 && held < 0.5) {
		t.Errorf("held-out epipolar error %v, want below 0.5 px:\n%s", held, s)
	}
	set, err := calibration.Read(filepath.Join(dir, "right.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := calibration.Read(filepath.Join(dir, "left.yaml")); err != nil {
		t.Fatal(err)
	}
	if len(set.Cameras) != 1 || set.Cameras[0].P[3] >= 0 {
		t.Fatalf("read back %+v", set.Cameras)
	}
	b := -set.Cameras[0].P[3] / set.Cameras[0].P[0]
	if math.Abs(b-0.0837) > 0.002 || set.Cameras[0].Width != 640 {
		t.Errorf("baseline %.5f m, want about 0.0837 (OpenCV's sample)", b)
	}
	t.Logf("baseline %.5f m, held-out epipolar %.4f px", b, held)

	// The OpenCV form of a mono calibration; an image of another size is
	// refused, named.
	out.Reset()
	if err := dispatch(context.Background(), []string{"calibrate", "--board", "9x6", "--format", "opencv", "-o", dir,
		strings.Join(left[:6], ",")}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	mono, err := calibration.Read(filepath.Join(dir, "camera.yml"))
	if err != nil || len(mono.Cameras) != 1 || math.Abs(mono.Cameras[0].K[0]/536-1) > 0.03 {
		t.Errorf("camera.yml: %v %+v", err, mono)
	}
	err = dispatch(context.Background(), []string{"calibrate", "-o", dir, strings.Join(append(left[:3:3], filepath.Join(cvtest.SampleDir, "aloeL.jpg")), ",")}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "aloeL.jpg") || !strings.Contains(err.Error(), "1282x1110") {
		t.Errorf("an image of another size: %v", err)
	}
}

// TestCalibrateUsage: bad flags are usage errors naming the problem.
func TestCalibrateUsage(t *testing.T) {
	for _, args := range [][]string{
		{"calibrate"},
		{"calibrate", "--board", "9by6", "a.png"},
		{"calibrate", "--format", "kitti", "a.png"},
		{"calibrate", "--left", "a*.png"},
		{"calibrate", "--check", "1", "--left", "a", "--right", "b"},
	} {
		var out, errb bytes.Buffer
		if err := dispatch(context.Background(), args, &out, &errb); !errors.Is(err, errUsage) || !strings.Contains(errb.String(), "parallax calibrate: ") {
			t.Errorf("%v: %v %q", args, err, errb.String())
		}
	}
}

func fmtSscan(s string, v *float64) (int, error) { return fmt.Sscan(s, v) }
