package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/parallax-robotics/parallax/perception"
	"github.com/sugarme/gotch"
)

const trainSource = "synth://?seed=3&stereo=1&width=128&height=64"

func ckptSteps(t *testing.T, path string) int64 {
	t.Helper()
	c, err := perception.ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Section("optim"); !ok {
		t.Fatalf("%s has no optimizer state", path)
	}
	return c.Header.Meta.Steps
}

// TestTrainRunResumeCurve: a short real run in mode both writes a
// resumable checkpoint, prints a learning-curve row per --eval-every and a
// TTY-free progress on stderr; --resume continues to the new total.
func TestTrainRunResumeCurve(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.ckpt")
	args := []string{"train", "--source", trainSource, "--mode", "both", "--steps", "4", "--size", "128x64",
		"--batch", "1", "--out", out, "--eval-every", "2", "--eval-frames", "4", "--save-every", "2", "--threads", "1"}
	var so, se bytes.Buffer
	if err := dispatch(context.Background(), args, &so, &se); err != nil {
		t.Fatalf("%v\n%s", err, se.String())
	}
	t.Logf("stdout:\n%s\nstderr:\n%s", so.String(), se.String())
	if got := ckptSteps(t, out); got != 4 {
		t.Errorf("checkpoint at step %d, want 4", got)
	}
	rows := strings.Split(strings.TrimSpace(so.String()), "\n")
	if len(rows) != 4 || !strings.Contains(rows[0], "abs_rel") || !strings.HasPrefix(strings.TrimSpace(rows[1]), "0 ") ||
		!strings.HasPrefix(strings.TrimSpace(rows[3]), "4 ") {
		t.Errorf("curve rows %q: want a header and steps 0, 2, 4", rows)
	}
	if strings.Contains(se.String(), "\r") || !strings.Contains(se.String(), "step 4/4") || !strings.Contains(se.String(), "steps/s") {
		t.Errorf("stderr is not a TTY-free progress with step 4/4: %q", se.String())
	}
	// Without --resume an existing checkpoint is not overwritten.
	var e2 bytes.Buffer
	if err := dispatch(context.Background(), args, &so, &e2); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("overwrite without --resume: %v", err)
	}
	so.Reset()
	se.Reset()
	args2 := []string{"train", "--source", trainSource, "--mode", "both", "--steps", "6", "--batch", "1", "--out", out, "--resume", "--threads", "1"}
	if err := dispatch(context.Background(), args2, &so, &se); err != nil {
		t.Fatalf("resume: %v\n%s", err, se.String())
	}
	if got := ckptSteps(t, out); got != 6 {
		t.Errorf("resumed checkpoint at step %d, want 6", got)
	}
}

// TestTrainUnFlowCurve: --objective unflow trains a flow-only model on a
// world with movers and prints held-out flow rows (EPE, Fl-all, EPE on
// moving pixels, zero flow's EPE) on the default held-out flow world.
// That it learns is TestLearnUnFlow's (learner).
func TestTrainUnFlowCurve(t *testing.T) {
	out := filepath.Join(t.TempDir(), "flow.ckpt")
	args := []string{"train", "--objective", "unflow", "--source", "synth://?seed=3&width=128&height=64&movers=4&fps=10",
		"--size", "128x64", "--batch", "1", "--lr", "1e-3", "--steps", "4", "--eval-every", "2", "--eval-frames", "2",
		"--out", out, "--threads", "1"}
	var so, se bytes.Buffer
	if err := dispatch(context.Background(), args, &so, &se); err != nil {
		t.Fatalf("%v\n%s", err, se.String())
	}
	t.Logf("stdout:\n%s", so.String())
	c, err := perception.ReadCheckpoint(out)
	if err != nil {
		t.Fatal(err)
	}
	if names := c.Header.Arch.Names(); len(names) != 1 || names[0] != perception.NetFlow || c.Header.Meta.Steps != 4 ||
		c.Header.Meta.Values["objective"] != "unflow" {
		t.Errorf("checkpoint: nets %v, step %d, objective %q; want [flow], 4, unflow", names, c.Header.Meta.Steps, c.Header.Meta.Values["objective"])
	}
	rows := strings.Split(strings.TrimSpace(so.String()), "\n")
	if len(rows) != 4 || !strings.Contains(rows[0], "epe_px") || !strings.Contains(rows[0], "zero_epe") {
		t.Fatalf("curve rows %q: want a flow header and steps 0, 2, 4", rows)
	}
	for i, r := range rows[1:] {
		var step int
		var loss, epe, fl, moving, zero float64
		if _, err := fmt.Sscan(r, &step, &loss, &epe, &fl, &moving, &zero); err != nil || step != 2*i ||
			!(epe > 0 && epe < 50) || !(fl >= 0 && fl <= 1) || !(zero > 0) {
			t.Errorf("row %q: step %d epe %v fl %v zero %v (%v)", r, step, epe, fl, zero, err)
		}
	}
}

// cancelWriter cancels a context once it has seen n lines.
type cancelWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	n      int
	cancel context.CancelFunc
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Count(w.buf.String(), "\n") >= w.n {
		w.cancel()
	}
	return len(p), nil
}

