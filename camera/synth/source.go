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
	// MaxLag is how late, in Realtime mode, a frame may be before Read skips
	// it and every frame after it up to the one due now, as a real sensor
	// drops the frames nobody took: without it a renderer that falls behind
	// the clock (a starved CPU) serves ever older frames, and the latency a
	// consumer measures from the stamps is the renderer's lag. The views of
	// one World skip to the same frame, so a stereo pair stays paired. Seq
	// shows the gap; Skipped counts the frames. It defaults to 0: never
	// skip, so that runs on a loaded machine still see every frame index in
	// order (tests comparing runs frame by frame); a served camera (`parallax
	// camera serve`, the demo's) sets DefaultMaxLag.
	MaxLag time.Duration
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
	skipped int
	done    chan struct{}
	closed  bool
}

// DefaultMaxLag is the Camera.MaxLag of a served synthetic camera: a few
// frames of any rate, so that scheduling jitter never skips a frame and a
// starved renderer does.
const DefaultMaxLag = 500 * time.Millisecond

// pace is the frame the realtime cameras of one World last skipped to.
type pace struct {
	mu sync.Mutex
	to int
}

// align returns the frame a view reads next: i, or the frame another view
// of the world skipped to when that is later. skipped says that this view
// itself skips to i, which the others then follow.
func (p *pace) align(i int, skipped bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if skipped && i > p.to {
		p.to = i
	}
	return max(i, p.to)
}

// Skipped is the number of frames a Realtime camera skipped because they
// were more than MaxLag late.
func (c *Camera) Skipped() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.skipped
}

// stamp is frame i's time.
func (c *Camera) stamp(i int) time.Time {
	return c.StartTime.Add(time.Duration(float64(i-c.First) / c.World.cfg.FPS * float64(time.Second)))
}

// catchUp returns the frame a Realtime camera reads instead of frame i: i
// itself while it is at most MaxLag late, else the frame due now; either
// way no earlier than where another view of the world skipped to.
func (c *Camera) catchUp(i int) int {
	lag := c.MaxLag
	if lag <= 0 {
		return i
	}
	late := time.Since(c.stamp(i)) > lag
	if late {
		i = max(i, c.First+int(time.Since(c.StartTime).Seconds()*c.World.cfg.FPS))
	}
	return c.World.pace.align(i, late)
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
	if c.Realtime {
		i = c.catchUp(i)
	}
	if c.Frames > 0 && i-c.First >= c.Frames {
		c.mu.Unlock()
		return nil, camera.ErrEOF
	}
	done := c.done
	c.mu.Unlock()

	stamp := c.stamp(i)
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
	c.skipped += i - c.next
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
