package perception

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/sugarme/gotch/ts"
)

var (
	// ErrWorkerClosed is returned by Do after Close.
	ErrWorkerClosed = errors.New("perception: worker closed")
	// ErrPanic wraps a panic raised inside a closure run by a Worker. Note
	// that gotch v0.7.0's Must* functions do not panic: they call log.Fatal,
	// which ends the process; use the error-returning variants.
	ErrPanic = errors.New("perception: panic in torch closure")
	// ErrThreads is returned for a thread count below 1.
	ErrThreads = errors.New("perception: thread count must be at least 1")
)

// tuneOnce applies TuneMalloc once per process: mallopt settings are global,
// and the first worker is created before the first tensor.
var (
	tuneOnce sync.Once
	tuneErr  error
)

// Worker runs torch closures on one goroutine locked to one OS thread.
//
// libtorch keeps grad mode, and gotch its error slot, per OS thread: torch
// work from goroutines that the Go scheduler moves between threads fails at
// random. A Worker owns a thread for its whole life; callers hand it
// closures with Do, from any goroutine.
//
// Several workers may exist (inference and learner, say). Each sets its own
// thread count with at::set_num_threads, which with libtorch's OpenMP backend
// is the size of the parallel team for ops started from that thread; the
// OpenMP/MKL worker threads and the machine's cores are shared by the whole
// process, so two busy workers with 2 threads each on 2 cores slow each
// other down: size them together.
type Worker struct {
	jobs    chan job
	quit    chan struct{}
	done    chan struct{}
	threads int
	once    sync.Once
}

type job struct {
	f   func() error
	res chan error
}

// NewWorker starts a worker whose ops use threads intra-op threads.
// The first call in a process also applies TuneMalloc.
func NewWorker(threads int) (*Worker, error) {
	if threads < 1 {
		return nil, fmt.Errorf("%w: got %d", ErrThreads, threads)
	}
	tuneOnce.Do(func() { tuneErr = TuneMalloc() })
	if tuneErr != nil {
		return nil, tuneErr
	}
	w := &Worker{
		jobs:    make(chan job),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		threads: threads,
	}
	started := make(chan error, 1)
	go w.loop(started)
	if err := <-started; err != nil {
		<-w.done
		return nil, err
	}
	return w, nil
}

// Threads returns the intra-op thread count the worker was made with.
func (w *Worker) Threads() int { return w.threads }

func (w *Worker) loop(started chan<- error) {
	// Never unlocked: when this goroutine returns, Go ends the thread with
	// it, so no other goroutine inherits its torch thread state.
	runtime.LockOSThread()
	defer close(w.done)
	if err := ts.SetNumThreads(w.threads); err != nil {
		started <- fmt.Errorf("perception: worker: %w", err)
		return
	}
	started <- nil
	for {
		select {
		case j := <-w.jobs:
			j.res <- run(j.f)
		case <-w.quit:
			return
		}
	}
}

// run calls f, turning a panic into an error. After a panic grad mode is
// switched back on: a closure that panicked inside a no-grad section would
// otherwise leave the thread in no-grad mode for every later job.
func run(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			_, _ = ts.GradSetEnabled(true)
			err = fmt.Errorf("%w: %v\n%s", ErrPanic, r, debug.Stack())
		}
	}()
	return f()
}

// NoGrad runs f with autograd off (inference, weight updates) and switches
// it back on afterwards; call it inside Worker.Do.
// Grad mode is on on worker threads outside such sections; nesting them is
// not supported: gotch v0.7.0's GradSetEnabled returns an unreliable
// previous state (it reads a 4-byte C int as an 8-byte Go int), so the
// state cannot be saved and restored.
func NoGrad(f func() error) error {
	if _, err := ts.GradSetEnabled(false); err != nil {
		return err
	}
	defer ts.GradSetEnabled(true)
	return f()
}

// Do runs f on the worker's thread and returns its error; a panic in f is
// returned as an error wrapping ErrPanic and the worker keeps running
// (gotch's Must* functions exit the process instead of panicking: avoid
// them in closures). Do
// blocks until f returns. It must not be called from inside a closure run by
// the same worker (that deadlocks). f must leave grad mode as it found it
// (enabled).
func (w *Worker) Do(f func() error) error {
	if f == nil {
		return errors.New("perception: worker: nil closure")
	}
	j := job{f: f, res: make(chan error, 1)}
	select {
	case w.jobs <- j:
	case <-w.quit:
		return ErrWorkerClosed
	}
	return <-j.res
}

// Close waits for the running closure, if any, and stops the worker. Later
// calls to Do return ErrWorkerClosed. Close is safe to call more than once.
func (w *Worker) Close() {
	w.once.Do(func() { close(w.quit) })
	<-w.done
}
