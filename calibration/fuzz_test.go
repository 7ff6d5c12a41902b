package calibration

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The fuzz targets: one per reader. Each reader must never panic, must
// return an *Error for what it rejects, and what it accepts must validate
// and survive a round trip through the format's writer (where the writer
// can express it) to the same numbers. The seed corpora are the files in
// testdata (and testdata/fuzz/FuzzX for inputs found by fuzzing).

func seeds(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		files, _ := filepath.Glob(filepath.Join("testdata", p))
		files2, _ := filepath.Glob(filepath.Join("testdata", "golden", p))
		for _, file := range append(files, files2...) {
			if st, err := os.Stat(file); err != nil || !st.Mode().IsRegular() {
				continue
			}
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// checkSet is what every accepted input must satisfy.
func checkSet(t *testing.T, s *Set, f Format, data []byte) {
	t.Helper()
	for i := range s.Cameras {
		if err := s.Cameras[i].Validate(); err != nil {
			t.Fatalf("accepted camera %d does not validate: %v\n%s", i, err, data)
		}
	}
	if s.Stereo != nil {
		if err := s.Stereo.Validate(); err != nil {
			t.Fatalf("accepted pair does not validate: %v\n%s", err, data)
		}
	}
	var b bytes.Buffer
	var err error
	if f == FormatROS {
		err = WriteROS(&b, s.Cameras[0])
	} else {
		err = Write(&b, f, s)
	}
	if err != nil {
		return // a layout the writer cannot express (a rational Kalibr, an unrectified KITTI pair)
	}
	back, err := Parse(b.Bytes(), "again")
	if err != nil {
		t.Fatalf("the writer's output does not read back: %v\ninput:\n%s\nwritten:\n%s", err, data, b.Bytes())
	}
	want, got := s.Cameras, back.Cameras
	if s.Stereo != nil && back.Stereo != nil {
		want, got = []Camera{s.Stereo.Left, s.Stereo.Right}, []Camera{back.Stereo.Left, back.Stereo.Right}
	}
	if len(got) == 0 || len(got) > len(want) {
		t.Fatalf("%d cameras read back, %d written", len(got), len(want))
	}
	for i := range got {
		w := want[i]
		if f == FormatKalibr {
			w.R, w.P = identity3, [12]float64{}
		}
		if f == FormatKITTI && back.Stereo == nil {
			w = w.WithDefaultRectification()
		}
		if !sameCamera(w, got[i]) {
			t.Fatalf("camera %d changed in a round trip:\n%+v\n%+v\nwritten:\n%s", i, w, got[i], b.Bytes())
		}
	}
}

func fuzzReader(f *testing.F, format Format, parse func(data []byte) (*Set, error)) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parse(data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%T is not an *Error: %v", err, err)
			}
			_ = err.Error()
			return
		}
		if len(s.Cameras) == 0 {
			t.Fatal("no camera and no error")
		}
		checkSet(t, s, format, data)
	})
}

func FuzzROS(f *testing.F) {
	seeds(f, "ros_*.yaml", "*.ros.yaml")
	f.Add([]byte("image_width: 4\nimage_height: 2\ncamera_matrix: {rows: 3, cols: 3, data: [1,0,1,0,1,1,0,0,1]}\n"))
	fuzzReader(f, FormatROS, func(d []byte) (*Set, error) { return parseROS(d, "fuzz.yaml") })
}

func FuzzOpenCVYAML(f *testing.F) {
	seeds(f, "opencv_*.yml", "*.opencv.yml")
	f.Add([]byte("%YAML:1.0\n---\ncamera_matrix: !!opencv-matrix\n   rows: 3\n   cols: 3\n   dt: d\n   data: [ 1., 0., 1., 0., 1., 1., 0., 0., 1. ]\n"))
	fuzzReader(f, FormatOpenCVYAML, func(d []byte) (*Set, error) {
		st, err := parseStorage(d, "fuzz.yml", FormatOpenCVYAML)
		if err != nil {
			return nil, err
		}
		return st.set()
	})
}

func FuzzOpenCVXML(f *testing.F) {
	seeds(f, "opencv_*.xml", "*.opencv.xml")
	f.Add([]byte("<?xml version=\"1.0\"?>\n<opencv_storage>\n<K type_id=\"opencv-matrix\"><rows>3</rows><cols>3</cols><dt>d</dt><data>1 0 1 0 1 1 0 0 1</data></K>\n</opencv_storage>\n"))
	fuzzReader(f, FormatOpenCVXML, func(d []byte) (*Set, error) {
		st, err := parseStorage(d, "fuzz.xml", FormatOpenCVXML)
		if err != nil {
			return nil, err
		}
		return st.set()
	})
}

func FuzzKITTI(f *testing.F) {
	seeds(f, "kitti_*.txt", "*.kitti.txt")
	f.Add([]byte("P_rect_02: 1 0 1 0 0 1 1 0 0 0 1 0\nS_rect_02: 4 2\n"))
	fuzzReader(f, FormatKITTI, func(d []byte) (*Set, error) { return parseKITTISet(d, "fuzz.txt") })
}

func FuzzKalibr(f *testing.F) {
	seeds(f, "kalibr_*.yaml", "*.kalibr.yaml")
	f.Add([]byte("cam0:\n  intrinsics: [1, 1, 1, 1]\n  resolution: [4, 2]\n"))
	fuzzReader(f, FormatKalibr, func(d []byte) (*Set, error) { return parseKalibr(d, "fuzz.yaml") })
}

// FuzzParse: format detection in front of the readers never panics either.
func FuzzParse(f *testing.F) {
	seeds(f, "*")
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data, "fuzz")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%T is not an *Error: %v", err, err)
			}
			return
		}
		checkSet(t, s, s.Format, data)
	})
}
