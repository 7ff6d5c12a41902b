//go:build !nocv

package cv

import (
	"errors"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/parallax-robotics/parallax/calibration"
	"github.com/parallax-robotics/parallax/internal/cvtest"
)

// sampleViews finds the board in OpenCV's stereo sample, in parallel.
func sampleViews(t testing.TB, left, right []string, b Board) (views []View, w, h int) {
	t.Helper()
	type res struct {
		pts []Point
		ok  bool
		w   int
		h   int
		err error
	}
	all := append(append([]string(nil), left...), right...)
	out := make([]res, len(all))
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
				out[i].err = err
				return
			}
			g, err := DecodeGray(data)
			if err != nil {
				out[i].err = err
				return
			}
			out[i].pts, out[i].ok, out[i].err = FindCorners(g, b)
			out[i].w, out[i].h = g.Width, g.Height
		}()
	}
	wg.Wait()
	for i := range left {
		l, r := out[i], out[len(left)+i]
		if l.err != nil || r.err != nil {
			t.Fatalf("%s: %v %v", left[i], l.err, r.err)
		}
		w, h = l.w, l.h
		if l.ok && r.ok {
			views = append(views, View{Name: left[i], Left: l.pts, Right: r.pts})
		}
	}
	return views, w, h
}

func relErr(a, b float64) float64 { return math.Abs(a-b) / math.Abs(b) }

// TestStereoSampleMatchesPython is the check on real data no one here
// made: OpenCV's own stereo chessboard pairs, calibrated here through gocv
// and the shim and by python3-opencv, must agree (focal lengths and
// baseline within 0.5%, RMS within 0.05 px), and the rectified epipolar
// error on held-out pairs must be below 0.5 px.
func TestStereoSampleMatchesPython(t *testing.T) {
	left, right := cvtest.StereoSample(t)
	ref := cvtest.Reference(t, left, right, "--holdout", "4")
	b, err := ParseBoard("9x6", 0.025)
	if err != nil {
		t.Fatal(err)
	}
	views, w, h := sampleViews(t, left, right, b)
	if w != ref.Size[0] || h != ref.Size[1] {
		t.Fatalf("image size %dx%d, python's %v", w, h, ref.Size)
	}
	if len(views) != len(ref.Used)+len(ref.HeldOut) {
		t.Fatalf("%d pairs with the board, python found %d", len(views), len(ref.Used)+len(ref.HeldOut))
	}
	rep, err := Calibrate(views, w, h, Options{Board: b, HoldOut: 4})
	if err != nil {
		t.Fatal(err)
	}
	st := rep.Stereo.Stereo
	for _, c := range []struct {
		name string
		got  *Mono
		cam  calibration.Camera
		want cvtest.RefMono
	}{{"left", rep.Left, st.Left, ref.Left}, {"right", rep.Right, st.Right, ref.Right}} {
		if relErr(c.cam.K[0], c.want.K[0]) > 0.005 || relErr(c.cam.K[4], c.want.K[4]) > 0.005 {
			t.Errorf("%s: fx %.3f fy %.3f, python %.3f %.3f", c.name, c.cam.K[0], c.cam.K[4], c.want.K[0], c.want.K[4])
		}
		if math.Abs(c.got.RMS-c.want.RMS) > 0.05 {
			t.Errorf("%s: RMS %.4f, python %.4f", c.name, c.got.RMS, c.want.RMS)
		}
		// The per-view errors are computed in Go (calibration's
		// projection) and by python (cv2.projectPoints).
		for i, e := range c.got.PerView {
			if math.Abs(e-c.want.PerView[i]) > 1e-3 {
				t.Errorf("%s view %d: RMS %.5f, python %.5f", c.name, i, e, c.want.PerView[i])
			}
		}
		t.Logf("%s: fx %.3f fy %.3f cx %.3f cy %.3f RMS %.4f (python fx %.3f RMS %.4f)", c.name, c.cam.K[0], c.cam.K[4], c.cam.K[2], c.cam.K[5], c.got.RMS, c.want.K[0], c.want.RMS)
	}
	if math.Abs(rep.Stereo.RMS-ref.RMS) > 0.05 {
		t.Errorf("stereo RMS %.4f, python %.4f", rep.Stereo.RMS, ref.RMS)
	}
	if relErr(st.Baseline(), ref.Baseline) > 0.005 {
		t.Errorf("baseline %.5f m, python %.5f m", st.Baseline(), ref.Baseline)
	}
	if relErr(st.Left.P[0], ref.P1[0]) > 0.005 {
		t.Errorf("rectified fx %.3f, python %.3f", st.Left.P[0], ref.P1[0])
	}
	if rep.EpipolarHeldOut < 0 || rep.EpipolarHeldOut >= 0.5 {
		t.Errorf("held-out epipolar error %.4f px, want below 0.5", rep.EpipolarHeldOut)
	}
	if math.Abs(rep.EpipolarHeldOut-ref.EpipolarHeld) > 0.01 || math.Abs(rep.EpipolarTrain-ref.EpipolarTrain) > 0.01 {
		t.Errorf("epipolar train %.4f held-out %.4f, python %.4f %.4f", rep.EpipolarTrain, rep.EpipolarHeldOut, ref.EpipolarTrain, ref.EpipolarHeld)
	}
	t.Logf("stereo RMS %.4f (python %.4f), baseline %.5f m (python %.5f), rectified fx %.3f, epipolar train %.4f held-out %.4f px (python %.4f %.4f)",
		rep.Stereo.RMS, ref.RMS, st.Baseline(), ref.Baseline, st.Left.P[0], rep.EpipolarTrain, rep.EpipolarHeldOut, ref.EpipolarTrain, ref.EpipolarHeld)

	// Go's maps and point rectification are OpenCV's.
	for _, c := range []calibration.Camera{st.Left, st.Right} {
		checkMaps(t, c)
		checkUndistortPoints(t, c, views[0].Left)
	}
	checkRemapper(t, st.Left)
	checkProject(t, rep.Left)
}

