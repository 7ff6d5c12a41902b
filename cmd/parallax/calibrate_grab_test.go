package main

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/calibration"
	"github.com/parallax-robotics/parallax/calibration/cv"
	"github.com/parallax-robotics/parallax/camera/cameratest"
	"github.com/parallax-robotics/parallax/internal/cvtest"
	"github.com/parallax-robotics/parallax/msgs"
)

// slides is a camera.Source showing images one after the other, each for
// hold, round and round from t0: a board moved from place to place and held
// still at each. The image shown depends on the time, not on the frame
// count, so the two cameras of a pair show the same one at once however
// their encoders keep up.
type slides struct {
	frames []*msgs.Frame
	t0     time.Time
	hold   time.Duration
	seq    uint64
}

func loadSlides(t *testing.T, files []string, t0 time.Time, hold time.Duration) *slides {
	t.Helper()
	s := &slides{t0: t0, hold: hold}
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		b := img.Bounds()
		fr := &msgs.Frame{Width: b.Dx(), Height: b.Dy(), Pix: make([]byte, 3*b.Dx()*b.Dy())}
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
				o := 3 * (y*b.Dx() + x)
				fr.Pix[o], fr.Pix[o+1], fr.Pix[o+2] = byte(r>>8), byte(g>>8), byte(bl>>8)
			}
		}
		s.frames = append(s.frames, fr)
	}
	return s
}

func (s *slides) Start(context.Context) error { return nil }
func (s *slides) Close() error                { return nil }
func (s *slides) Read(ctx context.Context) (*msgs.Frame, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f := *s.frames[int(time.Since(s.t0)/s.hold)%len(s.frames)]
	f.Seq = s.seq
	s.seq++
	return &f, nil
}

// TestCalibrateFromRTSP: parallax calibrate grabs its views from two live
// RTSP cameras (cameratest's server encoding OpenCV's stereo sample as
// real H.264, each pair shown for a second, the two streams not
// synchronised): it keeps a view only when the board is at rest in both,
// one per pose, and the calibration agrees with python3-opencv's on the
// image files (the grabbed views are a subset of them, through H.264).
func TestCalibrateFromRTSP(t *testing.T) {
	left, right := cvtest.StereoSample(t)
	ref := cvtest.Reference(t, left, right)
	srv := &cameratest.Server{}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const fps = 10
	t0 := time.Now()
	for _, c := range []struct {
		path  string
		files []string
	}{{"left", left}, {"right", right}} {
		if err := srv.Serve(c.path, loadSlides(t, c.files, t0, time.Second), fps); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	var out, errb bytes.Buffer
	err := dispatch(context.Background(), []string{"calibrate", "--board", "9x6", "--square", "0.025",
		"--source", srv.URL("left"), "--right-source", srv.URL("right"), "--views", "8", "--check", "4",
		"--still", "400ms", "--interval", "0", "--timeout", "90s", "-o", dir}, &out, &errb)
	if err != nil {
		if strings.Contains(err.Error(), "-tags nocv") {
			t.Skipf("no OpenCV in this build: %v", err)
		}
		t.Fatalf("%v\n%s%s", err, out.String(), errb.String())
	}
	s := out.String()
	for k := 1; k <= 8; k++ {
		if !strings.Contains(s, fmt.Sprintf("board found (%d of 8)", k)) {
			t.Errorf("output lacks view %d:\n%s", k, s)
		}
	}
	set, err := calibration.Read(filepath.Join(dir, "right.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := set.Cameras[0]
	b := -c.P[3] / c.P[0]
	// A subset of the views through H.264: within 3% of python on all 13
	// files, and the pairs are of one moment (a stereo RMS of a pixel or
	// more, or a held-out epipolar error above 0.5 px, says they are not).
	if math.Abs(b/ref.Baseline-1) > 0.03 || math.Abs(c.K[0]/ref.Right.K[0]-1) > 0.03 || c.Width != 640 {
		t.Errorf("baseline %.5f m, right fx %.3f; python on the files %.5f m, %.3f", b, c.K[0], ref.Baseline, ref.Right.K[0])
	}
	if rms := printed(t, s, "stereo RMS"); rms > 1 {
		t.Errorf("stereo RMS %.4f px:\n%s", rms, s)
	}
	held := -1.0
	if m := regexp.MustCompile(`px on the \d+ calibration views, ([0-9.]+) px on the 2 held-out`).FindStringSubmatch(s); m != nil {
		held, _ = strconv.ParseFloat(m[1], 64)
	}
	if !(held >= 0 && held < 0.5) {
		t.Errorf("held-out epipolar error %v px:\n%s", held, s)
	} else {
		t.Log(s)
	}
	t.Logf("baseline %.5f m (python on the files %.5f), right fx %.3f (%.3f), held-out epipolar %.4f px", b, ref.Baseline, c.K[0], ref.Right.K[0], held)

	// Nothing served there: the error names the camera.
	err = dispatch(context.Background(), []string{"calibrate", "--source", srv.URL("nothing"), "--timeout", "5s", "-o", dir}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "nothing") {
		t.Errorf("a path with no stream: %v", err)
	}
}

// TestGrabberKeepsViewsAtRest: the grabber keeps a view only after the
// board has been at rest for the still time in every camera, once per
// pose, and not sooner than interval after the last.
func TestGrabberKeepsViewsAtRest(t *testing.T) {
	board := func(dx, dy float64) []cv.Point {
		var p []cv.Point
		for r := 0; r < 6; r++ {
			for c := 0; c < 9; c++ {
				p = append(p, cv.Point{X: 100 + 20*float64(c) + dx, Y: 100 + 20*float64(r) + dy})
			}
		}
		return p
	}
	g := &grabber{n: 10, still: 300 * time.Millisecond, interval: time.Second, minMove: 15}
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	steps := []struct {
		ms          int
		left, right []cv.Point
		keep        bool
	}{
		{0, board(0, 0), board(-30, 0), false},
		{200, board(0, 0), board(-30, 0), false},    // at rest 200 ms only
		{400, board(0.1, 0), board(-30, 0), true},   // 400 ms, H.264 noise
		{500, board(0, 0), board(-30, 0), false},    // the same pose
		{600, board(40, 0), board(-30, 0), false},   // left moved: right still shows the old pose
		{1000, board(40, 0), board(10, 0), false},   // right caught up just now
		{1200, board(40, 0), board(10, 0), false},   // 200 ms at rest in the right camera
		{1400, board(40, 0), nil, false},            // board lost in the right camera
		{1500, board(40, 0), board(10, 0), false},   // back, at rest from now
		{1900, board(40, 0), board(10, 0), true},    // 400 ms
		{2100, board(80, 40), board(50, 40), false}, // moved
		{2500, board(80, 40), board(50, 40), false}, // at rest, but within interval of the last view
		{3000, board(80, 40), board(50, 40), true},
		{3500, board(1, 1), board(-29, 1), false}, // back at the first pose
		{4000, board(1, 1), board(-29, 1), false},
	}
	for _, st := range steps {
		if got := g.offer(at(st.ms), [][]cv.Point{st.left, st.right}); got != st.keep {
			t.Errorf("at %d ms: kept %v, want %v", st.ms, got, st.keep)
		}
	}
	if len(g.kept) != 3 || g.kept[2].Name != "view03" || g.kept[1].Right[0].X != 110 {
		t.Errorf("kept %d views: %+v", len(g.kept), g.kept)
	}
}
