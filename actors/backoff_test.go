package actors

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/msgs"
)

// flakySource streams frames every 100 ms for its life, then fails; a
// life of 0 fails at once (a camera that refuses connections).
type flakySource struct {
	life  time.Duration
	start time.Time
	n     uint64
}

func (s *flakySource) Start(context.Context) error {
	if s.life == 0 {
		return errors.New("connection refused")
	}
	s.start = time.Now()
	return nil
}

func (s *flakySource) Read(ctx context.Context) (*msgs.Frame, error) {
	if time.Since(s.start) >= s.life {
		return nil, errors.New("stream ended")
	}
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	s.n++
	return &msgs.Frame{Camera: "cam", Seq: s.n, Stamp: time.Now(), Width: 1, Height: 1, Pix: make([]byte, 3)}, nil
}

func (s *flakySource) Close() error { return nil }

// TestCameraBackoff runs a camera's reader against sources that fail, on
// synctest's fake clock: the waits between connection attempts double from
// Min to Max, and a stream that was healthy for Healthy starts over at Min.
func TestCameraBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lives := []time.Duration{0, 0, 0, 0, 0, 0, 0, 6 * time.Second, 0, 0}
		opened := 0
		a := &cameraActor{link: &cameraLink{name: "cam"}, backoff: Backoff{}, c: &counters{},
			open: func() (camera.Source, error) {
				s := &flakySource{life: lives[min(opened, len(lives)-1)]}
				opened++
				return s, nil
			}}
		a.backoff.fill()
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		var attempts []time.Duration
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.read(ctx, func(m any) {
				if st, ok := m.(*cameraState); ok && st.state == "connecting" {
					attempts = append(attempts, time.Since(start))
					if len(attempts) == len(lives) {
						cancel()
					}
				}
			})
		}()
		<-done
		// Refused at once seven times: waits of 0.25, 0.5, 1, 1, 1, 1, 1 s.
		// The eighth streams for 6 s (healthy), so the wait after it is
		// 0.25 s again, then 0.5 s.
		ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
		want := []time.Duration{0, ms(250), ms(750), ms(1750), ms(2750), ms(3750), ms(4750), ms(5750),
			ms(12000), ms(12500)}
		if len(attempts) != len(want) {
			t.Fatalf("attempts at %v", attempts)
		}
		for i := range want {
			if attempts[i] != want[i] {
				t.Fatalf("attempt %d at %v, want %v (all: %v)", i, attempts[i], want[i], attempts)
			}
		}
		if r := a.c.reconnects.Load(); r != uint64(len(want)-1) {
			t.Errorf("%d reconnects counted, want %d", r, len(want)-1)
		}
	})
}

// TestLockstep: a lockstep gate lets one frame through per release, and
// gives up waiting after lockstepWait (a frame whose result never comes
// must not stall a replay for ever), on synctest's fake clock.
func TestLockstep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLockstep()
		ctx := context.Background()
		start := time.Now()
		if err := l.wait(ctx); err != nil || time.Since(start) != 0 {
			t.Fatalf("first frame: %v after %v", err, time.Since(start))
		}
		go func() { time.Sleep(300 * time.Millisecond); l.release() }()
		if err := l.wait(ctx); err != nil || time.Since(start) != 300*time.Millisecond {
			t.Fatalf("after a release: %v at %v, want 300ms", err, time.Since(start))
		}
		if err := l.wait(ctx); err != nil || time.Since(start) != 300*time.Millisecond+lockstepWait {
			t.Fatalf("without a release: %v at %v, want %v", err, time.Since(start), 300*time.Millisecond+lockstepWait)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := l.wait(cctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled: %v", err)
		}
	})
}
