package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/parallax-robotics/parallax/calibration"
	"github.com/parallax-robotics/parallax/calibration/cv"
)

// runCalibrate calibrates a mono camera or a stereo pair from chessboard
// images (files, or frames grabbed from RTSP cameras) with OpenCV
// (calibration/cv: findChessboardCorners + cornerSubPix, calibrateCamera,
// stereoCalibrate, stereoRectify) and writes the result as ROS camera_info
// YAML per camera, or OpenCV FileStorage YAML with --format opencv.
func runCalibrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("calibrate", "[IMAGES...] [flags]", stderr,
		"parallax calibrate --board 9x6 --square 0.025 --left 'data/left*.jpg' --right 'data/right*.jpg' -o calib/",
		"parallax calibrate --board 9x6 --square 0.025 mono/*.png -o calib/ --format opencv",
		"parallax calibrate --board 8x6 --square 0.03 --source rtsp://cam/left --right-source rtsp://cam/right --views 20 --check 4")
	board := fs.String("board", "9x6", "the chessboard's inner corners, COLSxROWS")
	square := fs.Float64("square", 0.025, "the side of a chessboard square in metres (sets the baseline's unit)")
	leftGlob := fs.String("left", "", "the left camera's images (a glob, or a comma-separated list); with --right: a stereo calibration")
	rightGlob := fs.String("right", "", "the right camera's images, paired with --left's in sorted order")
	source := fs.String("source", "", "grab views from this RTSP camera instead of files (the left one with --right-source)")
	rightSource := fs.String("right-source", "", "the right RTSP camera of a stereo pair (with --source)")
	views := fs.Int("views", 15, "with --source: how many views with the board to grab")
	interval := fs.Duration("interval", time.Second, "with --source: the least time between grabbed views (move the board meanwhile)")
	timeout := fs.Duration("timeout", 2*time.Minute, "with --source: give up when the views are not found within this time")
	out := fs.String("out", ".", "the folder the calibration files are written to")
	fs.short("o", "out")
	format := fs.String("format", "ros", "the output: ros (camera_info YAML per camera: left.yaml and right.yaml, or camera.yaml) or opencv (FileStorage YAML: stereo.yml or camera.yml)")
	model := fs.String("model", "plumb_bob", "the distortion model: plumb_bob, rational_polynomial or equidistant (fisheye)")
	alpha := fs.Float64("alpha", 0, "stereoRectify's free scaling: 0 keeps valid pixels only, 1 every raw pixel")
	refine := fs.Bool("refine", false, "refine both cameras' intrinsics in stereoCalibrate instead of fixing each camera's own")
	maxViewError := fs.Float64("max-view-error", 2, "reject views whose RMS reprojection error is above this many pixels (a bad corner detection, a blurred frame, a left and right frame of different moments), the worst first, recalibrating after each; 0 keeps every view")
	still := fs.Duration("still", 500*time.Millisecond, "with --source: keep a view only when the board has stood still this long in every camera (unsynchronised cameras then show the same moment)")
	minMove := fs.Float64("min-move", 15, "with --source: keep a view only when the board's corners moved on average this many pixels from every view kept so far")
	check := fs.Int("check", 0, "hold every Nth view out of the calibration and report the rectified epipolar error on those views (stereo)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	b, err := cv.ParseBoard(*board, *square)
	if err != nil {
		return usageErr(fs, err)
	}
	m, err := calibration.ParseModel(*model)
	if err != nil {
		return usageErr(fs, err)
	}
	if *format != "ros" && *format != "opencv" {
		return usageErr(fs, fmt.Errorf("--format %q: want ros or opencv", *format))
	}
	if !(*maxViewError >= 0) {
		return usageErr(fs, fmt.Errorf("--max-view-error %g: want 0 (keep every view) or a positive number of pixels", *maxViewError))
	}
	if *check < 0 || *check == 1 {
		return usageErr(fs, fmt.Errorf("--check %d: want 0 (no check) or N >= 2 (every Nth view held out)", *check))
	}

	var vs []cv.View
	var w, h int
	var rejected []string
	switch {
	case *source != "":
		if *leftGlob != "" || *rightGlob != "" || fs.NArg() > 0 {
			return usageErr(fs, errors.New("--source grabs views from a camera: give no image files"))
		}
		if *views < 3 {
			return usageErr(fs, fmt.Errorf("--views %d: want at least 3", *views))
		}
		if *still < 0 || *interval < 0 || !(*minMove >= 0) || *timeout <= 0 {
			return usageErr(fs, fmt.Errorf("--still %v, --interval %v, --min-move %g, --timeout %v: want none negative and a positive timeout", *still, *interval, *minMove, *timeout))
		}
		g := &grabber{board: b, n: *views, interval: *interval, still: *still, minMove: *minMove}
		vs, w, h, err = g.grab(ctx, stdout, *source, *rightSource, *timeout)
	case *leftGlob != "" || *rightGlob != "":
		if *leftGlob == "" || *rightGlob == "" || fs.NArg() > 0 {
			return usageErr(fs, errors.New("a stereo calibration takes both --left and --right, and no other image files"))
		}
		var left, right []string
		if left, err = expandImages(*leftGlob); err == nil {
			right, err = expandImages(*rightGlob)
		}
		if err != nil {
			return err
		}
		if len(left) != len(right) {
			return fmt.Errorf("calibrate: %d left and %d right images: a stereo calibration pairs them one to one", len(left), len(right))
		}
		vs, w, h, rejected, err = findViews(stdout, b, left, right)
	default:
		if *rightSource != "" {
			return usageErr(fs, errors.New("--right-source needs --source"))
		}
		var files []string
		for _, a := range fs.Args() {
			more, err := expandImages(a)
			if err != nil {
				return err
			}
			files = append(files, more...)
		}
		if len(files) == 0 {
			return usageErr(fs, errors.New("no images: give image files (mono), --left and --right (stereo), or --source"))
		}
		vs, w, h, rejected, err = findViews(stdout, b, files, nil)
	}
	if err != nil {
		return err
	}
	stereo := len(vs) > 0 && vs[0].Right != nil
	if *check > 0 && !stereo {
		return usageErr(fs, errors.New("--check reports the rectified epipolar error of a stereo pair: give --left and --right (or --right-source)"))
	}
	if len(rejected) > 0 {
		fmt.Fprintf(stdout, "rejected  %d views without the whole board: %s\n", len(rejected), strings.Join(rejected, ", "))
	}
	need := 3
	if *check > 0 {
		need += (len(vs) + 1) / *check
	}
	if len(vs) < need {
		return fmt.Errorf("calibrate: %w: the board was found in %d views, want at least %d", cv.ErrViews, len(vs), need)
	}
	fmt.Fprintf(stdout, "calibrating %s from %d views of %dx%d images (board %dx%d, %g m squares, %s)\n",
		map[bool]string{true: "a stereo pair", false: "a camera"}[stereo], len(vs), w, h, b.Cols, b.Rows, b.Square, m)
	began := time.Now()
	rep, err := cv.Calibrate(vs, w, h, cv.Options{Board: b, Model: m, Alpha: *alpha, Refine: *refine, HoldOut: *check, MaxViewError: *maxViewError})
	if err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	printReport(stdout, rep, stereo, time.Since(began))
	return writeCalibration(stdout, rep, stereo, *out, *format)
}

