package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/jpeg" // decoding without OpenCV (-tags nocv)
	_ "image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/parallax-robotics/parallax/assets"
	"github.com/parallax-robotics/parallax/calibration"
	"github.com/parallax-robotics/parallax/calibration/cv"
	"github.com/parallax-robotics/parallax/camera/rectify"
	"github.com/parallax-robotics/parallax/internal/dispio"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
)

// Depth methods of `parallax depth` (the node's depth.method names).
const (
	methodSGBM = "sgbm"
	methodMono = "mono"
)

// depthReport is what `parallax depth` measured, printed and written as
// report.json.
type depthReport struct {
	Method        string            `json:"method"`
	Width         int               `json:"width"`
	Height        int               `json:"height"`
	Fx            float64           `json:"fx,omitempty"`
	Baseline      float64           `json:"baseline,omitempty"`
	SGBM          *cv.SGBMParams    `json:"sgbm,omitempty"`
	Model         string            `json:"model,omitempty"`
	Seconds       float64           `json:"seconds"`
	Density       float64           `json:"density"`
	Files         map[string]string `json:"files"`
	GroundTruth   string            `json:"ground_truth,omitempty"`
	Scores        *dispio.Scores    `json:"scores,omitempty"`
	ScoresNonOccl *dispio.Scores    `json:"scores_noc,omitempty"`
}

