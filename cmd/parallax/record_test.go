package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/actors"
	"github.com/parallax-robotics/parallax/assets"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/record"
)

const recordLaunchYAML = `namespace: live
cameras:
  - {name: left, url: "synth://?stereo=1&width=320&height=96&fps=15", role: left}
  - {name: right, url: "synth://?stereo=1&width=320&height=96&fps=15", role: right}
model: {width: 320, height: 96, size: small, checkpoint: demo.ckpt}
learner: {adapt: false}
device: cpu
nats: {embedded: {listen: "127.0.0.1:0"}}
`

// TestRecordCommands records a synth:// launch with `parallax record`,
// describes it, cuts it, recovers it, replays it at rate 0, and opens it as
// a training source.
func TestRecordCommands(t *testing.T) {
	dir := t.TempDir()
	lf := filepath.Join(dir, "live.yaml")
	if err := os.WriteFile(lf, []byte(recordLaunchYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "demo.ckpt"), assets.DemoCheckpoint(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "drive.mcap")
	run := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := dispatch(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatalf("parallax %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	o := run("record", lf, "-o", out, "--duration", "3s")
	if !strings.Contains(o, "MB/s") || !strings.Contains(o, "wrote ["+out+"]") {
		t.Fatalf("record output:\n%s", o)
	}
	o = run("record", "info", out)
	for _, want := range []string{"complete (indexed)", "live.left.raw.image", "live.right.raw.image", "live.left.depth", "foxglove.RawImage", "parallax.stereo.baseline = 0.54"} {
		if !strings.Contains(o, want) {
			t.Errorf("record info lacks %q:\n%s", want, o)
		}
	}
	// The independent reader accepts the node's recording and decodes
	// every message with the embedded schemas and with msgs/proto.
	if b, err := exec.Command("/usr/bin/python3", "../../scripts/mcap_check.py", out, "--proto-dir", "../../msgs/proto").CombinedOutput(); err != nil {
		t.Errorf("scripts/mcap_check.py: %v\n%.2000s", err, b)
	}
	full, _ := os.ReadFile(out)
	cut := filepath.Join(dir, "cut.mcap")
	os.WriteFile(cut, full[:len(full)*3/4], 0o644)
	if o = run("record", "info", cut); !strings.Contains(o, "TRUNCATED") {
		t.Errorf("record info of a cut file:\n%s", o)
	}
	if o = run("record", "recover", cut); !strings.Contains(o, "kept") {
		t.Errorf("record recover:\n%s", o)
	}
	if o = run("record", "recover", cut); !strings.Contains(o, "nothing to do") {
		t.Errorf("record recover twice:\n%s", o)
	}
	s, err := record.Info(cut)
	if err != nil || !s.Complete {
		t.Fatalf("recovered: %v %+v", err, s)
	}
	// Flags after the drive, as users type them; the recording carries
	// the model the node started from, and the replay serves it.
	o = run("replay", cut, "--rate", "0", "--listen", "127.0.0.1:0")
	if !strings.Contains(o, "parallax replay: done") || strings.Contains(o, " 0 processed") {
		t.Errorf("replay output:\n%s", o)
	}
	if !strings.Contains(o, "model: the one the recording was made with") {
		t.Errorf("the replay did not serve the recorded model:\n%s", o)
	}
	d, err := openDrive("mcap://" + cut)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() < 5 || !d.Stereo() || d.Baseline() != 0.54 {
		t.Errorf("openDrive: len %d stereo %v baseline %g", d.Len(), d.Stereo(), d.Baseline())
	}
	if l, r, err := d.Frame(2); err != nil || l.Truth == nil || r == nil || l.Intrinsics == nil {
		t.Errorf("drive frame 2: %v", err)
	}
	var stderr bytes.Buffer
	if err := dispatch(context.Background(), []string{"record", "-o", out}, &bytes.Buffer{}, &stderr); err == nil || !strings.Contains(stderr.String(), "exactly one of") {
		t.Errorf("record without -f or --nats: %v %s", err, stderr.String())
	}
	if err := dispatch(context.Background(), []string{"replay", "--listen", "127.0.0.1:0", filepath.Join(dir, "missing.mcap")}, &bytes.Buffer{}, &stderr); err == nil || !strings.Contains(err.Error(), "missing.mcap") {
		t.Errorf("replay of a missing file: %v", err)
	}
}

// TestRecordNATS records a running node's topics over NATS.
func TestRecordNATS(t *testing.T) {
	l, err := launch.Parse([]byte(recordLaunchYAML), "live.yaml")
	if err != nil {
		t.Fatal(err)
	}
	l.Model.Checkpoint = "" // random weights: this test records topics only
	n := &actors.Node{Launch: l}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	out := filepath.Join(t.TempDir(), "nats.mcap")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := dispatch(ctx, []string{"record", "--nats", n.NATSURL(), "--ns", "live", "-o", out}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s%s", err, stdout.String(), stderr.String())
	}
	s, err := record.Info(out)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, c := range s.Channels {
		counts[c.Topic] = c.Messages
		if c.Topic == "live.left.depth" && c.Schema != "foxglove.RawImage" {
			t.Errorf("depth schema %s", c.Schema)
		}
	}
	if counts["live.left.depth"] == 0 || counts["live.odom"] == 0 || counts["live.diagnostics"] == 0 {
		t.Fatalf("recorded over NATS: %v\n%s", counts, stdout.String())
	}
}
