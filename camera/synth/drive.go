package synth

import (
	"fmt"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/msgs"
)

var _ camera.Drive = (*Drive)(nil)

// Drive is an endless camera.Drive of a World: frames are rendered on
// demand, a pure function of the config and the index (about 10 ms for
// 320x96 on one core); wrap it in camera.CacheDrive when the same frames
// are used many times.
type Drive struct {
	w *World
}

// NewDrive makes the drive of the world cfg (ParseURL reads a synth:// URL
// into one).
func NewDrive(cfg Config) (*Drive, error) {
	w, err := NewWorld(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", camera.ErrDrive, err)
	}
	return &Drive{w: w}, nil
}

// World returns the drive's world.
func (d *Drive) World() *World { return d.w }

// Len is 0: the drive is endless.
func (d *Drive) Len() int { return 0 }

// Stereo reports whether the rig is stereo.
func (d *Drive) Stereo() bool { return d.w.Config().Stereo }

// Baseline is the rig's baseline, 0 for a mono rig.
func (d *Drive) Baseline() float64 {
	if !d.w.Config().Stereo {
		return 0
	}
	return d.w.Config().Baseline
}

// Frame renders frame i of both views (right nil for a mono rig).
func (d *Drive) Frame(i int) (left, right *msgs.Frame, err error) {
	if i < 0 {
		return nil, nil, fmt.Errorf("%w: frame %d", camera.ErrDrive, i)
	}
	l, r := d.w.Render(i)
	return l, r, nil
}
