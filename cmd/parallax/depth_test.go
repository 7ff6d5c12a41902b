package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/parallax-robotics/parallax/calibration"
	"github.com/parallax-robotics/parallax/calibration/cv"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/internal/cvtest"
	"github.com/parallax-robotics/parallax/internal/dispio"
	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/msgs"
)

func readReport(t *testing.T, dir string) depthReport {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep depthReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func readMap(t *testing.T, path string) dispio.Map {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dispio.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDepthAloeMatchesPython: `parallax depth --method sgbm` on
// Middlebury's aloe pair (real images with ground truth, from Debian's
// opencv-doc) scores within 1 percentage point of python3-opencv's own
// StereoSGBM with the same parameters (scripts/sgbm_reference.py), on
// bad-2 over estimated pixels, bad-2 counting missing ones, and density;
// the disparity PFM it writes scores the same when read back, its depth
// PFM is fx*baseline/d, OpenCV reads its depth TIFF as the same float map,
// and the preview is a PNG of the image's width.
func TestDepthAloeMatchesPython(t *testing.T) {
	if !cv.Available {
		t.Fatal("built without OpenCV: parallax depth --method sgbm needs it")
	}
	left, right, gt := cvtest.Aloe(t)
	dir := t.TempDir()
	var out, errb bytes.Buffer
	params := []string{"--num-disparities", "256", "--block-size", "5", "--uniqueness", "10", "--speckle-window", "100", "--speckle-range", "2"}
	err := dispatch(context.Background(), append([]string{"depth", "--left", left, "--right", right, "--fx", "3740", "--baseline", "0.16",
		"--gt", gt, "--out", dir}, params...), &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s%s", err, out.String(), errb.String())
	}
	t.Log(strings.TrimSpace(out.String()))
	rep := readReport(t, dir)
	if rep.Scores == nil || rep.Width != 1282 || rep.Height != 1110 {
		t.Fatalf("report %+v", rep)
	}

	js, _ := json.Marshal(rep.SGBM)
	cmd := exec.Command(cvtest.Python(t), filepath.Join("..", "..", "scripts", "sgbm_reference.py"), "--left", left, "--right", right, "--gt", gt, "--params", string(js))
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("sgbm_reference.py: %v", err)
	}
	var ref struct {
		Scores dispio.Scores `json:"scores"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatalf("sgbm_reference.py's output: %v\n%s", err, raw)
	}
	g, p := rep.Scores, ref.Scores
	t.Logf("aloe SGBM: Go bad-1 %.2f%% bad-2 %.2f%% bad-3 %.2f%% EPE %.3f density %.2f%% bad-2 all %.2f%%; python bad-2 %.2f%% EPE %.3f density %.2f%% bad-2 all %.2f%%",
		100*g.Bad1, 100*g.Bad2, 100*g.Bad3, g.EPE, 100*g.Density, 100*g.Bad2All, 100*p.Bad2, p.EPE, 100*p.Density, 100*p.Bad2All)
	for _, c := range []struct {
		name     string
		go_, py_ float64
	}{{"bad-2", g.Bad2, p.Bad2}, {"bad-2 counting missing", g.Bad2All, p.Bad2All}, {"density", g.Density, p.Density}} {
		if math.Abs(c.go_-c.py_) > 0.01 {
			t.Errorf("%s: Go %.2f%%, python3-opencv %.2f%%: more than 1 percentage point apart", c.name, 100*c.go_, 100*c.py_)
		}
	}
	if g.Pixels != p.Pixels {
		t.Errorf("ground truth: Go scores %d pixels, python %d", g.Pixels, p.Pixels)
	}
	if !(g.Bad2 < 0.1) {
		t.Errorf("bad-2 %.2f%%: SGBM should match most of aloe within 2 px", 100*g.Bad2)
	}

	disp := readMap(t, filepath.Join(dir, "disparity.pfm"))
	gtm := readMap(t, gt)
	s, err := dispio.Score(disp, gtm, nil)
	if err != nil || s != *g {
		t.Errorf("disparity.pfm read back scores %+v (%v), the run %+v", s, err, *g)
	}
	// A disparity shifted by 3 px scores far worse: the agreement above is
	// not two equally broken readings of the ground truth.
	shifted := dispio.Map{Width: disp.Width, Height: disp.Height, Data: make([]float32, len(disp.Data))}
	for i, v := range disp.Data {
		shifted.Data[i] = v + 3
	}
	if s, _ := dispio.Score(shifted, gtm, nil); !(s.Bad2 > 0.5) {
		t.Errorf("a disparity 3 px off scores bad-2 %.2f%%", 100*s.Bad2)
	}
	depth := readMap(t, filepath.Join(dir, "depth.pfm"))
	for i, d := range disp.Data {
		z := depth.Data[i]
		if math.IsNaN(float64(d)) || d <= 0 {
			if !math.IsNaN(float64(z)) {
				t.Fatalf("pixel %d: no disparity but depth %g", i, z)
			}
			continue
		}
		if want := 3740 * 0.16 / float64(d); math.Abs(float64(z)-want) > 1e-4*want {
			t.Fatalf("pixel %d: depth %g, want fx*B/d %g", i, z, want)
		}
	}
	// depth.tiff is the same map, as OpenCV (libtiff) reads it.
	cmd = exec.Command(cvtest.Python(t), "-c", `import sys, cv2, numpy as np
a = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED)
print(a.dtype, a.shape[1], a.shape[0], int(np.isnan(a).sum()), float(np.nanmedian(a)))`, filepath.Join(dir, "depth.tiff"))
	cmd.Stderr = os.Stderr
	raw, err = cmd.Output()
	if err != nil {
		t.Fatalf("reading depth.tiff with cv2: %v", err)
	}
	var nans int
	var med float64
	var dtype string
	var tw, th int
	if _, err := fmt.Sscan(string(raw), &dtype, &tw, &th, &nans, &med); err != nil {
		t.Fatalf("cv2's reading of depth.tiff: %q: %v", raw, err)
	}
	var finite []float64
	for _, z := range depth.Data {
		if !math.IsNaN(float64(z)) {
			finite = append(finite, float64(z))
		}
	}
	sort.Float64s(finite)
	if want := finite[len(finite)/2]; dtype != "float32" || tw != 1282 || th != 1110 || nans != len(depth.Data)-len(finite) || math.Abs(med-want) > 1e-3*want {
		t.Errorf("cv2 reads depth.tiff as %s %dx%d with %d NaN, median %g; depth.pfm has %d NaN, median about %g", dtype, tw, th, nans, med, len(depth.Data)-len(finite), want)
	}
	data, err := os.ReadFile(filepath.Join(dir, "preview.png"))
	if err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(data)); err != nil || img.Bounds().Dx() != 1282 || img.Bounds().Dy() <= 1110 {
		t.Errorf("preview: %v, %v", err, img)
	}
}

// TestDepthMono: --method mono on an image of another size than the
// network's: depth comes back at the image's size, metric, close to the
// synthetic world's truth (the built-in checkpoint was trained there).
func TestDepthMono(t *testing.T) {
	cfg, err := synth.ParseURL("synth://?stereo=1&width=400&height=150&seed=3")
	if err != nil {
		t.Fatal(err)
	}
	w, err := synth.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := w.Render(20)
	dir := t.TempDir()
	lp := filepath.Join(dir, "l.png")
	if err := writePNG(lp, l); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := dispatch(context.Background(), []string{"depth", "--method", "mono", "--left", lp, "--out", dir}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s%s", err, out.String(), errb.String())
	}
	depth := readMap(t, filepath.Join(dir, "depth.pfm"))
	if depth.Width != 400 || depth.Height != 150 {
		t.Fatalf("depth %dx%d, want the image's 400x150", depth.Width, depth.Height)
	}
	m, err := learner.DepthMetrics(depth.Data, l.Truth.Depth, learner.EvalOptions{MinDepth: 0.1, MaxDepth: 80})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mono on a 400x150 synthetic frame: abs_rel %.3f, a1 %.3f", m.AbsRel, m.A1)
	if m.Missing != 0 || !(m.AbsRel < 0.35) {
		t.Errorf("abs_rel %.3f (%d missing): want under 0.35 and every pixel estimated", m.AbsRel, m.Missing)
	}
	if _, err := os.Stat(filepath.Join(dir, "disparity.pfm")); err == nil {
		t.Error("disparity.pfm written without fx and baseline")
	}
}

func TestDepthErrors(t *testing.T) {
	left, right, _ := cvtest.Aloe(t)
	dir := t.TempDir()
	small := filepath.Join(dir, "small.png")
	if err := writePNG(small, &msgs.Frame{Width: 4, Height: 4, Pix: make([]byte, 48)}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no right", []string{"--left", left, "--fx", "1", "--baseline", "1", "--out", dir}, "give --right"},
		{"no fx", []string{"--left", left, "--right", right, "--out", dir}, "--fx and --baseline"},
		{"both", []string{"--left", left, "--right", right, "--fx", "1", "--baseline", "1", "--calibration", "x.yaml", "--out", dir}, "not both"},
		{"even block", []string{"--left", left, "--right", right, "--fx", "1", "--baseline", "1", "--block-size", "4", "--out", dir}, "block_size 4"},
		{"method", []string{"--left", left, "--method", "stereo", "--out", dir}, `--method "stereo"`},
		{"sizes", []string{"--left", left, "--right", small, "--fx", "1", "--baseline", "1", "--out", dir}, "a pair has one size"},
		{"missing file", []string{"--left", filepath.Join(dir, "none.png"), "--right", right, "--fx", "1", "--baseline", "1", "--out", dir}, "none.png"},
		{"not an image", []string{"--left", filepath.Join("..", "..", "go.mod"), "--right", right, "--fx", "1", "--baseline", "1", "--out", dir}, "go.mod"},
		{"calibration", []string{"--left", left, "--right", right, "--calibration", filepath.Join("..", "..", "go.mod"), "--out", dir}, "--calibration"},
	} {
		var out, errb bytes.Buffer
		err := dispatch(context.Background(), append([]string{"depth"}, c.args...), &out, &errb)
		msg := errb.String()
		if err != nil {
			msg += err.Error()
		}
		if err == nil || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %v %q, want an error containing %q", c.name, err, msg, c.want)
		}
	}
}

// TestDepthCalibration: --calibration rectifies a distorted, rotated rig's
// raw pair (the synthetic world's own calibration, as an OpenCV stereo
// file) before matching: fx and the baseline come from the file, and the
// depth is close to the true depth of the ideal rig's view, far closer
// than matching the raw pair as if it were rectified.
func TestDepthCalibration(t *testing.T) {
	const ideal = "synth://?stereo=1&width=320&height=96&seed=11&style=suburb"
	render := func(url string) (*msgs.Frame, *msgs.Frame, *synth.World) {
		cfg, err := synth.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		w, err := synth.NewWorld(cfg)
		if err != nil {
			t.Fatal(err)
		}
		l, r := w.Render(30)
		return l, r, w
	}
	truth, _, _ := render(ideal)
	l, r, w := render(ideal + "&k1=-0.18&k2=0.05&p1=0.001&p2=-0.0008&right_yaw=0.8&right_pitch=-0.5&right_roll=0.4")
	dir := t.TempDir()
	lp, rp, cp := filepath.Join(dir, "l.png"), filepath.Join(dir, "r.png"), filepath.Join(dir, "stereo.yml")
	for _, f := range []struct {
		p string
		f *msgs.Frame
	}{{lp, l}, {rp, r}} {
		if err := writePNG(f.p, f.f); err != nil {
			t.Fatal(err)
		}
	}
	if err := calibration.WriteFile(cp, calibration.FormatOpenCVYAML, w.Calibration()); err != nil {
		t.Fatal(err)
	}
	median := func(args ...string) (float64, depthReport) {
		out := t.TempDir()
		var so, se bytes.Buffer
		if err := dispatch(context.Background(), append([]string{"depth", "--left", lp, "--right", rp, "--num-disparities", "32", "--out", out}, args...), &so, &se); err != nil {
			t.Fatalf("%v\n%s%s", err, so.String(), se.String())
		}
		depth := readMap(t, filepath.Join(out, "depth.pfm"))
		var rel []float64
		for i, g := range truth.Truth.Depth {
			if v := float64(depth.Data[i]); g > 0.1 && g < 80 && !math.IsNaN(v) {
				rel = append(rel, math.Abs(v-float64(g))/float64(g))
			}
		}
		sort.Float64s(rel)
		if len(rel) < len(truth.Truth.Depth)/2 {
			t.Fatalf("%v: only %d pixels estimated", args, len(rel))
		}
		return rel[len(rel)/2], readReport(t, out)
	}
	rect, rep := median("--calibration", cp)
	raw, _ := median("--fx", "185.6", "--baseline", "0.54")
	t.Logf("per-pixel median abs_rel against the ideal view: rectified with --calibration %.4f, raw pair %.4f (fx %.2f, baseline %.4f)", rect, raw, rep.Fx, rep.Baseline)
	if math.Abs(rep.Fx-185.6) > 0.01 || math.Abs(rep.Baseline-0.54) > 1e-6 {
		t.Errorf("fx %g baseline %g from the file, want 185.6 and 0.54", rep.Fx, rep.Baseline)
	}
	if !(rect < 0.06) || !(raw > 2*rect) {
		t.Errorf("median abs_rel rectified %.4f, raw %.4f: want the rectified under 0.06 and under half the raw", rect, raw)
	}
}