// runDepth estimates depth on image files: SGBM on a rectified (or, with
// --calibration, rectified here) pair, or the depth network on the left
// image, and writes disparity and depth as PFM with a colour preview.
func runDepth(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("depth", "--left L.png [--right R.png] (--calibration FILE | --fx F --baseline B) [flags]", stderr,
		"parallax depth --left aloeL.jpg --right aloeR.jpg --fx 3740 --baseline 0.16 --num-disparities 256 --gt aloeGT.png --out aloe/",
		"parallax depth --left l.png --right r.png --calibration stereo.yml --method sgbm --wls-lambda 8000 --out out/",
		"parallax depth --left l.png --method mono --model demo.ckpt --out out/")
	left := fs.String("left", "", "the left (reference) image, PNG or JPEG")
	right := fs.String("right", "", "the right image (sgbm); rectified unless --calibration rectifies the pair")
	calib := fs.String("calibration", "", "a stereo calibration file (any format parallax reads): the pair is rectified with it, fx and the baseline come from it")
	fx := fs.Float64("fx", 0, "the rectified focal length in pixels at the images' size (without --calibration)")
	baseline := fs.Float64("baseline", 0, "the stereo baseline in metres (without --calibration); disparity d px is depth fx*baseline/d")
	method := fs.String("method", methodSGBM, "sgbm (OpenCV's StereoSGBM, 3-way) or mono (the depth network on the left image)")
	model := fs.String("model", "", "mono: the checkpoint; default: the built-in demo checkpoint (trained on the synthetic world)")
	device := fs.String("device", "cpu", "mono: torch device, cpu or cuda[:N]")
	out := fs.String("out", "", "the folder written: disparity.pfm, depth.pfm, depth.tiff (32-bit float), preview.png, report.json")
	fs.short("o", "out")
	gt := fs.String("gt", "", "ground-truth disparity to score against: PFM, KITTI 16-bit PNG (disp*256) or 8-bit PNG in pixels; 0, inf: unknown")
	noc := fs.String("noc", "", "with --gt: a non-occlusion mask PNG (white, above half intensity: scored; Middlebury's mask0nocc.png) for scores on non-occluded pixels")
	sgbmParams := sgbmFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	switch {
	case *left == "":
		return usageErr(fs, errors.New("--left is required"))
	case *out == "":
		return usageErr(fs, errors.New("--out DIR is required"))
	case *method != methodSGBM && *method != methodMono:
		return usageErr(fs, fmt.Errorf("--method %q: want sgbm or mono", *method))
	case *method == methodSGBM && *right == "":
		return usageErr(fs, errors.New("--method sgbm matches a pair: give --right"))
	case *calib != "" && (*fx != 0 || *baseline != 0):
		return usageErr(fs, errors.New("give --calibration or --fx and --baseline, not both"))
	case *fx < 0 || *baseline < 0 || math.IsNaN(*fx) || math.IsNaN(*baseline) || math.IsInf(*fx, 0) || math.IsInf(*baseline, 0):
		return usageErr(fs, fmt.Errorf("--fx %g --baseline %g: want positive numbers", *fx, *baseline))
	case *calib == "" && (*fx > 0) != (*baseline > 0):
		return usageErr(fs, errors.New("give both --fx and --baseline (or --calibration)"))
	case *method == methodSGBM && *calib == "" && *fx == 0:
		return usageErr(fs, errors.New("--method sgbm needs the rectified fx and the baseline for metric depth: give --calibration, or --fx and --baseline"))
	case *noc != "" && *gt == "":
		return usageErr(fs, errors.New("--noc needs --gt"))
	}

	l, err := readRGB(*left)
	if err != nil {
		return fmt.Errorf("depth: --left %s: %w", *left, err)
	}
	var r *msgs.Frame
	if *right != "" {
		if r, err = readRGB(*right); err != nil {
			return fmt.Errorf("depth: --right %s: %w", *right, err)
		}
		if r.Width != l.Width || r.Height != l.Height {
			return fmt.Errorf("depth: --left is %dx%d, --right %dx%d: a pair has one size", l.Width, l.Height, r.Width, r.Height)
		}
	}
	rep := &depthReport{Method: *method, Fx: *fx, Baseline: *baseline, Files: map[string]string{}}
	if *calib != "" {
		if l, r, rep.Fx, rep.Baseline, err = rectifyFiles(*calib, l, r); err != nil {
			return fmt.Errorf("depth: --calibration %s: %w", *calib, err)
		}
	}
	rep.Width, rep.Height = l.Width, l.Height

	began := time.Now()
	var p *cv.SGBMParams
	if *method == methodSGBM {
		sp, err := sgbmParams(l.Width, 0)
		if err != nil {
			return usageErr(fs, err)
		}
		p, rep.SGBM = &sp, &sp
	}
	disp, depth, name, err := estimatePair(ctx, l, r, p, *model, *device, rep.Fx, rep.Baseline)
	if err != nil {
		return fmt.Errorf("depth: %w", err)
	}
	rep.Model = name
	rep.Seconds = time.Since(began).Seconds()
	valid := 0
	for _, v := range depth {
		if !math.IsNaN(float64(v)) {
			valid++
		}
	}
	rep.Density = float64(valid) / float64(len(depth))

	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("depth: %w", err)
	}
	write := func(name string) func([]byte, error) error {
		return func(data []byte, err error) error { return writeOut(rep, *out, name, data, err) }
	}
	dm := dispio.Map{Width: l.Width, Height: l.Height, Data: depth}
	if err := write("depth.pfm")(dispio.EncodePFM(dm)); err != nil {
		return err
	}
	if err := write("depth.tiff")(dispio.EncodeTIFF(dm)); err != nil {
		return err
	}
	if disp != nil {
		m := dispio.Map{Width: l.Width, Height: l.Height, Data: disp}
		if err := write("disparity.pfm")(dispio.EncodePFM(m)); err != nil {
			return err
		}
		if err := write("preview.png")(dispio.Preview(m, math.NaN(), math.NaN(), "px", false)); err != nil {
			return err
		}
		if *gt != "" {
			if rep.Scores, rep.ScoresNonOccl, err = scoreFiles(m, *gt, *noc); err != nil {
				return fmt.Errorf("depth: %w", err)
			}
			rep.GroundTruth = *gt
		}
	} else {
		if *gt != "" {
			return usageErr(fs, errors.New("--gt scores disparity: give --fx and --baseline (or --calibration) to turn mono depth into disparity"))
		}
		// Inverse depth runs like disparity: near is red.
		if err := write("preview.png")(dispio.Preview(dm, math.NaN(), math.NaN(), "m", true)); err != nil {
			return err
		}
	}
	js, _ := json.MarshalIndent(rep, "", "  ")
	if err := write("report.json")(append(js, '\n'), nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "depth  %s on %dx%d in %.2f s, %.1f%% of the pixels estimated\n", rep.Method, rep.Width, rep.Height, rep.Seconds, 100*rep.Density)
	for _, s := range []struct {
		name string
		s    *dispio.Scores
	}{{"all", rep.Scores}, {"noc", rep.ScoresNonOccl}} {
		if s.s != nil {
			fmt.Fprintf(stdout, "scores %s: EPE %.3f px, bad-1 %.2f%% bad-2 %.2f%% bad-3 %.2f%% (of %.1f%% estimated); bad-2 %.2f%% D1 %.2f%% counting missing as wrong\n",
				s.name, s.s.EPE, 100*s.s.Bad1, 100*s.s.Bad2, 100*s.s.Bad3, 100*s.s.Density, 100*s.s.Bad2All, 100*s.s.D1All)
		}
	}
	fmt.Fprintf(stdout, "wrote  %s\n", *out)
	return nil
}

