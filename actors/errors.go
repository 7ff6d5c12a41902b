package actors

import "errors"

// Errors returned by the node. They are wrapped with %w and details.
var (
	// ErrNoLaunch is returned by Start when Node.Launch is nil.
	ErrNoLaunch = errors.New("actors: no launch configuration")
	// ErrMaxPayload is returned by Start when a message the node would
	// publish is larger than the NATS server accepts.
	ErrMaxPayload = errors.New("actors: message larger than the NATS server's max_payload")
	// ErrUnsupportedSource is returned by Start for a camera URL scheme the
	// node cannot read yet.
	ErrUnsupportedSource = errors.New("actors: unsupported camera source")
	// ErrNATS is returned when the NATS server cannot be started or reached.
	ErrNATS = errors.New("actors: NATS")
	// ErrStarted is returned by a second Start.
	ErrStarted = errors.New("actors: node already started")
)
