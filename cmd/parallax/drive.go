package main

import (
	"errors"
	"fmt"

	"github.com/parallax-robotics/parallax/camera"
)

// errSource is returned for a training or evaluation source that cannot be
// opened.
var errSource = errors.New("bad source")

// openDrive opens a training or evaluation source by URL through the
// camera registry: synth://?seed=7&stereo=1 (the synthetic world),
// mcap://drive.mcap[?camera=NAME] (a recording: its stereo pair, or one
// camera), kitti://FOLDER (a KITTI raw drive).
func openDrive(source string) (camera.Drive, error) {
	d, err := camera.OpenDrive(source, "")
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", errSource, source, err)
	}
	return d, nil
}
