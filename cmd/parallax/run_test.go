package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/perception"
)

// TestRunBadLaunch checks that run reports every problem of a bad launch
// file with its file and line, and exits non-zero, before starting anything.
func TestRunBadLaunch(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"typo and bad value", "namespace: test\ncameras:\n  - name: front\n    url: rtsp://cam/stream\n    trasport: tcp\nmodel:\n  width: 100\n",
			[]string{"bad.yaml:5", `"trasport"`, "bad.yaml:7", "model.width"}},
		{"syntax", "cameras: [\n", []string{"bad.yaml:"}},
		{"missing calibration file", "cameras:\n  - name: front\n    url: rtsp://cam/stream\n    calibration: nowhere.yaml\n",
			[]string{"bad.yaml:4", "nowhere.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "bad.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			err := dispatch(context.Background(), []string{"run", "-f", path}, &out, &errb)
			if err == nil {
				t.Fatalf("run accepted %q", tc.yaml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			if out.Len() > 0 {
				t.Errorf("run printed %q before failing", out.String())
			}
		})
	}
	var errb bytes.Buffer
	if err := dispatch(context.Background(), []string{"run"}, &bytes.Buffer{}, &errb); !errors.Is(err, errUsage) || !strings.Contains(errb.String(), "name the launch file") {
		t.Errorf("run without -f: %v, %q", err, errb.String())
	}
}

// TestRunExitCode runs the built binary on a bad file (the exit status is
// non-zero and stderr names the line) and on a good one that SIGINT stops
// within 2 s with status 0.
func TestRunExitCode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "parallax")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	path := filepath.Join(t.TempDir(), "robot.yaml")
	os.WriteFile(path, []byte("cameras:\n  - name: front\n    urll: rtsp://cam/stream\n"), 0o644)
	var errb bytes.Buffer
	cmd := exec.Command(bin, "run", "-f", path)
	cmd.Stderr = &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("exit %v, want non-zero", err)
	}
	if !regexp.MustCompile(`robot\.yaml:3: .*"urll"`).MatchString(errb.String()) {
		t.Errorf("stderr does not point at robot.yaml:3 and the key:\n%s", errb.String())
	}

	good := filepath.Join(t.TempDir(), "synth.yaml")
	os.WriteFile(good, []byte(synthYAML), 0o644)
	cmd = exec.Command(bin, "run", "-f", good)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	for lines.Scan() && !strings.Contains(lines.Text(), "latency p50") {
	}
	go io.Copy(io.Discard, out)
	stopAt := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("run after SIGINT: %v", err)
	}
	if d := time.Since(stopAt); d > 2*time.Second {
		t.Errorf("run took %v to stop after SIGINT, want under 2 s", d)
	}
}

const synthYAML = `namespace: runtest
cameras:
  - {name: front, url: "synth://?width=320&height=96&fps=15"}
model: {width: 320, height: 96, size: small}
device: cpu
nats: {embedded: {listen: "127.0.0.1:0"}}
`

// TestRunSynth runs a launch file with a synth:// camera for a few seconds:
// status lines appear and it stops by itself.
func TestRunSynth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "synth.yaml")
	os.WriteFile(path, []byte(synthYAML), 0o644)
	var out, errb bytes.Buffer
	start := time.Now()
	if err := dispatch(context.Background(), []string{"run", "-f", path, "--duration", "4s"}, &out, &errb); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	if d := time.Since(start); d > 12*time.Second {
		t.Errorf("run --duration 4s took %v", d)
	}
	s := out.String()
	if !strings.Contains(s, "random init") || strings.Count(s, "frames in") < 3 || !regexp.MustCompile(`latency p50 +[0-9.]+ms`).MatchString(s) {
		t.Errorf("output lacks the model note, status lines or latencies:\n%s", s)
	}
}

