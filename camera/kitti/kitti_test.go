package kitti_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/camera/kitti"
	"github.com/parallax-robotics/parallax/camera/replay"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/msgs"
)

// calibText is a calib_cam_to_cam.txt for intrinsics k and baseline b: the
// KITTI convention puts camera 2 at +6 cm of camera 0 and camera 3 at
// 6 cm - b, as in the real files.
func calibText(k msgs.Intrinsics, b float64) string {
	p := func(x float64) string {
		return fmt.Sprintf("%e 0 %e %e 0 %e %e 0 0 0 1 0", k.Fx, k.Cx-0.5, -k.Fx*x, k.Fy, k.Cy-0.5)
	}
	return strings.Join([]string{
		"calib_time: 09-Jan-2012 13:57:47",
		"corner_dist: 9.950000e-02",
		"R_rect_00: 1 0 0 0 1 0 0 0 1",
		fmt.Sprintf("S_rect_02: %d %d", k.Width, k.Height),
		"P_rect_02: " + p(0.06),
		fmt.Sprintf("S_rect_03: %d %d", k.Width, k.Height),
		"P_rect_03: " + p(0.06+b),
	}, "\n") + "\n"
}

// imuFromCam is the nominal axis swap the reader assumes without the
// velodyne calibrations: camera axes from IMU axes.
var camFromIMU = msgs.Pose{R: [9]float64{0, -1, 0, 0, 0, -1, 1, 0, 0}}

// oxtsLine writes the devkit's inverse: the IMU pose p (IMU to world) as
// lat lon alt roll pitch yaw, Mercator-scaled at lat0, then 24 zeros.
func oxtsLine(p msgs.Pose, lat0 float64) string {
	const er = 6378137.0
	scale := math.Cos(lat0 * math.Pi / 180)
	ty0 := scale * er * math.Log(math.Tan((90+lat0)*math.Pi/360))
	lon := p.T[0] / (scale * er) * 180 / math.Pi
	lat := math.Atan(math.Exp((p.T[1]+ty0)/(scale*er)))*360/math.Pi - 90
	r := p.R
	yaw := math.Atan2(r[3], r[0])
	pitch := -math.Asin(r[6])
	roll := math.Atan2(r[7], r[8])
	return fmt.Sprintf("%.15f %.15f %.15f %.15f %.15f %.15f", lat, lon, p.T[2], roll, pitch, yaw) + strings.Repeat(" 0", 24) + "\n"
}

// writeDrive writes n frames of the synthetic stereo world as a KITTI raw
// drive folder (date/drive_sync/...) and returns the drive folder.
func writeDrive(t testing.TB, w *synth.World, n int) string {
	t.Helper()
	date := filepath.Join(t.TempDir(), "2011_09_26")
	dir := filepath.Join(date, "2011_09_26_drive_0001_sync")
	cfg := w.Config()
	k := msgs.Intrinsics{Width: cfg.Width, Height: cfg.Height, Fx: cfg.Fx, Fy: cfg.Fy, Cx: cfg.Cx, Cy: cfg.Cy}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "oxts", "data"), 0o755))
	must(os.WriteFile(filepath.Join(date, kitti.CamToCam), []byte(calibText(k, cfg.Baseline)), 0o644))
	var stamps strings.Builder
	t0 := time.Date(2011, 9, 26, 13, 2, 25, 0, time.UTC)
	imuFromCam := camFromIMU.Inverse()
	for i := 0; i < n; i++ {
		l, r := w.Render(i)
		for cam, f := range map[int]*msgs.Frame{2: l, 3: r} {
			d := filepath.Join(dir, fmt.Sprintf("image_%02d", cam), "data")
			must(os.MkdirAll(d, 0o755))
			img := image.NewNRGBA(image.Rect(0, 0, f.Width, f.Height))
			for p := 0; p < f.Width*f.Height; p++ {
				copy(img.Pix[4*p:], f.Pix[3*p:3*p+3])
				img.Pix[4*p+3] = 255
			}
			var b bytes.Buffer
			must(png.Encode(&b, img))
			must(os.WriteFile(filepath.Join(d, fmt.Sprintf("%010d.png", i)), b.Bytes(), 0o644))
		}
		fmt.Fprintf(&stamps, "%s\n", t0.Add(time.Duration(float64(i)/cfg.FPS*1e9)).Format("2006-01-02 15:04:05.000000000"))
		imu := imuFromCam.Compose(l.Truth.Pose).Compose(camFromIMU)
		must(os.WriteFile(filepath.Join(dir, "oxts", "data", fmt.Sprintf("%010d.txt", i)), []byte(oxtsLine(imu, 49.0)), 0o644))
	}
	for _, cam := range []int{2, 3} {
		must(os.WriteFile(filepath.Join(dir, fmt.Sprintf("image_%02d", cam), "timestamps.txt"), []byte(stamps.String()), 0o644))
	}
	return dir
}

