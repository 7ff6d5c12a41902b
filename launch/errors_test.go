package launch

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parallax-robotics/parallax/msgs"
)

// stereoRig is a valid file; cases below break one thing at a time.
const stereoRig = `namespace: parallax
cameras:
  - name: left
    url: rtsp://127.0.0.1:8554/left
    role: left
    intrinsics: {width: 320, height: 96, fx: 185.6, fy: 185.6, cx: 159.5, cy: 47.5}
  - name: right
    url: rtsp://127.0.0.1:8554/right
    role: right
    intrinsics: {width: 320, height: 96, fx: 185.6, fy: 185.6, cx: 159.5, cy: 47.5}
stereo: {baseline: 0.54}
`

func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		check     func(*Launch) bool
	}{
		{"stereo rig", stereoRig, func(l *Launch) bool {
			return l.Stereo.Left == "left" && l.Stereo.Right == "right" && l.Stereo.Baseline == 0.54 && l.Cameras[1].Transport == "tcp"
		}},
		{"one synth camera", "cameras: [{name: front, url: synth://}]", func(l *Launch) bool {
			return l.Stereo == nil && l.Cameras[0].Role == RoleMono && l.Cameras[0].Transport == ""
		}},
		{"implicit pair from roles", "cameras:\n- {name: a, url: 'synth://?stereo=1', role: left}\n- {name: b, url: 'synth://?stereo=1', role: right}\n",
			func(l *Launch) bool { return l.Stereo != nil && l.Stereo.Left == "a" && l.Stereo.Right == "b" }},
		{"null keeps defaults", "namespace: ~\nmodel:\ncameras: [{name: f, url: synth://, fps: }]\n", func(l *Launch) bool {
			return l.Namespace == "parallax" && l.Model.Width == 320
		}},
		{"calibration and udp", "cameras: [{name: c, url: 'rtsps://u:p@cam:322/s', transport: udp, calibration: c.yaml}]",
			func(l *Launch) bool { return l.Cameras[0].Transport == "udp" && l.Cameras[0].Calibration == "c.yaml" }},
		{"durations, devices, external nats with token", "cameras: [{name: c, url: synth://}]\nstereo_x: 1\n"[:len("cameras: [{name: c, url: synth://}]\n")] +
			"device: cuda:1\nnats: {url: 'nats://a:4222, nats://b:4222', token: t0k3n, tls: {ca: ca.pem}}\n",
			func(l *Launch) bool {
				return l.Device == "cuda:1" && l.NATS.Token == "t0k3n" && l.NATS.TLS.CA == "ca.pem"
			}},
		{"recordings", "cameras: [{name: a, url: 'mcap://drives/a.mcap'}, {name: b, url: 'kitti:///data/kitti/0001', fps: 10}]",
			func(l *Launch) bool { return len(l.Cameras) == 2 }},
		{"sync tolerance", stereoRig + "  # end\n", func(l *Launch) bool { return l.Stereo.SyncTolerance.String() == "10ms" }},
		{"sgbm", stereoRig + "depth:\n  method: sgbm\n  sgbm: {num_disparities: 128, wls_lambda: 8000}\n", func(l *Launch) bool {
			return l.Depth.Method == DepthSGBM && l.Depth.SGBM.NumDisparities == 128 && l.Depth.SGBM.BlockSize == 5 && l.Depth.SGBM.WLSLambda == 8000 && l.Depth.SGBM.WLSSigma == 1.5
		}},
		{"depth defaults", stereoRig, func(l *Launch) bool {
			return l.Depth.Method == DepthMono && l.Depth.SGBM.NumDisparities == 64 && l.Depth.SGBM.Uniqueness == 10 && l.Depth.SGBM.SpeckleWindow == 100
		}},
		{"serve defaults", "serve:\ncameras: [{name: c, url: synth://}]", func(l *Launch) bool {
			return l.Serve != nil && l.Serve.World == "synth://?stereo=1" && l.Serve.Listen == "127.0.0.1:8554"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Parse([]byte(tc.src), "t.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(l) {
				t.Errorf("unexpected values: %s", l)
			}
		})
	}
}

