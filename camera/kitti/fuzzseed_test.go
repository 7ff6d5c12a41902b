package kitti_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/parallax-robotics/parallax/camera/kitti"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/internal/fuzzseed"
	"github.com/parallax-robotics/parallax/msgs"
)

// TestFuzzSeeds builds FuzzParseCalib's seed corpus: the calib_cam_to_cam.txt
// that kitti.Write puts in a folder written from a synthetic stereo world,
// and the KITTI files of the calibration package's testdata (one in the
// devkit's full layout); see internal/fuzzseed.
func TestFuzzSeeds(t *testing.T) {
	c := fuzzseed.New(t, "FuzzParseCalib")
	w, err := synth.NewWorld(synth.Config{Seed: 1, Width: 16, Height: 8, Stereo: true})
	if err != nil {
		t.Fatal(err)
	}
	l, r := w.Render(0)
	dir := t.TempDir()
	if err := kitti.Write(dir, []*msgs.Frame{l}, []*msgs.Frame{r}, w.Config().Baseline); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*", "calib_cam_to_cam.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if top, _ := filepath.Glob(filepath.Join(dir, "calib_cam_to_cam.txt")); len(top) > 0 {
		files = append(files, top...)
	}
	if len(files) != 1 {
		t.Fatalf("kitti.Write left %d calib_cam_to_cam.txt: %v", len(files), files)
	}
	inputs := map[string]string{"synth-write": files[0],
		"calibration-devkit": "../../calibration/testdata/kitti_cam_to_cam.txt",
		"calibration-golden": "../../calibration/testdata/golden/stereo.kitti.txt"}
	for name, file := range inputs {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		cal, err := kitti.ParseCalib(bytes.NewReader(b), file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if _, err := cal.Baseline(2, 3); err != nil {
			t.Errorf("%s: %v", file, err)
		}
		c.Add(name, string(b))
	}
	c.Close()
}
