package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/internal/cvtest"
	"github.com/parallax-robotics/parallax/internal/dispio"
	"github.com/parallax-robotics/parallax/msgs"
)

func evalStereo(t *testing.T, args ...string) stereoEvalReport {
	t.Helper()
	var out, errb bytes.Buffer
	if err := dispatch(context.Background(), append([]string{"eval", "stereo", "--json"}, args...), &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var rep stereoEvalReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	return rep
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, data []byte, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestEvalStereoGeneric: on a left/ right/ disp/ noc/ folder holding aloe,
// eval stereo scores exactly what parallax depth --gt does, and on the
// mask's pixels what dispio.Score gives with the mask.
func TestEvalStereoGeneric(t *testing.T) {
	left, right, gt := cvtest.Aloe(t)
	dir := t.TempDir()
	copyFile(t, left, filepath.Join(dir, "left", "aloe.jpg"))
	copyFile(t, right, filepath.Join(dir, "right", "aloe.jpg"))
	copyFile(t, gt, filepath.Join(dir, "disp", "aloe.png"))
	// The mask keeps the right half (white), drops the rest (grey, as
	// Middlebury's occluded 128).
	mask := image.NewGray(image.Rect(0, 0, 1282, 1110))
	keep := make([]bool, 1282*1110)
	for i := range mask.Pix {
		mask.Pix[i] = 128
		if i%1282 >= 641 {
			mask.Pix[i], keep[i] = 255, true
		}
	}
	var buf bytes.Buffer
	err := png.Encode(&buf, mask)
	writeFile(t, filepath.Join(dir, "noc", "aloe.png"), buf.Bytes(), err)

	rep := evalStereo(t, dir, "--num-disparities", "256")
	if rep.Layout != "generic" || len(rep.Pairs) != 1 || rep.Pairs[0].Scores == nil || rep.Pairs[0].ScoresNoc == nil {
		t.Fatalf("report %+v", rep)
	}
	out := t.TempDir()
	var so, se bytes.Buffer
	if err := dispatch(context.Background(), []string{"depth", "--left", left, "--right", right, "--fx", "1", "--baseline", "1",
		"--num-disparities", "256", "--gt", gt, "--out", out}, &so, &se); err != nil {
		t.Fatal(err, se.String())
	}
	want := readReport(t, out).Scores
	if *rep.Pairs[0].Scores != *want || rep.Mean != *want {
		t.Errorf("eval stereo %+v (mean %+v), parallax depth %+v", *rep.Pairs[0].Scores, rep.Mean, *want)
	}
	noc, err := dispio.Score(readMap(t, filepath.Join(out, "disparity.pfm")), readMap(t, gt), keep)
	if err != nil || noc != *rep.Pairs[0].ScoresNoc || noc.Pixels >= want.Pixels {
		t.Errorf("noc: eval stereo %+v, the masked score %+v (%v)", *rep.Pairs[0].ScoresNoc, noc, err)
	}
}

// synthStereo renders frame i of the synthetic rig and its true disparity
// fx*B/z (NaN where unknown).
func synthStereo(t *testing.T, i int) (l, r *msgs.Frame, disp dispio.Map) {
	t.Helper()
	cfg, err := synth.ParseURL("synth://?stereo=1&width=320&height=96&seed=11&style=suburb")
	if err != nil {
		t.Fatal(err)
	}
	w, err := synth.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, r = w.Render(i)
	disp = dispio.Map{Width: l.Width, Height: l.Height, Data: make([]float32, len(l.Truth.Depth))}
	for j, z := range l.Truth.Depth {
		if z > 0 {
			disp.Data[j] = float32(l.Intrinsics.Fx * 0.54 / float64(z))
		} else {
			disp.Data[j] = float32(math.NaN())
		}
	}
	return l, r, disp
}

// TestEvalStereoKITTIAndMiddlebury: the KITTI 2015 and Middlebury layouts
// of the synthetic rig's pairs (16-bit PNG disp*256 with a noc map; PFM
// with +Inf unknown, mask0nocc.png and calib.txt's ndisp) are found and
// scored: SGBM matches most pixels within 3 px, the non-occluded scores
// come from the noc ground truth, and Middlebury's ndisp sets the range.
func TestEvalStereoKITTIAndMiddlebury(t *testing.T) {
	kitti, mb := t.TempDir(), t.TempDir()
	for i, frame := range []int{10, 40} {
		l, r, disp := synthStereo(t, frame)
		name := []string{"000000_10.png", "000001_10.png"}[i]
		if err := writePNG(filepath.Join(mustDir(t, kitti, "image_2"), name), l); err != nil {
			t.Fatal(err)
		}
		if err := writePNG(filepath.Join(mustDir(t, kitti, "image_3"), name), r); err != nil {
			t.Fatal(err)
		}
		data, err := dispio.EncodeKITTIPNG(disp)
		writeFile(t, filepath.Join(kitti, "disp_occ_0", name), data, err)
		// noc: the right half only.
		half := dispio.Map{Width: disp.Width, Height: disp.Height, Data: append([]float32(nil), disp.Data...)}
		for j := range half.Data {
			if j%disp.Width < disp.Width/2 {
				half.Data[j] = float32(math.NaN())
			}
		}
		data, err = dispio.EncodeKITTIPNG(half)
		writeFile(t, filepath.Join(kitti, "disp_noc_0", name), data, err)

		scene := filepath.Join(mb, []string{"Alpha", "Beta"}[i])
		if err := writePNG(filepath.Join(mustDir(t, scene, ""), "im0.png"), l); err != nil {
			t.Fatal(err)
		}
		if err := writePNG(filepath.Join(scene, "im1.png"), r); err != nil {
			t.Fatal(err)
		}
		inf := dispio.Map{Width: disp.Width, Height: disp.Height, Data: append([]float32(nil), disp.Data...)}
		for j, v := range inf.Data {
			if math.IsNaN(float64(v)) {
				inf.Data[j] = float32(math.Inf(1))
			}
		}
		data, err = dispio.EncodePFM(inf)
		writeFile(t, filepath.Join(scene, "disp0GT.pfm"), data, err)
		writeFile(t, filepath.Join(scene, "calib.txt"), []byte("cam0=[185.6 0 160; 0 185.6 48; 0 0 1]\nndisp=30\nwidth=320\n"), nil)
	}
	k := evalStereo(t, kitti)
	m := evalStereo(t, mb)
	for _, c := range []struct {
		name, layout string
		rep          stereoEvalReport
		noc          bool
	}{{"kitti", "kitti-2015", k, true}, {"middlebury", "middlebury", m, false}} {
		rep := c.rep
		if rep.Layout != c.layout || len(rep.Pairs) != 2 {
			t.Fatalf("%s: layout %q with %d pairs", c.name, rep.Layout, len(rep.Pairs))
		}
		t.Logf("%s: mean EPE %.3f bad-1 %.2f%% bad-2 %.2f%% bad-3 %.2f%% density %.1f%% D1-all %.2f%%", c.name,
			rep.Mean.EPE, 100*rep.Mean.Bad1, 100*rep.Mean.Bad2, 100*rep.Mean.Bad3, 100*rep.Mean.Density, 100*rep.Mean.D1All)
		if !(rep.Mean.Bad3 < 0.1) || !(rep.Mean.Density > 0.6) {
			t.Errorf("%s: bad-3 %.2f%% density %.1f%%: want SGBM to match most of the synthetic pair", c.name, 100*rep.Mean.Bad3, 100*rep.Mean.Density)
		}
		if c.noc != (rep.MeanNoc != nil) {
			t.Errorf("%s: noc scores %v", c.name, rep.MeanNoc)
		}
	}
	if p := k.Pairs[0]; p.ScoresNoc == nil || !(p.ScoresNoc.Pixels < p.Scores.Pixels*6/10) {
		t.Errorf("kitti noc scored %+v against all %+v: want the right half only", p.ScoresNoc, p.Scores)
	}
	if m.SGBM == nil || m.SGBM.NumDisparities != 32 {
		t.Errorf("middlebury: SGBM %+v, want calib.txt's ndisp 30 rounded up to 32", m.SGBM)
	}
	if k.SGBM == nil || k.SGBM.NumDisparities != 48 {
		t.Errorf("kitti: SGBM %+v, want width/8 = 40 rounded up to 48", k.SGBM)
	}
	// An empty folder says what it looks for.
	var out, errb bytes.Buffer
	err := dispatch(context.Background(), []string{"eval", "stereo", t.TempDir()}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "image_2/") {
		t.Errorf("empty folder: %v", err)
	}
}

func mustDir(t *testing.T, dir, sub string) string {
	t.Helper()
	d := filepath.Join(dir, sub)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}
