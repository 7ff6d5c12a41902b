package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/parallax-robotics/parallax/calibration/cv"
	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/msgs"
)

// stillTol is the mean corner movement in pixels between a camera's
// consecutive frames below which the board is at rest: H.264's noise moves
// the sub-pixel corners of a still board by a few hundredths.
const stillTol = 0.5

// grabber picks calibration views out of live frames. Two RTSP cameras are
// not synchronised (their frames of one moment arrive apart, and a reader
// sees them one after the other), so a view is kept only when the board
// has stood still for a while in every camera: then both show it at the
// same pose. It must also differ from every view kept so far (a board
// held in one place gives one view, not twenty), and come at least
// interval after the last.
type grabber struct {
	board    cv.Board
	n        int           // views wanted
	interval time.Duration // the least time between kept views
	still    time.Duration // how long the board must have been at rest
	minMove  float64       // the least mean corner distance (px) from every kept view

	cams []restState
	kept []cv.View
	last time.Time
}

// restState follows one camera's board between frames.
type restState struct {
	prev  []cv.Point // the corners in the last frame; nil when the board was not seen
	since time.Time  // when the board came to rest at prev
}

// offer takes one frame's corners per camera (nil where the board was not
// found), seen at now, and reports whether they became a view.
func (g *grabber) offer(now time.Time, pts [][]cv.Point) bool {
	if g.cams == nil {
		g.cams = make([]restState, len(pts))
	}
	ok := true
	for i, p := range pts {
		c := &g.cams[i]
		if p == nil {
			c.prev = nil
			ok = false
			continue
		}
		if c.prev == nil || meanMove(c.prev, p) > stillTol {
			c.since = now
		}
		c.prev = p
		if now.Sub(c.since) < g.still {
			ok = false
		}
	}
	if !ok || (!g.last.IsZero() && now.Sub(g.last) < g.interval) {
		return false
	}
	for _, v := range g.kept {
		if meanMove(v.Left, pts[0]) < g.minMove {
			return false
		}
	}
	g.last = now
	v := cv.View{Name: fmt.Sprintf("view%02d", len(g.kept)+1), Left: pts[0]}
	if len(pts) > 1 {
		v.Right = pts[1]
	}
	g.kept = append(g.kept, v)
	return true
}

// meanMove is the mean distance between matched corners.
func meanMove(a, b []cv.Point) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return math.Inf(1)
	}
	sum := 0.0
	for i := range a {
		sum += math.Hypot(a[i].X-b[i].X, a[i].Y-b[i].Y)
	}
	return sum / float64(len(a))
}

// grab reads frames from one RTSP camera (or two, a stereo pair), finds the
// board in each and offers them until n views are kept or timeout passes.
func (g *grabber) grab(ctx context.Context, stdout io.Writer, left, right string, timeout time.Duration) ([]cv.View, int, int, error) {
	urls := []string{left}
	if right != "" {
		urls = append(urls, right)
	}
	var srcs []*camera.RTSP
	defer func() {
		for _, s := range srcs {
			s.Close()
		}
	}()
	for i, u := range urls {
		s := &camera.RTSP{URL: u, Camera: []string{"left", "right"}[i], Transport: "tcp", ReadTimeout: 10 * time.Second, Buffer: 2}
		if err := s.Start(ctx); err != nil {
			return nil, 0, 0, fmt.Errorf("calibrate: %s: %w", msgs.RedactURL(u), err)
		}
		srcs = append(srcs, s)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fmt.Fprintf(stdout, "grabbing %d views with the %dx%d board from %s: move the board around and hold it still for %v at each place\n",
		g.n, g.board.Cols, g.board.Rows, strings.Join(redactAll(urls), " and "), g.still)
	var w, h int
	for frames := 0; len(g.kept) < g.n; frames++ {
		pts := make([][]cv.Point, len(srcs))
		for i, s := range srcs {
			f, err := s.Read(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil, 0, 0, fmt.Errorf("calibrate: %w: %d of %d views with the board at rest within %v (%d frames looked at)", cv.ErrViews, len(g.kept), g.n, timeout, frames)
				}
				return nil, 0, 0, fmt.Errorf("calibrate: %s: %w", msgs.RedactURL(urls[i]), err)
			}
			if w == 0 {
				w, h = f.Width, f.Height
			}
			if f.Width != w || f.Height != h {
				return nil, 0, 0, fmt.Errorf("calibrate: %s: %w: a %dx%d frame, the first was %dx%d", msgs.RedactURL(urls[i]), cv.ErrImage, f.Width, f.Height, w, h)
			}
			img, err := cv.GrayFromRGB(f.Width, f.Height, f.Pix)
			if err != nil {
				return nil, 0, 0, fmt.Errorf("calibrate: %w", err)
			}
			p, found, err := cv.FindCorners(img, g.board)
			if err != nil {
				return nil, 0, 0, fmt.Errorf("calibrate: %w", err)
			}
			if found {
				pts[i] = p
			}
		}
		if g.offer(time.Now(), pts) {
			v := g.kept[len(g.kept)-1]
			fmt.Fprintf(stdout, "  %s board found (%d of %d)\n", v.Name, len(g.kept), g.n)
		}
	}
	return g.kept, w, h, nil
}

func redactAll(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = msgs.RedactURL(u)
	}
	return out
}
