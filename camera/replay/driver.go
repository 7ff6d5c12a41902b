package replay

import (
	"fmt"
	"net/url"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/msgs"
)

func init() {
	camera.Register(camera.Driver{
		Schemes: []string{"mcap"},
		Path:    camera.PathFile,
		Check:   func(u *url.URL) error { _, _, err := ParseURL(u.String()); return err },
		Open:    openFeed,
		Drive: func(u *url.URL, dir string) (camera.Drive, error) {
			_, o, err := ParseURL(u.String())
			if err != nil {
				return nil, err
			}
			return openDrive(camera.Spec{Dir: dir}.Resolve(camera.FilePath(u)), o)
		},
	})
}

// openFeed is the node's mcap:// camera: each (re)connection plays the
// recording again from the start of its window, every source of the node
// on the same epoch so a stereo pair stays in step. The recording is opened
// once now, so a missing file or camera is a start-up error.
func openFeed(spec camera.Spec) (*camera.Feed, error) {
	path, o, err := ParseURL(spec.URL)
	if err != nil {
		return nil, err
	}
	path = spec.Resolve(path)
	open := func() (*Frames, *Recording, error) {
		rec, err := Open(path)
		if err != nil {
			return nil, nil, err
		}
		fr, err := rec.Pick(spec.Name, spec.Role, o)
		if err != nil {
			rec.Close()
			return nil, nil, err
		}
		return fr, rec, nil
	}
	fr, rec, err := open()
	if err != nil {
		return nil, err
	}
	if spec.Calibration != "" && rec.Rectified(fr.Camera()) {
		rec.Close()
		return nil, fmt.Errorf("%w: %s recorded camera %s rectified (its calibration is on %s): remove the launch file's calibration",
			ErrRectified, path, fr.Camera(), msgs.RecordingTopic(rec.Namespace(), fr.Camera(), msgs.KindCalibration.String()))
	}
	feed := &camera.Feed{Lockstep: o.Rate == 0, CameraClock: true}
	if _, right, ok := rec.Stereo(); ok && fr.Camera() == right {
		feed.Baseline = rec.Baseline()
	}
	rec.Close()
	feed.Open = func() (camera.Source, error) {
		fr, rec, err := open()
		if err != nil {
			return nil, err
		}
		return &Player{Stream: fr, Camera: spec.Name, Rate: o.Rate, Loop: o.Loop, From: o.Start, To: o.End,
			Epoch: spec.Shared.Epoch, Hold: true, OnClose: rec.Close}, nil
	}
	return feed, nil
}
