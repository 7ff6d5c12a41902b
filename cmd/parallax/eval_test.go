package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/perception"
	"github.com/sugarme/gotch"
)

// evalCheckpoint saves an untrained small 128x64 model and returns its path.
func evalCheckpoint(t *testing.T) string {
	t.Helper()
	w, err := perception.NewWorker(1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	path := filepath.Join(t.TempDir(), "small.ckpt")
	err = w.Do(func() error {
		m, err := perception.NewModel(perception.DepthPose(128, 64, perception.DepthConfig{Size: perception.SizeSmall}, perception.PoseConfig{Size: perception.SizeSmall}), gotch.CPU)
		if err != nil {
			return err
		}
		defer m.Close()
		return m.Save(path, perception.CheckpointMeta{Steps: 0})
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

const evalSource = "synth://?seed=7&stereo=1&width=160&height=64"

func TestEvalTableAndJSON(t *testing.T) {
	ckpt := evalCheckpoint(t)
	var out, errb bytes.Buffer
	if err := dispatch(context.Background(), []string{"eval", "--checkpoint", ckpt, "--source", evalSource, "--frames", "6"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	t.Logf("\n%s", out.String())
	for _, want := range []string{"abs_rel |   sq_rel |     rmse | rmse_log |       a1 |       a2 |       a3 |", "\nmono     &", "\nmetric   &", "depth compared at 128x64", "ATE (5-frame snippets, 2)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if !strings.Contains(errb.String(), "--checkpoint is deprecated and will go: use --model") {
		t.Errorf("the old spelling --checkpoint gave no note: %s", errb.String())
	}
	if !strings.Contains(errb.String(), "eval: frame 6/6\n") {
		t.Errorf("no progress on stderr: %q", errb.String())
	}

	out.Reset()
	if err := dispatch(context.Background(), []string{"eval", "--model", ckpt, "--source", evalSource, "--frames", "6", "--json"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	var rep learner.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out.String())
	}
	if rep.Frames != 6 || rep.Width != 128 || rep.Height != 64 || rep.Mono.Images != 6 || rep.Metric.Scale != 1 ||
		!(rep.Mono.AbsRel > 0) || math.IsNaN(rep.ATE.Mean) || rep.Source != evalSource {
		t.Errorf("JSON report %+v", rep)
	}
	for _, key := range []string{`"abs_rel"`, `"rmse_log"`, `"a3"`, `"ate"`, `"drift_scaled"`} {
		if !bytes.Contains(out.Bytes(), []byte(key)) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

func TestEvalUntrainedBaseline(t *testing.T) {
	var out, errb bytes.Buffer
	err := dispatch(context.Background(), []string{"eval", "--model", "random", "--width", "64", "--height", "64", "--source", "synth://?seed=8&width=64&height=64", "--frames", "5", "--json"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var rep learner.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Width != 64 || rep.Height != 64 || rep.Frames != 5 {
		t.Errorf("report %+v", rep)
	}
}

func TestEvalErrors(t *testing.T) {
	ckpt := evalCheckpoint(t)
	garbage := filepath.Join(t.TempDir(), "garbage.ckpt")
	if err := os.WriteFile(garbage, []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		usage bool   // want errUsage
		want  string // in the error
	}{
		{"no checkpoint flag", []string{}, true, ""},
		{"extra argument", []string{"--model", ckpt, "x"}, true, ""},
		{"missing checkpoint", []string{"--model", "/nonexistent/x.ckpt"}, false, "/nonexistent/x.ckpt"},
		{"garbage checkpoint", []string{"--model", garbage}, false, "garbage.ckpt"},
		{"mismatched width", []string{"--model", ckpt, "--width", "320"}, false, "--width 320 but the checkpoint's is 128"},
		{"mismatched size", []string{"--model", ckpt, "--size", "default"}, false, "--size default but the checkpoint's networks are depth small, pose small"},
		{"bad source", []string{"--model", ckpt, "--source", "synth://?sed=7"}, false, `unknown key "sed"`},
		{"live stream", []string{"--model", ckpt, "--source", "rtsp://cam/x"}, false, "live stream, not a drive"},
		{"unknown scheme", []string{"--model", ckpt, "--source", "gopher://cam/x"}, false, "scheme"},
		{"bad baseline size", []string{"--model", "random", "--width", "100"}, false, "input 100x96"},
		{"one frame", []string{"--model", ckpt, "--frames", "1", "--snippet", "1"}, false, "frames"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := dispatch(context.Background(), append([]string{"eval"}, tc.args...), &out, &errb)
			if err == nil {
				t.Fatalf("no error; stdout %q", out.String())
			}
			if tc.usage != errors.Is(err, errUsage) {
				t.Fatalf("err %v, usage error %v", err, tc.usage)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
}
