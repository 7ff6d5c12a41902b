package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/parallax-robotics/parallax/perception"
)

// runVersion prints what this binary is: the module version and commit it
// was built from, the Go toolchain, the libtorch it runs on and the device
// `device: auto` picks.
func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "", stderr, "parallax version")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	version, commit := "(unknown)", "(unknown)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
		var rev, at, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = ", with uncommitted changes"
				}
			}
		}
		if rev != "" {
			commit = fmt.Sprintf("%s (%s%s)", rev, at, dirty)
		}
	}
	fmt.Fprintf(stdout, "parallax %s\n", version)
	fmt.Fprintf(stdout, "commit   %s\n", commit)
	fmt.Fprintf(stdout, "go       %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(stdout, "libtorch %s\n", perception.TorchVersion())
	w, err := perception.NewWorker(1)
	if err != nil {
		return err
	}
	defer w.Close()
	dev := "cpu"
	if err := w.Do(func() error {
		d, err := perception.ParseDevice("auto")
		if err == nil && d.IsCuda() {
			dev = fmt.Sprintf("cuda:%d", d.Value)
		}
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "device   %s (what device: auto picks)\n", dev)
	return nil
}
