package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/parallax-robotics/parallax/calibration"
	"github.com/parallax-robotics/parallax/internal/cvtest"
)

// TestCalibrateStereoSample: parallax calibrate on OpenCV's own stereo
// chessboard pairs (Debian's opencv-doc) finds the board in all 13 pairs,
// prints per-view and overall RMS, writes two ROS files that read back as
// a rectified pair agreeing with python3-opencv's calibration of the same
// pairs by scripts/calib_reference.py (focal lengths, baseline and
// rectified focal length within 0.5%, RMS within 0.05 px), and --check
// reports a held-out epipolar error below 0.5 px.
func TestCalibrateStereoSample(t *testing.T) {
	left, right := cvtest.StereoSample(t)
	ref := cvtest.Reference(t, left, right, "--holdout", "4")
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
	if strings.Contains(s, "rejected") {
		t.Errorf("views rejected from OpenCV's sample:\n%s", s)
	}
	if math.Abs(held-ref.EpipolarHeld) > 0.01 {
		t.Errorf("held-out epipolar error %.4f px, python %.4f", held, ref.EpipolarHeld)
	}
	rel := func(a, b float64) float64 { return math.Abs(a/b - 1) }
	var cams [2]calibration.Camera
	for i, c := range []struct {
		file string
		want cvtest.RefMono
	}{{"left.yaml", ref.Left}, {"right.yaml", ref.Right}} {
		set, err := calibration.Read(filepath.Join(dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if len(set.Cameras) != 1 || set.Cameras[0].Width != 640 {
			t.Fatalf("%s read back %+v", c.file, set.Cameras)
		}
		cams[i] = set.Cameras[0]
		k := cams[i].K
		if rel(k[0], c.want.K[0]) > 0.005 || rel(k[4], c.want.K[4]) > 0.005 {
			t.Errorf("%s: fx %.3f fy %.3f, python %.3f %.3f", c.file, k[0], k[4], c.want.K[0], c.want.K[4])
		}
		rms := printed(t, s, strings.TrimSuffix(c.file, ".yaml")+" RMS")
		if math.Abs(rms-c.want.RMS) > 0.05 {
			t.Errorf("%s: RMS %.4f px, python %.4f", c.file, rms, c.want.RMS)
		}
	}
	if rms := printed(t, s, "stereo RMS"); math.Abs(rms-ref.RMS) > 0.05 {
		t.Errorf("stereo RMS %.4f px, python %.4f", rms, ref.RMS)
	}
	p := cams[1].P
	b := -p[3] / p[0]
	if p[3] >= 0 || rel(b, ref.Baseline) > 0.005 || rel(p[0], ref.P1[0]) > 0.005 || rel(cams[0].P[0], ref.P1[0]) > 0.005 {
		t.Errorf("baseline %.5f m, rectified fx %.3f %.3f; python %.5f m, %.3f", b, cams[0].P[0], p[0], ref.Baseline, ref.P1[0])
	}
	t.Logf("baseline %.5f m (python %.5f), fx %.3f (python %.3f), held-out epipolar %.4f px (python %.4f)", b, ref.Baseline, cams[0].K[0], ref.Left.K[0], held, ref.EpipolarHeld)

	// The OpenCV form of a mono calibration. OpenCV's sample has one
	// outlier, left02.jpg (a steep view, 1.2 px where the others fit
	// within 0.3): --max-view-error 1 rejects it and lists it. An image of
	// another size is refused, named.
	out.Reset()
	if err := dispatch(context.Background(), []string{"calibrate", "--board", "9x6", "--format", "opencv", "-o", dir,
		"--max-view-error", "1", strings.Join(left[:6], ",")}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "rejected  1 views above --max-view-error: left02.jpg\n") || strings.Count(out.String(), "rejected") != 2 {
		t.Errorf("--max-view-error 1 on left01..06: want left02.jpg rejected:\n%s", out.String())
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
		{"calibrate", "--max-view-error", "-1", "a.png"},
		{"calibrate", "--source", "rtsp://h/p", "--still", "-1s"},
	} {
		var out, errb bytes.Buffer
		if err := dispatch(context.Background(), args, &out, &errb); !errors.Is(err, errUsage) || !strings.Contains(errb.String(), "parallax calibrate: ") {
			t.Errorf("%v: %v %q", args, err, errb.String())
		}
	}
}

// printed reads the number after label in calibrate's output ("left RMS",
// "stereo RMS"), spaces between label's words ignored.
func printed(t *testing.T, out, label string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + strings.ReplaceAll(regexp.QuoteMeta(label), " ", " +") + ` +([0-9.]+)`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in the output:\n%s", label, out)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func fmtSscan(s string, v *float64) (int, error) { return fmt.Sscan(s, v) }
