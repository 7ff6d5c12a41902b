package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/perception"
)

// TestPretrainResumeAndInitEncoder: a short real MoCo pre-training run
// writes a checkpoint with the method and its queue, prints the held-out
// curve and a TTY-free progress; --resume continues to the new total; a
// depth training run starts its encoder from it (--init-encoder), and its
// initial weights hold the pre-trained encoder's.
func TestPretrainResumeAndInitEncoder(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "moco.ckpt")
	args := []string{"pretrain", "--source", "synth://?seed=3&width=128&height=64", "--method", "moco", "--steps", "2",
		"--size", "128x64", "--batch", "4", "--queue", "8", "--frames", "20", "--out", out, "--eval-every", "2",
		"--eval-source", "synth://?seed=11&style=suburb&width=128&height=64", "--eval-frames", "4", "--threads", "1"}
	var so, se bytes.Buffer
	if err := dispatch(context.Background(), args, &so, &se); err != nil {
		t.Fatalf("%v\n%s", err, se.String())
	}
	t.Logf("stdout:\n%s\nstderr:\n%s", so.String(), se.String())
	if got := ckptSteps(t, out); got != 2 {
		t.Errorf("checkpoint at step %d, want 2", got)
	}
	rows := strings.Split(strings.TrimSpace(so.String()), "\n")
	if len(rows) != 3 || !strings.Contains(rows[0], "heldout_loss") || !strings.HasPrefix(strings.TrimSpace(rows[2]), "2 ") {
		t.Errorf("curve rows %q: want a header and steps 0, 2", rows)
	}
	if strings.Contains(se.String(), "\r") || !strings.Contains(se.String(), "pretrain: step 2/2") {
		t.Errorf("stderr is not a TTY-free progress with step 2/2: %q", se.String())
	}
	c, err := perception.ReadCheckpoint(out)
	if err != nil {
		t.Fatal(err)
	}
	if c.Header.Meta.Values["method"] != "moco" {
		t.Errorf("meta %v: want method moco", c.Header.Meta.Values)
	}
	if _, ok := c.Section(learner.SectionObjective); !ok {
		t.Error("no MoCo state (objective section) in the checkpoint")
	}
	// Not overwritten without --resume; another method refused on resume.
	if err := dispatch(context.Background(), args, &so, &se); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("overwrite without --resume: %v", err)
	}
	// Resumed runs take the size from the checkpoint.
	resumed := append(append([]string{}, args[:7]...), args[9:]...)
	wrong := append(append([]string{}, resumed...), "--resume")
	wrong[4] = "simclr"
	if err := dispatch(context.Background(), wrong, &so, &se); err == nil || !strings.Contains(err.Error(), "moco") {
		t.Errorf("resume with another method: %v", err)
	}
	more := append(append([]string{}, resumed...), "--resume")
	more[6] = "3"
	so.Reset()
	if err := dispatch(context.Background(), more, &so, &se); err != nil {
		t.Fatalf("resume: %v\n%s", err, se.String())
	}
	if got := ckptSteps(t, out); got != 3 {
		t.Errorf("resumed checkpoint at step %d, want 3", got)
	}

	depth := filepath.Join(dir, "depth.ckpt")
	se.Reset()
	targs := []string{"train", "--source", trainSource, "--mode", "stereo", "--steps", "0", "--size", "128x64",
		"--init-encoder", out, "--out", depth, "--threads", "1"}
	if err := dispatch(context.Background(), targs, &so, &se); err != nil {
		t.Fatalf("train --init-encoder: %v\n%s", err, se.String())
	}
	if !strings.Contains(se.String(), "depth encoder from "+out) {
		t.Errorf("stderr %q: want the encoder's origin", se.String())
	}
	// The depth checkpoint's encoder variables are the pre-trained ones.
	src, dst := weightsOf(t, out), weightsOf(t, depth)
	n := 0
	for name, v := range dst {
		rest, ok := strings.CutPrefix(name, perception.NetDepth+".enc")
		if !ok {
			continue
		}
		p, ok := src[perception.NetEncoder+".enc"+rest]
		if !ok || !floatsEqual(p, v) {
			t.Errorf("%s differs from the pre-trained encoder's", name)
		}
		n++
	}
	if n == 0 {
		t.Errorf("no encoder variables in %v", len(dst))
	}
	// Bad input: a missing file, a checkpoint without an encoder of the size.
	bad := append(append([]string{}, targs...), "--force")
	bad[len(bad)-6] = filepath.Join(dir, "nope.ckpt")
	if err := dispatch(context.Background(), bad, &so, &se); err == nil || !strings.Contains(err.Error(), "--init-encoder") {
		t.Errorf("missing --init-encoder file: %v", err)
	}
	bad = append(append([]string{}, targs...), "--force", "--net", "default")
	if err := dispatch(context.Background(), bad, &so, &se); err == nil || !strings.Contains(err.Error(), "encoder size") {
		t.Errorf("--init-encoder of another size: %v", err)
	}
}

// weightsOf loads a checkpoint's model and returns its variables by name.
func weightsOf(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	w, err := perception.NewWorker(1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	err = w.Do(func() error {
		m, _, err := perception.LoadModel(path, gotch.CPU)
		if err != nil {
			return err
		}
		defer m.Close()
		for _, nv := range m.NamedVariables() {
			v, err := perception.TensorFloat32s(nv.Tensor)
			if err != nil {
				return err
			}
			out[nv.Name] = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func floatsEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
