package replay

import (
	"fmt"
	"sort"
	"time"

	"github.com/parallax-robotics/parallax/msgs"
)

// Drive is random access to a recording's frames, left and right paired by
// stamp: it satisfies learner.Drive (Len, Stereo, Baseline, Frame) for
// training and evaluation on recordings. Safe for concurrent use.
type Drive struct {
	left, right Stream
	baseline    float64
	tolerance   time.Duration
	close       func() error
}

// NewDrive pairs two streams into a Drive (right nil: mono). A right frame
// pairs with the left frame closest in time when they differ by at most
// half the left stream's median frame period.
func NewDrive(left, right Stream, baseline float64, close func() error) (*Drive, error) {
	if left == nil || left.Len() == 0 {
		return nil, fmt.Errorf("%w: the left stream is empty", ErrEmpty)
	}
	d := &Drive{left: left, right: right, baseline: baseline, close: close, tolerance: time.Millisecond}
	if n := left.Len(); n > 1 {
		dts := make([]time.Duration, 0, n-1)
		for i := 1; i < n; i++ {
			dts = append(dts, left.Stamp(i).Sub(left.Stamp(i-1)))
		}
		sort.Slice(dts, func(i, j int) bool { return dts[i] < dts[j] })
		d.tolerance = max(d.tolerance, dts[len(dts)/2]/2)
	}
	if right == nil {
		d.baseline = 0
	}
	return d, nil
}

// OpenDrive opens the recording named by a mcap:// URL, or a file path,
// as a Drive: the recorded stereo pair, else the camera the URL's camera
// key names, else the only (or first) camera, mono.
func OpenDrive(pathOrURL string) (*Drive, error) {
	path, o := pathOrURL, Options{}
	if len(pathOrURL) > 7 && pathOrURL[:7] == "mcap://" {
		var err error
		if path, o, err = ParseURL(pathOrURL); err != nil {
			return nil, err
		}
	}
	return openDrive(path, o)
}

func openDrive(path string, o Options) (*Drive, error) {
	rec, err := Open(path)
	if err != nil {
		return nil, err
	}
	var left, right Stream
	l, r, stereo := rec.Stereo()
	switch {
	case o.Camera != "":
		left, err = rec.Frames(o.Camera)
	case stereo:
		if left, err = rec.Frames(l); err == nil {
			right, err = rec.Frames(r)
		}
	default:
		left, err = rec.Frames(rec.Cameras()[0])
	}
	if err == nil {
		var d *Drive
		if d, err = NewDrive(left, right, rec.Baseline(), rec.Close); err == nil {
			return d, nil
		}
	}
	rec.Close()
	return nil, err
}

// Len is the number of (left) frames.
func (d *Drive) Len() int { return d.left.Len() }

// Stereo reports whether Frame returns right frames.
func (d *Drive) Stereo() bool { return d.right != nil }

// Baseline is the stereo baseline in metres, 0 when mono.
func (d *Drive) Baseline() float64 { return d.baseline }

// Frame returns left frame i and the right frame closest in time.
func (d *Drive) Frame(i int) (left, right *msgs.Frame, err error) {
	if left, err = d.left.Frame(i); err != nil {
		return nil, nil, err
	}
	if d.right == nil {
		return left, nil, nil
	}
	t := d.left.Stamp(i)
	n := d.right.Len()
	k := sort.Search(n, func(j int) bool { return !d.right.Stamp(j).Before(t) })
	best := -1
	for _, j := range []int{k - 1, k} {
		if j >= 0 && j < n && (best < 0 || d.right.Stamp(j).Sub(t).Abs() < d.right.Stamp(best).Sub(t).Abs()) {
			best = j
		}
	}
	if best < 0 || d.right.Stamp(best).Sub(t).Abs() > d.tolerance {
		return nil, nil, fmt.Errorf("%w: no right frame within %v of left frame %d", ErrRange, d.tolerance, i)
	}
	if right, err = d.right.Frame(best); err != nil {
		return nil, nil, err
	}
	return left, right, nil
}

// Close releases the recording.
func (d *Drive) Close() error {
	if d.close != nil {
		return d.close()
	}
	return nil
}
