package torchtest

import (
	"runtime"
	"testing"

	"github.com/parallax-robotics/parallax/internal/python"
)

// LockThread pins the test goroutine to its OS thread until the test ends:
// libtorch's grad mode and gotch's error slot are per thread.
func LockThread(t testing.TB) {
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
}

// Python finds a python3 that imports torch (python.Torch). A missing
// torch fails the test: the PyTorch references are part of the build's
// promises.
func Python(t testing.TB) string {
	t.Helper()
	py, err := python.Torch()
	if err != nil {
		t.Fatal(err)
	}
	return py
}
