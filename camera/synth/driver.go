package synth

import (
	"math"
	"net/url"
	"time"

	"github.com/parallax-robotics/parallax/camera"
)

func init() {
	camera.Register(camera.Driver{
		Schemes: []string{"synth"},
		Model:   camera.ModelOwn,
		Check: func(u *url.URL) error {
			_, err := ParseURL(u.String())
			return err
		},
		Open: openFeed,
		Drive: func(u *url.URL, _ string) (camera.Drive, error) {
			cfg, err := ParseURL(u.String())
			if err != nil {
				return nil, err
			}
			return NewDrive(cfg)
		},
	})
}

// openFeed is the node's synth:// camera: the cameras of one URL share one
// World (a stereo pair renders both views of it), and every source puts
// its frames on the node's epoch grid, so a pair's stamps pair exactly and
// a restarted source continues where the grid is now.
func openFeed(spec camera.Spec) (*camera.Feed, error) {
	v, err := spec.Shared.Get("synth:"+spec.URL, func() (any, error) {
		cfg, err := ParseURL(spec.URL)
		if err != nil {
			return nil, err
		}
		return NewWorld(cfg)
	})
	if err != nil {
		return nil, err
	}
	w := v.(*World)
	feed := &camera.Feed{CameraClock: true}
	view := ViewMono
	if w.Config().Stereo {
		view = ViewLeft
		if spec.Role == "right" {
			view = ViewRight
			feed.Baseline = w.Config().Baseline
		}
	}
	epoch, fps, name := spec.Shared.Epoch, w.Config().FPS, spec.Name
	feed.Open = func() (camera.Source, error) {
		// The source stamps frame First at StartTime: start at the next
		// frame of the epoch's grid, in the future, so frames are stamped
		// when they are due, not in a burst.
		first := int(math.Ceil(time.Since(epoch).Seconds() * fps))
		cam := w.Camera(view, true)
		cam.First = first
		cam.StartTime = epoch.Add(time.Duration(float64(first) / fps * float64(time.Second)))
		cam.Name = name
		return cam, nil
	}
	return feed, nil
}