// TestParseErrors is one case per kind of problem: each asserts the line,
// the key, the sentinel and the words of the message.
func TestParseErrors(t *testing.T) {
	type want struct {
		line int
		key  string
		err  error
		msg  string
	}
	for _, tc := range []struct {
		name string
		src  string
		want []want
	}{
		{"yaml syntax", "namespace: x\n  bad: y\n", []want{{2, "", ErrSyntax, "mapping values are not allowed"}}},
		{"yaml tab", "cameras:\n\t- a\n", []want{{2, "", ErrSyntax, "found character that cannot start any token"}}},
		{"empty file", "", []want{{0, "", ErrMissing, "the file is empty"}}},
		{"comments only", "# nothing\n", []want{{0, "", ErrMissing, "the file is empty"}}},
		{"not a mapping", "- a\n- b\n", []want{{1, "", ErrType, "want a mapping of keys"}}},
		{"two documents", "cameras: [{name: c, url: synth://}]\n---\nnamespace: x\n", []want{{2, "", ErrSyntax, "a second YAML document"}}},
		{"unknown top key", "cameras: [{name: c, url: synth://}]\nnamespaces: x\n", []want{{2, "", ErrUnknownKey, `unknown key "namespaces" (did you mean "namespace"?)`}}},
		{"unknown camera key", "cameras:\n  - name: c\n    url: rtsp://h/p\n    calibration: c.yaml\n    trasport: udp\n",
			[]want{{5, "cameras[0]", ErrUnknownKey, `unknown key "trasport" (did you mean "transport"?)`}}},
		{"unknown key, no suggestion", "cameras: [{name: c, url: synth://}]\nmodel: {zzzzzz: 1}\n", []want{{2, "model", ErrUnknownKey, `unknown key "zzzzzz"`}}},
		{"merge key", "cameras: [{name: c, url: synth://}]\nbase: &b {width: 64}\nmodel:\n  <<: *b\n", []want{
			{2, "", ErrUnknownKey, `unknown key "base"`}, {4, "model", ErrUnknownKey, "merge keys (<<) are not supported"}}},
		{"duplicate key", "cameras: [{name: c, url: synth://}]\nmodel:\n  width: 64\n  width: 96\n", []want{{4, "model.width", ErrDuplicateKey, "given twice (first at line 3)"}}},
		{"wrong type int", "cameras: [{name: c, url: synth://}]\nmodel: {width: wide}\n", []want{{2, "model.width", ErrType, `want an integer, got "wide"`}}},
		{"float for int", "cameras: [{name: c, url: synth://}]\nmodel: {width: 320.5}\n", []want{{2, "model.width", ErrType, "want an integer"}}},
		{"wrong type bool", "cameras: [{name: c, url: synth://}]\ntopics:\n  depth: yes\n", []want{{3, "topics.depth", ErrType, `want true or false, got "yes"`}}},
		{"wrong type list", "cameras: [{name: c, url: synth://}]\nnamespace: [a]\n", []want{{2, "namespace", ErrType, "want a string, got a list"}}},
		{"section not a map", "cameras: [{name: c, url: synth://}]\nmodel: 3\n", []want{{2, "model", ErrType, "want a mapping of keys"}}},
		{"cameras not a list", "cameras: {name: c}\n", []want{{1, "cameras", ErrType, "want a list"}}},
		{"camera not a map", "cameras:\n  - rtsp://h/x\n", []want{{2, "cameras[0]", ErrType, "want a mapping of keys"}}},
		{"nan", "cameras: [{name: c, url: synth://}]\nmodel: {max_depth: .nan}\n", []want{{2, "model.max_depth", ErrInvalid, "not a finite number"}}},
		{"bad duration", strings.Replace(stereoRig, "{baseline: 0.54}", "\n  baseline: 0.54\n  sync_tolerance: 10", 1), []want{{13, "stereo.sync_tolerance", ErrType, "want a duration with a unit"}}},
		{"duration out of range", "cameras: [{name: a, url: synth://, role: left}, {name: b, url: synth://, role: right}]\nstereo:\n  sync_tolerance: 2s\n",
			[]want{{3, "stereo.sync_tolerance", ErrInvalid, "2s is out of range: want 0 to 1s"}}},
		{"sgbm without a pair", "cameras: [{name: c, url: synth://}]\ndepth: {method: sgbm}\n", []want{{2, "depth.method", ErrInvalid, "sgbm matches a stereo pair"}}},
		{"depth method", stereoRig + "depth: {method: stereo}\n", []want{{12, "depth.method", ErrInvalid, `"stereo" is not one of mono, sgbm`}}},
		{"sgbm even block", stereoRig + "depth:\n  method: sgbm\n  sgbm: {block_size: 4, num_disparities: 40}\n", []want{
			{14, "depth.sgbm.block_size", ErrInvalid, "4 is even"}, {14, "depth.sgbm.num_disparities", ErrInvalid, "not a multiple of 16"}}},
		{"no cameras", "namespace: x\n", []want{{0, "cameras", ErrMissing, "at least one camera is required"}}},
		{"empty cameras", "cameras: []\n", []want{{1, "cameras", ErrMissing, "at least one camera is required"}}},
		{"missing url", "cameras:\n  - name: c\n", []want{{2, "cameras[0].url", ErrMissing, "required"}}},
		{"null url", "cameras:\n  - name: c\n    url: ~\n", []want{{3, "cameras[0].url", ErrMissing, "required, and null here"}}},
		{"null cx", "cameras:\n  - name: c\n    url: rtsp://h/x\n    intrinsics: {width: 1, height: 1, fx: 1, fy: 1, cx: 0, cy: }\n",
			[]want{{4, "cameras[0].intrinsics.cy", ErrMissing, "required, and null here"}}},
		{"missing name", "cameras:\n  - url: synth://\n", []want{{2, "cameras[0].name", ErrMissing, "required"}}},
		{"bad camera name", "cameras: [{name: 'le ft', url: synth://}]\n", []want{{1, "cameras[0].name", ErrInvalid, `invalid camera name "le ft": whitespace`}}},
		{"negative fps", "cameras:\n  - name: c\n    url: synth://\n    fps: -5\n", []want{{4, "cameras[0].fps", ErrInvalid, "-5 is out of range: want 0 (not checked) or 0.1 to 1000"}}},
		{"bad transport", "cameras:\n  - {name: c, url: rtsp://h/x, calibration: c.yaml}\n  - name: d\n    url: rtsp://h/y\n    calibration: d.yaml\n    transport: tcpx\n",
			[]want{{6, "cameras[1].transport", ErrInvalid, `"tcpx" is not one of tcp, udp (did you mean "tcp"?)`}}},
		{"transport on synth", "cameras:\n  - name: c\n    url: synth://\n    transport: udp\n", []want{{4, "cameras[0].transport", ErrConflict, "applies to rtsp:// and rtsps:// cameras only"}}},
		{"bad role", "cameras: [{name: c, url: synth://, role: center}]\n", []want{{1, "cameras[0].role", ErrInvalid, `"center" is not one of mono, left, right`}}},
		{"bad scheme", "cameras:\n  - name: c\n    url: http://h/x\n", []want{{3, "cameras[0].url", ErrInvalid, `scheme "http" is not one of kitti, mcap, rtsp, rtsps, synth`}}},
		{"no scheme", "cameras: [{name: c, url: 'camera.local/x'}]\n", []want{{1, "cameras[0].url", ErrInvalid, "has no scheme"}}},
		{"rtsp without host", "cameras: [{name: c, url: 'rtsp:///x', calibration: c.yaml}]\n", []want{{1, "cameras[0].url", ErrInvalid, `"rtsp:///x" has no host`}}},
		{"rtsp bad port", "cameras: [{name: c, url: 'rtsp://h:99999/x', calibration: c.yaml}]\n", []want{{1, "cameras[0].url", ErrInvalid, `port "99999" is not 1 to 65535`}}},
		{"synth with host", "cameras: [{name: c, url: 'synth://world/x'}]\n", []want{{1, "cameras[0].url", ErrInvalid, "only a query"}}},
		{"mcap without file", "cameras: [{name: c, url: 'mcap://'}]\n", []want{{1, "cameras[0].url", ErrInvalid, "names no file"}}},
		{"duplicate names", "cameras:\n  - name: c\n    url: synth://\n  - name: c\n    url: synth://\n",
			[]want{{4, "cameras[1].name", ErrConflict, `"c" is already the name of cameras[0] (line 2)`}}},
		{"left without right", "cameras:\n  - name: c\n    url: synth://\n    role: left\n", []want{{4, "cameras[0].role", ErrMissing, "a left camera needs a right camera"}}},
		{"right without left", "cameras:\n  - {name: c, url: synth://, role: right}\n", []want{{2, "cameras[0].role", ErrMissing, "a right camera needs a left camera"}}},
		{"two lefts", "cameras:\n  - {name: a, url: synth://, role: left}\n  - {name: b, url: synth://, role: left}\n  - {name: r, url: synth://, role: right}\n",
			[]want{{3, "cameras[1].role", ErrConflict, "a second left camera (cameras[0] is left)"}}},
		{"stereo without roles", "cameras: [{name: c, url: synth://}]\nstereo:\n  sync_tolerance: 5ms\n",
			[]want{{2, "stereo.left", ErrMissing, "no camera has role left"}, {2, "stereo.right", ErrMissing, "no camera has role right"}}},
		{"stereo names unknown camera", strings.Replace(stereoRig, "stereo: {baseline: 0.54}", "stereo:\n  left: lft\n  baseline: 0.54", 1),
			[]want{{12, "stereo.left", ErrInvalid, `no camera is named "lft"`}}},
		{"stereo names wrong role", "cameras:\n- {name: a, url: synth://, role: left}\n- {name: b, url: synth://, role: right}\n- {name: m, url: synth://}\nstereo:\n  right: m\n",
			[]want{{6, "stereo.right", ErrConflict, `camera "m" has role mono, want right`}}},
		{"baseline needed", strings.Replace(stereoRig, "stereo: {baseline: 0.54}", "", 1), []want{{0, "stereo.baseline", ErrMissing, "intrinsics are inline"}}},
		{"baseline out of range", strings.Replace(stereoRig, "0.54", "-1", 1), []want{{11, "stereo.baseline", ErrInvalid, "-1 is out of range"}}},
		{"baseline with synth", "cameras:\n- {name: a, url: synth://, role: left}\n- {name: b, url: synth://, role: right}\nstereo:\n  baseline: 0.3\n",
			[]want{{5, "stereo.baseline", ErrConflict, "sets its own baseline"}}},
		{"pair sizes differ", strings.Replace(stereoRig, "{width: 320, height: 96, fx: 185.6, fy: 185.6, cx: 159.5, cy: 47.5}\nstereo", "{width: 640, height: 96, fx: 185.6, fy: 185.6, cx: 159.5, cy: 47.5}\nstereo", 1),
			[]want{{10, "cameras[1].intrinsics", ErrConflict, "640x96, but the left camera is 320x96"}}},
		{"intrinsics and calibration", "cameras:\n  - name: c\n    url: rtsp://h/x\n    intrinsics: {width: 1, height: 1, fx: 1, fy: 1, cx: 0, cy: 0}\n    calibration: c.yaml\n",
			[]want{{5, "cameras[0].calibration", ErrConflict, "give intrinsics or calibration, not both"}}},
		{"rtsp without model", "cameras:\n  - name: c\n    url: rtsp://h/x\n", []want{{2, "cameras[0]", ErrMissing, "an rtsp:// camera needs intrinsics or calibration"}}},
		{"synth with intrinsics", "cameras:\n  - name: c\n    url: synth://\n    intrinsics: {width: 1, height: 1, fx: 1, fy: 1, cx: 0, cy: 0}\n", []want{{4, "cameras[0].intrinsics", ErrConflict, "knows its own model"}}},
		{"camera height on a pair", "cameras:\n- {name: a, url: synth://, role: left, camera_height: 1.2}\n- {name: b, url: synth://, role: right}\n",
			[]want{{2, "cameras[0].camera_height", ErrConflict, "applies to mono cameras"}}},
		{"camera height range", "cameras:\n- {name: a, url: synth://, camera_height: 0.01}\n", []want{{2, "cameras[0].camera_height", ErrInvalid, "0.01 is out of range"}}},
		{"stereo calibration and camera calibration", "cameras:\n- {name: a, url: rtsp://h/a, role: left, calibration: l.yaml}\n- {name: b, url: rtsp://h/b, role: right}\nstereo:\n  calibration: s.yml\n",
			[]want{{2, "cameras[0].calibration", ErrConflict, "stereo.calibration (line 5) calibrates this camera"}}},
		{"stereo calibration and intrinsics", "cameras:\n- {name: a, url: rtsp://h/a, role: left}\n- {name: b, url: rtsp://h/b, role: right, intrinsics: {width: 1, height: 1, fx: 1, fy: 1, cx: 0, cy: 0}}\nstereo:\n  calibration: s.yml\n",
			[]want{{3, "cameras[1].intrinsics", ErrConflict, "stereo.calibration (line 5)"}}},
		{"extrinsics alone", "cameras:\n- {name: a, url: rtsp://h/a, role: left, calibration: l.yaml}\n- {name: b, url: rtsp://h/b, role: right, calibration: r.yaml}\nstereo:\n  extrinsics: e.yml\n",
			[]want{{5, "stereo.extrinsics", ErrMissing, "stereo.calibration, which is not given"}}},
		{"half a calibrated pair", "cameras:\n- {name: a, url: rtsp://h/a, role: left, calibration: l.yaml}\n- {name: b, url: rtsp://h/b, role: right, intrinsics: {width: 1, height: 1, fx: 1, fy: 1, cx: 0, cy: 0}}\nstereo: {baseline: 0.1}\n",
			[]want{{3, "cameras[1].calibration", ErrMissing, "a pair is rectified together"}}},
		{"alpha range", "cameras:\n- {name: a, url: rtsp://h/a, role: left}\n- {name: b, url: rtsp://h/b, role: right}\nstereo:\n  calibration: s.yml\n  alpha: 2\n",
			[]want{{6, "stereo.alpha", ErrInvalid, "2 is out of range"}}},
		{"intrinsics missing keys", "cameras:\n  - name: c\n    url: rtsp://h/x\n    intrinsics:\n      width: 320\n      fx: 100\n      fy: 0\n      cx: 1\n",
			[]want{{4, "cameras[0].intrinsics.cy", ErrMissing, "required"}, {4, "cameras[0].intrinsics.height", ErrMissing, "required"}, {7, "cameras[0].intrinsics.fy", ErrInvalid, "0 is not > 0"}}},
		{"width not multiple of 32", "cameras: [{name: c, url: synth://}]\nmodel:\n  width: 330\n", []want{{3, "model.width", ErrInvalid, "330 is not a multiple of 32"}}},
		{"height out of range", "cameras: [{name: c, url: synth://}]\nmodel:\n  height: 0\n", []want{{3, "model.height", ErrInvalid, "0 is out of range: want 32 to 4096"}}},
		{"depth range", "cameras: [{name: c, url: synth://}]\nmodel:\n  min_depth: 50\n  max_depth: 10\n", []want{{4, "model.max_depth", ErrInvalid, "min_depth 50 is not below max_depth 10"}}},
		{"bad size", "cameras: [{name: c, url: synth://}]\nmodel: {size: smal}\n", []want{{2, "model.size", ErrInvalid, `"smal" is not one of small, default (did you mean "small"?)`}}},
		{"bad namespace", "namespace: robot..1\ncameras: [{name: c, url: synth://}]\n", []want{{1, "namespace", ErrInvalid, `invalid namespace "robot..1": token 2: empty`}}},
		{"wildcard namespace", "namespace: 'robot.>'\ncameras: [{name: c, url: synth://}]\n", []want{{1, "namespace", ErrInvalid, "wildcard"}}},
		{"bad device", "cameras: [{name: c, url: synth://}]\ndevice: gpu\n", []want{{2, "device", ErrInvalid, `"gpu" is not one of auto, cpu, cuda, cuda:N`}}},
		{"bad cuda index", "cameras: [{name: c, url: synth://}]\ndevice: cuda:-1\n", []want{{2, "device", ErrInvalid, "cuda:N"}}},
		{"image rate", "cameras: [{name: c, url: synth://}]\ntopics: {image_rate: 0}\n", []want{{2, "topics.image_rate", ErrInvalid, "0 is out of range"}}},
		{"nats scheme", "cameras: [{name: c, url: synth://}]\nnats: {url: 'http://h:4222'}\n", []want{{2, "nats.url", ErrInvalid, `scheme "http" is not one of nats, tls, ws, wss`}}},
		{"nats bad port", "cameras: [{name: c, url: synth://}]\nnats: {url: 'nats://h:0'}\n", []want{{2, "nats.url", ErrInvalid, `port "0"`}}},
		{"embedded listen", "cameras: [{name: c, url: synth://}]\nnats:\n  embedded: {listen: 'localhost'}\n", []want{{3, "nats.embedded.listen", ErrInvalid, `"localhost" is not host:port`}}},
		{"embedded with url", "cameras: [{name: c, url: synth://}]\nnats:\n  url: nats://h:4222\n  embedded: {listen: ':4222'}\n", []want{{4, "nats.embedded", ErrConflict, "only when nats.url is empty"}}},
		{"auth without url", "cameras: [{name: c, url: synth://}]\nnats:\n  token: abc\n", []want{{3, "nats.token", ErrConflict, "nats.url is empty"}}},
		{"tls without url", "cameras: [{name: c, url: synth://}]\nnats:\n  tls: {ca: ca.pem}\n", []want{{3, "nats.tls", ErrConflict, "nats.url is empty"}}},
		{"two auths", "cameras: [{name: c, url: synth://}]\nnats:\n  url: nats://u:p@h:4222\n  nkey_file: seed.nk\n",
			[]want{{4, "nats.nkey_file", ErrConflict, "give one way to authenticate, not nats.url and nats.nkey_file"}}},
		{"tls cert without key", "cameras: [{name: c, url: synth://}]\nnats:\n  url: tls://h:4222\n  tls: {cert: c.pem}\n", []want{{4, "nats.tls.key", ErrMissing, "required with nats.tls.cert"}}},
		{"serve world", "cameras: [{name: c, url: synth://}]\nserve: {world: 'rtsp://h/x'}\n", []want{{2, "serve.world", ErrInvalid, "is not a synth:// URL"}}},
		{"serve listen", "cameras: [{name: c, url: synth://}]\nserve: {listen: '127.0.0.1:http'}\n", []want{{2, "serve.listen", ErrInvalid, `port "http" is not 0 to 65535`}}},
		{"learner steps", "cameras: [{name: c, url: synth://}]\nlearner:\n  steps_per_s: -1\n", []want{{3, "learner.steps_per_s", ErrInvalid, "-1 is out of range"}}},
		{"learner replay", "cameras: [{name: c, url: synth://}]\nlearner:\n  buffer: 4\n  replay: 4\n", []want{{4, "learner.replay", ErrInvalid, "replay 4 is not below buffer 4"}}},
		{"learner mode", "cameras: [{name: c, url: synth://}]\nlearner:\n  mode: x\n", []want{{3, "learner.mode", ErrInvalid, ""}}},
		{"too many cameras", "cameras:\n" + func() string {
			var b strings.Builder
			for i := 0; i <= MaxCameras; i++ {
				fmt.Fprintf(&b, "- {name: c%d, url: synth://}\n", i)
			}
			return b.String()
		}(), []want{{MaxCameras + 2, "cameras", ErrInvalid, "more than 64 cameras"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Parse([]byte(tc.src), "robot.yaml")
			if err == nil {
				t.Fatalf("Parse accepted it: %s", l)
			}
			if l != nil {
				t.Errorf("Parse returned a Launch with an error")
			}
			ps := problemsOf(t, err)
			if len(ps) != len(tc.want) {
				t.Fatalf("%d problems, want %d:\n%v", len(ps), len(tc.want), err)
			}
			for i, w := range tc.want {
				p := ps[i]
				if p.Line != w.line || p.Key != w.key || !errors.Is(p, w.err) || !strings.Contains(p.Msg, w.msg) {
					t.Errorf("problem %d:\n got %q (line %d, key %q)\nwant line %d, key %q, %v, containing %q", i, p, p.Line, p.Key, w.line, w.key, w.err, w.msg)
				}
				// The message is "launch: robot.yaml:LINE: KEY: MSG".
				prefix := "launch: robot.yaml"
				if w.line > 0 {
					prefix += fmt.Sprintf(":%d", w.line)
				}
				if w.key != "" {
					prefix += ": " + w.key
				}
				if !strings.HasPrefix(p.Error(), prefix+": ") {
					t.Errorf("message %q does not start with %q", p.Error(), prefix)
				}
			}
		})
	}
}

func TestMsgsErrorsWrapped(t *testing.T) {
	_, err := Parse([]byte("namespace: 'a b'\ncameras: [{name: c, url: synth://}]\n"), "x.yaml")
	if !errors.Is(err, msgs.ErrInvalidNamespace) || !errors.Is(err, ErrInvalid) {
		t.Errorf("%v does not wrap msgs.ErrInvalidNamespace and ErrInvalid", err)
	}
}

// TestAllErrorsSortedByLine checks that one Parse reports every problem,
// in line order, not just the first.
func TestAllErrorsSortedByLine(t *testing.T) {
	src := `device: tpu
cameras:
  - name: a
    url: ftp://h/x
    fps: -1
  - name: a
    url: synth://
    trasport: tcp
model:
  width: 100
  min_depth: 0
namespace: ''
`
	ps := problemsOf(t, func() error { _, err := Parse([]byte(src), "many.yaml"); return err }())
	var lines []int
	for _, p := range ps {
		lines = append(lines, p.Line)
	}
	want := []int{1, 4, 5, 6, 8, 10, 11, 12}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Errorf("lines %v, want %v:\n%v", lines, want, errors.Join(func() []error {
			var e []error
			for _, p := range ps {
				e = append(e, p)
			}
			return e
		}()...))
	}
}