// TestRationalSampleMatchesPython: the same with the rational model.
func TestRationalSampleMatchesPython(t *testing.T) {
	left, right := cvtest.StereoSample(t)
	ref := cvtest.Reference(t, left, right, "--holdout", "4", "--rational")
	b, _ := ParseBoard("9x6", 0.025)
	views, w, h := sampleViews(t, left, right, b)
	rep, err := Calibrate(views, w, h, Options{Board: b, HoldOut: 4, Model: calibration.RationalPolynomial})
	if err != nil {
		t.Fatal(err)
	}
	st := rep.Stereo.Stereo
	if relErr(st.Left.K[0], ref.Left.K[0]) > 0.005 || relErr(st.Right.K[0], ref.Right.K[0]) > 0.005 || relErr(st.Baseline(), ref.Baseline) > 0.005 {
		t.Errorf("fx %.3f %.3f baseline %.5f, python %.3f %.3f %.5f", st.Left.K[0], st.Right.K[0], st.Baseline(), ref.Left.K[0], ref.Right.K[0], ref.Baseline)
	}
	if math.Abs(rep.Left.RMS-ref.Left.RMS) > 0.05 || math.Abs(rep.Stereo.RMS-ref.RMS) > 0.05 {
		t.Errorf("RMS %.4f / %.4f, python %.4f / %.4f", rep.Left.RMS, rep.Stereo.RMS, ref.Left.RMS, ref.RMS)
	}
	for _, c := range []calibration.Camera{st.Left, st.Right} {
		checkMaps(t, c)
	}
}

// TestFisheyeSample runs the fisheye path (cv::fisheye) on the same pairs:
// not a fisheye lens, but the model fits it, and the maps agree with
// cv::fisheye's.
func TestFisheyeSample(t *testing.T) {
	left, right := cvtest.StereoSample(t)
	b, _ := ParseBoard("9x6", 0.025)
	views, w, h := sampleViews(t, left, right, b)
	rep, err := Calibrate(views, w, h, Options{Board: b, HoldOut: 4, Model: calibration.Equidistant})
	if err != nil {
		t.Fatal(err)
	}
	st := rep.Stereo.Stereo
	if rep.Left.RMS > 1 || rep.Stereo.RMS > 1.5 || st.Baseline() < 0.07 || st.Baseline() > 0.1 {
		t.Errorf("fisheye: RMS %.3f stereo %.3f baseline %.4f", rep.Left.RMS, rep.Stereo.RMS, st.Baseline())
	}
	if rep.EpipolarHeldOut > 1 {
		t.Errorf("fisheye epipolar error %.3f px", rep.EpipolarHeldOut)
	}
	for _, c := range []calibration.Camera{st.Left, st.Right} {
		checkMaps(t, c)
		checkUndistortPoints(t, c, views[0].Left)
	}
	checkProject(t, rep.Left)
	t.Logf("fisheye: RMS %.4f stereo %.4f baseline %.5f epipolar %.4f", rep.Left.RMS, rep.Stereo.RMS, st.Baseline(), rep.EpipolarHeldOut)
}