func TestKITTIDrive(t *testing.T) {
	w, err := synth.NewWorld(synth.Config{Width: 96, Height: 32, Stereo: true, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	dir := writeDrive(t, w, 6)
	ds, err := kitti.Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := w.Config()
	if !ds.Stereo() || math.Abs(ds.Baseline()-cfg.Baseline) > 1e-9 || !ds.HasPoses() {
		t.Fatalf("stereo %v baseline %g (want %g) poses %v", ds.Stereo(), ds.Baseline(), cfg.Baseline, ds.HasPoses())
	}
	d, err := kitti.OpenDrive("kitti://" + dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 6 || !d.Stereo() || math.Abs(d.Baseline()-cfg.Baseline) > 1e-9 {
		t.Fatalf("drive: len %d stereo %v baseline %g", d.Len(), d.Stereo(), d.Baseline())
	}
	l0, _ := w.Render(0)
	for i := 0; i < 6; i++ {
		l, r, err := d.Frame(i)
		if err != nil {
			t.Fatal(err)
		}
		wl, wr := w.Render(i)
		for _, c := range []struct{ got, want *msgs.Frame }{{l, wl}, {r, wr}} {
			if !bytes.Equal(c.got.Pix, c.want.Pix) {
				t.Fatalf("frame %d %s: pixels differ", i, c.got.Camera)
			}
			if k := *c.got.Intrinsics; math.Abs(k.Fx-c.want.Intrinsics.Fx) > 1e-4 || math.Abs(k.Cx-c.want.Intrinsics.Cx) > 1e-4 ||
				math.Abs(k.Cy-c.want.Intrinsics.Cy) > 1e-4 || k.Width != 96 || k.Height != 32 {
				t.Fatalf("frame %d: intrinsics %+v, want %+v", i, k, *c.want.Intrinsics)
			}
		}
		// Ground truth: the left camera's pose relative to frame 0.
		want := l0.Truth.Pose.Inverse().Compose(wl.Truth.Pose)
		for j := range 3 {
			if math.Abs(l.Truth.Pose.T[j]-want.T[j]) > 1e-4 {
				t.Fatalf("frame %d: pose %v, want %v", i, l.Truth.Pose.T, want.T)
			}
		}
		for j := range 9 {
			if math.Abs(l.Truth.Pose.R[j]-want.R[j]) > 1e-6 {
				t.Fatalf("frame %d: rotation %v, want %v", i, l.Truth.Pose.R, want.R)
			}
		}
		// The right camera sits at +baseline along the left camera's x.
		rc := l.Truth.Pose.Inverse().Compose(r.Truth.Pose)
		if math.Abs(rc.T[0]-cfg.Baseline) > 1e-9 {
			t.Fatalf("right camera at %v in the left frame", rc.T)
		}
	}
	// Played as a camera source, at full speed.
	v, _ := ds.View(kitti.Right)
	p := &replay.Player{Stream: v, Camera: "right"}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f, err := p.Read(t.Context())
	if err != nil || f.Camera != "right" || f.Stamp.Year() != 2011 {
		t.Fatalf("player: %v %+v", err, f)
	}
}

func TestKITTIErrors(t *testing.T) {
	w, err := synth.NewWorld(synth.Config{Width: 32, Height: 16, Stereo: true})
	if err != nil {
		t.Fatal(err)
	}
	k := msgs.Intrinsics{Width: 32, Height: 16, Fx: 18.56, Fy: 18.56, Cx: 16, Cy: 8}
	good := calibText(k, 0.54)
	for _, tc := range []struct {
		name  string
		edit  func(dir string)
		want  error
		words string
	}{
		{"missing frame", func(d string) { os.Remove(filepath.Join(d, "image_02", "data", "0000000002.png")) }, kitti.ErrLayout, "0000000002.png is missing"},
		{"right camera short", func(d string) { os.Remove(filepath.Join(d, "image_03", "data", "0000000003.png")) }, kitti.ErrLayout, "4 timestamps for 3 frames"},
		{"timestamps short", func(d string) {
			os.WriteFile(filepath.Join(d, "image_02", "timestamps.txt"), []byte("2011-09-26 13:02:25.1\n"), 0o644)
		}, kitti.ErrLayout, "1 timestamps for 4 frames"},
		{"bad timestamp", func(d string) {
			os.WriteFile(filepath.Join(d, "image_02", "timestamps.txt"), []byte("yesterday\n"), 0o644)
		}, kitti.ErrLayout, "not a KITTI timestamp"},
		{"no calibration", func(d string) { os.Remove(filepath.Join(filepath.Dir(d), kitti.CamToCam)) }, kitti.ErrCalib, "no calib_cam_to_cam.txt"},
		{"no P_rect_03", func(d string) { writeCalib(d, strings.Replace(good, "P_rect_03", "P_rect_13", 1)) }, kitti.ErrCalib, "has no P_rect_03"},
		{"short P_rect_02", func(d string) { writeCalib(d, strings.Replace(good, "P_rect_02: ", "P_rect_02: 1 2 ", 1)) }, kitti.ErrCalib, "has 14 values, want 12"},
		{"not a number", func(d string) { writeCalib(d, strings.Replace(good, "S_rect_02: 32", "S_rect_02: wide", 1)) }, kitti.ErrCalib, `"wide" is not a finite number`},
		{"not key value", func(d string) { writeCalib(d, good+"garbage line\n") }, kitti.ErrCalib, "is not \"key: values\""},
		{"fractional size", func(d string) { writeCalib(d, strings.Replace(good, "S_rect_02: 32", "S_rect_02: 32.5", 1)) }, kitti.ErrCalib, "is not an image size"},
		{"right camera left", func(d string) { writeCalib(d, calibText(k, -0.54)) }, kitti.ErrCalib, "want the right camera to the right"},
		{"bad oxts", func(d string) {
			os.WriteFile(filepath.Join(d, "oxts", "data", "0000000001.txt"), []byte("49 8 100"), 0o644)
		}, kitti.ErrOxts, "has 3 values"},
		{"missing oxts", func(d string) { os.Remove(filepath.Join(d, "oxts", "data", "0000000003.txt")) }, kitti.ErrLayout, "oxts for frame 3"},
		{"no frames", func(d string) { os.RemoveAll(filepath.Join(d, "image_02")) }, kitti.ErrLayout, "image_02/data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeDrive(t, w, 4)
			tc.edit(dir)
			_, err := kitti.Open(dir, "")
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.words) {
				t.Fatalf("Open: %v, want %v saying %q", err, tc.want, tc.words)
			}
		})
	}
	// A frame that is not a PNG: a clear error when it is read.
	dir := writeDrive(t, w, 2)
	os.WriteFile(filepath.Join(dir, "image_02", "data", "0000000001.png"), []byte("not png"), 0o644)
	ds, err := kitti.Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := ds.View(kitti.Left)
	if _, err := v.Frame(1); !errors.Is(err, kitti.ErrFrame) || !strings.Contains(err.Error(), "0000000001.png") {
		t.Fatalf("corrupt frame: %v", err)
	}
}

func writeCalib(dir, text string) {
	os.WriteFile(filepath.Join(filepath.Dir(dir), kitti.CamToCam), []byte(text), 0o644)
}

// FuzzParseCalib feeds arbitrary text to the calibration parser and the
// intrinsics and baseline readers: errors, never panics, and any
// intrinsics returned are usable.
func FuzzParseCalib(f *testing.F) {
	f.Add(calibText(msgs.Intrinsics{Width: 1242, Height: 375, Fx: 721.5377, Fy: 721.5377, Cx: 609.5593, Cy: 172.854}, 0.54))
	f.Add("P_rect_02: 1 0 2 3 0 1 2 0 0 0 1 0\nS_rect_02: 10 10\n")
	f.Add("P_rect_02: nan\n")
	f.Add(":\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := kitti.ParseCalib(strings.NewReader(s), "fuzz.txt")
		if err != nil {
			if !errors.Is(err, kitti.ErrCalib) {
				t.Fatalf("error without ErrCalib: %v", err)
			}
			return
		}
		for _, cam := range []int{2, 3} {
			if k, err := c.Intrinsics(cam); err == nil {
				if _, err := msgs.CameraCalibration(time.Unix(1, 0), "c", k, 0); err != nil {
					t.Fatalf("intrinsics %+v accepted but unusable: %v", k, err)
				}
			}
		}
		if b, err := c.Baseline(2, 3); err == nil && !(b > 0) {
			t.Fatalf("baseline %g accepted", b)
		}
	})
}