// sgbmFlags adds SGBM's flags to fs; the returned function gives the
// parameters for images of a width (num-disparities 0: ndisp when the
// dataset gives one, rounded up to 16, else OpenCV's stereo_match sample's
// width/8 rounded up to 16), validated.
func sgbmFlags(fs *cmdFlags) func(width, ndisp int) (cv.SGBMParams, error) {
	def := cv.DefaultSGBM()
	nd := fs.Int("num-disparities", 0, "sgbm: disparities searched, a multiple of 16; 0: the dataset's ndisp, else OpenCV's sample's width/8, rounded up to 16")
	minD := fs.Int("min-disparity", def.MinDisparity, "sgbm: the smallest disparity searched")
	bs := fs.Int("block-size", def.BlockSize, "sgbm: the odd matched block side, 1 to 11")
	uniq := fs.Int("uniqueness", def.Uniqueness, "sgbm: the best match's margin over the second, percent")
	sw := fs.Int("speckle-window", def.SpeckleWindow, "sgbm: the largest blob removed as speckle, pixels (0: off)")
	sr := fs.Int("speckle-range", def.SpeckleRange, "sgbm: the largest disparity variation within a blob, pixels")
	lambda := fs.Float64("wls-lambda", 0, "sgbm: filter with ximgproc's WLS filter of this lambda (8000 usual); 0: off")
	sigma := fs.Float64("wls-sigma", def.WLSSigma, "sgbm: the WLS filter's colour sensitivity")
	return func(width, ndisp int) (cv.SGBMParams, error) {
		p := def
		p.NumDisparities, p.MinDisparity, p.BlockSize, p.Uniqueness = *nd, *minD, *bs, *uniq
		p.SpeckleWindow, p.SpeckleRange, p.WLSLambda, p.WLSSigma = *sw, *sr, *lambda, *sigma
		if p.NumDisparities == 0 {
			if ndisp <= 0 {
				ndisp = width / 8 // OpenCV's stereo_match sample
			}
			p.NumDisparities = min((ndisp+15)&^15, 1024)
		}
		return p, p.Validate()
	}
}

// estimatePair runs a method on a rectified pair: SGBM with p (r must be
// set), or, with p nil, the depth network on l (ckpt, device). It returns
// the disparity in pixels (nil for mono without fx) and the depth in
// metres, NaN where there is none, and the checkpoint's name for mono.
func estimatePair(ctx context.Context, l, r *msgs.Frame, p *cv.SGBMParams, ckpt, device string, fx, baseline float64) (disp, depth []float32, model string, err error) {
	if p != nil {
		d, err := cv.SGBM(cv.Image{Width: l.Width, Height: l.Height, Channels: 3, Pix: l.Pix},
			cv.Image{Width: r.Width, Height: r.Height, Channels: 3, Pix: r.Pix}, *p)
		if err != nil {
			return nil, nil, "", err
		}
		return d.D, d.Depth(fx, baseline), "", nil
	}
	if depth, model, err = monoDepthFile(ctx, l, ckpt, device); err != nil {
		return nil, nil, "", err
	}
	if fx > 0 {
		disp = cv.Disparity{Width: l.Width, Height: l.Height, D: depth}.Depth(fx, baseline) // fx*B/z: the same division
	}
	return disp, depth, model, nil
}

