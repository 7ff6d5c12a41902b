package camera

import (
	"container/list"
	"errors"
	"fmt"
	"sync"

	"github.com/parallax-robotics/parallax/msgs"
)

// ErrDrive is returned for a frame index a drive does not have, or a drive
// that cannot be used as asked.
var ErrDrive = errors.New("camera: drive")

// Drive is random access to a recorded or synthetic drive: frame i of each
// view, with ground truth when the source knows it. Training, evaluation
// and pre-training read drives (OpenDrive opens one by URL); the node reads
// Sources. Implementations must be safe for concurrent use.
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
