package actors

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// Backoff is the reconnection schedule of a camera stream. The defaults
// are short on purpose: a robot wants depth back within a couple of seconds
// of its camera's return, and an attempt at a camera that is still down
// (a refused or timed-out dial, one at a time) costs next to nothing.
type Backoff struct {
	// Min is the first wait after a failure. It defaults to 250 ms.
	Min time.Duration
	// Max caps the wait, which doubles after each failure. It defaults to 1 s.
	Max time.Duration
	// Healthy is how long a stream must stream before a failure counts as a
	// first failure again (the wait resets to Min). It defaults to 5 s.
	Healthy time.Duration
}

func (b *Backoff) fill() {
	if b.Min <= 0 {
		b.Min = 250 * time.Millisecond
	}
	if b.Max < b.Min {
		b.Max = time.Second
		if b.Max < b.Min {
			b.Max = b.Min
		}
	}
	if b.Healthy <= 0 {
		b.Healthy = 5 * time.Second
	}
}

// cameraLink is what the node shares with a camera actor: the source being
// read now (for its stats) survives actor restarts.
type cameraLink struct {
	name    string
	current atomic.Pointer[camera.RTSP]
	// closedDrops counts the drops of connections already closed.
	closedDrops atomic.Uint64
	// framesIn counts the camera's frames (Node.CameraStats).
	framesIn atomic.Uint64
	// cameraClock: the source stamps frames with the capture clock from
	// the start (camera.Feed.CameraClock).
	cameraClock bool
}

// cameraActor reads one camera stream. Its reader goroutine owns the
// source: it connects, reads, and on failure closes the source and
// reconnects after a backoff, forever; Receive only forwards frames (to
// sync or perception, and to the sinks) and reports state changes, so it
// never blocks on the network.
type cameraActor struct {
	link       *cameraLink
	hardwareID string // the URL without credentials
	open       func() (camera.Source, error)
	gate       *lockstep  // a lockstep replay's pacing, or nil
	next       *actor.PID // sync or perception
	alone      bool       // next is perception: send FrameSets of one frame
	out        *fanout
	diag       *actor.PID
	backoff    Backoff
	c          *counters

	cancel context.CancelFunc
	done   chan struct{}
}

func (a *cameraActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.start(ctx)
	case *actor.Stopping:
		a.stop()
	case *actor.Stopped:
	case *actor.Restarting:
		a.stop()
	case *frameMsg:
		a.c.framesIn.Add(1)
		a.link.framesIn.Add(1)
		if a.alone {
			ctx.Send(a.next, &FrameSet{Frames: []*msgs.Frame{m.frame}})
		} else {
			ctx.Send(a.next, m)
		}
		a.out.send(msgs.Output{Frame: m.frame}, nil)
	case *cameraState:
		msg := m.state
		if m.detail != "" {
			msg += ": " + m.detail
		}
		ctx.Send(a.diag, &diagMsg{status: &parallaxv1.DiagnosticStatus{
			Level: m.level, Name: "camera/" + a.link.name, Message: msg, HardwareId: a.hardwareID,
		}})
	}
}

func (a *cameraActor) start(ctx actor.Context) {
	rctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan struct{})
	self, root := ctx.Self(), ctx.ActorSystem().Root
	go func() {
		defer close(a.done)
		a.read(rctx, func(m any) { root.Send(self, m) })
	}()
}

// readerStop bounds the wait for the reader goroutine: Read and Start
// honour the context, but a source's Close may take a moment.
const readerStop = time.Second

// stop ends the reader goroutine.
func (a *cameraActor) stop() {
	if a.cancel != nil {
		a.cancel()
		t := time.NewTimer(readerStop)
		select {
		case <-a.done:
		case <-t.C:
		}
		t.Stop()
		a.cancel = nil
	}
}

// read is the reader goroutine: connect, stream, and reconnect with
// exponential backoff until ctx is done.
func (a *cameraActor) read(ctx context.Context, send func(any)) {
	wait := a.backoff.Min
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			a.c.reconnects.Add(1)
		}
		send(&cameraState{level: parallaxv1.DiagnosticStatus_WARN, state: "connecting"})
		began := time.Now()
		err := a.stream(ctx, send)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stream ended")
		}
		if time.Since(began) >= a.backoff.Healthy {
			wait = a.backoff.Min
		}
		// Source errors already carry the redacted URL; redact again in
		// case a lower layer quoted it.
		send(&cameraState{level: parallaxv1.DiagnosticStatus_ERROR, state: "failed",
			detail: msgs.RedactText(err.Error(), a.hardwareID)})
		send(&cameraState{level: parallaxv1.DiagnosticStatus_WARN, state: "backing off",
			detail: fmt.Sprintf("reconnecting in %v", wait)})
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, a.backoff.Max)
	}
}

// stream opens the source and forwards its frames until it fails.
func (a *cameraActor) stream(ctx context.Context, send func(any)) error {
	src, err := a.open()
	if err != nil {
		return err
	}
	if err := src.Start(ctx); err != nil {
		src.Close()
		return err
	}
	if ctx.Err() != nil { // stopped while connecting
		src.Close()
		return ctx.Err()
	}
	if r, ok := src.(*camera.RTSP); ok {
		a.link.current.Store(r)
		defer func() {
			// Keep the dropped count of this connection, and show no
			// camera clock until the next one has its own.
			st := r.Stats()
			a.link.closedDrops.Add(st.FramesDropped + st.DecodeErrors)
			a.link.current.Store(nil)
		}()
	}
	defer src.Close()
	streaming := false
	for {
		if a.gate != nil {
			if err := a.gate.wait(ctx); err != nil {
				return err
			}
		}
		f, err := src.Read(ctx)
		if err != nil {
			return err
		}
		if !streaming {
			streaming = true
			send(&cameraState{level: parallaxv1.DiagnosticStatus_OK, state: "streaming",
				detail: fmt.Sprintf("%dx%d", f.Width, f.Height)})
		}
		send(&frameMsg{frame: f})
	}
}
