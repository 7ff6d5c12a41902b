package record

import "errors"

// Errors returned by the package; each is wrapped with the details (the
// file, the topic, the offset), so test with errors.Is.
var (
	// ErrClosed is returned by Write after Close.
	ErrClosed = errors.New("record: writer closed")
	// ErrNotMCAP reports a file that does not start with the MCAP magic.
	ErrNotMCAP = errors.New("record: not an MCAP file")
	// ErrTruncated reports a recording without its summary section (the
	// writer did not close it: a crash, a power loss, a full disk). Its
	// complete chunks are still readable; Recover rebuilds the index.
	ErrTruncated = errors.New("record: recording truncated")
	// ErrNoIndex reports a recording that OpenFile cannot give random
	// access to: it has no summary section (truncated: Recover, `parallax
	// record recover FILE`, rebuilds it) or no chunk index.
	ErrNoIndex = errors.New("record: recording has no index")
	// ErrCorrupt reports a record that cannot be parsed, or a chunk whose CRC
	// does not match its content.
	ErrCorrupt = errors.New("record: corrupt recording")
	// ErrInvalid reports a bad argument: an empty topic, a nil message, a
	// negative split size.
	ErrInvalid = errors.New("record: invalid argument")
)
