package launch

import (
	"errors"
	"strings"

	"github.com/parallax-robotics/parallax/calibration"
)

// Calibrations holds the launch file's calibration files, read.
type Calibrations struct {
	// Cameras holds, by camera name, each calibrated camera's calibration:
	// from its cameras[].calibration (the left or right camera of a stereo
	// file, by role) or from stereo.calibration. Cameras whose source reads
	// the file itself (kitti://) are not in it.
	Cameras map[string]calibration.Camera
	// Stereo is the pair's calibration when both its cameras are
	// calibrated: the two cameras and, when a stereo file gives them, the
	// extrinsics. Nil otherwise.
	Stereo *calibration.Stereo
	// Files names, by camera, the file(s) its calibration came from.
	Files map[string]string
}

// Calibrations reads every calibration file the launch file names
// (cameras[].calibration, stereo.calibration with stereo.extrinsics),
// resolved against Dir, in any format package calibration reads. Like
// Parse it returns every problem, each an *Error at the launch file's key
// (its line) whose message is the calibration's own, naming the
// calibration file, its line and its field:
//
//	launch: robot.yaml:24: cameras[0].calibration: calib/left.yaml:9: camera_matrix.data: 8 values for 3 rows and 3 cols
//
// Each wraps ErrFile and the calibration error (errors.Is works with
// calibration's sentinels). The node calls it at start-up; CheckFiles
// calls it too.
func (l *Launch) Calibrations() (*Calibrations, error) {
	pr := &problems{file: l.file, lines: l.lines, bad: map[string]bool{}}
	c := l.readCalibrations(pr, nil)
	if err := pr.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// readCalibrations reads the calibrations into pr's problems, skipping
// keys already reported.
func (l *Launch) readCalibrations(pr *problems, skip map[string]bool) *Calibrations {
	out := &Calibrations{Cameras: map[string]calibration.Camera{}, Files: map[string]string{}}
	fail := func(key string, err error) {
		msg := err.Error()
		var ce *calibration.Error
		if errors.As(err, &ce) {
			msg = strings.TrimPrefix(ce.Error(), "calibration: ")
		} else {
			msg = strings.TrimPrefix(msg, "calibration: ")
		}
		e := pr.add(ErrFile, key, "%s", msg)
		e.Cause = err
	}
	sets := map[string]*calibration.Set{} // by camera name
	keys := map[string]string{}           // by camera name: the launch key
	for i := range l.Cameras {
		c := &l.Cameras[i]
		key := camKey(i, "calibration")
		if c.Calibration == "" || skip[key] {
			continue
		}
		if d := driverOf(c.URL); d != nil && d.OwnCalibration {
			continue // kitti:// reads its calib_cam_to_cam.txt itself
		}
		set, err := calibration.Read(l.Resolve(c.Calibration))
		if err != nil {
			fail(key, relErr(err, l.Resolve(c.Calibration), c.Calibration))
			continue
		}
		cam, err := set.ForRole(c.Role)
		if err != nil {
			fail(key, relErr(err, l.Resolve(c.Calibration), c.Calibration))
			continue
		}
		sets[c.Name], keys[c.Name] = set, key
		out.Cameras[c.Name] = cam
		out.Files[c.Name] = c.Calibration
	}
	st := l.Stereo
	if st == nil {
		return out
	}
	if st.Calibration != "" && !skip["stereo.calibration"] && !skip["stereo.extrinsics"] {
		paths := []string{l.Resolve(st.Calibration)}
		if st.Extrinsics != "" {
			paths = append(paths, l.Resolve(st.Extrinsics))
		}
		set, err := calibration.Read(paths...)
		if err == nil {
			var pair calibration.Stereo
			if pair, err = set.Pair(); err == nil {
				out.Stereo = &pair
				out.Cameras[st.Left], out.Cameras[st.Right] = pair.Left, pair.Right
				name := st.Calibration
				if st.Extrinsics != "" {
					name += " + " + st.Extrinsics
				}
				out.Files[st.Left], out.Files[st.Right] = name, name
			}
		}
		if err != nil {
			for i, p := range paths {
				rel := st.Calibration
				if i == 1 {
					rel = st.Extrinsics
				}
				err = relErr(err, p, rel)
			}
			fail("stereo.calibration", err)
		}
		return out
	}
	lc, okL := out.Cameras[st.Left]
	rc, okR := out.Cameras[st.Right]
	if !okL || !okR {
		return out
	}
	pair := calibration.Stereo{Left: lc, Right: rc}
	// One stereo file given to both cameras: its extrinsics too.
	if sl, sr := sets[st.Left], sets[st.Right]; sl != nil && sr != nil && sl.Stereo != nil &&
		l.Camera(st.Left).Calibration == l.Camera(st.Right).Calibration {
		pair.Extrinsics = sl.Stereo.Extrinsics
	}
	if err := pair.Validate(); err != nil {
		e := pr.add(ErrFile, keys[st.Right], "%s and %s (the left camera's) do not make a rectified pair: %s",
			l.Camera(st.Right).Calibration, l.Camera(st.Left).Calibration, strings.TrimPrefix(err.Error(), "calibration: "))
		e.Cause = err
		return out
	}
	out.Stereo = &pair
	return out
}

// relErr names a calibration file as the launch file does (relative to
// it), not by its resolved path.
func relErr(err error, resolved, given string) error {
	var ce *calibration.Error
	if errors.As(err, &ce) && resolved != given && strings.Contains(ce.File, resolved) {
		c := *ce
		c.File = strings.ReplaceAll(c.File, resolved, given)
		return &c
	}
	return err
}