// expandImages expands a glob or a comma-separated list of files, sorted
// (a glob) or in the order given; a pattern matching nothing is an error.
func expandImages(spec string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(spec, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.ContainsAny(p, "*?[") {
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("calibrate: %w", err)
			}
			out = append(out, p)
			continue
		}
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("calibrate: pattern %q: %w", p, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("calibrate: %q matches no file", p)
		}
		sort.Strings(m)
		out = append(out, m...)
	}
	return out, nil
}

// findViews finds the board in every image (in parallel, one image a
// core), printing each image's outcome in order. right is nil for mono;
// a pair is a view only when both images show the whole board.
func findViews(stdout io.Writer, b cv.Board, left, right []string) (vs []cv.View, w, h int, rejected []string, err error) {
	type found struct {
		pts  []cv.Point
		ok   bool
		w, h int
		err  error
	}
	all := append(append([]string(nil), left...), right...)
	res := make([]found, len(all))
	fmt.Fprintf(stdout, "finding the %dx%d board in %d images\n", b.Cols, b.Rows, len(all))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, p := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			data, err := os.ReadFile(p)
			if err != nil {
				res[i].err = err
				return
			}
			g, err := cv.DecodeGray(data)
			if err != nil {
				res[i].err = fmt.Errorf("%s: %w", p, err)
				return
			}
			res[i].w, res[i].h = g.Width, g.Height
			res[i].pts, res[i].ok, res[i].err = cv.FindCorners(g, b)
		}()
	}
	wg.Wait()
	for i, p := range all {
		if res[i].err != nil {
			return nil, 0, 0, nil, fmt.Errorf("calibrate: %w", res[i].err)
		}
		if w == 0 {
			w, h = res[i].w, res[i].h
		} else if res[i].w != w || res[i].h != h {
			return nil, 0, 0, nil, fmt.Errorf("calibrate: %s: %w: %dx%d, the first image is %dx%d", p, cv.ErrImage, res[i].w, res[i].h, w, h)
		}
	}
	for i, p := range left {
		l := res[i]
		v := cv.View{Name: filepath.Base(p), Left: l.pts}
		ok := l.ok
		if right != nil {
			r := res[len(left)+i]
			v.Name += "+" + filepath.Base(right[i])
			v.Right = r.pts
			ok = ok && r.ok
			if !ok {
				fmt.Fprintf(stdout, "  %-28s rejected: board not found in %s\n", v.Name, map[bool]string{true: "the right image", false: "the left image"}[l.ok])
			}
		} else if !ok {
			fmt.Fprintf(stdout, "  %-28s rejected: board not found\n", v.Name)
		}
		if !ok {
			rejected = append(rejected, v.Name)
			continue
		}
		fmt.Fprintf(stdout, "  %-28s board found (%d corners)\n", v.Name, len(v.Left))
		vs = append(vs, v)
	}
	return vs, w, h, rejected, nil
}

