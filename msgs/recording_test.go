package msgs

import (
	"errors"
	"testing"

	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

func TestRecordingTopic(t *testing.T) {
	// The node's own subjects and the recorded inputs share a namespace:
	// the two suffixes that repeat a subject's must be those subjects.
	if SuffixPreview != KindImage.String() || SuffixDepthCameraInfo != KindCameraInfo.String() {
		t.Fatalf("preview %q, depth camera_info %q: they are the node's image and camera_info subjects", SuffixPreview, SuffixDepthCameraInfo)
	}
	for _, tc := range []struct {
		topic, suffix, ns, camera string
		ok                        bool
	}{
		{"fleet.r1.left.raw.image", SuffixRawImage, "fleet.r1", "left", true},
		{"drive.right.truth.pose", SuffixTruthPose, "drive", "right", true},
		{"drive.left.raw.image", SuffixPreview, "drive.left", "raw", true}, // why the longer suffix goes first
		{"left.raw.image", SuffixRawImage, "", "", false},                  // no namespace
		{"drive..raw.image", SuffixRawImage, "", "", false},                // empty camera
		{"drive.left.depth", SuffixRawImage, "", "", false},
	} {
		ns, cam, ok := SplitRecordingTopic(tc.topic, tc.suffix)
		if ns != tc.ns || cam != tc.camera || ok != tc.ok {
			t.Errorf("SplitRecordingTopic(%q, %q) = %q, %q, %v; want %q, %q, %v", tc.topic, tc.suffix, ns, cam, ok, tc.ns, tc.camera, tc.ok)
		}
		if tc.ok {
			if got := RecordingTopic(ns, cam, tc.suffix); got != tc.topic {
				t.Errorf("RecordingTopic(%q, %q, %q) = %q, want %q", ns, cam, tc.suffix, got, tc.topic)
			}
		}
	}
}

func TestFrameMessages(t *testing.T) {
	const w, h = 4, 2
	k := Intrinsics{Width: w, Height: h, Fx: 3, Fy: 3, Cx: 2, Cy: 1}
	f := &Frame{Camera: "right", Stamp: testStamp, Width: w, Height: h, Pix: make([]byte, w*h*3), Intrinsics: &k,
		Truth: &GroundTruth{Depth: make([]float32, w*h), Pose: Identity()}}
	out, err := FrameMessages("drive", f, 0.5, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"drive.right.raw.image", "drive.right.raw.camera_info", "drive.right.truth.depth", "drive.right.truth.pose"}
	if len(out) != len(want) {
		t.Fatalf("%d messages, want %d", len(out), len(want))
	}
	for i, m := range out {
		if m.Topic != want[i] {
			t.Errorf("message %d on %s, want %s", i, m.Topic, want[i])
		}
	}
	if img := out[0].Message.(*foxglove.RawImage); img.Encoding != EncodingRGB8 || img.Width != w {
		t.Errorf("image %s %dx%d", img.Encoding, img.Width, img.Height)
	}
	if b, err := StereoBaseline(out[1].Message.(*foxglove.CameraCalibration)); err != nil || b != 0.5 {
		t.Errorf("camera_info baseline %g, %v", b, err)
	}
	if p := out[3].Message.(*foxglove.PoseInFrame); p.FrameId != TruthFrame {
		t.Errorf("truth pose in frame %q", p.FrameId)
	}
	// Without truth, or without intrinsics, those messages are left out.
	if out, _ := FrameMessages("drive", f, 0.5, false); len(out) != 2 {
		t.Errorf("truth off: %d messages, want 2", len(out))
	}
	f.Intrinsics, f.Truth.Depth = nil, f.Truth.Depth[:3]
	if out, _ := FrameMessages("drive", f, 0, true); len(out) != 2 || out[1].Topic != "drive.right.truth.pose" {
		t.Errorf("no intrinsics, depth of the wrong size: %d messages", len(out))
	}
	if _, err := FrameMessages("drive", &Frame{Camera: "x", Width: 2, Height: 2, Pix: make([]byte, 3)}, 0, false); !errors.Is(err, ErrSize) {
		t.Errorf("short pixels: %v, want ErrSize", err)
	}
	if _, err := FrameMessages("drive", nil, 0, false); !errors.Is(err, ErrMissingField) {
		t.Errorf("nil frame: %v, want ErrMissingField", err)
	}
}
