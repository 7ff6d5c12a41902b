package learner

import (
	"errors"
	"fmt"

	"github.com/parallax-robotics/parallax/camera"
)

// ErrDrive is returned for a drive that cannot make the samples asked for:
// a mono drive for an objective that needs the right view, or an index at
// (or past) either end of a finite drive.
var ErrDrive = errors.New("learner: drive")

// NewSample builds the training Sample centred on frame i of d with the
// frames needs asks for: the target is frame i's left view, Prev and Next
// frames i-1 and i+1, Right frame i's right view with the drive's baseline.
func NewSample(d camera.Drive, needs Needs, i int) (Sample, error) {
	if d == nil {
		return Sample{}, fmt.Errorf("%w: nil drive", ErrDrive)
	}
	if needs.Right && !d.Stereo() {
		return Sample{}, fmt.Errorf("%w: the objective needs a stereo drive", ErrDrive)
	}
	lo, hi := SampleRange(d, needs)
	if i < lo || (hi >= 0 && i > hi) {
		if d.Len() > 0 {
			return Sample{}, fmt.Errorf("%w: sample %d of a %d-frame drive with %s (want %d..%d)", ErrDrive, i, d.Len(), needs, lo, hi)
		}
		return Sample{}, fmt.Errorf("%w: sample %d with %s (want at least %d)", ErrDrive, i, needs, lo)
	}
	var s Sample
	l, r, err := d.Frame(i)
	if err != nil {
		return Sample{}, fmt.Errorf("%w: frame %d: %w", ErrDrive, i, err)
	}
	s.Target = l
	if needs.Right {
		if r == nil {
			return Sample{}, fmt.Errorf("%w: frame %d has no right view", ErrDrive, i)
		}
		s.Right, s.Baseline = r, d.Baseline()
	}
	if needs.Prev {
		if s.Prev, _, err = d.Frame(i - 1); err != nil {
			return Sample{}, fmt.Errorf("%w: frame %d: %w", ErrDrive, i-1, err)
		}
	}
	if needs.Next {
		if s.Next, _, err = d.Frame(i + 1); err != nil {
			return Sample{}, fmt.Errorf("%w: frame %d: %w", ErrDrive, i+1, err)
		}
	}
	return s, nil
}

// NewSamples builds one Sample per index (NewSample for each).
func NewSamples(d camera.Drive, needs Needs, idx []int) ([]Sample, error) {
	out := make([]Sample, 0, len(idx))
	for _, i := range idx {
		s, err := NewSample(d, needs, i)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// SampleRange is the range of centre indices NewSample accepts for needs on
// d, lo..hi inclusive; hi is -1 for an endless drive.
func SampleRange(d camera.Drive, needs Needs) (lo, hi int) {
	hi = -1
	if d.Len() > 0 {
		hi = d.Len() - 1
		if needs.Next {
			hi--
		}
	}
	if needs.Prev {
		lo = 1
	}
	return lo, hi
}
