package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// tmpfs mounts a tmpfs of size bytes on a fresh folder (root only; CI and
// this project's machines run as root) and unmounts it when the test ends.
func tmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small-disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("mount a %d-byte tmpfs (the full-disk fault needs root): %v: %s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestDiskFullWhileRecording records onto a 4 MB tmpfs until it is full:
// the recorder must say so on diagnostics (an ERROR naming the disk), the
// node must keep publishing depth, and what was written before the disk
// filled must stay readable (directly or after `record recover`).
func TestDiskFullWhileRecording(t *testing.T) {
	disk := tmpfs(t, 4<<20)
	camPort, natsPort := freePort(t), freePort(t)
	cameraServer(t, camPort, time.Now(), "")
	out := filepath.Join(disk, "drive.mcap")
	p := spawn(t, "parallax", "record", writeLaunch(t, stereoLaunch(camPort, camPort, embeddedNATS(natsPort), "learner: {adapt: false}")), "-o", out)
	p.waitLine("parallax record:", 120*time.Second)
	w := watch(t, fmt.Sprintf("nats://127.0.0.1:%d", natsPort), "faults")
	r := row{fault: "disk full while recording (4 MB tmpfs)", attempts: 1}

	at := w.waitDiag("no space left on device", 0, 120*time.Second)
	full := time.Now()
	line, level := w.change(at)
	t.Logf("diagnostics: %s %s", level, line)
	if level != parallaxv1.DiagnosticStatus_ERROR || !strings.HasPrefix(line, "sink/recorder:") || !strings.Contains(line, out) {
		t.Errorf("the full disk is reported as %s %q, want an ERROR of sink/recorder naming %s", level, line, out)
	}
	// The node goes on serving (at whatever rate the machine's load allows:
	// 10 maps within 30 s, usually 3 s).
	deadline := time.Now().Add(30 * time.Second)
	for w.countDepth("left", full) < 10 && time.Now().Before(deadline) {
		alive(t, p, "after the disk filled")
		time.Sleep(200 * time.Millisecond)
	}
	alive(t, p, "after the disk filled")
	if got := w.countDepth("left", full); got < 10 {
		t.Errorf("%d depth maps in the 30 s after the disk filled, want at least 10", got)
	}
	if err := p.interrupt(30 * time.Second); err != nil {
		t.Logf("record exited with %v after the disk filled", err)
	}
	n, err := openRecording(out)
	if err != nil {
		// Recover onto a disk with room.
		fixed := filepath.Join(t.TempDir(), "recovered.mcap")
		rec := spawn(t, "parallax", "record", "recover", out, "-o", fixed)
		if rerr := waitExit(rec, 60*time.Second); rerr != nil {
			t.Fatalf("the recording of a full disk neither opens (%v) nor recovers: %v", err, rerr)
		}
		if n, err = openRecording(fixed); err != nil {
			t.Fatal(err)
		}
	}
	if n == 0 {
		t.Error("nothing of what was written before the disk filled is readable")
	}
	r.recovers = 1
	r.lost = fmt.Sprintf("what did not fit; %d messages readable", n)
	figures.add(r)
}
