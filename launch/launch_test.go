package launch

import (
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/calibration"
	"github.com/parallax-robotics/parallax/msgs"
)

var update = flag.Bool("update", false, "rewrite golden files (testdata/*.golden, PARAMETERS.md)")

// problemsOf flattens the joined error of Parse, Validate or CheckFiles.
func problemsOf(t *testing.T, err error) []*Error {
	t.Helper()
	var out []*Error
	var walk func(error)
	walk = func(e error) {
		if pe, ok := e.(*Error); ok {
			out = append(out, pe)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		t.Fatalf("error %T %q is not an *Error", e, e)
	}
	if err != nil {
		walk(err)
	}
	return out
}

func TestDemoFile(t *testing.T) {
	l, err := Load("demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Validate(); err != nil {
		t.Fatalf("Validate after Load: %v", err)
	}
	if err := l.CheckFiles(); err != nil {
		t.Fatalf("CheckFiles: %v", err)
	}
	if l.Namespace != "parallax" || len(l.Cameras) != 2 {
		t.Fatalf("namespace %q, %d cameras", l.Namespace, len(l.Cameras))
	}
	want := msgs.Intrinsics{Width: 320, Height: 96, Fx: 185.6, Fy: 185.6, Cx: 160, Cy: 48}
	for i, name := range []string{"left", "right"} {
		c := l.Cameras[i]
		if c.Name != name || c.Role != name || c.URL != "rtsp://127.0.0.1:8554/"+name || c.Transport != "tcp" || c.FPS != 15 {
			t.Errorf("cameras[%d] = %+v", i, c)
		}
		// The file writes cx, cy as camera_info K does; msgs.Intrinsics
		// puts the first pixel's centre at 0.5, so they gain 0.5.
		if c.Intrinsics == nil || *c.Intrinsics != want {
			t.Errorf("cameras[%d].Intrinsics = %+v, want %+v", i, c.Intrinsics, want)
		}
	}
	if l.Stereo == nil || *l.Stereo != (Stereo{Left: "left", Right: "right", Baseline: 0.54, SyncTolerance: 10 * time.Millisecond, MonoAfter: time.Second}) {
		t.Errorf("Stereo = %+v", l.Stereo)
	}
	if l.Serve == nil || l.Serve.Listen != "127.0.0.1:8554" || !strings.HasPrefix(l.Serve.World, "synth://") {
		t.Errorf("Serve = %+v", l.Serve)
	}
	if l.Model.Width != 320 || l.Model.Height != 96 || l.Model.Size != "small" || l.Model.Checkpoint != "" {
		t.Errorf("Model = %+v", l.Model)
	}
	if l.NATS.URL != "" || l.NATS.Embedded.Listen != "127.0.0.1:4222" {
		t.Errorf("NATS = %+v", l.NATS)
	}
	if l.Line("cameras[1].url") != 28 {
		t.Errorf("Line(cameras[1].url) = %d, want 28", l.Line("cameras[1].url"))
	}
}

func TestRobotExampleFile(t *testing.T) {
	l, err := Load("robot.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if l.Namespace != "robot7" || l.Device != "cuda:0" || l.Model.Width != 640 || l.Stereo.SyncTolerance != 5*time.Millisecond {
		t.Errorf("unexpected values: %+v", l)
	}
	if l.NATS.TLS == nil || l.NATS.TLS.CA != "certs/fleet-ca.pem" || l.NATS.Credentials != "certs/robot7.creds" {
		t.Errorf("NATS = %+v", l.NATS)
	}
	if l.Viewer == nil || l.Viewer.Listen != "0.0.0.0:8765" || l.Viewer.TLS == nil || l.Viewer.Token == "" {
		t.Errorf("viewer = %+v", l.Viewer)
	}
	if s := l.String(); strings.Contains(s, "s3cret") || strings.Contains(s, l.Viewer.Token) || !strings.Contains(s, "parallax:xxxxx@192.168.1.64") {
		t.Errorf("String leaks or loses the URL:\n%s", s)
	}
	if s := l.Cameras[0].String(); s != "left (left) rtsp://parallax:xxxxx@192.168.1.64:554/Streaming/Channels/101" {
		t.Errorf("Camera.String() = %q", s)
	}
	// The example names files that only exist on the robot: CheckFiles,
	// the step the run command adds, reports each with its line. The
	// calibrations ship (calib/) and read.
	err = l.CheckFiles()
	ps := problemsOf(t, err)
	want := []struct {
		line int
		key  string
	}{
		{46, "model.checkpoint"},
		{66, "nats.credentials"}, {68, "nats.tls.cert"}, {69, "nats.tls.key"}, {70, "nats.tls.ca"},
		{85, "viewer.tls.cert"}, {86, "viewer.tls.key"},
	}
	if len(ps) != len(want) {
		t.Fatalf("CheckFiles: %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for i, w := range want {
		if ps[i].Line != w.line || ps[i].Key != w.key || !errors.Is(ps[i], ErrFile) || !errors.Is(ps[i], os.ErrNotExist) {
			t.Errorf("problem %d = %q (line %d key %q), want line %d key %q", i, ps[i], ps[i].Line, ps[i].Key, w.line, w.key)
		}
	}
	if !strings.HasPrefix(ps[0].Error(), "launch: robot.example.yaml:46: model.checkpoint: models/depth_small.pt: no such file") {
		t.Errorf("message %q", ps[0])
	}
	cals, err := l.Calibrations()
	if err != nil {
		t.Fatal(err)
	}
	if cals.Stereo == nil || math.Abs(cals.Stereo.Baseline()-0.0836) > 0.001 || cals.Cameras["left"].Width != 640 {
		t.Errorf("calibrations %+v", cals)
	}
}

// TestCalibrationErrors: a bad calibration file fails naming the launch
// file's line and key, and the calibration file's line and field.
func TestCalibrationErrors(t *testing.T) {
	dir := t.TempDir()
	left, err := os.ReadFile("calib/left.yaml")
	if err != nil {
		t.Fatal(err)
	}
	right, err := os.ReadFile("calib/right.yaml")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("left.yaml", string(left))
	write("bad.yaml", strings.Replace(string(right), "rows: 3\n  cols: 3\n  data: [542", "rows: 3\n  cols: 3\n  data: [0, 542", 1))
	write("mono.yml", "%YAML:1.0\n---\nimage_width: 640\nimage_height: 480\ncamera_matrix: !!opencv-matrix\n   rows: 3\n   cols: 3\n   dt: d\n   data: [ 500., 0., 320., 0., 500., 240., 0., 0., 1. ]\n")
	write("other.yaml", strings.Replace(string(right), "-43.52", "43.52", 1))
	tests := []struct {
		name, src string
		key       string
		want      string
		err       error
	}{
		{"bad camera matrix", "cameras:\n- {name: l, url: rtsp://h/l, role: left, calibration: left.yaml}\n- {name: r, url: rtsp://h/r, role: right, calibration: bad.yaml}\n",
			"cameras[1].calibration", "launch: " + filepath.Join(dir, "r.yaml") + ":3: cameras[1].calibration: bad.yaml:7: camera_matrix.data: 10 values for 3 rows and 3 cols", calibration.ErrInvalid},
		{"pair not rectified together", "cameras:\n- {name: l, url: rtsp://h/l, role: left, calibration: left.yaml}\n- {name: r, url: rtsp://h/r, role: right, calibration: other.yaml}\n",
			"cameras[1].calibration", "other.yaml and left.yaml (the left camera's) do not make a rectified pair: right.P: Tx gives a baseline", calibration.ErrInvalid},
		{"mono file for a pair", "cameras:\n- {name: l, url: rtsp://h/l, role: left}\n- {name: r, url: rtsp://h/r, role: right}\nstereo: {calibration: mono.yml}\n",
			"stereo.calibration", "mono.yml: holds 1 camera(s) and no stereo pair", calibration.ErrCameras},
		{"missing file", "cameras:\n- {name: m, url: rtsp://h/m, calibration: nope.yaml}\n", "cameras[0].calibration", "nope.yaml: no such file", ErrFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Parse([]byte(tt.src), filepath.Join(dir, "r.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			err = l.CheckFiles()
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Key != tt.key || !errors.Is(ps[0], tt.err) || !errors.Is(ps[0], ErrFile) || !strings.Contains(ps[0].Error(), tt.want) {
				t.Errorf("CheckFiles: %v\nwant %q at %s (%v)", err, tt.want, tt.key, tt.err)
			}
		})
	}
}

// TestCheckFilesPresent makes the files robot.example.yaml names and checks
// that CheckFiles then passes, resolving paths against the file's folder.
func TestCheckFilesPresent(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("robot.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"calib/left.yaml", "calib/right.yaml", "models/depth_small.pt", "certs/robot7.creds",
		"certs/robot7.crt", "certs/robot7.key", "certs/fleet-ca.pem", "certs/viewer.crt", "certs/viewer.key"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		content := []byte("x")
		if strings.HasPrefix(f, "calib/") { // calibrations are read, not only found
			if content, err = os.ReadFile(f); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "robot.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.CheckFiles(); err != nil {
		t.Fatalf("CheckFiles with every file present: %v", err)
	}
	if got, want := l.Resolve("calib/left.yaml"), filepath.Join(dir, "calib/left.yaml"); got != want {
		t.Errorf("Resolve = %q, want %q", got, want)
	}
	if got := l.Resolve("/abs/x"); got != "/abs/x" {
		t.Errorf("Resolve(abs) = %q", got)
	}

	// A folder where a file belongs, and a kitti:// recording that is a file.
	if err := os.Mkdir(filepath.Join(dir, "ckpt"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := "cameras:\n  - name: a\n    url: kitti://calib/left.yaml\n  - name: b\n    url: mcap://calib\nmodel:\n  checkpoint: ckpt\n"
	l, err = Parse([]byte(src), filepath.Join(dir, "k.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ps := problemsOf(t, l.CheckFiles())
	if len(ps) != 3 || ps[0].Line != 3 || !strings.Contains(ps[0].Msg, "not a folder") ||
		ps[1].Line != 5 || !strings.Contains(ps[1].Msg, "not a regular file") || ps[2].Key != "model.checkpoint" {
		t.Errorf("CheckFiles: %v", l.CheckFiles())
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load(big) = %v", err)
	}
}

func TestDefaults(t *testing.T) {
	l := Defaults()
	if l.Namespace != "parallax" || l.Device != "auto" || l.Model.Width != 320 || l.Model.Height != 96 ||
		l.Model.MinDepth != 0.1 || l.Model.MaxDepth != 100 || l.Model.Size != "small" ||
		!l.Topics.Depth || l.Topics.Image || l.Topics.ImageRate != 2 || !l.Topics.Odom || l.Topics.SceneFlow ||
		l.NATS.Embedded.Listen != "127.0.0.1:4222" || !l.Learner.Adapt || l.Learner.StepsPerS != 1 ||
		l.Stereo != nil || l.Serve != nil || l.NATS.TLS != nil {
		t.Errorf("Defaults() = %+v", l)
	}
	// Every default in the table is what Defaults and Parse produce: the
	// docs cannot claim one default while the code uses another.
	for _, p := range Params() {
		if p.def == nil || p.camera {
			continue
		}
		got := scalarNode(&p, p.ptr(l, nil))
		want := strings.Trim(p.Default, `"`)
		if got == nil && want == "" {
			continue
		}
		if got == nil || got.Value != want {
			t.Errorf("%s: Defaults has %v, table says %q", p.Name, got, p.Default)
		}
	}
	c := cameraDefaults()
	if c.Role != RoleMono || c.FPS != 0 || c.Transport != "" {
		t.Errorf("camera defaults %+v", c)
	}

	// Without cameras the defaults do not validate, and the error says so.
	ps := problemsOf(t, l.Validate())
	if len(ps) != 1 || ps[0].Key != "cameras" || !errors.Is(ps[0], ErrMissing) || ps[0].Error() != "launch: cameras: at least one camera is required" {
		t.Fatalf("Validate(Defaults()) = %v", l.Validate())
	}
	l.Cameras = []Camera{{Name: "front", URL: "synth://?seed=3"}}
	if err := l.Validate(); err != nil {
		t.Errorf("a synth camera on the defaults: %v", err)
	}
	// Changed in code, Validate reports without a file or line.
	l.Model.Width = 300
	l.Cameras = append(l.Cameras, Camera{Name: "front", URL: "rtsp://h/x", Role: "left"})
	ps = problemsOf(t, l.Validate())
	var msgsOut []string
	for _, p := range ps {
		msgsOut = append(msgsOut, p.Error())
	}
	got := strings.Join(msgsOut, "\n")
	for _, want := range []string{
		`launch: cameras[1].name: "front" is already the name of cameras[0]`,
		"launch: cameras[1]: an rtsp:// camera needs intrinsics or calibration",
		"launch: cameras[1].role: a left camera needs a right camera",
		"launch: model.width: 300 is not a multiple of 32",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

// TestValidateAfterEdit changes a parsed Launch in code: cameras added
// there have no lines, and must not count as missing keys.
func TestValidateAfterEdit(t *testing.T) {
	l, err := Load("demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l.Cameras = append(l.Cameras, Camera{Name: "rear", URL: "rtsp://10.0.0.2/rear", Transport: "tcp", Role: RoleMono,
		Intrinsics: &msgs.Intrinsics{Width: 640, Height: 480, Fx: 500, Fy: 500}})
	if err := l.Validate(); err != nil {
		t.Fatalf("valid edit rejected: %v", err)
	}
	l.Cameras[2].Role = RoleLeft
	l.Model.MaxDepth = 0.05
	ps := problemsOf(t, l.Validate())
	// The new camera has no line of its own: its problems point at the
	// cameras list that holds it.
	if len(ps) != 2 || ps[0].Key != "cameras[2].role" || ps[0].Line != 18 || ps[1].Key != "model.max_depth" || ps[1].Line != 45 {
		t.Errorf("Validate after edit: %v", l.Validate())
	}
}

func TestParamsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Params() {
		if seen[p.Name] {
			t.Errorf("%s twice", p.Name)
		}
		seen[p.Name] = true
		if p.Description == "" || p.Type == "" {
			t.Errorf("%s: no description or type", p.Name)
		}
		if p.kind != kindMap && p.kind != kindList && p.Range == "" {
			t.Errorf("%s: no range", p.Name)
		}
		if i := strings.LastIndexByte(p.Name, '.'); i >= 0 && byName[p.Name[:i]] == nil && !strings.HasSuffix(p.Name[:i], "[]") {
			t.Errorf("%s: parent %s is not in the table", p.Name, p.Name[:i])
		}
		for _, r := range p.Name {
			if !(r >= 'a' && r <= 'z' || r == '_' || r == '.' || r == '[' || r == ']') {
				t.Errorf("%s is not snake_case", p.Name)
				break
			}
		}
	}
}

// TestParametersDoc keeps PARAMETERS.md equal to the table; -update
// rewrites it.
func TestParametersDoc(t *testing.T) {
	var b strings.Builder
	if err := WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "PARAMETERS.md", b.String())
	for _, p := range Params() {
		if !strings.Contains(b.String(), "| `"+p.Name+"` |") {
			t.Errorf("PARAMETERS.md lacks %s", p.Name)
		}
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./launch -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s is out of date (run go test ./launch -update); got:\n%s", path, got)
	}
}

func TestDemoIsTheShippedFile(t *testing.T) {
	l, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Load("demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if l.Serve == nil || l.Serve.Listen != f.Serve.Listen || len(l.Cameras) != 2 || l.Stereo == nil {
		t.Errorf("Demo() = %+v, want the demo rig of demo.yaml", l)
	}
}

// TestEncoderInit: model.encoder_init decodes, resolves against the launch
// file and is checked by CheckFiles like model.checkpoint.
func TestEncoderInit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "l.yaml")
	data := "cameras:\n  - name: left\n    url: synth://\nmodel:\n  encoder_init: pre/simclr.ckpt\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if l.Model.EncoderInit != "pre/simclr.ckpt" {
		t.Fatalf("EncoderInit %q", l.Model.EncoderInit)
	}
	if err := l.CheckFiles(); err == nil || !strings.Contains(err.Error(), "model.encoder_init") {
		t.Errorf("CheckFiles without the file: %v, want it named", err)
	}
	p := filepath.Join(dir, "pre", "simclr.ckpt")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.CheckFiles(); err != nil {
		t.Errorf("CheckFiles with the file: %v", err)
	}
}
