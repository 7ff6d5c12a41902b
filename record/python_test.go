package record

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/msgs"
)

// checkResult is what scripts/mcap_check.py prints.
type checkResult struct {
	Complete  bool
	Truncated bool
	Messages  uint64
	Chunks    int
	Errors    []string
	Metadata  map[string]map[string]string
	Channels  map[string]struct {
		Schema string
		Count  uint64
		First  map[string]any
	}
}

// mcapCheck runs the independent Python reader on path, decoding with the
// embedded schemas and with protoc-generated modules of msgs/proto.
func mcapCheck(t *testing.T, path string) checkResult {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import google.protobuf, zstandard").Run(); err != nil {
		t.Fatalf("%s cannot import protobuf and zstandard (%v): run scripts/deps.sh (python3-protobuf, python3-zstandard)", py, err)
	}
	cmd := exec.Command(py, "../scripts/mcap_check.py", path, "--proto-dir", "../msgs/proto")
	out, err := cmd.Output()
	var res checkResult
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("mcap_check.py: %v (%v): %s", err, jerr, out)
	}
	if err != nil || len(res.Errors) > 0 {
		t.Fatalf("mcap_check.py found problems in %s: %v (%v)", path, res.Errors, err)
	}
	return res
}

// TestIndependentReader has a reader written from the MCAP specification in
// Python check CRCs, indexes and statistics of a recording, and decode each
// message with the embedded FileDescriptorSets and with Foxglove's .proto
// files; then does the same on the recording cut short and recovered.
func TestIndependentReader(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "drive.mcap")
	w := &Writer{Path: path, ChunkSize: 64 << 10, Metadata: map[string]string{"namespace": "ns"}}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	writeTest(t, w, 12, 64, 48)
	stamp := time.Unix(1700000000, 0)
	pose := msgs.Pose{R: msgs.Identity().R, T: [3]float64{1.5, -2, 3}}
	for i := 0; i < 5; i++ {
		if err := w.Write("ns.odom", stamp, msgs.Odometry(stamp, "odom", "left", uint64(i), pose)); err != nil {
			t.Fatal(err)
		}
		if err := w.Write("ns.left.truth.pose", stamp, msgs.PoseInFrame(stamp, "world", pose)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	res := mcapCheck(t, path)
	if !res.Complete || res.Truncated || res.Messages != 34 || res.Chunks < 2 {
		t.Fatalf("python: complete %v truncated %v, %d messages in %d chunks", res.Complete, res.Truncated, res.Messages, res.Chunks)
	}
	img := res.Channels["ns.left.raw.image"]
	if img.Schema != "foxglove.RawImage" || img.Count != 12 || img.First["encoding"] != "rgb8" || img.First["width"] != 64.0 || img.First["step"] != 192.0 {
		t.Errorf("python decoded the image channel as %+v", img)
	}
	cal := res.Channels["ns.left.raw.camera_info"].First
	if k, _ := cal["K"].([]any); len(k) != 9 || k[0] != 50.0 || k[2] != 31.5 {
		t.Errorf("python decoded camera_info K as %v", cal["K"])
	}
	p := res.Channels["ns.left.truth.pose"].First
	if pos, _ := p["pose"].(map[string]any)["position"].(map[string]any); pos["x"] != 1.5 || pos["y"] != -2.0 {
		t.Errorf("python decoded the pose as %v", p)
	}
	if res.Channels["ns.odom"].Schema != "parallax.v1.Odometry" || res.Metadata[MetadataName]["namespace"] != "ns" {
		t.Errorf("python: odom %+v, metadata %v", res.Channels["ns.odom"], res.Metadata)
	}

	full, _ := os.ReadFile(path)
	cut := filepath.Join(dir, "cut.mcap")
	os.WriteFile(cut, full[:len(full)*2/3], 0o644)
	goInfo, err := Info(cut)
	if err != nil {
		t.Fatal(err)
	}
	pc := mcapCheck(t, cut)
	if pc.Complete || !pc.Truncated || pc.Messages != goInfo.Messages || pc.Messages == 0 {
		t.Fatalf("cut file: python complete %v truncated %v %d messages, Go reads %d", pc.Complete, pc.Truncated, pc.Messages, goInfo.Messages)
	}
	if _, err := Recover(cut, ""); err != nil {
		t.Fatal(err)
	}
	rc := mcapCheck(t, cut)
	if !rc.Complete || rc.Messages != pc.Messages {
		t.Fatalf("recovered file: python complete %v, %d messages, want %d", rc.Complete, rc.Messages, pc.Messages)
	}
}
