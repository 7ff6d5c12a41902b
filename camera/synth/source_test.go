package synth

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parallax-robotics/parallax/camera"
)

func TestCameraSource(t *testing.T) {
	w := mustWorld(t, Config{Seed: 2, Stereo: true, Width: 64, Height: 32, FPS: 20})
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var src camera.Source = &Camera{World: w, View: ViewRight, StartTime: start, First: 10, Frames: 3}
	if err := src.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for k := 0; k < 3; k++ {
		f, err := src.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, want := w.Render(10 + k)
		if f.Seq != uint64(k) || !f.Stamp.Equal(start.Add(time.Duration(k)*50*time.Millisecond)) || f.Camera != ViewRight {
			t.Errorf("frame %d: seq %d stamp %v camera %q", k, f.Seq, f.Stamp, f.Camera)
		}
		if string(f.Pix) != string(want.Pix) || f.Truth.Pose != want.Truth.Pose {
			t.Errorf("frame %d differs from Render(%d)", k, 10+k)
		}
	}
	if _, err := src.Read(ctx); !errors.Is(err, camera.ErrEOF) {
		t.Errorf("after Frames: %v, want ErrEOF", err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Read(ctx); !errors.Is(err, camera.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCameraViews(t *testing.T) {
	mono := mustWorld(t, Config{Width: 32, Height: 16})
	stereo := mustWorld(t, Config{Width: 32, Height: 16, Stereo: true})
	for _, tc := range []struct {
		w    *World
		view string
		ok   bool
		want string
	}{
		{mono, "", true, ViewMono}, {mono, ViewMono, true, ViewMono}, {mono, ViewLeft, true, ViewLeft},
		{mono, ViewRight, false, ""}, {stereo, "", true, ViewLeft}, {stereo, ViewRight, true, ViewRight},
		{stereo, ViewMono, false, ""}, {stereo, "centre", false, ""},
	} {
		c := tc.w.Camera(tc.view, false)
		err := c.Start(context.Background())
		if tc.ok != (err == nil) {
			t.Errorf("stereo=%v view %q: Start error %v", tc.w.cfg.Stereo, tc.view, err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrUnknownView) {
				t.Errorf("view %q: error %v does not wrap ErrUnknownView", tc.view, err)
			}
			continue
		}
		f, err := c.Read(context.Background())
		if err != nil || f.Camera != tc.want {
			t.Errorf("view %q: frame %v, %v", tc.view, f, err)
		}
		c.Close()
	}
	if err := (&Camera{}).Start(context.Background()); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Camera without World: %v", err)
	}
}

// TestCameraRealtime checks that a paced camera releases each frame exactly
// at its time, and that a cancelled context and Close both end a waiting
// Read. It runs on synctest's fake clock: the check is exact and does not
// depend on a quiet machine.
func TestCameraRealtime(t *testing.T) {
	w := mustWorld(t, Config{Width: 32, Height: 16, FPS: 10})
	synctest.Test(t, func(t *testing.T) {
		c := w.Camera(ViewMono, true)
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		t0 := c.StartTime
		for k := 0; k < 3; k++ {
			f, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			due := t0.Add(time.Duration(k) * 100 * time.Millisecond)
			if !time.Now().Equal(due) || !f.Stamp.Equal(due) {
				t.Fatalf("frame %d released at %v stamped %v, due %v", k, time.Since(t0), f.Stamp.Sub(t0), due.Sub(t0))
			}
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if _, err := c.Read(cctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Read with an expiring context: %v", err)
		}
		if f, err := c.Read(ctx); err != nil || f.Seq != 3 || !time.Now().Equal(t0.Add(300*time.Millisecond)) {
			t.Errorf("Read after a cancelled one: %v, %v at %v; want frame 3 (none dropped) at 300ms", f, err, time.Since(t0))
		}
		go func() {
			time.Sleep(20 * time.Millisecond)
			c.Close()
		}()
		if _, err := c.Read(ctx); !errors.Is(err, camera.ErrClosed) {
			t.Errorf("Read during Close: %v", err)
		}
	})
}

// TestCameraSkipsLateFrames checks that a realtime camera whose reader fell
// more than MaxLag behind skips to the frame due now, as a sensor drops the
// frames nobody took, and that the other view of the world follows it to the
// same frame so the pair stays paired. On synctest's fake clock, so the
// lateness is exact.
func TestCameraSkipsLateFrames(t *testing.T) {
	w := mustWorld(t, Config{Width: 32, Height: 16, FPS: 10, Stereo: true})
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		start := time.Now()
		left, right, never := w.Camera(ViewLeft, true), w.Camera(ViewRight, true), w.Camera(ViewLeft, true)
		left.MaxLag = DefaultMaxLag
		right.MaxLag = time.Hour // late only by what the left view says
		for _, c := range []*Camera{left, right, never} {
			c.StartTime = start
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if f, err := left.Read(ctx); err != nil || f.Seq != 0 {
			t.Fatalf("first frame: %v, %v", f, err)
		}
		time.Sleep(2050 * time.Millisecond) // a stalled reader: frames 1-20 are due
		l, err := left.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if l.Seq != 20 || !l.Stamp.Equal(start.Add(2*time.Second)) || left.Skipped() != 19 {
			t.Errorf("left after a 2 s stall: seq %d stamped %v, %d skipped; want frame 20 at 2s, 19 skipped", l.Seq, l.Stamp.Sub(start), left.Skipped())
		}
		r, err := right.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Seq != l.Seq || !r.Stamp.Equal(l.Stamp) || right.Skipped() != 20 {
			t.Errorf("right: seq %d stamped %v, %d skipped; want the left's frame %d (20 skipped)", r.Seq, r.Stamp.Sub(start), right.Skipped(), l.Seq)
		}
		if f, err := left.Read(ctx); err != nil || f.Seq != 21 || !time.Now().Equal(start.Add(2100*time.Millisecond)) {
			t.Errorf("left after catching up: %v, %v at %v; want frame 21 at its time", f, err, time.Since(start))
		}
		if f, err := never.Read(ctx); err != nil || f.Seq != 0 || never.Skipped() != 0 {
			t.Errorf("MaxLag 0: %v, %v; want frame 0, none skipped", f, err)
		}
	})
}
