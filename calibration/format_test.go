package calibration

import (
	"bytes"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

func TestDetect(t *testing.T) {
	tests := []struct {
		file string
		want Format
	}{
		{"ros_left.yaml", FormatROS},
		{"ros_mono_fisheye.yaml", FormatROS},
		{"opencv_intrinsics.yml", FormatOpenCVYAML},
		{"opencv_extrinsics.yml", FormatOpenCVYAML},
		{"opencv_mono.yml", FormatOpenCVYAML},
		{"opencv_stereo.xml", FormatOpenCVXML},
		{"kitti_cam_to_cam.txt", FormatKITTI},
		{"kalibr_camchain.yaml", FormatKalibr},
	}
	for _, tt := range tests {
		data, err := os.ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		// By content: the name says nothing.
		if got := Detect(data, "calib"); got != tt.want {
			t.Errorf("Detect(%s) = %v, want %v", tt.file, got, tt.want)
		}
	}
	if got := Detect([]byte("nothing here"), "x.xml"); got != FormatOpenCVXML {
		t.Errorf("by extension: %v", got)
	}
	if got := Detect([]byte("nothing here"), "x.yaml"); got != FormatUnknown {
		t.Errorf("unknown: %v", got)
	}
}

func TestReadTestdata(t *testing.T) {
	tests := []struct {
		files    []string
		cameras  int
		stereo   bool
		check    func(t *testing.T, s *Set)
		baseline float64
	}{
		{[]string{"ros_left.yaml"}, 1, false, func(t *testing.T, s *Set) {
			c := s.Cameras[0]
			if c.Name != "narrow_stereo/left" || c.Width != 640 || c.K[0] != 536.303315 || c.D[4] != 0.252389 || c.P[0] != 521.445212 || c.Model != PlumbBob {
				t.Errorf("%+v", c)
			}
			if !c.NeedsRemap() {
				t.Error("a distorted camera needs a remap")
			}
		}, 0},
		{[]string{"ros_mono_fisheye.yaml"}, 1, false, func(t *testing.T, s *Set) {
			if c := s.Cameras[0]; c.Model != Equidistant || len(c.D) != 4 || c.HasRectification() {
				t.Errorf("%+v", c)
			}
		}, 0},
		{[]string{"opencv_intrinsics.yml", "opencv_extrinsics.yml"}, 2, true, func(t *testing.T, s *Set) {
			st := s.Stereo
			if !st.Rectified() || st.Extrinsics == nil || st.Left.Width != 0 || st.Right.K[0] != 5.3942001213463279e+02 {
				t.Errorf("%+v", st)
			}
		}, 43.617197744212830 / 521.44521208530600},
		{[]string{"opencv_stereo.xml"}, 2, true, func(t *testing.T, s *Set) {
			st := s.Stereo
			if st.Rectified() || st.Left.Width != 640 || st.Right.D[4] != -6.0094155599307155e-02 || st.Extrinsics.T[0] != -8.3330599582562098e-02 {
				t.Errorf("%+v", st)
			}
		}, math.Sqrt(8.3330599582562098e-02*8.3330599582562098e-02 + 1.0633908002853823e-03*1.0633908002853823e-03 + 7.2196447716339869e-05*7.2196447716339869e-05)},
		{[]string{"opencv_mono.yml"}, 1, false, func(t *testing.T, s *Set) {
			if c := s.Cameras[0]; c.Width != 640 || c.K[2] != 3.4228315473308373e+02 || c.Model != PlumbBob {
				t.Errorf("%+v", c)
			}
		}, 0},
		{[]string{"kitti_cam_to_cam.txt"}, 3, true, func(t *testing.T, s *Set) {
			st := s.Stereo
			if st.Left.Name != "02" || st.Right.Name != "03" || st.Left.Width != 1392 || st.Left.RectWidth != 1242 || st.Extrinsics == nil {
				t.Errorf("%+v", st)
			}
			k, b := st.Right.RectifiedIntrinsics()
			if k.Width != 1242 || k.Fx != 721.5377 || k.Cx != 609.5593+0.5 || b <= 0 {
				t.Errorf("rectified %+v %v", k, b)
			}
		}, (3.395242e+02 + 4.485728e+01) / 7.215377e+02},
		{[]string{"kalibr_camchain.yaml"}, 2, true, func(t *testing.T, s *Set) {
			st := s.Stereo
			if st.Rectified() || st.Left.Width != 752 || st.Left.D[4] != 0 || st.Extrinsics.T[0] != -0.1100738 {
				t.Errorf("%+v", st)
			}
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.files[0], func(t *testing.T) {
			var paths []string
			for _, f := range tt.files {
				paths = append(paths, filepath.Join("testdata", f))
			}
			s, err := Read(paths...)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Cameras) != tt.cameras || (s.Stereo != nil) != tt.stereo {
				t.Fatalf("%d cameras, stereo %v", len(s.Cameras), s.Stereo != nil)
			}
			tt.check(t, s)
			if tt.baseline != 0 {
				if b := s.Stereo.Baseline(); math.Abs(b-tt.baseline) > 1e-9 {
					t.Errorf("baseline %v, want %v", b, tt.baseline)
				}
			}
		})
	}
}

// sameCamera compares numbers exactly: every writer writes the shortest
// text that reads back to the same float64.
func sameCamera(a, b Camera) bool {
	a, b = a.WithDefaultRectification(), b.WithDefaultRectification()
	return a.Width == b.Width && a.Height == b.Height && a.K == b.K && a.Model == b.Model &&
		slices.Equal(a.D, b.D) && a.R == b.R && a.P == b.P
}

func TestRoundTrip(t *testing.T) {
	st := testStereo()
	kst := st // KITTI: raw and rectified sizes
	kst.Left.RectWidth, kst.Left.RectHeight, kst.Right.RectWidth, kst.Right.RectHeight = 600, 450, 600, 450
	kalibr := testStereo()
	kalibr.Left.D[4], kalibr.Right.D[4] = 0, 0 // radtan has no k3
	sets := map[string]*Set{
		"stereo":  {Cameras: []Camera{st.Left, st.Right}, Stereo: &st},
		"kitti":   {Cameras: []Camera{kst.Left, kst.Right}, Stereo: &kst},
		"kalibr":  {Cameras: []Camera{kalibr.Left, kalibr.Right}, Stereo: &kalibr},
		"mono":    {Cameras: []Camera{testCamera(RationalPolynomial)}},
		"fisheye": {Cameras: []Camera{testCamera(Equidistant)}},
		"left":    {Cameras: []Camera{st.Left}},
	}
	tests := []struct {
		set    string
		format Format
	}{
		{"left", FormatROS}, {"mono", FormatROS}, {"fisheye", FormatROS},
		{"stereo", FormatOpenCVYAML}, {"stereo", FormatOpenCVXML}, {"mono", FormatOpenCVYAML}, {"fisheye", FormatOpenCVXML}, {"left", FormatOpenCVYAML},
		{"kitti", FormatKITTI}, {"left", FormatKITTI},
		{"kalibr", FormatKalibr}, {"fisheye", FormatKalibr},
	}
	for _, tt := range tests {
		t.Run(tt.set+"/"+tt.format.String(), func(t *testing.T) {
			in := sets[tt.set]
			var b bytes.Buffer
			if err := Write(&b, tt.format, in); err != nil {
				t.Fatal(err)
			}
			out, err := Parse(b.Bytes(), "roundtrip")
			if err != nil {
				t.Fatalf("%v\n%s", err, b.String())
			}
			if out.Format != tt.format {
				t.Errorf("read back as %v", out.Format)
			}
			if (in.Stereo != nil) != (out.Stereo != nil) {
				t.Fatalf("stereo %v, read back %v", in.Stereo != nil, out.Stereo != nil)
			}
			want := in.Cameras
			got := out.Cameras
			if in.Stereo != nil {
				want = []Camera{in.Stereo.Left, in.Stereo.Right}
				got = []Camera{out.Stereo.Left, out.Stereo.Right}
				ei, eo := in.Stereo.Extrinsics, out.Stereo.Extrinsics
				if (ei == nil) != (eo == nil) || (ei != nil && *ei != *eo) {
					t.Errorf("extrinsics %+v, read back %+v", ei, eo)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d cameras, want %d", len(got), len(want))
			}
			for i := range want {
				w := want[i]
				if tt.format == FormatKalibr { // no rectification in Kalibr
					w.R, w.P = identity3, [12]float64{}
				}
				if !sameCamera(w, got[i]) {
					t.Errorf("camera %d:\n%+v\nread back\n%+v\n%s", i, w, got[i], b.String())
				}
			}
		})
	}
}

// TestGolden pins the writers' output.
func TestGolden(t *testing.T) {
	st := testStereo()
	set := &Set{Cameras: []Camera{st.Left, st.Right}, Stereo: &st}
	kalibr := testStereo()
	kalibr.Left.D[4], kalibr.Right.D[4] = 0, 0
	for _, g := range []struct {
		name   string
		format Format
		set    *Set
	}{
		{"left.ros.yaml", FormatROS, &Set{Cameras: []Camera{st.Left}}},
		{"right.ros.yaml", FormatROS, &Set{Cameras: []Camera{st.Right}}},
		{"stereo.opencv.yml", FormatOpenCVYAML, set},
		{"stereo.opencv.xml", FormatOpenCVXML, set},
		{"stereo.kitti.txt", FormatKITTI, set},
		{"stereo.kalibr.yaml", FormatKalibr, &Set{Cameras: []Camera{kalibr.Left, kalibr.Right}, Stereo: &kalibr}},
	} {
		var b bytes.Buffer
		if err := Write(&b, g.format, g.set); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "golden", g.name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := WriteFileAtomic(path, b.Bytes()); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./calibration -update)", err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s differs from the golden file (go test ./calibration -update rewrites it):\n%s", g.name, b.String())
		}
	}
}

