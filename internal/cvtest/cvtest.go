// Package cvtest holds what the OpenCV tests of several packages share
// (test helpers cannot be imported across packages from _test.go files):
// finding a Python with python3-opencv for the reference script, and
// OpenCV's own stereo chessboard sample from Debian's opencv-doc.
package cvtest

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"testing"

	"github.com/parallax-robotics/parallax/internal/python"
)

// SampleDir is where Debian's opencv-doc puts OpenCV's sample data.
const SampleDir = "/usr/share/doc/opencv-doc/examples/data"

// Python finds a python3 that imports cv2 (python.Find). A missing cv2
// fails the test: the OpenCV reference is part of the build's promises.
func Python(t testing.TB) string {
	t.Helper()
	py, err := python.Find("cv2", "python3-opencv")
	if err != nil {
		t.Fatal(err)
	}
	return py
}

// Ref is scripts/calib_reference.py's output: python3-opencv's
// calibration of a stereo pair (matrices row-major, OpenCV's pixels).
type Ref struct {
	Size          []int    `json:"size"`
	Used          []string `json:"used"`
	HeldOut       []string `json:"held_out"`
	Rejected      []string `json:"rejected"`
	Left, Right   RefMono
	R, T          []float64
	RMS           float64 `json:"rms"`
	R1, R2        []float64
	P1, P2        []float64
	Baseline      float64 `json:"baseline"`
	EpipolarTrain float64 `json:"epipolar_train"`
	EpipolarHeld  float64 `json:"epipolar_held_out"`
}

// RefMono is one camera's part of Ref.
type RefMono struct {
	K, D    []float64
	RMS     float64   `json:"rms"`
	PerView []float64 `json:"per_view"`
}

// Reference runs scripts/calib_reference.py (python3-opencv) on the pairs
// with a 9x6 board of 25 mm squares and the extra flags (--holdout 4,
// --rational, --alpha A).
func Reference(t testing.TB, left, right []string, extra ...string) Ref {
	t.Helper()
	py := Python(t)
	_, here, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(here), "..", "..", "scripts", "calib_reference.py")
	args := append([]string{script, "--board", "9x6", "--square", "0.025"}, extra...)
	args = append(append(args, "--left"), left...)
	args = append(append(args, "--right"), right...)
	cmd := exec.Command(py, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("calib_reference.py: %v", err)
	}
	var ref Ref
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatalf("calib_reference.py's output: %v\n%s", err, out)
	}
	return ref
}

var sampleRE = regexp.MustCompile(`^(left|right)(\d\d)\.jpg(\.gz)?$`)

// StereoSample returns OpenCV's stereo chessboard pairs (9x6 inner
// corners, 640x480: left01..14.jpg and right01..14.jpg, 13 pairs, there is
// no 10), in order, as plain JPEG files: a package that ships them gzipped
// has them decompressed into a temporary folder. A missing opencv-doc fails
// the test.
func StereoSample(t testing.TB) (left, right []string) {
	t.Helper()
	entries, err := os.ReadDir(SampleDir)
	if err != nil {
		t.Fatalf("OpenCV's sample data: %v: run make deps (opencv-doc)", err)
	}
	tmp := ""
	byNum := map[string][2]string{}
	for _, e := range entries {
		m := sampleRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		path := filepath.Join(SampleDir, e.Name())
		if m[3] != "" {
			if tmp == "" {
				tmp = t.TempDir()
			}
			path = gunzip(t, path, filepath.Join(tmp, m[1]+m[2]+".jpg"))
		}
		p := byNum[m[2]]
		if m[1] == "left" {
			p[0] = path
		} else {
			p[1] = path
		}
		byNum[m[2]] = p
	}
	var nums []string
	for n, p := range byNum {
		if p[0] != "" && p[1] != "" {
			nums = append(nums, n)
		}
	}
	sort.Strings(nums)
	for _, n := range nums {
		left, right = append(left, byNum[n][0]), append(right, byNum[n][1])
	}
	if len(left) < 10 {
		t.Fatalf("only %d chessboard pairs in %s: run make deps (opencv-doc)", len(left), SampleDir)
	}
	return left, right
}

func gunzip(t testing.TB, src, dst string) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// Aloe returns Middlebury's "aloe" pair in OpenCV's sample data (full
// size, 1282x1110, rectified) and its ground-truth disparity (8-bit PNG in
// pixels, 0 unknown), as plain files: a package that ships them gzipped
// has them decompressed into a temporary folder. A missing opencv-doc
// fails the test.
func Aloe(t testing.TB) (left, right, gt string) {
	t.Helper()
	var out [3]string
	tmp := ""
	for i, name := range []string{"aloeL.jpg", "aloeR.jpg", "aloeGT.png"} {
		path := filepath.Join(SampleDir, name)
		if _, err := os.Stat(path); err == nil {
			out[i] = path
			continue
		}
		if _, err := os.Stat(path + ".gz"); err != nil {
			t.Fatalf("OpenCV's sample data: no %s in %s: run make deps (opencv-doc)", name, SampleDir)
		}
		if tmp == "" {
			tmp = t.TempDir()
		}
		out[i] = gunzip(t, path+".gz", filepath.Join(tmp, name))
	}
	return out[0], out[1], out[2]
}