// checkMaps compares calibration.NewMaps with OpenCV's
// initUndistortRectifyMap where the maps land inside the raw image.
func checkMaps(t *testing.T, c calibration.Camera) {
	t.Helper()
	m, err := calibration.NewMaps(c)
	if err != nil {
		t.Fatal(err)
	}
	x, y, err := InitUndistortRectifyMap(c)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := range x {
		if x[i] < 0 || y[i] < 0 || x[i] > float32(c.Width-1) || y[i] > float32(c.Height-1) {
			continue
		}
		worst = math.Max(worst, math.Hypot(float64(m.X[i]-x[i]), float64(m.Y[i]-y[i])))
	}
	if worst > 1e-3 {
		t.Errorf("%s %s: calibration.NewMaps differs from initUndistortRectifyMap by up to %.2g px", c.Name, c.Model, worst)
	}
}

func checkUndistortPoints(t *testing.T, c calibration.Camera, pts []Point) {
	t.Helper()
	cv, err := UndistortPoints(c, pts)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i, p := range pts {
		u, v, ok := c.RectifyPixel(p.X, p.Y)
		if !ok {
			t.Fatalf("RectifyPixel(%v) failed", p)
		}
		worst = math.Max(worst, math.Hypot(u-cv[i].X, v-cv[i].Y))
	}
	// OpenCV iterates a fixed number of times (5 for the standard model);
	// Go to convergence: they agree to a few hundredths at worst.
	if worst > 0.05 {
		t.Errorf("%s %s: RectifyPixel differs from undistortPoints by up to %.3g px", c.Name, c.Model, worst)
	}
}

func checkProject(t *testing.T, m *Mono) {
	t.Helper()
	b, _ := ParseBoard("9x6", 0.025)
	pts, err := ProjectPoints(m.Camera, b.Corners(), m.Rvecs[0], m.Tvecs[0])
	if err != nil {
		t.Fatal(err)
	}
	r := calibration.Rodrigues(m.Rvecs[0])
	for i, p := range b.Corners() {
		q := [3]float64{r[0]*p[0] + r[1]*p[1] + r[2]*p[2] + m.Tvecs[0][0], r[3]*p[0] + r[4]*p[1] + r[5]*p[2] + m.Tvecs[0][1], r[6]*p[0] + r[7]*p[1] + r[8]*p[2] + m.Tvecs[0][2]}
		u, v, _ := m.Camera.Project(q)
		if math.Hypot(u-pts[i].X, v-pts[i].Y) > 1e-4 { // float32 board corners, as OpenCV takes them
			t.Fatalf("%s: Project = (%v, %v), projectPoints (%v, %v)", m.Camera.Model, u, v, pts[i].X, pts[i].Y)
		}
	}
}

// checkRemapper: OpenCV's fixed-point remap and calibration's Go remap
// agree within a grey level or two.
func checkRemapper(t *testing.T, c calibration.Camera) {
	t.Helper()
	m, err := calibration.NewMaps(c)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRemapper(m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	src := make([]byte, c.Width*c.Height*3)
	for j := 0; j < c.Height; j++ {
		for i := 0; i < c.Width; i++ {
			v := byte(128 + 100*math.Sin(float64(i)/9)*math.Cos(float64(j)/7))
			src[(j*c.Width+i)*3], src[(j*c.Width+i)*3+1], src[(j*c.Width+i)*3+2] = v, byte(i), byte(j)
		}
	}
	a, b := make([]byte, m.Width*m.Height*3), make([]byte, m.Width*m.Height*3)
	if err := r.Remap(a, src); err != nil {
		t.Fatal(err)
	}
	if err := m.Remap(b, src); err != nil {
		t.Fatal(err)
	}
	sum, worst := 0.0, 0
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		sum += float64(d)
		worst = max(worst, d)
	}
	if mean := sum / float64(len(a)); mean > 0.5 || worst > 40 {
		t.Errorf("OpenCV's remap and Go's differ by %.3f on average, %d at worst", mean, worst)
	}
}

func TestParseBoard(t *testing.T) {
	for _, tt := range []struct {
		s  string
		sq float64
		ok bool
	}{{"9x6", 0.025, true}, {"9X6", 1, true}, {"9", 1, false}, {"1x6", 1, false}, {"9x6", 0, false}, {"axb", 1, false}} {
		_, err := ParseBoard(tt.s, tt.sq)
		if (err == nil) != tt.ok {
			t.Errorf("ParseBoard(%q, %v) = %v", tt.s, tt.sq, err)
		}
	}
}

