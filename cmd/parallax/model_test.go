package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parallax-robotics/parallax/assets"
	"github.com/parallax-robotics/parallax/fleet"
	"github.com/parallax-robotics/parallax/fleet/fleettest"
	"github.com/parallax-robotics/parallax/perception"
)

// TestModelCommands: push, list, promote, pull (byte for byte), rollback
// and the history through the command line, on a real JetStream server.
func TestModelCommands(t *testing.T) {
	cl := fleettest.Start(t, 1)
	dir := t.TempDir()
	a := filepath.Join(dir, "a.ckpt")
	if err := os.WriteFile(a, assets.DemoCheckpoint(), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := perception.ParseCheckpoint(assets.DemoCheckpoint())
	if err != nil {
		t.Fatal(err)
	}
	c.Header.Meta.Steps = 7
	b := filepath.Join(dir, "b.ckpt")
	if err := perception.WriteCheckpoint(b, c.Header, c.Sections...); err != nil {
		t.Fatal(err)
	}
	bdata, _ := os.ReadFile(b)
	da, db := fleet.Digest(assets.DemoCheckpoint()), fleet.Digest(bdata)
	run := func(args ...string) string {
		t.Helper()
		var so, se bytes.Buffer
		if err := dispatch(context.Background(), append(args, "--nats", cl.URL()), &so, &se); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, se.String())
		}
		return so.String()
	}
	if out := run("model", "push", "street", a, "--trained-on", "demo", "--samples", "6000", "--score", "0.2", "--score-name", "abs_rel", "--promote"); !strings.Contains(out, "pushed street "+da) || !strings.Contains(out, "promoted street") {
		t.Errorf("push a: %s", out)
	}
	if out := run("model", "push", "street", a); !strings.Contains(out, "already in the registry") {
		t.Errorf("push a again: %s", out)
	}
	run("model", "push", "street", b)
	out := run("model", "list", "street")
	if !strings.Contains(out, "*  "+fleet.ShortDigest(da)) || !strings.Contains(out, fleet.ShortDigest(db)) || !strings.Contains(out, "0.2 abs_rel") {
		t.Errorf("list:\n%s", out)
	}
	if out := run("model", "promote", "street", fleet.ShortDigest(db)[:8], "--reason", "newer"); !strings.Contains(out, "street now serves "+fleet.ShortDigest(db)) {
		t.Errorf("promote: %s", out)
	}
	got := filepath.Join(dir, "got.ckpt")
	run("model", "pull", "street", "-o", got)
	if data, _ := os.ReadFile(got); !bytes.Equal(data, bdata) {
		t.Error("pulled bytes differ from b")
	}
	if out := run("model", "rollback", "street", "--reason", "worse at dusk"); !strings.Contains(out, "rolled back to "+fleet.ShortDigest(da)) {
		t.Errorf("rollback: %s", out)
	}
	out = run("model", "list", "street", "--history")
	if strings.Count(out, "promote") != 2 || !strings.Contains(out, "rollback") || !strings.Contains(out, "worse at dusk") {
		t.Errorf("history:\n%s", out)
	}
	if out := run("model", "list"); !strings.Contains(out, "street  2         "+fleet.ShortDigest(da)) {
		t.Errorf("families:\n%s", out)
	}
	var so, se bytes.Buffer
	err = dispatch(context.Background(), []string{"model", "promote", "street", "0123456789", "--nats", cl.URL()}, &so, &se)
	if err == nil || !strings.Contains(err.Error(), "no version") {
		t.Errorf("promoting an unknown version: %v", err)
	}
}
