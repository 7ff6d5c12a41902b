package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parallax-robotics/parallax/calibration/cv"
	"github.com/parallax-robotics/parallax/internal/dispio"
)

// stereoPair is one rectified pair of a stereo benchmark folder.
type stereoPair struct {
	Name        string `json:"name"`
	Left, Right string `json:"-"`
	GT          string `json:"-"`
	// Noc is a non-occluded ground truth (KITTI's disp_noc) or a mask
	// (Middlebury's mask0nocc.png, a generic noc/ PNG); "" for none.
	Noc       string `json:"-"`
	NocIsDisp bool   `json:"-"`
	// NDisp is the dataset's disparity range (Middlebury's calib.txt), 0
	// when it gives none.
	NDisp int `json:"ndisp,omitempty"`

	Scores    *dispio.Scores `json:"scores,omitempty"`
	ScoresNoc *dispio.Scores `json:"scores_noc,omitempty"`
	Seconds   float64        `json:"seconds"`
}

// stereoLayout is one folder layout: how to find its pairs.
type stereoLayout struct {
	name string
	find func(dir string) ([]stereoPair, error)
}

// stereoLayouts are the folder layouts `parallax eval stereo` reads, tried in
// order; a new benchmark is one entry.
var stereoLayouts = []stereoLayout{
	{"kitti-2015", func(dir string) ([]stereoPair, error) {
		return kittiPairs(dir, "image_2", "image_3", "disp_occ_0", "disp_noc_0")
	}},
	{"kitti-2012", func(dir string) ([]stereoPair, error) {
		return kittiPairs(dir, "colored_0", "colored_1", "disp_occ", "disp_noc")
	}},
	{"middlebury", middleburyPairs},
	{"generic", genericPairs},
}

// kittiPairs pairs KITTI's frame-10 images (NNNNNN_10.png) with their
// ground truth.
func kittiPairs(dir, left, right, occ, noc string) ([]stereoPair, error) {
	files, err := filepath.Glob(filepath.Join(dir, left, "*_10.png"))
	if err != nil || len(files) == 0 {
		return nil, err
	}
	var out []stereoPair
	for _, l := range files {
		base := filepath.Base(l)
		p := stereoPair{Name: strings.TrimSuffix(base, ".png"), Left: l, Right: filepath.Join(dir, right, base), GT: filepath.Join(dir, occ, base)}
		if n := filepath.Join(dir, noc, base); exists(n) {
			p.Noc, p.NocIsDisp = n, true
		}
		out = append(out, p)
	}
	return out, nil
}

// middleburyPairs reads Middlebury 2014/2021 scene folders: im0.png,
// im1.png, disp0GT.pfm (or disp0.pfm), mask0nocc.png, calib.txt.
func middleburyPairs(dir string) ([]stereoPair, error) {
	scenes, err := filepath.Glob(filepath.Join(dir, "*", "im0.png"))
	if err != nil {
		return nil, err
	}
	if exists(filepath.Join(dir, "im0.png")) { // one scene given directly
		scenes = append(scenes, filepath.Join(dir, "im0.png"))
	}
	var out []stereoPair
	for _, im0 := range scenes {
		d := filepath.Dir(im0)
		p := stereoPair{Name: filepath.Base(d), Left: im0, Right: filepath.Join(d, "im1.png")}
		for _, gt := range []string{"disp0GT.pfm", "disp0.pfm"} {
			if exists(filepath.Join(d, gt)) {
				p.GT = filepath.Join(d, gt)
				break
			}
		}
		if p.GT == "" {
			continue // a test scene without ground truth
		}
		if m := filepath.Join(d, "mask0nocc.png"); exists(m) {
			p.Noc = m
		}
		if n, err := middleburyNDisp(filepath.Join(d, "calib.txt")); err == nil {
			p.NDisp = n
		}
		out = append(out, p)
	}
	return out, nil
}

