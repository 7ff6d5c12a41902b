package camera

import (
	"context"
	"errors"

	"github.com/parallax-robotics/parallax/msgs"
)

// Errors returned by sources. Wrap them with %w so callers can test with errors.Is.
var (
	// ErrClosed is returned by Read after Close.
	ErrClosed = errors.New("camera: source closed")
	// ErrEOF is returned by Read when a finite source (a replay) has no more frames.
	ErrEOF = errors.New("camera: end of stream")
)

// Source produces timestamped frames of one camera.
//
// A Source is started once with Start, read from one goroutine with Read, and
// released with Close, which also unblocks a pending Read. Reconnecting a
// failed live source is the caller's job: Read returns the error, and the
// caller closes the source and starts a new one.
type Source interface {
	// Start connects to or opens the source. Cancelling ctx abandons a
	// connection in progress (Start then returns ctx's error and leaves
	// nothing open); it does not affect the source once started.
	Start(ctx context.Context) error
	// Read blocks until the next frame, the context is done, or the source fails.
	Read(ctx context.Context) (*msgs.Frame, error)
	// Close releases the source. It is safe to call more than once.
	Close() error
}
