package synth

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/msgs"
)

var _ camera.Source = (*Camera)(nil)

// Camera is a camera.Source that reads successive frames of one view of a
// World: frames First, First+1, ..., frame i stamped StartTime + (i-First)/FPS.
type Camera struct {
	// World is the world to render. It is required.
	World *World
	// View is "left", "right" or "mono". It defaults to "left" for a stereo
	// rig and "mono" otherwise.
	View string
	// Realtime paces Read so that frame i is returned no earlier than
	// StartTime + (i-First)/FPS, for serving a live stream. It defaults to
	// false: frames come as fast as they render.
	Realtime bool
	// StartTime stamps the first frame. It defaults to the time Start is called.
	StartTime time.Time
	// First is the index of the first frame read. It defaults to 0.
	First int
	// Name names the frames (msgs.Frame.Camera). It defaults to the view.
	Name string
	// Frames is the number of frames before Read returns camera.ErrEOF.
	// It defaults to 0: endless.
	Frames int

	mu      sync.Mutex
	started bool
	next    int
	done    chan struct{}
	closed  bool
}

// Camera returns a source of one view ("left", "right" or "mono"; "" picks
// the default view). It is not started.
func (w *World) Camera(view string, realtime bool) *Camera {
	return &Camera{World: w, View: view, Realtime: realtime}
}

// Start checks the view and fills the defaults (no I/O: ctx is not used).
func (c *Camera) Start(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.World == nil {
		return fmt.Errorf("%w: Camera.World is nil", ErrInvalidConfig)
	}
	if c.started {
		return nil
	}
	stereo := c.World.cfg.Stereo
	if c.View == "" {
		c.View = ViewMono
		if stereo {
			c.View = ViewLeft
		}
	}
	if !(c.View == ViewLeft || (c.View == ViewRight && stereo) || (c.View == ViewMono && !stereo)) {
		return viewError(c.View, stereo)
	}
	if c.First < 0 || c.Frames < 0 {
		return fmt.Errorf("%w: Camera.First %d and Camera.Frames %d must not be negative", ErrInvalidConfig, c.First, c.Frames)
	}
	if c.StartTime.IsZero() {
		c.StartTime = time.Now()
	}
	c.next = c.First
	c.done = make(chan struct{})
	c.started = true
	return nil
}

// Read renders and returns the next frame. Seq counts from 0 at First. Read
// is called from one goroutine at a time, as camera.Source says.
func (c *Camera) Read(ctx context.Context) (*msgs.Frame, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, camera.ErrClosed
	}
	if !c.started {
		c.mu.Unlock()
		return nil, fmt.Errorf("synth: Read before Start")
	}
	i := c.next
	if c.Frames > 0 && i-c.First >= c.Frames {
		c.mu.Unlock()
		return nil, camera.ErrEOF
	}
	done := c.done
	c.mu.Unlock()

	offset := time.Duration(float64(i-c.First) / c.World.cfg.FPS * float64(time.Second))
	stamp := c.StartTime.Add(offset)
	if c.Realtime {
		if wait := time.Until(stamp); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return nil, ctx.Err()
			case <-done:
				timer.Stop()
				return nil, camera.ErrClosed
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := c.World.RenderView(c.View, i)
	if err != nil {
		return nil, err
	}
	f.Seq = uint64(i - c.First)
	f.Stamp = stamp
	if c.Name != "" {
		f.Camera = c.Name
	}
	// Advance only on success: a cancelled Read does not drop a frame.
	c.mu.Lock()
	c.next = i + 1
	c.mu.Unlock()
	return f, nil
}

// Close stops the source and unblocks a pending Read. It is safe to call
// more than once.
func (c *Camera) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		if c.done != nil {
			close(c.done)
		}
	}
	return nil
}
