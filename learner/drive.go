package learner

import (
	"container/list"
	"errors"
	"fmt"
	"sync"

	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/msgs"
)

var (
	// ErrDrive is returned for a frame index a drive does not have, a view
	// it does not record, or a drive that cannot make the samples asked for.
	ErrDrive = errors.New("learner: drive")
)

// Drive is random access to a recorded or synthetic drive: frame i of each
// view, with ground truth when the source knows it. Implementations must be
// safe for concurrent use.
type Drive interface {
	// Len is the number of frames, or 0 for an endless drive (synthetic).
	Len() int
	// Stereo reports whether Frame returns a right view.
	Stereo() bool
	// Baseline is the stereo baseline in metres (right camera centre at
	// +Baseline along the left camera's x axis); 0 for a mono drive.
	Baseline() float64
	// Frame returns frame i of the left (or only) view and, for a stereo
	// drive, of the right view (nil when mono).
	Frame(i int) (left, right *msgs.Frame, err error)
}

// synthDrive wraps a synth.World: frames are rendered on demand, a pure
// function of the config and the index.
type synthDrive struct {
	w *synth.World
}

// SynthDrive makes an endless Drive of the synthetic world cfg (see
// synth.Config; synth.ParseURL reads a synth:// URL into one). Frames are
// rendered on every call (about 10 ms for 320x96 on one core); wrap it in
// CacheDrive when the same frames are used many times.
func SynthDrive(cfg synth.Config) (Drive, error) {
	w, err := synth.NewWorld(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDrive, err)
	}
	return &synthDrive{w: w}, nil
}

func (d *synthDrive) Len() int          { return 0 }
func (d *synthDrive) Stereo() bool      { return d.w.Config().Stereo }
func (d *synthDrive) Baseline() float64 { return d.baseline() }

func (d *synthDrive) baseline() float64 {
	if !d.w.Config().Stereo {
		return 0
	}
	return d.w.Config().Baseline
}

func (d *synthDrive) Frame(i int) (left, right *msgs.Frame, err error) {
	if i < 0 {
		return nil, nil, fmt.Errorf("%w: frame %d", ErrDrive, i)
	}
	l, r := d.w.Render(i)
	return l, r, nil
}

// cacheDrive keeps the most recently used frames of another drive.
type cacheDrive struct {
	d   Drive
	cap int

	mu    sync.Mutex
	ll    *list.List // of *cacheEntry, most recent first
	index map[int]*list.Element
}

type cacheEntry struct {
	i           int
	left, right *msgs.Frame
}

// CacheDrive wraps d with a least-recently-used cache of up to n frames (of
// both views): training draws the same frames again and again, and a
// synthetic frame costs far more to render than to keep (320x96 stereo with
// ground truth: about 0.4 MB a frame). Frames are shared between callers:
// treat them as read-only.
func CacheDrive(d Drive, n int) (Drive, error) {
	if d == nil {
		return nil, fmt.Errorf("%w: nil drive", ErrDrive)
	}
	if n < 1 {
		return nil, fmt.Errorf("%w: cache of %d frames (want at least 1)", ErrDrive, n)
	}
	return &cacheDrive{d: d, cap: n, ll: list.New(), index: make(map[int]*list.Element)}, nil
}

func (c *cacheDrive) Len() int          { return c.d.Len() }
func (c *cacheDrive) Stereo() bool      { return c.d.Stereo() }
func (c *cacheDrive) Baseline() float64 { return c.d.Baseline() }

func (c *cacheDrive) Frame(i int) (left, right *msgs.Frame, err error) {
	c.mu.Lock()
	if e, ok := c.index[i]; ok {
		c.ll.MoveToFront(e)
		ce := e.Value.(*cacheEntry)
		c.mu.Unlock()
		return ce.left, ce.right, nil
	}
	c.mu.Unlock()
	// Render outside the lock; two callers of one index both render, the
	// second insert is dropped.
	left, right, err = c.d.Frame(i)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.index[i]; !ok {
		c.index[i] = c.ll.PushFront(&cacheEntry{i: i, left: left, right: right})
		for c.ll.Len() > c.cap {
			e := c.ll.Back()
			c.ll.Remove(e)
			delete(c.index, e.Value.(*cacheEntry).i)
		}
	}
	return left, right, nil
}

// SampleNeeds reports which neighbours a sample of mode needs: the previous
// and next frame (mono, both) and the right view (stereo, both).
func SampleNeeds(mode Mode) (temporal, stereo bool) {
	return mode == ModeMono || mode == ModeBoth, mode == ModeStereo || mode == ModeBoth
}

// Samples builds the training Sample of mode centred on frame i of d: the
// target is frame i's left view, Prev and Next frames i-1 and i+1 (mono,
// both), Right frame i's right view with the drive's baseline (stereo,
// both). It returns ErrDrive when d cannot provide them: a mono drive for a
// stereo mode, or i at (or past) either end of a finite drive.
func Samples(d Drive, mode Mode, i int) (Sample, error) {
	if d == nil {
		return Sample{}, fmt.Errorf("%w: nil drive", ErrDrive)
	}
	if err := mode.valid(); err != nil {
		return Sample{}, err
	}
	temporal, stereo := SampleNeeds(mode)
	if stereo && !d.Stereo() {
		return Sample{}, fmt.Errorf("%w: mode %s needs a stereo drive", ErrDrive, mode)
	}
	lo, hi := 0, d.Len()-1 // hi < 0: endless
	if temporal {
		lo++
		hi--
	}
	if i < lo || (d.Len() > 0 && i > hi) {
		if d.Len() > 0 {
			return Sample{}, fmt.Errorf("%w: sample %d of a %d-frame drive in mode %s (want %d..%d)", ErrDrive, i, d.Len(), mode, lo, hi)
		}
		return Sample{}, fmt.Errorf("%w: sample %d in mode %s (want at least %d)", ErrDrive, i, mode, lo)
	}
	var s Sample
	l, r, err := d.Frame(i)
	if err != nil {
		return Sample{}, fmt.Errorf("%w: frame %d: %w", ErrDrive, i, err)
	}
	s.Target = l
	if stereo {
		if r == nil {
			return Sample{}, fmt.Errorf("%w: frame %d has no right view", ErrDrive, i)
		}
		s.Right, s.Baseline = r, d.Baseline()
	}
	if temporal {
		if s.Prev, _, err = d.Frame(i - 1); err != nil {
			return Sample{}, fmt.Errorf("%w: frame %d: %w", ErrDrive, i-1, err)
		}
		if s.Next, _, err = d.Frame(i + 1); err != nil {
			return Sample{}, fmt.Errorf("%w: frame %d: %w", ErrDrive, i+1, err)
		}
	}
	return s, nil
}

// Batch builds one Sample per index (Samples for each).
func Batch(d Drive, mode Mode, idx []int) ([]Sample, error) {
	out := make([]Sample, 0, len(idx))
	for _, i := range idx {
		s, err := Samples(d, mode, i)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// SampleRange is the range of centre indices Samples accepts for mode on
// d, lo..hi inclusive; hi is -1 for an endless drive.
func SampleRange(d Drive, mode Mode) (lo, hi int) {
	temporal, _ := SampleNeeds(mode)
	hi = -1
	if d.Len() > 0 {
		hi = d.Len() - 1
	}
	if temporal {
		lo = 1
		if hi >= 0 {
			hi--
		}
	}
	return lo, hi
}
