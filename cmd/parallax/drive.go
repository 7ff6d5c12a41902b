package main

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/parallax-robotics/parallax/camera/kitti"
	"github.com/parallax-robotics/parallax/camera/replay"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/learner"
)

// errSource is returned for a training or evaluation source that cannot be
// opened.
var errSource = errors.New("bad source")

// openDrive opens a training/evaluation source by its URL scheme:
//
//	synth://?seed=7&stereo=1&...   the synthetic world (keys: synth.URLKeys)
//
//	mcap://drive.mcap[?camera=NAME]  a recording (camera/replay): its stereo pair, or one camera
//	kitti://FOLDER                  a KITTI raw drive folder (camera/kitti)
func openDrive(source string) (learner.Drive, error) {
	u, err := url.Parse(source)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", errSource, source, err)
	}
	switch u.Scheme {
	case "synth":
		cfg, err := synth.ParseURL(source)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", errSource, source, err)
		}
		return learner.SynthDrive(cfg)
	case "mcap":
		d, err := replay.OpenDrive(source)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", errSource, source, err)
		}
		return d, nil
	case "kitti":
		d, err := kitti.OpenDrive(source)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", errSource, source, err)
		}
		return d, nil
	case "":
		return nil, fmt.Errorf("%w %q: no scheme (want synth://...)", errSource, source)
	default:
		return nil, fmt.Errorf("%w %q: unknown scheme %q (want synth://...)", errSource, source, u.Scheme)
	}
}

// sourcePrior is the forward motion between frames a source knows of (a
// synthetic world's speed / FPS), 0 when unknown: the pose network's
// initial forward-motion prior for monocular training.
func sourcePrior(source string) float64 {
	cfg, err := synth.ParseURL(source)
	if err != nil {
		return 0
	}
	w, err := synth.NewWorld(cfg)
	if err != nil {
		return 0
	}
	c := w.Config()
	return c.Speed / c.FPS
}