// middleburyNDisp reads ndisp from a Middlebury calib.txt.
func middleburyNDisp(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.TrimSpace(k) == "ndisp" {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("%s: no ndisp", path)
}

// genericPairs reads left/, right/ and disp/ (same base names; disparity
// as PFM or PNG), and an optional noc/ mask folder.
func genericPairs(dir string) ([]stereoPair, error) {
	files, err := filepath.Glob(filepath.Join(dir, "left", "*"))
	if err != nil || len(files) == 0 {
		return nil, err
	}
	var out []stereoPair
	for _, l := range files {
		base := filepath.Base(l)
		stem := strings.TrimSuffix(base, filepath.Ext(base))
		p := stereoPair{Name: stem, Left: l, Right: filepath.Join(dir, "right", base)}
		for _, ext := range []string{".pfm", ".png"} {
			if g := filepath.Join(dir, "disp", stem+ext); exists(g) {
				p.GT = g
				break
			}
		}
		if p.GT == "" {
			return nil, fmt.Errorf("%s: no ground truth disp/%s.pfm or disp/%s.png for left/%s", dir, stem, stem, base)
		}
		if m := filepath.Join(dir, "noc", stem+".png"); exists(m) {
			p.Noc = m
		}
		out = append(out, p)
	}
	return out, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// stereoEvalReport is `parallax eval stereo`'s report.
type stereoEvalReport struct {
	Folder  string         `json:"folder"`
	Layout  string         `json:"layout"`
	Method  string         `json:"method"`
	SGBM    *cv.SGBMParams `json:"sgbm,omitempty"`
	Pairs   []stereoPair   `json:"pairs"`
	Mean    dispio.Scores  `json:"mean"`
	MeanNoc *dispio.Scores `json:"mean_noc,omitempty"`
}

// runEvalStereo scores a stereo method on a benchmark folder's rectified
// pairs against their ground-truth disparity.
func runEvalStereo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval stereo", "DIR [flags]", stderr,
		"parallax eval stereo data_scene_flow/training --num-disparities 192",
		"parallax eval stereo MiddEval3/trainingQ --json",
		"parallax eval stereo my-pairs/ --block-size 3 --wls-lambda 8000")
	method := fs.String("method", methodSGBM, "sgbm (mono needs metric disparity: --fx and --baseline)")
	fx := fs.Float64("fx", 0, "mono: the rectified focal length in pixels, to turn depth into disparity")
	baseline := fs.Float64("baseline", 0, "mono: the baseline in metres")
	model := fs.String("model", "", "mono: the checkpoint; default: the built-in demo checkpoint")
	device := fs.String("device", "cpu", "mono: torch device")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	sgbmParams := sgbmFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 1, "DIR"); err != nil {
		return err
	}
	if *method != methodSGBM && *method != methodMono {
		return usageErr(fs, fmt.Errorf("--method %q: want sgbm or mono", *method))
	}
	if *method == methodMono && !(*fx > 0 && *baseline > 0) {
		return usageErr(fs, errors.New("--method mono scores disparity fx*baseline/depth: give --fx and --baseline"))
	}
	dir := fs.Arg(0)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("eval stereo: %s is not a folder", dir)
	}
	rep := stereoEvalReport{Folder: dir, Method: *method}
	for _, l := range stereoLayouts {
		pairs, err := l.find(dir)
		if err != nil {
			return fmt.Errorf("eval stereo: %s layout: %w", l.name, err)
		}
		if len(pairs) > 0 {
			rep.Layout, rep.Pairs = l.name, pairs
			break
		}
	}
	if len(rep.Pairs) == 0 {
		return fmt.Errorf("eval stereo: %s has no stereo pairs with ground truth: want KITTI's image_2/ image_3/ disp_occ_0/ (or colored_0/ colored_1/ disp_occ/), Middlebury scene folders (im0.png im1.png disp0GT.pfm), or left/ right/ disp/ [noc/]", dir)
	}
	sort.Slice(rep.Pairs, func(i, j int) bool { return rep.Pairs[i].Name < rep.Pairs[j].Name })
	var sum, sumNoc dispio.Scores
	nNoc := 0
	for i := range rep.Pairs {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := &rep.Pairs[i]
		began := time.Now()
		l, err := readRGB(p.Left)
		if err != nil {
			return fmt.Errorf("eval stereo: %s: %w", p.Left, err)
		}
		r, err := readRGB(p.Right)
		if err != nil {
			return fmt.Errorf("eval stereo: %s: %w", p.Right, err)
		}
		if r.Width != l.Width || r.Height != l.Height {
			return fmt.Errorf("eval stereo: %s is %dx%d, %s %dx%d", p.Left, l.Width, l.Height, p.Right, r.Width, r.Height)
		}
		var sp *cv.SGBMParams
		if *method == methodSGBM {
			s, err := sgbmParams(l.Width, p.NDisp)
			if err != nil {
				return usageErr(fs, err)
			}
			sp, rep.SGBM = &s, &s
		}
		disp, _, _, err := estimatePair(ctx, l, r, sp, *model, *device, *fx, *baseline)
		if err != nil {
			return fmt.Errorf("eval stereo: %s: %w", p.Name, err)
		}
		p.Seconds = time.Since(began).Seconds()
		est := dispio.Map{Width: l.Width, Height: l.Height, Data: disp}
		noc := p.Noc
		if p.NocIsDisp {
			noc = ""
		}
		if p.Scores, p.ScoresNoc, err = scoreFiles(est, p.GT, noc); err != nil {
			return fmt.Errorf("eval stereo: %s: %w", p.Name, err)
		}
		if p.NocIsDisp {
			s, _, err := scoreFiles(est, p.Noc, "")
			if err != nil {
				return fmt.Errorf("eval stereo: %s: %w", p.Name, err)
			}
			p.ScoresNoc = s
		}
		addScores(&sum, *p.Scores)
		if p.ScoresNoc != nil {
			addScores(&sumNoc, *p.ScoresNoc)
			nNoc++
		}
		if !*asJSON {
			fmt.Fprintf(stderr, "\reval stereo: %d/%d", i+1, len(rep.Pairs))
		}
	}
	rep.Mean = meanScores(sum, len(rep.Pairs))
	if nNoc > 0 {
		m := meanScores(sumNoc, nNoc)
		rep.MeanNoc = &m
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintln(stderr)
	fmt.Fprintf(stdout, "%s on %s (%s layout, %d pairs); bad-N and EPE over estimated pixels, *-all counting missing as wrong\n", rep.Method, dir, rep.Layout, len(rep.Pairs))
	fmt.Fprintf(stdout, "%-20s %8s %8s %8s %8s %8s %9s %8s\n", "pair", "density", "EPE", "bad-1", "bad-2", "bad-3", "bad-2-all", "D1-all")
	row := func(name string, s dispio.Scores) {
		fmt.Fprintf(stdout, "%-20s %7.2f%% %8.3f %7.2f%% %7.2f%% %7.2f%% %8.2f%% %7.2f%%\n", name, 100*s.Density, s.EPE, 100*s.Bad1, 100*s.Bad2, 100*s.Bad3, 100*s.Bad2All, 100*s.D1All)
	}
	for _, p := range rep.Pairs {
		row(p.Name, *p.Scores)
		if p.ScoresNoc != nil {
			row("  noc", *p.ScoresNoc)
		}
	}
	row("mean", rep.Mean)
	if rep.MeanNoc != nil {
		row("mean noc", *rep.MeanNoc)
	}
	return nil
}

func addScores(sum *dispio.Scores, s dispio.Scores) {
	sum.Pixels += s.Pixels
	sum.Density += s.Density
	sum.EPE += s.EPE
	sum.Bad1 += s.Bad1
	sum.Bad2 += s.Bad2
	sum.Bad3 += s.Bad3
	sum.Bad2All += s.Bad2All
	sum.D1All += s.D1All
}

// meanScores is the mean over pairs (each pair counts once, as
// Middlebury's and KITTI's per-image averages); Pixels stays the total.
func meanScores(sum dispio.Scores, n int) dispio.Scores {
	f := float64(n)
	return dispio.Scores{Pixels: sum.Pixels, Density: sum.Density / f, EPE: sum.EPE / f, Bad1: sum.Bad1 / f,
		Bad2: sum.Bad2 / f, Bad3: sum.Bad3 / f, Bad2All: sum.Bad2All / f, D1All: sum.D1All / f}
}