func TestErrorCap(t *testing.T) {
	// An alias makes one mapping with many unknown keys count once per
	// camera: the report is capped, and says how much was left out.
	var b strings.Builder
	b.WriteString("x: &k {name: c, url: synth://")
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, ", k%d: 1", i)
	}
	b.WriteString("}\ncameras: [")
	for i := 0; i < MaxCameras; i++ {
		b.WriteString("*k, ")
	}
	b.WriteString("]\n")
	_, err := Parse([]byte(b.String()), "cap.yaml")
	ps := problemsOf(t, err)
	if len(ps) != maxErrors+1 || !strings.Contains(ps[maxErrors].Msg, "more problems not shown") {
		t.Fatalf("%d problems; last %q", len(ps), ps[len(ps)-1])
	}
}

// TestSecretsNeverPrinted checks errors and String for passwords and tokens.
func TestSecretsNeverPrinted(t *testing.T) {
	const secret = "hunter2secret"
	for _, src := range []string{
		"cameras: [{name: c, url: 'rtsp://admin:" + secret + "@h:99999/x', calibration: c.yaml}]",
		"cameras: [{name: c, url: 'rtsp://admin:" + secret + "@h:5%4/x', calibration: c.yaml}]",
		"cameras: [{name: c, url: 'ftp://admin:" + secret + "@h/x'}]",
		"cameras: [{name: c, url: 'rtsp://admin:" + secret + "@/x'}]",
		"cameras: [{name: c, url: 'mcap://admin:" + secret + "@h/x'}]",
		"cameras: [{name: c, url: 'rtsp://admin:" + secret + "@h/x', role: left}]",
		"cameras: [{name: c, url: synth://}]\nnats: {url: 'nats://" + secret + "@h:99999'}",
		"cameras: [{name: c, url: synth://}]\nnats: {url: 'nats://" + secret + "@'}",
		"cameras: [{name: c, url: synth://}]\nnats: {url: 'nats://" + secret + "@h:4222', token: " + secret + "}",
		"cameras: [{name: c, url: synth://}]\nnats: {token: [" + secret + "]}",
		"cameras: [{name: c, url: synth://}]\nnats: {token: " + secret + "}",
	} {
		_, err := Parse([]byte(src), "s.yaml")
		if err == nil {
			t.Errorf("accepted %q", src)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks the secret: %v", err)
		}
	}
	// A cluster whose URLs carry credentials is one way to authenticate.
	l, err := Parse([]byte("cameras: [{name: c, url: 'rtsp://admin:"+secret+"@h/x', calibration: c.yaml}]\n"+
		"nats: {url: 'nats://"+secret+"@h:4222,nats://u:"+secret+"@h2:4222'}"), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s := l.String(); strings.Contains(s, secret) || !strings.Contains(s, "nats://xxxxx@h:4222,nats://xxxxx@h2:4222") {
		t.Errorf("String leaks or drops the NATS URL:\n%s", s)
	}
	l, err = Parse([]byte("cameras: [{name: c, url: 'rtsp://admin:"+secret+"@h/x', calibration: c.yaml}]\n"+
		"nats: {url: 'tls://h:4222', token: "+secret+"}"), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s := l.String(); strings.Contains(s, secret) || !strings.Contains(s, "token: xxxxx") {
		t.Errorf("String leaks or drops the token:\n%s", s)
	}
	if s := fmt.Sprint(l.Cameras[0]); strings.Contains(s, secret) {
		t.Errorf("Camera.String leaks: %s", s)
	}
	// Marshal keeps secrets: it writes a file that works.
	b, err := l.Marshal()
	if err != nil || !strings.Contains(string(b), secret) {
		t.Errorf("Marshal lost the credentials: %v\n%s", err, b)
	}
}

// TestGolden keeps the full error report of each bad file under testdata/
// (and the String of each good one) in a .golden file; -update rewrites them.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			l, err := Load(f)
			var got string
			if err != nil {
				got = err.Error() + "\n"
			} else {
				got = l.String()
			}
			golden(t, strings.TrimSuffix(f, ".yaml")+".golden", got)
		})
	}
}