// BenchmarkCalibrateSample times parallax calibrate's work on OpenCV's 13
// stereo pairs: finding the board in the 26 images and calibrating (two
// calibrateCamera, stereoCalibrate, stereoRectify, the epipolar check),
// and the calibration alone on corners found once.
func BenchmarkCalibrateSample(b *testing.B) {
	left, right := cvtest.StereoSample(b)
	board, _ := ParseBoard("9x6", 0.025)
	b.Run("find+calibrate", func(b *testing.B) {
		for b.Loop() {
			views, w, h := sampleViews(b, left, right, board)
			if _, err := Calibrate(views, w, h, Options{Board: board}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/calibration")
		b.ReportMetric(float64(len(left)), "pairs")
	})
	b.Run("calibrate", func(b *testing.B) {
		views, w, h := sampleViews(b, left, right, board)
		for b.Loop() {
			if _, err := Calibrate(views, w, h, Options{Board: board, HoldOut: 4, MaxViewError: 2}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/calibration")
		b.ReportMetric(float64(len(views)), "pairs")
	})
}

// TestRejectOutlierViews: two of OpenCV's sample pairs are spoiled the
// ways real captures go wrong: a detection with a few corners off by 3 px
// (view 2's left image: its left and stereo fits show it), and a left image paired with the right image of
// another moment (view 6's right corners are view 7's). With MaxViewError
// both are rejected and named, and the calibration is the one of the
// clean views without them; without it the spoiled views drag the fit.
func TestRejectOutlierViews(t *testing.T) {
	left, right := cvtest.StereoSample(t)
	b, _ := ParseBoard("9x6", 0.025)
	views, w, h := sampleViews(t, left, right, b)
	bad := append([]View(nil), views...)
	bad[1].Left = append([]Point(nil), bad[1].Left...)
	for _, i := range []int{3, 17, 30, 44} {
		bad[1].Left[i].X += 3
		bad[1].Left[i].Y -= 2
	}
	bad[5].Right = views[6].Right
	o := Options{Board: b, HoldOut: 4, MaxViewError: 1}
	rep, err := Calibrate(bad, w, h, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rejected) != 2 || rep.Rejected[0].Name != views[5].Name || rep.Rejected[0].Fit != "stereo" || rep.Rejected[1].Name != views[1].Name || rep.Rejected[1].Fit == "right" {
		t.Fatalf("rejected %v, want %s (stereo) then %s (left or stereo)", rep.Rejected, views[5].Name, views[1].Name)
	}
	for _, n := range rep.Train {
		if n == views[1].Name || n == views[5].Name {
			t.Errorf("rejected view %s still in Train %v", n, rep.Train)
		}
	}
	if len(rep.Train) != len(rep.Left.PerView) || len(rep.HeldOut) != 3 {
		t.Errorf("%d training views for %d per-view errors, %d held out", len(rep.Train), len(rep.Left.PerView), len(rep.HeldOut))
	}
	// The same as calibrating the clean training views without the two:
	// every remaining view fits within 1 px.
	var clean []View
	for i, v := range views {
		if i != 1 && i != 5 {
			clean = append(clean, v)
		}
	}
	hold := map[string]bool{}
	for _, n := range rep.HeldOut {
		hold[n] = true
	}
	var trainOnly []View
	for _, v := range clean {
		if !hold[v.Name] {
			trainOnly = append(trainOnly, v)
		}
	}
	want, err := Calibrate(trainOnly, w, h, Options{Board: b})
	if err != nil {
		t.Fatal(err)
	}
	got, exp := rep.Stereo.Stereo, want.Stereo.Stereo
	if relErr(got.Left.K[0], exp.Left.K[0]) > 1e-9 || relErr(got.Baseline(), exp.Baseline()) > 1e-9 || math.Abs(rep.Stereo.RMS-want.Stereo.RMS) > 1e-9 {
		t.Errorf("fx %.4f baseline %.6f RMS %.4f, the clean views' %.4f %.6f %.4f", got.Left.K[0], got.Baseline(), rep.Stereo.RMS, exp.Left.K[0], exp.Baseline(), want.Stereo.RMS)
	}
	if rep.EpipolarHeldOut >= 0.5 {
		t.Errorf("held-out epipolar error %.4f px", rep.EpipolarHeldOut)
	}
	// Without the limit the spoiled views are kept, and they show.
	o.MaxViewError = 0
	all, err := Calibrate(bad, w, h, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Rejected) != 0 || all.Stereo.RMS < 2*rep.Stereo.RMS {
		t.Errorf("without MaxViewError: rejected %v, stereo RMS %.4f (with it %.4f)", all.Rejected, all.Stereo.RMS, rep.Stereo.RMS)
	}
	t.Logf("rejected %v; stereo RMS %.4f (kept: %.4f), baseline %.5f (kept: %.5f)", rep.Rejected, rep.Stereo.RMS, all.Stereo.RMS, got.Baseline(), all.Stereo.Stereo.Baseline())

	// A limit no view meets leaves too few views: an error naming them.
	o.MaxViewError = 1e-3
	if _, err := Calibrate(views, w, h, o); !errors.Is(err, ErrViews) || !strings.Contains(err.Error(), "rejected: ") {
		t.Errorf("MaxViewError 0.001: %v", err)
	}
}
