package torchtest

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// LockThread pins the test goroutine to its OS thread until the test ends:
// libtorch's grad mode and gotch's error slot are per thread.
func LockThread(t testing.TB) {
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
}

// Python finds a python3 that imports torch: $PARALLAX_PYTHON, then python3
// on PATH, then Debian's /usr/bin/python3 (python3-torch, installed by make
// deps). A missing torch fails the test: the PyTorch references are part of
// the build's promises.
func Python(t testing.TB) string {
	t.Helper()
	cands := []string{os.Getenv("PARALLAX_PYTHON"), "python3", "/usr/bin/python3"}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if err := exec.Command(c, "-c", "import torch").Run(); err == nil {
			return c
		}
	}
	t.Fatalf("no python3 with torch (tried %q): run make deps (python3-torch) or set PARALLAX_PYTHON", cands)
	return ""
}
