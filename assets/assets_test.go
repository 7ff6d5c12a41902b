package assets

import (
	"bytes"
	"os"
	"testing"

	"github.com/parallax-robotics/parallax/perception"
)

// TestDemoCheckpoint: the embedded checkpoint parses (magic, checksums,
// architecture: the demo's 320x96 small model) and is written once,
// atomically, under a content-hashed name.
func TestDemoCheckpoint(t *testing.T) {
	c, err := perception.ParseCheckpoint(DemoCheckpoint())
	if err != nil {
		t.Fatal(err)
	}
	// The file is format version 1 (a fixed depth and pose pair): it must
	// read as the standard model of named networks.
	a := c.Header.Arch
	want := perception.DepthPose(320, 96, perception.DepthConfig{Size: perception.SizeSmall}, perception.PoseConfig{Size: perception.SizeSmall}).Fill()
	if d := perception.ArchDiff(a, want); d != "" || c.Header.Meta.Steps == 0 {
		t.Errorf("arch %+v (%s), %d steps", a, d, c.Header.Meta.Steps)
	}
	dir := t.TempDir()
	p1, err := DemoCheckpointFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := DemoCheckpointFile(dir)
	if err != nil || p2 != p1 {
		t.Fatalf("second call: %s, %v (first %s)", p2, err, p1)
	}
	got, err := os.ReadFile(p1)
	if err != nil || !bytes.Equal(got, DemoCheckpoint()) {
		t.Fatalf("written file differs (%v)", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files in the cache folder, want 1 (no temp files left)", len(ents))
	}
}
