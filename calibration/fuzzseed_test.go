package calibration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parallax-robotics/parallax/internal/fuzzseed"
)

// TestFuzzSeeds builds the seed corpora of the readers' fuzz targets from
// the calibration files in testdata and testdata/golden, and the ROS files
// the launch examples use (launch/calib, written by `parallax calibrate`
// from OpenCV's chessboards); see internal/fuzzseed. Each reader gets the
// files of its format, FuzzParse all of them.
func TestFuzzSeeds(t *testing.T) {
	formats := []struct {
		target   string
		patterns []string
	}{
		{"FuzzROS", []string{"testdata/ros_*.yaml", "testdata/golden/*.ros.yaml", "../launch/calib/*.yaml"}},
		{"FuzzOpenCVYAML", []string{"testdata/opencv_*.yml", "testdata/golden/*.opencv.yml"}},
		{"FuzzOpenCVXML", []string{"testdata/opencv_*.xml", "testdata/golden/*.opencv.xml"}},
		{"FuzzKITTI", []string{"testdata/kitti_*.txt", "testdata/golden/*.kitti.txt"}},
		{"FuzzKalibr", []string{"testdata/kalibr_*.yaml", "testdata/golden/*.kalibr.yaml"}},
	}
	all := fuzzseed.New(t, "FuzzParse")
	for _, f := range formats {
		c := fuzzseed.New(t, f.target)
		n := 0
		for _, p := range f.patterns {
			files, err := filepath.Glob(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, file := range files {
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				// Every seed but the two halves of OpenCV's stereo_calib
				// output (read together) is a file the readers accept, so
				// the fuzzer starts from inputs that reach the checks past
				// the syntax.
				half := strings.Contains(file, "opencv_extrinsics") || strings.Contains(file, "opencv_intrinsics")
				if _, err := Parse(b, file); (err != nil) != half {
					t.Errorf("%s: %v", file, err)
				}
				name := strings.ReplaceAll(strings.TrimPrefix(strings.TrimPrefix(file, "../"), "testdata/"), "/", "-")
				c.Add(name, b)
				all.Add(name, b)
				n++
			}
		}
		if n == 0 {
			t.Errorf("%s: no files", f.target)
		}
		c.Close()
	}
	all.Close()
}