// TestTrainInterruptSaves: cancelling (Ctrl-C) mid-run saves the
// checkpoint at the step reached and returns cleanly.
func TestTrainInterruptSaves(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.ckpt")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The header, step 0 and step 1 rows: cancel after the step-1 row.
	so := &cancelWriter{n: 3, cancel: cancel}
	var se bytes.Buffer
	args := []string{"train", "--source", trainSource, "--mode", "stereo", "--steps", "1000", "--size", "128x64",
		"--batch", "1", "--out", out, "--eval-every", "1", "--eval-frames", "2", "--threads", "1"}
	if err := dispatch(ctx, args, so, &se); err != nil {
		t.Fatalf("%v\n%s", err, se.String())
	}
	if !strings.Contains(se.String(), "interrupted at step") {
		t.Errorf("stderr: %q", se.String())
	}
	if got := ckptSteps(t, out); got < 1 || got > 2 {
		t.Errorf("interrupted checkpoint at step %d, want 1 or 2", got)
	}
}

func TestTrainErrors(t *testing.T) {
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists.ckpt")
	if err := os.WriteFile(exists, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "new.ckpt")
	base := func(extra ...string) []string {
		return append([]string{"--source", trainSource, "--steps", "1", "--out", out}, extra...)
	}
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"no out", []string{"--source", trainSource}, true, ""},
		{"bad mode", base("--mode", "sideways"), true, ""},
		{"bad size", base("--size", "100x64"), true, ""},
		{"size not WxH", base("--size", "big"), true, ""},
		{"negative steps", base("--steps", "-1"), true, ""},
		{"zero batch", base("--batch", "0"), true, ""},
		{"bad net", base("--net", "huge"), true, ""},
		{"extra arg", base("x"), true, ""},
		{"resume with size", base("--resume", "--size", "128x64"), true, ""},
		{"live stream", []string{"--source", "rtsp://cam/x", "--out", out}, false, "rtsp:// is a live stream, not a drive"},
		{"unknown scheme", []string{"--source", "gopher://cam/x", "--out", out}, false, `scheme "gopher" is not one of`},
		{"no scheme", []string{"--source", "cam", "--out", out}, false, "no scheme"},
		{"bad synth key", []string{"--source", "synth://?sed=3", "--out", out}, false, `unknown key "sed"`},
		{"mono source for stereo", []string{"--source", "synth://?seed=3", "--mode", "stereo", "--out", out}, false, "needs a stereo source"},
		{"bad eval source", base("--eval-every", "5", "--eval-source", "nope://"), false, "--eval-source"},
		{"exists", []string{"--source", trainSource, "--out", exists}, false, "exists"},
		{"resume missing", base("--resume"), false, "--resume"},
		{"resume garbage", []string{"--source", trainSource, "--out", exists, "--resume"}, false, "exists.ckpt"},
		{"bad objective", base("--objective", "sift"), true, ""},
		{"unflow with mode", base("--objective", "unflow", "--mode", "mono"), true, ""},
		{"unflow with init-encoder", base("--objective", "unflow", "--init-encoder", exists), true, ""},
		{"unflow held out without flow truth", base("--objective", "unflow", "--size", "128x64", "--eval-every", "1",
			"--eval-source", "synth://?seed=3&width=128&height=64"), false, "no optical flow truth"},
		{"unflow held out at another size", base("--objective", "unflow", "--eval-every", "1",
			"--eval-source", "synth://?seed=3&movers=2&width=128&height=64"), false, "compared at the network's size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var so, se bytes.Buffer
			err := dispatch(context.Background(), append([]string{"train"}, tc.args...), &so, &se)
			if err == nil {
				t.Fatalf("no error; stderr %q", se.String())
			}
			if tc.usage != errors.Is(err, errUsage) {
				t.Fatalf("err %v, usage error %v", err, tc.usage)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed run wrote a checkpoint")
	}
}

// TestTrainZeroSteps: --steps 0 writes the untrained weights (a baseline
// for comparisons), with flags after the values as users type them, and
// the same --seed gives the same weights.
func TestTrainZeroSteps(t *testing.T) {
	dir := t.TempDir()
	fp := func(name string, seed string) uint64 {
		out := filepath.Join(dir, name)
		var so, se bytes.Buffer
		if err := dispatch(context.Background(), []string{"train", "--steps", "0", "-o", out, "--source", trainSource, "--size", "128x64", "--seed", seed}, &so, &se); err != nil {
			t.Fatalf("%v\n%s", err, se.String())
		}
		w, err := perception.NewWorker(1)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		var f uint64
		if err := w.Do(func() error {
			m, c, err := perception.LoadModel(out, gotch.CPU)
			if err != nil {
				return err
			}
			defer m.Close()
			if c.Header.Meta.Steps != 0 {
				return fmt.Errorf("%s: %d steps", out, c.Header.Meta.Steps)
			}
			f, err = m.Fingerprint()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return f
	}
	if a, b, c := fp("a.ckpt", "5"), fp("b.ckpt", "5"), fp("c.ckpt", "6"); a != b || a == c {
		t.Errorf("weights of seed 5: %x and %x; seed 6: %x", a, b, c)
	}
}

// FuzzParseSize: --size never panics and accepts only valid input sizes.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"320x96", "640X192", "100x64", "x", "", "64x", "99999999999999999999x64", "-64x64"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, h, err := parseSize(s)
		if err != nil {
			return
		}
		if w%32 != 0 || h%32 != 0 || w < perception.MinInputSize || h < perception.MinInputSize || w > 8192 || h > 8192 {
			t.Fatalf("%q accepted as %dx%d", s, w, h)
		}
	})
}
