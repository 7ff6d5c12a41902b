package replay

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/msgs"
)

// Stream is random access to one camera's recorded frames in time order:
// Frames (MCAP) and camera/kitti's views implement it.
type Stream interface {
	// Len is the number of frames.
	Len() int
	// Stamp is frame i's capture time; stamps never decrease.
	Stamp(i int) time.Time
	// Frame decodes frame i.
	Frame(i int) (*msgs.Frame, error)
}

// Player is a camera.Source that plays a Stream: at Rate times real time
// (each frame is released when its stamp, measured from the first frame's,
// divided by Rate, has passed since Epoch), or as fast as the reader takes
// them with Rate 0; from From to To into the recording; once or in a Loop.
// Frames keep their recorded stamps, shifted on each loop by the stream's
// span plus one frame period so stamps keep increasing.
type Player struct {
	// Stream is what is played. It is required.
	Stream Stream
	// Camera, when set, renames the frames. It defaults to "": the
	// recorded name.
	Camera string
	// Rate is the speed: 1 is real time, 2 twice as fast, 0 as fast as
	// possible. It defaults to 0.
	Rate float64
	// Loop restarts from From after the last frame, forever. It defaults
	// to false: Read returns camera.ErrEOF after the last frame.
	Loop bool
	// From and To bound the played part, as offsets from the first frame's
	// stamp. They default to 0: from the first frame, to the last.
	From, To time.Duration
	// Epoch is when the frame at From is due. Sources that must stay in
	// step (a stereo pair) share one. It defaults to the time of Start().
	Epoch time.Time
	// Hold makes Read block after the last frame (until ctx is done or
	// Close) instead of returning camera.ErrEOF: for a pipeline that
	// reconnects a source that ends, and would replay it again. It
	// defaults to false.
	Hold bool
	// OnClose, when set, is called once by Close (to release the file the
	// Stream reads). It defaults to nil.
	OnClose func() error

	mu      sync.Mutex
	started bool
	closed  bool
	done    chan struct{}
	first   int // window [first, last]
	last    int
	period  time.Duration
	k       int // frames emitted
}

// Start checks the options and finds the played window.
func (p *Player) Start(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return fmt.Errorf("replay: Start called twice")
	}
	if p.Stream == nil {
		return fmt.Errorf("replay: Player without a Stream")
	}
	if !(p.Rate >= 0) || p.Rate > 1e6 {
		return fmt.Errorf("%w: rate %g, want 0 (as fast as possible) or a positive speed", ErrURL, p.Rate)
	}
	if p.From < 0 || p.To < 0 || (p.To > 0 && p.To <= p.From) {
		return fmt.Errorf("%w: start %v, end %v: want 0 <= start < end (end 0: to the last frame)", ErrURL, p.From, p.To)
	}
	var err error
	if p.first, p.last, err = Window(p.Stream, p.From, p.To); err != nil {
		return err
	}
	if c := p.last - p.first; c > 0 {
		p.period = p.Stream.Stamp(p.last).Sub(p.Stream.Stamp(p.first)) / time.Duration(c)
	}
	if p.Epoch.IsZero() {
		p.Epoch = time.Now()
	}
	p.done = make(chan struct{})
	p.started = true
	return nil
}

// Window returns the first and last frame of s whose stamps lie from..to
// after the first frame's (to 0: the end).
func Window(s Stream, from, to time.Duration) (first, last int, err error) {
	n := s.Len()
	if n == 0 {
		return 0, 0, fmt.Errorf("%w: the stream is empty", ErrEmpty)
	}
	t0 := s.Stamp(0)
	first, last = -1, -1
	for i := 0; i < n; i++ {
		off := s.Stamp(i).Sub(t0)
		if off < from || (to > 0 && off > to) {
			continue
		}
		if first < 0 {
			first = i
		}
		last = i
	}
	if first < 0 {
		return 0, 0, fmt.Errorf("%w: no frame between %v and %v (the recording spans %v)", ErrEmpty, from, to, s.Stamp(n-1).Sub(t0))
	}
	return first, last, nil
}

