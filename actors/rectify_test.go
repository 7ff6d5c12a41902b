package actors

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/actors/sinktest"
	"github.com/parallax-robotics/parallax/assets"
	"github.com/parallax-robotics/parallax/calibration"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// The distorted, unrectified synthetic rig of these tests (plumb_bob lens,
// right camera rotated by about a degree) and its ideal twin, both the
// demo's world (the demo checkpoint's test world).
const (
	idealRig     = "synth://?stereo=1&width=320&height=96&fps=15&seed=11&style=suburb"
	distortedRig = idealRig + "&k1=-0.18&k2=0.05&p1=0.001&p2=-0.0008&right_yaw=0.8&right_pitch=-0.5&right_roll=0.4"
)

// writeRigCalibration writes the distorted rig's calibration as two ROS
// camera_info files into dir, and returns their names.
func writeRigCalibration(t *testing.T, dir string) (left, right string) {
	t.Helper()
	cfg, err := synth.ParseURL(distortedRig)
	if err != nil {
		t.Fatal(err)
	}
	w, err := synth.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := w.Calibration().Stereo
	left, right = filepath.Join(dir, "left.yaml"), filepath.Join(dir, "right.yaml")
	for _, f := range []struct {
		path string
		cam  calibration.Camera
	}{{left, st.Left}, {right, st.Right}} {
		if err := calibration.WriteFile(f.path, calibration.FormatROS, &calibration.Set{Cameras: []calibration.Camera{f.cam}}); err != nil {
			t.Fatal(err)
		}
	}
	return left, right
}

// rigErrors runs the frozen demo checkpoint on a rig for d and returns the
// metric abs_rel of each published depth map by frame index (against the
// frames' ground truth, which the rectifier carries into the rectified
// frame), and the collector.
func rigErrors(t *testing.T, url, calib string, d time.Duration, enough func(map[uint64]float64) bool) (map[uint64]float64, *Node, *collector) {
	t.Helper()
	ckpt, err := assets.DemoCheckpointFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := parseLaunch(t, fmt.Sprintf(`
namespace: test
cameras:
  - {name: left, url: "%[1]s", role: left%[2]s}
  - {name: right, url: "%[1]s", role: right%[3]s}
model: {checkpoint: %[4]q, width: 320, height: 96, size: small}
device: cpu
nats: {embedded: {listen: "127.0.0.1:0"}}
learner: {adapt: false}
`, url, strings.ReplaceAll(calib, "SIDE", "left"), strings.ReplaceAll(calib, "SIDE", "right"), ckpt))
	var mu sync.Mutex
	errs := map[uint64]float64{}
	n := startNode(t, &Node{Launch: l, Sinks: []Sink{&sinktest.Collector{OnResult: func(r *msgs.Result) {
		ref := r.Ref()
		gt, err := learner.GroundTruthDepth(ref, r.Depth.Width, r.Depth.Height)
		if err != nil {
			return
		}
		m, err := learner.DepthMetrics(r.Depth.Depth, gt, learner.EvalOptions{MinDepth: 0.1, MaxDepth: 100})
		if err != nil {
			return
		}
		mu.Lock()
		errs[ref.Seq] = m.AbsRel
		mu.Unlock()
	}}}})
	c := subscribe(t, n)
	time.Sleep(d)
	// Beyond d, up to rigRunMax, until enough frames are in.
	for start := time.Now(); enough != nil && time.Since(start) < rigRunMax; time.Sleep(250 * time.Millisecond) {
		mu.Lock()
		ok := enough(errs)
		mu.Unlock()
		if ok {
			break
		}
	}
	n.Stop()
	mu.Lock()
	defer mu.Unlock()
	return maps(errs), n, c
}

// rigRunMax bounds how long rigErrors waits for enough frames beyond its
// run.
const rigRunMax = 40 * time.Second