// writeOut writes one output file atomically and lists it in the report.
func writeOut(rep *depthReport, dir, name string, data []byte, err error) error {
	if err != nil {
		return fmt.Errorf("depth: %s: %w", name, err)
	}
	path := filepath.Join(dir, name)
	if err := calibration.WriteFileAtomic(path, data); err != nil {
		return fmt.Errorf("depth: %w", err)
	}
	rep.Files[name] = path
	return nil
}

// readRGB decodes a PNG or JPEG into a frame: with OpenCV's imdecode when
// linked (the pixels python's cv2.imread gives, so SGBM sees what the
// reference sees), else Go's decoders.
func readRGB(path string) (*msgs.Frame, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if cv.Available {
		img, err := cv.DecodeRGB(data)
		if err != nil {
			return nil, err
		}
		return &msgs.Frame{Camera: filepath.Base(path), Width: img.Width, Height: img.Height, Pix: img.Pix}, nil
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	f := &msgs.Frame{Camera: filepath.Base(path), Width: b.Dx(), Height: b.Dy(), Pix: make([]byte, 3*b.Dx()*b.Dy())}
	for i := 0; i < b.Dx()*b.Dy(); i++ {
		copy(f.Pix[3*i:3*i+3], rgba.Pix[4*i:4*i+3])
	}
	return f, nil
}

// rectifyFiles rectifies a pair with a stereo calibration file (as the node
// does: rectify.Pair) and returns the rectified frames, fx and baseline.
func rectifyFiles(path string, l, r *msgs.Frame) (lo, ro *msgs.Frame, fx, baseline float64, err error) {
	set, err := calibration.Read(path)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	if set.Stereo == nil {
		return nil, nil, 0, 0, fmt.Errorf("%w: the file describes no stereo pair (want OpenCV's M1 D1 M2 D2 R T, Kalibr's cam0 cam1, or KITTI's 02 03)", calibration.ErrCameras)
	}
	lc, rc, err := rectify.Pair(*set.Stereo, 0)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	lr, err := rectify.New(lc)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	defer lr.Close()
	rr, err := rectify.New(rc)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	defer rr.Close()
	if lo, err = lr.Rectify(l); err != nil {
		return nil, nil, 0, 0, err
	}
	if r != nil {
		if ro, err = rr.Rectify(r); err != nil {
			return nil, nil, 0, 0, err
		}
	}
	k := lr.Intrinsics().Scaled(lo.Width, lo.Height)
	return lo, ro, k.Fx, rr.Baseline(), nil
}

// monoDepthFile runs the depth network on the whole image: resized to the
// network's input (the aspect ratio is not kept, so nothing is cropped)
// and its depth resized back to the image's size.
func monoDepthFile(ctx context.Context, f *msgs.Frame, ckpt, device string) ([]float32, string, error) {
	dev, err := perception.ParseDevice(device)
	if err != nil {
		return nil, "", err
	}
	name := ckpt
	if ckpt == "" {
		dir, err := os.MkdirTemp("", "parallax-depth-")
		if err != nil {
			return nil, "", err
		}
		defer os.RemoveAll(dir)
		if ckpt, err = assets.DemoCheckpointFile(dir); err != nil {
			return nil, "", err
		}
		name = "built-in demo checkpoint"
	}
	threads := 2
	if runtime.NumCPU() <= 2 {
		threads = 1
	}
	w, err := perception.NewWorker(threads)
	if err != nil {
		return nil, "", err
	}
	defer w.Close()
	var m *perception.Model
	if err := w.Do(func() (err error) { m, _, err = perception.LoadModel(ckpt, dev); return err }); err != nil {
		return nil, "", fmt.Errorf("--model %s: %w", name, err)
	}
	defer w.Do(func() error { m.Close(); return nil })
	cfg := m.Config()
	in := &msgs.Frame{Camera: f.Camera, Width: cfg.Width, Height: cfg.Height, Pix: resizeRGB(f.Pix, f.Width, f.Height, cfg.Width, cfg.Height)}
	maps, err := perception.NewEstimator(m, w).Depth(in)
	if err != nil {
		return nil, "", err
	}
	return resizeFloat(maps[0].Depth, cfg.Width, cfg.Height, f.Width, f.Height), name, ctx.Err()
}

// resizeRGB resamples packed RGB bilinearly (pixel centres aligned, as
// OpenCV's INTER_LINEAR and torch's align_corners=false).
func resizeRGB(pix []byte, w, h, nw, nh int) []byte {
	out := make([]byte, 3*nw*nh)
	for c := 0; c < 3; c++ {
		ch := make([]float32, w*h)
		for i := range ch {
			ch[i] = float32(pix[3*i+c])
		}
		for i, v := range resizeFloat(ch, w, h, nw, nh) {
			out[3*i+c] = byte(math.Min(math.Max(math.Round(float64(v)), 0), 255))
		}
	}
	return out
}

// resizeFloat resamples a float map bilinearly (pixel centres aligned).
func resizeFloat(src []float32, w, h, nw, nh int) []float32 {
	out := make([]float32, nw*nh)
	sx, sy := float64(w)/float64(nw), float64(h)/float64(nh)
	for y := 0; y < nh; y++ {
		fy := math.Min(math.Max((float64(y)+0.5)*sy-0.5, 0), float64(h-1))
		y0 := int(fy)
		y1, ty := min(y0+1, h-1), float32(fy-float64(y0))
		for x := 0; x < nw; x++ {
			fx := math.Min(math.Max((float64(x)+0.5)*sx-0.5, 0), float64(w-1))
			x0 := int(fx)
			x1, tx := min(x0+1, w-1), float32(fx-float64(x0))
			a := src[y0*w+x0]*(1-tx) + src[y0*w+x1]*tx
			b := src[y1*w+x0]*(1-tx) + src[y1*w+x1]*tx
			out[y*nw+x] = a*(1-ty) + b*ty
		}
	}
	return out
}

// scoreFiles scores a disparity map against a ground-truth file, and on
// the pixels a non-occlusion mask keeps when one is given.
func scoreFiles(est dispio.Map, gtPath, nocPath string) (all, noc *dispio.Scores, err error) {
	data, err := os.ReadFile(gtPath)
	if err != nil {
		return nil, nil, fmt.Errorf("--gt: %w", err)
	}
	gt, err := dispio.Decode(data)
	if err != nil {
		return nil, nil, fmt.Errorf("--gt %s: %w", gtPath, err)
	}
	if gt.Width != est.Width || gt.Height != est.Height {
		return nil, nil, fmt.Errorf("--gt %s is %dx%d, the images %dx%d: ground truth at another scale cannot be scored", gtPath, gt.Width, gt.Height, est.Width, est.Height)
	}
	s, err := dispio.Score(est, gt, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("--gt %s: %w", gtPath, err)
	}
	all = &s
	if nocPath == "" {
		return all, nil, nil
	}
	mask, err := readMask(nocPath, gt.Width, gt.Height)
	if err != nil {
		return nil, nil, err
	}
	n, err := dispio.Score(est, gt, mask)
	if err != nil {
		return nil, nil, fmt.Errorf("--noc %s: %w", nocPath, err)
	}
	return all, &n, nil
}

// readMask reads a mask PNG: pixels above half intensity (white) are kept.
func readMask(path string, w, h int) ([]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--noc: %w", err)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("--noc %s: %w", path, err)
	}
	b := img.Bounds()
	if b.Dx() != w || b.Dy() != h {
		return nil, fmt.Errorf("--noc %s is %dx%d, the ground truth %dx%d", path, b.Dx(), b.Dy(), w, h)
	}
	mask := make([]bool, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// Above half intensity: Middlebury's mask0nocc.png marks
			// non-occluded pixels 255, occluded ones 128, unknown 0.
			gr := color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray)
			mask[y*w+x] = gr.Y > 128
		}
	}
	return mask, nil
}
