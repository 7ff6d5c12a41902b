package kitti

import (
	"fmt"
	"net/url"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/replay"
)

func init() {
	camera.Register(camera.Driver{
		Schemes:        []string{"kitti"},
		Path:           camera.PathFolder,
		OwnCalibration: true,
		Check:          func(u *url.URL) error { _, _, err := replay.ParseURL(u.String()); return err },
		Open:           openFeed,
		Drive: func(u *url.URL, dir string) (camera.Drive, error) {
			path, _, err := replay.ParseURL(u.String())
			if err != nil {
				return nil, err
			}
			d, err := Open(camera.Spec{Dir: dir}.Resolve(path), "")
			if err != nil {
				return nil, err
			}
			return d.Drive()
		},
	})
}

// openFeed is the node's kitti:// camera: image_02 (left) or image_03
// (right) by the URL's camera key, else by the launch camera's role, played
// from the folder like a recording. The folder is read once now, so a
// missing folder is a start-up error.
func openFeed(spec camera.Spec) (*camera.Feed, error) {
	path, o, err := replay.ParseURL(spec.URL)
	if err != nil {
		return nil, err
	}
	path = spec.Resolve(path)
	cam := Left
	switch {
	case o.Camera == "image_03", o.Camera == "" && spec.Role == "right":
		cam = Right
	case o.Camera != "" && o.Camera != "image_02":
		return nil, fmt.Errorf("%w: camera=%q, want image_02 or image_03", replay.ErrURL, o.Camera)
	}
	open := func() (*Dataset, *View, error) {
		ds, err := Open(path, spec.Calibration)
		if err != nil {
			return nil, nil, err
		}
		v, err := ds.View(cam)
		return ds, v, err
	}
	ds, _, err := open()
	if err != nil {
		return nil, err
	}
	feed := &camera.Feed{Lockstep: o.Rate == 0, CameraClock: true}
	if cam == Right {
		feed.Baseline = ds.Baseline()
	}
	feed.Open = func() (camera.Source, error) {
		_, v, err := open()
		if err != nil {
			return nil, err
		}
		return &replay.Player{Stream: v, Camera: spec.Name, Rate: o.Rate, Loop: o.Loop, From: o.Start, To: o.End,
			Epoch: spec.Shared.Epoch, Hold: true}, nil
	}
	return feed, nil
}