func maps(m map[uint64]float64) map[uint64]float64 {
	out := make(map[uint64]float64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestNodeRectifiesDistortedRig: the node reading the distorted,
// unrectified rig with its calibration files rectifies it back: its depth
// error is within 10% of the ideal rig's on the same frames, and far below
// the error without the calibration. camera_info carries the rectified
// model and baseline, <ns>.<camera>.calibration the raw lens.
func TestNodeRectifiesDistortedRig(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the node three times")
	}
	dir := t.TempDir()
	writeRigCalibration(t, dir)
	calib := ", calibration: " + filepath.Join(dir, "SIDE.yaml")
	const run = 8 * time.Second
	ideal, _, _ := rigErrors(t, idealRig, "", run, nil)
	// The runs process whichever frames are latest when the network is
	// free, so under load the rectified run goes on until it has frames
	// in common with the ideal one.
	commonFrames := func(rect map[uint64]float64) []uint64 {
		var common []uint64
		for k := range rect {
			if _, ok := ideal[k]; ok {
				common = append(common, k)
			}
		}
		slices.Sort(common)
		return common
	}
	rect, n, c := rigErrors(t, distortedRig, calib, run, func(m map[uint64]float64) bool { return len(commonFrames(m)) >= 20 })
	// The raw frames as if they were rectified: baseline from the URL.
	raw, _, _ := rigErrors(t, distortedRig, "", run, nil)
	common := commonFrames(rect)
	if len(common) < 10 {
		t.Fatalf("only %d frames estimated in both runs (%d rectified, %d ideal)", len(common), len(rect), len(ideal))
	}
	var ei, er float64
	for _, k := range common {
		ei += ideal[k]
		er += rect[k]
	}
	ei /= float64(len(common))
	er /= float64(len(common))
	var eraw float64
	for _, v := range raw {
		eraw += v
	}
	eraw /= float64(len(raw))
	t.Logf("metric abs_rel over %d common frames: ideal rig %.4f, distorted rig rectified %.4f (%+.1f%%); unrectified %.4f over %d frames",
		len(common), ei, er, 100*(er/ei-1), eraw, len(raw))
	if er > 1.1*ei {
		t.Errorf("rectified depth error %.4f is more than 10%% above the ideal rig's %.4f", er, ei)
	}
	if !(eraw > er) {
		t.Errorf("the unrectified rig's error %.4f is not above the rectified one's %.4f", eraw, er)
	}

	// What the rectified node published.
	info := lastMessage[*foxglove.CameraCalibration](t, c, "test.right.camera_info")
	k, err := msgs.IntrinsicsFromCalibration(info)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := synth.ParseURL(idealRig)
	w, _ := synth.NewWorld(cfg)
	if want := w.Intrinsics(); k != want {
		t.Errorf("camera_info intrinsics %+v, want the ideal rig's %+v", k, want)
	}
	if b, _ := msgs.StereoBaseline(info); math.Abs(b-0.54) > 1e-9 {
		t.Errorf("camera_info baseline %v", b)
	}
	raw2 := lastMessage[*foxglove.CameraCalibration](t, c, "test.right.calibration")
	cam, err := calibration.FromCameraInfo(raw2)
	if err != nil {
		t.Fatal(err)
	}
	if cam.D[0] != -0.18 || cam.R == [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1} || raw2.GetDistortionModel() != "plumb_bob" {
		t.Errorf("raw calibration %+v", cam)
	}
	if n.rig.Calibrations["left"] == nil {
		t.Error("the rig has no raw calibration of the left camera")
	}
}

func lastMessage[M proto.Message](t *testing.T, c *collector, subject string) M {
	t.Helper()
	c.mu.Lock()
	ms := c.msgs[subject]
	c.mu.Unlock()
	var zero M
	if len(ms) == 0 {
		t.Fatalf("nothing on %s", subject)
		return zero
	}
	m := zero.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(ms[len(ms)-1].Data, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestNodeLearnsOnRectified: the online learner trains on rectified frames
// of the distorted rig, here from one OpenCV stereo file with only the
// extrinsics, which the node rectifies with OpenCV's stereoRectify (in a
// -tags nocv build the start fails instead, saying so).
func TestNodeLearnsOnRectified(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := synth.ParseURL(distortedRig)
	w, err := synth.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := *w.Calibration().Stereo
	id := [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}
	st.Left.R, st.Right.R, st.Left.P, st.Right.P = id, id, [12]float64{}, [12]float64{}
	path := filepath.Join(dir, "stereo.yml")
	if err := calibration.WriteFile(path, calibration.FormatOpenCVYAML, &calibration.Set{Cameras: []calibration.Camera{st.Left, st.Right}, Stereo: &st}); err != nil {
		t.Fatal(err)
	}
	l := parseLaunch(t, fmt.Sprintf(`
namespace: test
cameras:
  - {name: left, url: "%[1]s", role: left}
  - {name: right, url: "%[1]s", role: right}
stereo: {calibration: %[2]q}
model: {width: 320, height: 96, size: small}
device: cpu
nats: {embedded: {listen: "127.0.0.1:0"}}
learner: {adapt: true, steps_per_s: 10, compute_share: 0.9, buffer: 8, replay: 1, check_every: 2, hand_over_every: 2}
`, distortedRig, path))
	col := &sinktest.Collector{}
	n := &Node{Launch: l, Sinks: []Sink{col}, Backoff: Backoff{Min: 200 * time.Millisecond, Max: time.Second}}
	if err := n.Start(); err != nil {
		if cvUnavailable(err) {
			t.Skipf("this build has no OpenCV: %v", err)
		}
		t.Fatal(err)
	}
	defer n.Stop()
	deadline := time.Now().Add(120 * time.Second) // as the learner tests: the first steps wait for the buffer and a loaded CPU
	for time.Now().Before(deadline) {
		if s := n.LearnerStats(); s != nil && s.GetSteps() >= 3 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	s := n.LearnerStats()
	if s == nil || s.GetSteps() < 3 || s.GetNonFiniteSteps() > 0 {
		t.Fatalf("learner stats %v", s)
	}
	for _, d := range col.Diagnostics() {
		for _, st := range d.GetStatus() {
			if strings.HasPrefix(st.GetName(), "learner") && st.GetLevel() == parallaxv1.DiagnosticStatus_ERROR {
				t.Errorf("learner error: %s", st.GetMessage())
			}
		}
	}
	r := col.Results()
	if len(r) == 0 || r[len(r)-1].Depth.Intrinsics == nil {
		t.Fatal("no result with intrinsics")
	}
	t.Logf("%d learner steps on rectified frames, rectified fx %.2f", s.GetSteps(), r[len(r)-1].Depth.Intrinsics.Fx)
}

// TestNodeMonoScale: a mono camera with its camera_height publishes metric
// depth scaled from the ground plane, and says so in its diagnostics and
// the learner's stats.
func TestNodeMonoScale(t *testing.T) {
	ckpt, err := assets.DemoCheckpointFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := parseLaunch(t, `
namespace: test
cameras:
  - {name: front, url: "synth://?width=320&height=96&fps=15&seed=7", camera_height: 1.65}
model: {checkpoint: "`+ckpt+`", width: 320, height: 96, size: small}
device: cpu
nats: {embedded: {listen: "127.0.0.1:0"}}
learner: {adapt: false}
`)
	var mu sync.Mutex
	var ratios []float64
	var scales []float64
	col := &sinktest.Collector{OnResult: func(r *msgs.Result) {
		gt, err := learner.GroundTruthDepth(r.Ref(), r.Depth.Width, r.Depth.Height)
		if err != nil || r.Depth.Scale == 0 {
			return
		}
		// The depth is the network's times the scale: its ground (the
		// lower rows) must sit near the true distance, at the median.
		var q []float64
		for i := len(gt) * 3 / 4; i < len(gt); i++ {
			if gt[i] > 0 {
				q = append(q, float64(r.Depth.Depth[i]/gt[i]))
			}
		}
		slices.Sort(q)
		mu.Lock()
		ratios = append(ratios, q[len(q)/2])
		scales = append(scales, r.Depth.Scale)
		mu.Unlock()
	}}
	n := startNode(t, &Node{Launch: l, Sinks: []Sink{col}})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && col.Len() < 15 {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1200 * time.Millisecond) // a stats period
	n.Stop()
	mu.Lock()
	defer mu.Unlock()
	if len(scales) == 0 {
		t.Fatalf("no scaled depth in %d results", col.Len())
	}
	found := false
	for _, d := range col.Diagnostics() {
		for _, st := range d.GetStatus() {
			if st.GetName() == "perception/front/scale" {
				found = true
				t.Logf("%s %s", st.GetLevel(), st.GetMessage())
			}
		}
	}
	if !found {
		t.Error("no perception/front/scale diagnostic")
	}
	t.Logf("%d scaled maps, scales %.3g..%.3g, ground depth / truth %.3f..%.3f", len(scales), slices.Min(scales), slices.Max(scales), slices.Min(ratios), slices.Max(ratios))
	// The frozen network is biased on this world; unscaled, its ground
	// would be off by the scale's inverse. Scaled, the ground's median
	// depth must be within 15% of the truth on every map.
	if lo, hi := slices.Min(ratios), slices.Max(ratios); lo < 0.85 || hi > 1.15 {
		t.Errorf("scaled ground depth / truth %.3f..%.3f, want within 0.85..1.15", lo, hi)
	}
	stats := col.LearnerStats()
	if len(stats) == 0 || stats[len(stats)-1].GetDepthScaleSource() != parallaxv1.LearnerStats_DEPTH_SCALE_GROUND || !(stats[len(stats)-1].GetDepthScale() > 0) {
		t.Errorf("learner stats %v", stats)
	}
}

// TestNodeBadCalibration: a bad calibration file fails the start, naming
// the launch file's line and the calibration's file, line and field.
func TestNodeBadCalibration(t *testing.T) {
	dir := t.TempDir()
	left, right := writeRigCalibration(t, dir)
	data, err := os.ReadFile(right)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(right, []byte(strings.Replace(string(data), "distortion_model: plumb_bob", "distortion_model: fov", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	l := parseLaunch(t, fmt.Sprintf(`
cameras:
  - {name: left, url: "%[1]s", role: left, calibration: %[2]q}
  - {name: right, url: "%[1]s", role: right, calibration: %[3]q}
device: cpu
`, distortedRig, left, right))
	err = (&Node{Launch: l}).Start()
	if err == nil || !errors.Is(err, calibration.ErrUnsupported) ||
		!strings.Contains(err.Error(), "test.yaml:4: cameras[1].calibration: "+right+":8: distortion_model: \"fov\"") {
		t.Errorf("Start: %v", err)
	}
}

// cvUnavailable reports an error of a build without OpenCV.
func cvUnavailable(err error) bool { return strings.Contains(err.Error(), "-tags nocv") }