func TestWriteErrors(t *testing.T) {
	st := testStereo()
	pair := &Set{Cameras: []Camera{st.Left, st.Right}, Stereo: &st}
	var b bytes.Buffer
	if err := Write(&b, FormatROS, pair); !errors.Is(err, ErrCameras) {
		t.Errorf("ROS of a pair: %v", err)
	}
	if err := Write(&b, FormatKalibr, pair); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Kalibr with k3: %v", err)
	}
	un := testStereo()
	un.Left.P, un.Right.P = [12]float64{}, [12]float64{}
	if err := Write(&b, FormatKITTI, &Set{Cameras: []Camera{un.Left, un.Right}, Stereo: &un}); !errors.Is(err, ErrMissing) {
		t.Errorf("KITTI of an unrectified pair: %v", err)
	}
	noSize := testCamera(PlumbBob)
	noSize.Width, noSize.Height = 0, 0
	if err := WriteROS(&b, noSize); !errors.Is(err, ErrSize) {
		t.Errorf("ROS without a size: %v", err)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "left.yaml")
	if err := WriteFile(path, FormatROS, &Set{Cameras: []Camera{testCamera(PlumbBob)}}); err != nil {
		t.Fatal(err)
	}
	s, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !sameCamera(s.Cameras[0], testCamera(PlumbBob)) {
		t.Errorf("read back %+v", s.Cameras[0])
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// TestParseErrors: every problem names the file, the line and the field.
func TestParseErrors(t *testing.T) {
	ros, err := os.ReadFile("testdata/ros_left.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rosText := string(ros)
	xmlData, err := os.ReadFile("testdata/opencv_stereo.xml")
	if err != nil {
		t.Fatal(err)
	}
	kitti, err := os.ReadFile("testdata/kitti_cam_to_cam.txt")
	if err != nil {
		t.Fatal(err)
	}
	kalibr, err := os.ReadFile("testdata/kalibr_camchain.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file, data string
		err              error
		want             string
	}{
		{"ros short K", "left.yaml", strings.Replace(rosText, "0.000000, 0.000000, 1.000000]\ndistortion", "0.000000, 1.000000]\ndistortion", 1),
			ErrInvalid, "calibration: left.yaml:9: camera_matrix.data: 8 values for 3 rows and 3 cols"},
		{"ros no K", "left.yaml", strings.Replace(rosText, "camera_matrix:", "camera_matrx:", 1),
			ErrMissing, "left.yaml:3: camera_matrix: required"},
		{"ros bad number", "left.yaml", strings.Replace(rosText, "536.303315", "5x6", 1),
			ErrInvalid, `left.yaml:9: camera_matrix.data[0]: "5x6" is not a finite number`},
		{"ros negative fx", "left.yaml", strings.Replace(rosText, "536.303315", "-536.3", 1),
			ErrInvalid, "left.yaml:7: camera_matrix: [-536.3 0 341.524 0 536.29 236.066 0 0 1] is not a camera matrix"},
		{"ros unknown model", "left.yaml", strings.Replace(rosText, "plumb_bob", "fov", 1),
			ErrUnsupported, `left.yaml:10: distortion_model: "fov"`},
		{"ros 3 coefficients", "left.yaml", strings.Replace(rosText, "cols: 5\n  data: [-0.265126, -0.046701, 0.001834, -0.000315, 0.252389]", "cols: 3\n  data: [-0.265126, -0.046701, 0.001834]", 1),
			ErrInvalid, "left.yaml:12: distortion_coefficients: 3 coefficients for plumb_bob, want 5"},
		{"ros not a rotation", "left.yaml", strings.Replace(rosText, "0.999849", "1.999849", 1),
			ErrInvalid, "left.yaml:16: rectification_matrix: "},
		{"ros yaml syntax", "left.yaml", "image_width: [640\n", ErrSyntax, "left.yaml:"},
		{"ros no size", "left.yaml", strings.Replace(rosText, "image_width: 640\n", "", 1),
			ErrMissing, "left.yaml:3: image_width: required"},
		{"xml bad data", "s.xml", strings.Replace(string(xmlData), "5.3630331515235948e+02 0.", "5.3630331515235948e+02 zero", 1),
			ErrInvalid, `s.xml:9: M1.data[1]: "zero" is not a finite number`},
		{"xml broken", "s.xml", strings.Replace(string(xmlData), "</M1>", "", 1), ErrSyntax, "s.xml:"},
		{"xml short R", "s.xml", strings.Replace(string(xmlData), "<rows>3</rows>\n  <cols>3</cols>\n  <dt>d</dt>\n  <data>\n    9.9998159845081848e-01 5.5458707437394102e-03 2.5706766707911934e-03\n",
			"<rows>2</rows>\n  <cols>3</cols>\n  <dt>d</dt>\n  <data>\n", 1), ErrInvalid, "s.xml:35: R: 2x3, want 9 values"},
		{"opencv intrinsics alone", "intrinsics.yml", mustRead(t, "testdata/opencv_intrinsics.yml"), ErrMissing, "intrinsics.yml: R: the file holds the cameras' intrinsics"},
		{"opencv extrinsics alone", "extrinsics.yml", mustRead(t, "testdata/opencv_extrinsics.yml"), ErrMissing, "extrinsics.yml: M1: the file holds extrinsics"},
		{"kitti bad number", "cam.txt", strings.Replace(string(kitti), "K_02: 9.597910e+02", "K_02: 9.59x", 1), ErrInvalid, `cam.txt:12: K_02: "9.59x" is not a finite number`},
		{"kitti short P", "cam.txt", strings.Replace(string(kitti), "P_rect_03: 7.215377e+02 ", "P_rect_03: ", 1), ErrInvalid, "cam.txt:26: P_rect_03: has 11 values, want 12"},
		{"kitti not key value", "cam.txt", "calib_time: x\nP_rect_02 1 2 3\n", ErrSyntax, `cam.txt:2: "P_rect_02 1 2 3" is not "key: values"`},
		{"kitti twice", "cam.txt", string(kitti) + "K_02: 1 0 0 0 1 0 0 0 1\n", ErrSyntax, "cam.txt:27: K_02: given twice (first at line 12)"},
		{"kalibr omni", "chain.yaml", strings.Replace(string(kalibr), "camera_model: pinhole", "camera_model: omni", 1), ErrUnsupported, `chain.yaml:3: cam0.camera_model: "omni"`},
		{"kalibr short intrinsics", "chain.yaml", strings.Replace(string(kalibr), "[458.654, 457.296, 367.215, 248.375]", "[458.654, 457.296, 367.215]", 1), ErrInvalid, "chain.yaml:6: cam0.intrinsics: 3 values"},
		{"kalibr bad T", "chain.yaml", strings.Replace(string(kalibr), "- [0.0, 0.0, 0.0, 1.0]", "- [0.0, 0.0, 1.0, 1.0]", 1), ErrInvalid, "chain.yaml:11: cam1.T_cn_cnm1: the last row"},
		{"kalibr gap", "chain.yaml", strings.Replace(string(kalibr), "cam1:", "cam2:", 1), ErrMissing, "chain.yaml:10: cam2: cam1 is missing"},
		{"unknown", "x.yaml", "a: 1\n", ErrFormat, "x.yaml: neither ROS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data), tt.file)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\nwant %v containing %q", err, tt.err, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("%T is not an *Error", err)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSetRoles(t *testing.T) {
	s, err := Read("testdata/kalibr_camchain.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.ForRole("right")
	if err != nil || r.Name != "cam1" {
		t.Errorf("ForRole(right) = %v, %v", r.Name, err)
	}
	if _, err := s.Mono(); !errors.Is(err, ErrCameras) {
		t.Errorf("Mono of a pair: %v", err)
	}
	m, _ := Read("testdata/ros_left.yaml")
	if _, err := m.Pair(); !errors.Is(err, ErrCameras) {
		t.Errorf("Pair of one camera: %v", err)
	}
}
