package perception

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// sharedWorker is one 2-thread worker for the package's tests: libtorch's
// thread pools are process-wide, so one worker per test would only add
// threads.
var (
	sharedOnce   sync.Once
	sharedW      *Worker
	sharedWorErr error
)

func testWorker(t testing.TB) *Worker {
	t.Helper()
	sharedOnce.Do(func() { sharedW, sharedWorErr = NewWorker(2) })
	if sharedWorErr != nil {
		t.Fatalf("NewWorker: %v", sharedWorErr)
	}
	return sharedW
}

// onWorker runs f on the shared worker and fails the test on error.
func onWorker(t testing.TB, f func() error) {
	t.Helper()
	if err := testWorker(t).Do(f); err != nil {
		t.Fatal(err)
	}
}

func TestWorkerOneThread(t *testing.T) {
	w, err := NewWorker(1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var tids []int
	var threads int
	for i := 0; i < 20; i++ {
		if err := w.Do(func() error {
			tids = append(tids, syscall.Gettid())
			threads = ts.GetNumThreads()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range tids[1:] {
		if id != tids[0] {
			t.Fatalf("closures ran on threads %v, want one thread", tids)
		}
	}
	if threads != 1 {
		t.Fatalf("GetNumThreads on the worker = %d, want 1", threads)
	}
	if w.Threads() != 1 {
		t.Fatalf("Threads() = %d", w.Threads())
	}
}

func TestWorkerErrorAndPanic(t *testing.T) {
	w, err := NewWorker(1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	sentinel := errors.New("mine")
	if err := w.Do(func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Fatalf("Do returned %v, want the closure's error", err)
	}
	if err := w.Do(func() error { panic("boom") }); !errors.Is(err, ErrPanic) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("panic: Do returned %v, want ErrPanic with boom", err)
	}
	// A runtime panic (nil tensor) inside no-grad mode. (gotch v0.7.0's
	// Must* functions call log.Fatal, which no recover can catch: the
	// package uses the error-returning variants.)
	err = w.Do(func() error {
		if _, err := ts.GradSetEnabled(false); err != nil {
			return err
		}
		var x *ts.Tensor
		_, err := x.Size()
		return err
	})
	if !errors.Is(err, ErrPanic) || !strings.Contains(err.Error(), "nil pointer") {
		t.Fatalf("nil tensor: Do returned %v, want ErrPanic naming the nil pointer", err)
	}
	// The worker survives with grad mode back on and a clean error slot.
	err = w.Do(func() error {
		a, err := ts.Ones([]int64{2, 3}, gotch.Float, gotch.CPU)
		if err != nil {
			return err
		}
		defer a.MustDrop()
		if err := a.RequiresGrad_(true); err != nil {
			return err
		}
		s, err := a.Sum(gotch.Float, false)
		if err != nil {
			return err
		}
		defer s.MustDrop()
		if v := s.Float64Values()[0]; v != 6 {
			return fmt.Errorf("sum after panic = %g", v)
		}
		// Fails with "does not require grad" if grad mode were left off.
		if err := s.Backward(); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after the panics: %v", err)
	}
	if err := w.Do(nil); err == nil {
		t.Fatal("Do(nil) = nil, want an error")
	}
}

func TestWorkerClose(t *testing.T) {
	w, err := NewWorker(1)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.Do(func() error { return nil })
		}()
	}
	wg.Wait()
	w.Close()
	w.Close()
	if err := w.Do(func() error { return nil }); !errors.Is(err, ErrWorkerClosed) {
		t.Fatalf("Do after Close = %v, want ErrWorkerClosed", err)
	}
}

func TestNewWorkerBadThreads(t *testing.T) {
	for _, n := range []int{0, -1} {
		if _, err := NewWorker(n); !errors.Is(err, ErrThreads) {
			t.Fatalf("NewWorker(%d) error = %v, want ErrThreads", n, err)
		}
	}
}
