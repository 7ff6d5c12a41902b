package msgs

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // substring of the error; "" means valid
	}{
		{"simple", "left", ""},
		{"digits underscore hyphen", "cam_0-front", ""},
		{"upper case", "Left", ""},
		{"max length", strings.Repeat("a", MaxNameLen), ""},
		{"empty", "", "empty"},
		{"too long", strings.Repeat("a", MaxNameLen+1), "more than 128"},
		{"dot", "left.right", "'.' at byte 4"},
		{"star", "le*", "wildcard '*' at byte 2"},
		{"gt", ">", "wildcard '>' at byte 0"},
		{"space", "le ft", "whitespace ' ' at byte 2"},
		{"tab", "left\t", "whitespace '\\t' at byte 4"},
		{"dollar", "$SYS", `byte "$" at 0`},
		{"slash", "robot/left", `byte "/" at 5`},
		{"utf8", "caméra", `byte "\xc3" at 3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateName(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ValidateName(%q) = %v, want ErrInvalidName containing %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestValidateNamespace(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"robot1", ""},
		{"fleet.robot1", ""},
		{"a.b.c", ""},
		{"", "empty"},
		{".robot", "token 1: empty"},
		{"robot.", "token 2: empty"},
		{"a..b", "token 2: empty"},
		{"fleet.*", "token 2: wildcard '*'"},
		{"fleet.>", "token 2: wildcard '>'"},
		{"my robot", "token 1: whitespace"},
		{strings.Repeat("a.", 64) + "a", "bytes, more than 128"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			err := ValidateNamespace(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateNamespace(%q) = %v, want nil", tt.in, err)
				}
				ns, err := NewNamespace(tt.in)
				if err != nil || string(ns) != tt.in {
					t.Fatalf("NewNamespace(%q) = %q, %v", tt.in, ns, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidNamespace) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ValidateNamespace(%q) = %v, want ErrInvalidNamespace containing %q", tt.in, err, tt.wantErr)
			}
			if _, err := NewNamespace(tt.in); err == nil {
				t.Fatalf("NewNamespace(%q) accepted an invalid namespace", tt.in)
			}
		})
	}
}

func TestNamespaceSubjects(t *testing.T) {
	ns, err := NewNamespace("fleet.robot1")
	if err != nil {
		t.Fatal(err)
	}
	cam, err := ns.Camera("left")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{
		"camera_info":   cam.CameraInfo,
		"image":         cam.Image,
		"depth":         cam.Depth,
		"scene_flow":    cam.SceneFlow,
		"odom":          ns.Odom(),
		"pose":          ns.Pose(),
		"tf":            ns.TF(),
		"learner.stats": ns.LearnerStats(),
		"diagnostics":   ns.Diagnostics(),
		"all":           ns.All(),
	}
	want := map[string]string{
		"camera_info":   "fleet.robot1.left.camera_info",
		"image":         "fleet.robot1.left.image",
		"depth":         "fleet.robot1.left.depth",
		"scene_flow":    "fleet.robot1.left.scene_flow",
		"odom":          "fleet.robot1.odom",
		"pose":          "fleet.robot1.pose",
		"tf":            "fleet.robot1.tf",
		"learner.stats": "fleet.robot1.learner.stats",
		"diagnostics":   "fleet.robot1.diagnostics",
		"all":           "fleet.robot1.>",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s subject = %q, want %q", k, got[k], w)
		}
	}
	if _, err := ns.Camera("left.right"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Camera(\"left.right\") error = %v, want ErrInvalidName", err)
	}
}

func TestParseSubject(t *testing.T) {
	tests := []struct {
		in      string
		want    Subject
		wantErr string
	}{
		{in: "robot1.left.depth", want: Subject{"robot1", "left", KindDepth}},
		{in: "robot1.left.camera_info", want: Subject{"robot1", "left", KindCameraInfo}},
		{in: "robot1.left.image", want: Subject{"robot1", "left", KindImage}},
		{in: "fleet.robot1.front.scene_flow", want: Subject{"fleet.robot1", "front", KindSceneFlow}},
		{in: "robot1.odom", want: Subject{"robot1", "", KindOdom}},
		{in: "robot1.pose", want: Subject{"robot1", "", KindPose}},
		{in: "robot1.tf", want: Subject{"robot1", "", KindTF}},
		{in: "robot1.learner.stats", want: Subject{"robot1", "", KindLearnerStats}},
		{in: "fleet.learner.learner.stats", want: Subject{"fleet.learner", "", KindLearnerStats}},
		{in: "robot1.diagnostics", want: Subject{"robot1", "", KindDiagnostics}},
		// A camera may be named like a global topic: the suffix decides.
		{in: "robot1.odom.depth", want: Subject{"robot1", "odom", KindDepth}},
		{in: "a.b.odom", want: Subject{"a.b", "", KindOdom}},
		{in: "left.depth", wantErr: "needs <namespace>.<camera>"},
		{in: "odom", wantErr: "unknown suffix"},
		{in: ".odom", wantErr: "invalid namespace"},
		{in: "robot1.stats", wantErr: "unknown suffix"},
		{in: "robot1.left.depth.extra", wantErr: "unknown suffix"},
		{in: "robot1..depth", wantErr: "invalid camera name"},
		{in: "robot1.*.depth", wantErr: "wildcard"},
		{in: "robot 1.left.depth", wantErr: "whitespace"},
		{in: "", wantErr: "unknown suffix"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSubject(tt.in)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidSubject) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSubject(%q) = %+v, %v; want ErrInvalidSubject containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSubject(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if got.String() != tt.in {
				t.Fatalf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestNewSubject(t *testing.T) {
	if _, err := NewSubject("robot1", "left", KindOdom); !errors.Is(err, ErrInvalidName) {
		t.Errorf("odom with a camera: error %v, want ErrInvalidName", err)
	}
	if _, err := NewSubject("robot1", "", KindDepth); !errors.Is(err, ErrInvalidName) {
		t.Errorf("depth without a camera: error %v, want ErrInvalidName", err)
	}
	if _, err := NewSubject("robot1", "", Kind(0)); !errors.Is(err, ErrInvalidKind) {
		t.Errorf("Kind(0): error %v, want ErrInvalidKind", err)
	}
	if _, err := NewSubject("robot1", "", Kind(len(kinds)+1)); !errors.Is(err, ErrInvalidKind) {
		t.Errorf("Kind past the end: error %v, want ErrInvalidKind", err)
	}
	s, err := NewSubject("robot1", "right", KindCameraInfo)
	if err != nil || s.String() != "robot1.right.camera_info" {
		t.Errorf("NewSubject = %q, %v", s, err)
	}
}

func TestKinds(t *testing.T) {
	want := map[Kind]string{
		KindCameraInfo:   "foxglove.CameraCalibration",
		KindImage:        "foxglove.CompressedImage",
		KindDepth:        "foxglove.RawImage",
		KindSceneFlow:    "parallax.v1.SceneFlow",
		KindOdom:         "parallax.v1.Odometry",
		KindPose:         "foxglove.PoseInFrame",
		KindTF:           "foxglove.FrameTransform",
		KindLearnerStats: "parallax.v1.LearnerStats",
		KindDiagnostics:  "parallax.v1.Diagnostics",
		KindCalibration:  "foxglove.CameraCalibration",

		KindOpticalFlow:      "parallax.v1.OpticalFlow",
		KindOpticalFlowImage: "foxglove.RawImage",
	}
	all := Kinds()
	if len(all) != len(want) {
		t.Fatalf("Kinds() has %d kinds, want %d", len(all), len(want))
	}
	for i, k := range all {
		if k != Kind(i+1) {
			t.Errorf("Kinds()[%d] = %d, want %d", i, k, i+1)
		}
		if got := k.MessageName(); got != want[k] {
			t.Errorf("%v.MessageName() = %q, want %q", k, got, want[k])
		}
	}
	if Kind(0).NewMessage() != nil || Kind(0).MessageName() != "" || Kind(0).PerCamera() {
		t.Error("Kind(0) behaves like a valid kind")
	}
	if got := Kind(42).String(); got != "Kind(42)" {
		t.Errorf("Kind(42).String() = %q", got)
	}
}

// FuzzParseSubject checks that the parser never panics and that whatever it
// accepts is valid and prints back to the same subject.
func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{"robot1.left.depth", "a.b.learner.stats", "x.odom", "robot1..depth", ".", "a.>", "a.b.c.scene_flow"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, subject string) {
		s, err := ParseSubject(subject)
		if err != nil {
			if !errors.Is(err, ErrInvalidSubject) {
				t.Fatalf("ParseSubject(%q) error %v does not wrap ErrInvalidSubject", subject, err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("ParseSubject(%q) = %+v, which fails Validate: %v", subject, s, err)
		}
		if s.String() != subject {
			t.Fatalf("ParseSubject(%q).String() = %q", subject, s.String())
		}
	})
}

// FuzzValidateName checks the validators against the NATS token rules: an
// accepted name never contains whitespace, '*', '>' (nor '.' for a camera)
// and builds subjects that parse back to the same parts.
func FuzzValidateName(f *testing.F) {
	for _, s := range [][2]string{{"robot1", "left"}, {"fleet.robot1", "cam-0"}, {"a b", "c"}, {"a", "*"}, {"", ""}, {"a.", "b"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, ns, camera string) {
		nsErr := ValidateNamespace(ns)
		camErr := ValidateName(camera)
		if nsErr == nil {
			if strings.ContainsAny(ns, " \t\r\n*>") || ns == "" || strings.Contains(ns, "..") ||
				strings.HasPrefix(ns, ".") || strings.HasSuffix(ns, ".") {
				t.Fatalf("ValidateNamespace accepted %q", ns)
			}
		} else if !errors.Is(nsErr, ErrInvalidNamespace) {
			t.Fatalf("ValidateNamespace(%q) error %v does not wrap ErrInvalidNamespace", ns, nsErr)
		}
		if camErr == nil {
			if strings.ContainsAny(camera, " \t\r\n*>.") || camera == "" {
				t.Fatalf("ValidateName accepted %q", camera)
			}
		} else if !errors.Is(camErr, ErrInvalidName) {
			t.Fatalf("ValidateName(%q) error %v does not wrap ErrInvalidName", camera, camErr)
		}
		if nsErr != nil || camErr != nil {
			return
		}
		for _, k := range Kinds() {
			c := ""
			if k.PerCamera() {
				c = camera
			}
			want := Subject{Namespace: ns, Camera: c, Kind: k}
			got, err := ParseSubject(want.String())
			if err != nil || got != want {
				t.Fatalf("ParseSubject(%q) = %+v, %v; want %+v", want.String(), got, err, want)
			}
		}
	})
}
