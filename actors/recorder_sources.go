package actors

import (
	"context"
	"fmt"
	"time"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/kitti"
	"github.com/parallax-robotics/parallax/camera/replay"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
)

// lockstepWait is the longest a rate-0 replay waits for the previous
// frame's depth before reading the next one anyway (a frame the stereo sync
// dropped never comes back).
const lockstepWait = time.Second

// lockstep paces a rate-0 replay by the pipeline: the next frame is read
// when the previous one's depth has been published, so every frame is
// processed, as fast as the networks go, and two replays process the same
// frames.
type lockstep struct{ credit chan struct{} }

func newLockstep() *lockstep {
	l := &lockstep{credit: make(chan struct{}, 1)}
	l.credit <- struct{}{}
	return l
}

func (l *lockstep) wait(ctx context.Context) error {
	t := time.NewTimer(lockstepWait)
	defer t.Stop()
	select {
	case <-l.credit:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func (l *lockstep) release() {
	select {
	case l.credit <- struct{}{}:
	default:
	}
}

// gated makes a source wait for its lockstep before each frame.
type gated struct {
	camera.Source
	gate *lockstep
}

func (g *gated) Read(ctx context.Context) (*msgs.Frame, error) {
	if err := g.gate.wait(ctx); err != nil {
		return nil, err
	}
	return g.Source.Read(ctx)
}

// replaySource checks a mcap:// or kitti:// camera of the launch file and
// returns the function that opens a fresh Player for it (each reconnection
// starts the replay again), its stereo baseline (0 unless it replays a
// right camera), and its lockstep when it replays at rate 0. epoch is
// shared by the node's replay cameras, so a stereo pair stays in step.
func replaySource(l *launch.Launch, c launch.Camera, epoch time.Time) (func() (camera.Source, error), float64, *lockstep, error) {
	path, o, err := replay.ParseURL(c.URL)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("actors: camera %s: %w", c.Name, err)
	}
	path = l.Resolve(path)
	var open func() (replay.Stream, func() error, float64, error)
	switch scheme(c.URL) {
	case "mcap":
		open = func() (replay.Stream, func() error, float64, error) {
			rec, err := replay.Open(path)
			if err != nil {
				return nil, nil, 0, err
			}
			fr, err := rec.Pick(c.Name, c.Role, o)
			if err != nil {
				rec.Close()
				return nil, nil, 0, err
			}
			b := 0.0
			if _, right, ok := rec.Stereo(); ok && fr.Camera() == right {
				b = rec.Baseline()
			}
			return fr, rec.Close, b, nil
		}
	default: // kitti
		calib := ""
		if c.Calibration != "" {
			calib = l.Resolve(c.Calibration)
		}
		open = func() (replay.Stream, func() error, float64, error) {
			ds, err := kitti.Open(path, calib)
			if err != nil {
				return nil, nil, 0, err
			}
			cam := kitti.Left
			switch {
			case o.Camera == "image_03", o.Camera == "" && c.Role == launch.RoleRight:
				cam = kitti.Right
			case o.Camera != "" && o.Camera != "image_02":
				return nil, nil, 0, fmt.Errorf("%w: camera=%q, want image_02 or image_03", replay.ErrURL, o.Camera)
			}
			v, err := ds.View(cam)
			if err != nil {
				return nil, nil, 0, err
			}
			b := 0.0
			if cam == kitti.Right {
				b = ds.Baseline()
			}
			return v, nil, b, nil
		}
	}
	// Open once now: a missing file or camera is a start-up error.
	s, closer, baseline, err := open()
	if err != nil {
		return nil, 0, nil, fmt.Errorf("actors: camera %s: %s: %w", c.Name, msgs.RedactURL(c.URL), err)
	}
	_ = s
	if closer != nil {
		closer()
	}
	var gate *lockstep
	if o.Rate == 0 {
		gate = newLockstep()
	}
	return func() (camera.Source, error) {
		s, closer, _, err := open()
		if err != nil {
			return nil, fmt.Errorf("camera %s: %w", c.Name, err)
		}
		var src camera.Source = &replay.Player{Stream: s, Camera: c.Name, Rate: o.Rate, Loop: o.Loop,
			From: o.Start, To: o.End, Epoch: epoch, Hold: true, OnClose: closer}
		if gate != nil {
			src = &gated{Source: src, gate: gate}
		}
		return src, nil
	}, baseline, gate, nil
}

// hookReplayAndRecorder wraps the cameras' open functions for the recorder
// and chains the lockstep releases and the recorder's outputs into
// OnDepth. It runs at the end of sources, before anything else reads
// OnDepth.
func (n *Node) hookReplayAndRecorder(l *launch.Launch, opens map[string]func() (camera.Source, error), baselines map[string]float64, gates map[string]*lockstep) error {
	rec := n.Recorder
	if rec != nil {
		if err := rec.start(l, baselines); err != nil {
			return err
		}
		for name, open := range opens {
			opens[name] = func() (camera.Source, error) {
				s, err := open()
				if err != nil {
					return nil, err
				}
				return &recordedSource{Source: s, rec: rec}, nil
			}
		}
	}
	if rec == nil && len(gates) == 0 {
		return nil
	}
	user := n.OnDepth
	n.OnDepth = func(r *DepthResult) {
		if rec != nil && !rec.NoOutputs {
			rec.offer(recorderMsg{depth: r})
		}
		for _, f := range r.Set.Frames {
			if g := gates[f.Camera]; g != nil {
				g.release()
			}
		}
		if user != nil {
			user(r)
		}
	}
	return nil
}