// printReport prints each view's RMS reprojection error, the overall ones,
// and for a pair the extrinsics, the rectified model and the epipolar
// errors.
func printReport(stdout io.Writer, rep *cv.Report, stereo bool, took time.Duration) {
	fmt.Fprintln(stdout, "reprojection error per view (RMS, px):")
	for i, name := range rep.Train {
		line := fmt.Sprintf("  %-28s %s %.4f", name, map[bool]string{true: "left", false: ""}[stereo], rep.Left.PerView[i])
		if stereo {
			line += fmt.Sprintf("  right %.4f", rep.Right.PerView[i])
			if i < len(rep.Stereo.PerView) {
				line += fmt.Sprintf("  stereo %.4f %.4f", rep.Stereo.PerView[i][0], rep.Stereo.PerView[i][1])
			}
		}
		fmt.Fprintln(stdout, line)
	}
	for _, name := range rep.HeldOut {
		fmt.Fprintf(stdout, "  %-28s held out for --check\n", name)
	}
	for _, r := range rep.Rejected {
		fmt.Fprintf(stdout, "  %-28s rejected: %s RMS %.4f px is above --max-view-error\n", r.Name, r.Fit, r.RMS)
	}
	if len(rep.Rejected) > 0 {
		names := make([]string, len(rep.Rejected))
		for i, r := range rep.Rejected {
			names[i] = r.Name
		}
		fmt.Fprintf(stdout, "rejected  %d views above --max-view-error: %s\n", len(rep.Rejected), strings.Join(names, ", "))
	}
	cams := []struct {
		name string
		m    *cv.Mono
	}{{"left", rep.Left}}
	if stereo {
		cams = append(cams, struct {
			name string
			m    *cv.Mono
		}{"right", rep.Right})
	} else {
		cams[0].name = "camera"
	}
	for _, c := range cams {
		k := c.m.Camera.K
		fmt.Fprintf(stdout, "%-6s RMS %.4f px  fx %.3f fy %.3f cx %.3f cy %.3f  %s D %.5g\n", c.name, c.m.RMS, k[0], k[4], k[2], k[5], c.m.Camera.Model, c.m.Camera.D)
	}
	if stereo {
		st := rep.Stereo.Stereo
		fmt.Fprintf(stdout, "stereo RMS %.4f px  baseline %.5f m  rectified fx %.3f cx %.3f cy %.3f\n", rep.Stereo.RMS, st.Baseline(), st.Left.P[0], st.Left.P[2], st.Left.P[6])
		fmt.Fprintf(stdout, "epipolar error (mean |y_left - y_right| after rectification): %.4f px on the %d calibration views", rep.EpipolarTrain, len(rep.Train))
		if rep.EpipolarHeldOut >= 0 {
			fmt.Fprintf(stdout, ", %.4f px on the %d held-out views", rep.EpipolarHeldOut, len(rep.HeldOut))
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "calibrated in %.2f s\n", took.Seconds())
}

// writeCalibration writes the result atomically: ROS camera_info YAML per
// camera, or one OpenCV FileStorage YAML.
func writeCalibration(stdout io.Writer, rep *cv.Report, stereo bool, dir, format string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	type file struct {
		name string
		f    calibration.Format
		set  *calibration.Set
	}
	var files []file
	switch {
	case stereo && format == "ros":
		st := rep.Stereo.Stereo
		files = []file{{"left.yaml", calibration.FormatROS, &calibration.Set{Cameras: []calibration.Camera{st.Left}}},
			{"right.yaml", calibration.FormatROS, &calibration.Set{Cameras: []calibration.Camera{st.Right}}}}
	case stereo:
		st := rep.Stereo.Stereo
		files = []file{{"stereo.yml", calibration.FormatOpenCVYAML, &calibration.Set{Cameras: []calibration.Camera{st.Left, st.Right}, Stereo: &st}}}
	case format == "ros":
		files = []file{{"camera.yaml", calibration.FormatROS, &calibration.Set{Cameras: []calibration.Camera{rep.Left.Camera}}}}
	default:
		files = []file{{"camera.yml", calibration.FormatOpenCVYAML, &calibration.Set{Cameras: []calibration.Camera{rep.Left.Camera}}}}
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := calibration.WriteFile(path, f.f, f.set); err != nil {
			return fmt.Errorf("calibrate: %s: %w", path, err)
		}
		fmt.Fprintf(stdout, "wrote     %s (%s)\n", path, f.f)
	}
	return nil
}

// usageErr prints a bad flag's problem and the help hint, like wantArgs.
func usageErr(fs *cmdFlags, err error) error {
	fmt.Fprintf(fs.stderr, "parallax %s: %v\n", fs.name, err)
	fmt.Fprintf(fs.stderr, "Run 'parallax %s --help' for its flags and examples.\n", fs.name)
	return errUsage
}
