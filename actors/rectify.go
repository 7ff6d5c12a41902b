package actors

import (
	"fmt"
	"sort"

	"github.com/parallax-robotics/parallax/calibration"
	"github.com/parallax-robotics/parallax/camera/rectify"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

// openRectifiers reads the launch file's calibrations and makes a
// rectifier for every calibrated camera: a stereo pair's two from the
// pair's calibration together (rectify.Pair: its files' rectification, or
// OpenCV's stereoRectify from its extrinsics), every other camera's from
// its own (undistorted to its own K when the file gives no rectification).
// openCameras wraps those cameras' feeds with them, so every frame is
// rectified before stereo sync, perception, the learner and the recorder
// see it.
func openRectifiers(l *launch.Launch) (map[string]*rectify.Rectifier, error) {
	cals, err := l.Calibrations()
	if err != nil {
		return nil, err
	}
	cams := map[string]calibration.Camera{}
	if st := cals.Stereo; st != nil && l.Stereo != nil {
		left, right, err := rectify.Pair(*st, l.Stereo.Alpha)
		if err != nil {
			key := "stereo.calibration"
			if l.Stereo.Calibration == "" {
				key = fmt.Sprintf("the pair's calibrations (%s, %s)", cals.Files[l.Stereo.Left], cals.Files[l.Stereo.Right])
			}
			return nil, fmt.Errorf("actors: %s:%d: %s: %w", l.File(), l.Line("stereo"), key, err)
		}
		cams[l.Stereo.Left], cams[l.Stereo.Right] = left, right
	}
	for name, c := range cals.Cameras {
		if _, ok := cams[name]; ok {
			continue
		}
		if cams[name], err = rectify.Mono(c); err != nil {
			return nil, fmt.Errorf("actors: camera %s: %s: %w", name, cals.Files[name], err)
		}
	}
	out := map[string]*rectify.Rectifier{}
	names := make([]string, 0, len(cams))
	for name := range cams {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r, err := rectify.New(cams[name])
		if err != nil {
			closeRectifiers(out)
			return nil, fmt.Errorf("actors: camera %s: %s: %w", name, cals.Files[name], err)
		}
		out[name] = r
	}
	return out, nil
}

// rawCalibrations returns the rectified cameras' raw calibrations for the
// rig: what <ns>.<camera>.calibration publishes.
func rawCalibrations(rects map[string]*rectify.Rectifier) map[string]*foxglove.CameraCalibration {
	out := map[string]*foxglove.CameraCalibration{}
	for name, r := range rects {
		out[name] = calibration.CameraInfo(r.Camera(), name)
	}
	return out
}

func closeRectifiers(rects map[string]*rectify.Rectifier) {
	for _, r := range rects {
		r.Close()
	}
}