// TestRunServesItsCamera runs a launch file whose serve section serves a
// synthetic camera over RTSP: run serves it (as the demo does) and its RTSP
// camera reads frames from it.
func TestRunServesItsCamera(t *testing.T) {
	addr := freeAddr(t)
	yaml := `namespace: servetest
serve: {world: "synth://?width=320&height=96&fps=15", listen: "` + addr + `"}
cameras:
  - {name: front, url: "rtsp://` + addr + `/mono", intrinsics: {width: 320, height: 96, fx: 185.6, fy: 185.6, cx: 159.5, cy: 47.5}}
model: {width: 320, height: 96, size: small}
device: cpu
learner: {adapt: false}
nats: {embedded: {listen: "127.0.0.1:0"}}
`
	path := filepath.Join(t.TempDir(), "serve.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := dispatch(context.Background(), []string{"run", "-f", path, "--duration", "4s"}, &out, &errb); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	most := 0
	for _, m := range regexp.MustCompile(`frames in +([0-9]+)`).FindAllStringSubmatch(out.String(), -1) {
		if n, _ := strconv.Atoi(m[1]); n > most {
			most = n
		}
	}
	if most < 5 {
		t.Errorf("at most %d frames a second came in from the served camera, want the camera's 15:\n%s\n%s", most, out.String(), errb.String())
	}
}

// TestRunKillResumes kills `parallax run` (SIGKILL, no shutdown) while the
// online learner trains and writes checkpoints every second, twice: each
// time the learner checkpoint left behind loads, and the next run resumes
// from it (its step count, its weights) instead of starting over.
func TestRunKillResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary, trains")
	}
	bin := filepath.Join(t.TempDir(), "parallax")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "learner.ckpt")
	launchFile := filepath.Join(dir, "adapt.yaml")
	os.WriteFile(launchFile, []byte(`namespace: killtest
cameras:
  - {name: left, url: "synth://?stereo=1&width=320&height=96&fps=15", role: left}
  - {name: right, url: "synth://?stereo=1&width=320&height=96&fps=15", role: right}
model: {width: 320, height: 96, size: small}
device: cpu
nats: {embedded: {listen: "127.0.0.1:0"}}
learner: {adapt: true, steps_per_s: 10, buffer: 8, replay: 1, check_every: 2, hand_over_every: 2, checkpoint: learner.ckpt, checkpoint_every: 1s}
`), 0o644)
	steps := func() int64 {
		c, err := perception.ReadCheckpoint(ckpt)
		if err != nil {
			t.Fatalf("the learner checkpoint does not load: %v", err)
		}
		return c.Header.Meta.Steps
	}
	var last int64
	for round := 0; round < 2; round++ {
		cmd := exec.Command(bin, "run", "-f", launchFile)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait for a checkpoint newer than the last one, then kill at once.
		deadline := time.Now().Add(150 * time.Second)
		for {
			if _, err := os.Stat(ckpt); err == nil {
				if c, err := perception.ReadCheckpoint(ckpt); err == nil && c.Header.Meta.Steps > last {
					break
				}
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: no new checkpoint after 150 s:\n%s", round, out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Duration(round*700) * time.Millisecond) // kill at another moment each round
		cmd.Process.Kill()
		cmd.Wait()
		s := steps()
		if s <= last {
			t.Fatalf("round %d: checkpoint at step %d, not past %d", round, s, last)
		}
		if round > 0 && !strings.Contains(out.String(), fmt.Sprintf("learner checkpoint %s (step %d)", ckpt, last)) {
			t.Errorf("round %d did not start from the learner checkpoint at step %d:\n%s", round, last, out.String())
		}
		t.Logf("round %d: killed; checkpoint at step %d loads", round, s)
		last = s
	}
	// A last run stops cleanly: the shutdown checkpoint continues the count.
	var out bytes.Buffer
	cmd := exec.Command(bin, "run", "-f", launchFile, "--duration", "3s")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), fmt.Sprintf("(step %d)", last)) {
		t.Errorf("the last run did not resume at step %d:\n%s", last, out.String())
	}
	if s := steps(); s < last {
		t.Errorf("shutdown checkpoint at step %d, below %d", s, last)
	}
}
