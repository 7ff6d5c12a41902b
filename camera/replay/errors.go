package replay

import (
	"errors"

	"github.com/parallax-robotics/parallax/record"
)

// Errors returned by the package, wrapped with the file, the camera or the
// key at fault; test with errors.Is.
var (
	// ErrURL reports a malformed mcap:// or kitti:// URL or query key.
	ErrURL = errors.New("replay: invalid URL")
	// ErrNoIndex reports a recording without its summary section (not
	// closed by its writer): random access needs the index, and the error
	// says to run `parallax record recover FILE`. It is record.ErrNoIndex.
	ErrNoIndex = record.ErrNoIndex
	// ErrCorrupt reports a recording whose index, chunks or messages
	// cannot be read, or a file that is not MCAP at all. It is
	// record.ErrCorrupt.
	ErrCorrupt = record.ErrCorrupt
	// ErrNoCamera reports a camera the recording does not hold.
	ErrNoCamera = errors.New("replay: no such camera in the recording")
	// ErrRange reports a frame index outside the recording.
	ErrRange = errors.New("replay: frame index out of range")
	// ErrEmpty reports a recording (or a start/end window) with no frames.
	ErrEmpty = errors.New("replay: no frames")
	// ErrRectified reports a calibration given to a recorded camera whose
	// frames the recording node rectified already (metadata "rectified"):
	// rectifying them again would distort them.
	ErrRectified = errors.New("replay: the recorded frames are rectified already")
)