// Read returns the next frame, waiting until it is due.
func (p *Player) Read(ctx context.Context) (*msgs.Frame, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, camera.ErrClosed
	}
	if !p.started {
		p.mu.Unlock()
		return nil, fmt.Errorf("replay: Read before Start")
	}
	n := p.last - p.first + 1
	k, done := p.k, p.done
	p.mu.Unlock()
	loop, idx := k/n, p.first+k%n
	if loop > 0 && !p.Loop {
		if p.Hold {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-done:
				return nil, camera.ErrClosed
			}
		}
		return nil, camera.ErrEOF
	}
	shift := time.Duration(loop) * (p.Stream.Stamp(p.last).Sub(p.Stream.Stamp(p.first)) + p.period)
	rel := p.Stream.Stamp(idx).Sub(p.Stream.Stamp(p.first)) + shift
	if p.Rate > 0 {
		due := p.Epoch.Add(time.Duration(float64(rel) / p.Rate))
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-done:
				t.Stop()
				return nil, camera.ErrClosed
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := p.Stream.Frame(idx)
	if err != nil {
		return nil, err
	}
	f.Seq = uint64(k)
	f.Stamp = f.Stamp.Add(shift)
	if p.Camera != "" {
		f.Camera = p.Camera
	}
	p.mu.Lock()
	p.k = k + 1
	p.mu.Unlock()
	return f, nil
}

// Close stops the player and unblocks a pending Read. It is safe to call
// more than once.
func (p *Player) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	if p.done != nil {
		close(p.done)
	}
	if p.OnClose != nil {
		return p.OnClose()
	}
	return nil
}

// Options are the query keys of mcap:// and kitti:// URLs.
type Options struct {
	// Rate is the replay speed (key rate): 1 real time, 0 as fast as
	// possible. It defaults to 1.
	Rate float64
	// Loop (key loop=1) replays forever. It defaults to false.
	Loop bool
	// Start and End (keys start, end: Go durations, "2s", "1m30s") bound
	// the replayed part. They default to 0: all of it.
	Start, End time.Duration
	// Camera (key camera) picks the recorded camera (mcap: its name; kitti:
	// "image_02" or "image_03"). It defaults to "": chosen by the launch
	// file camera's name or role.
	Camera string
}

// ParseURL splits a mcap:// or kitti:// URL into its file (host and path
// together: mcap://drives/a.mcap is relative, mcap:///data/a.mcap absolute)
// and its Options.
func ParseURL(raw string) (path string, o Options, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", o, fmt.Errorf("%w: %s: %v", ErrURL, msgs.RedactURL(raw), err)
	}
	if u.Scheme != "mcap" && u.Scheme != "kitti" {
		return "", o, fmt.Errorf("%w: %s: want mcap:// or kitti://", ErrURL, msgs.RedactURL(raw))
	}
	if u.User != nil {
		return "", o, fmt.Errorf("%w: %s: a %s:// URL names a file and takes no credentials", ErrURL, msgs.RedactURL(raw), u.Scheme)
	}
	path = u.Host + u.Path
	if path == "" {
		return "", o, fmt.Errorf("%w: %s names no file", ErrURL, raw)
	}
	o.Rate = 1
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "rate":
			o.Rate, err = strconv.ParseFloat(v, 64)
			if err != nil || !(o.Rate >= 0) || o.Rate > 1e6 {
				return "", o, fmt.Errorf("%w: %s: rate=%q, want 0 (as fast as possible) or a positive speed", ErrURL, raw, v)
			}
		case "loop":
			o.Loop, err = strconv.ParseBool(v)
			if err != nil {
				return "", o, fmt.Errorf("%w: %s: loop=%q, want 0 or 1", ErrURL, raw, v)
			}
		case "start", "end":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return "", o, fmt.Errorf("%w: %s: %s=%q, want a duration such as 2s or 1m30s", ErrURL, raw, k, v)
			}
			if k == "start" {
				o.Start = d
			} else {
				o.End = d
			}
		case "camera":
			o.Camera = v
		default:
			return "", o, fmt.Errorf("%w: %s: unknown key %q (rate, loop, start, end, camera)", ErrURL, raw, k)
		}
	}
	if o.End > 0 && o.End <= o.Start {
		return "", o, fmt.Errorf("%w: %s: end %v is not after start %v", ErrURL, raw, o.End, o.Start)
	}
	return path, o, nil
}
