package kitti

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parallax-robotics/parallax/camera/replay"
	"github.com/parallax-robotics/parallax/msgs"
)

// Camera numbers of the KITTI rig's colour cameras.
const (
	// Left is the left colour camera, image_02.
	Left = 2
	// Right is the right colour camera, image_03.
	Right = 3
)

// CamToCam is the name of the cameras' calibration file, found in the drive
// folder or its parent (the date folder of the raw data layout).
const CamToCam = "calib_cam_to_cam.txt"

// stampLayout is the format of KITTI's timestamps.txt lines.
const stampLayout = "2006-01-02 15:04:05.999999999"

// Dataset is a KITTI raw drive folder (2011_09_26_drive_0001_sync):
// image_02/data/NNNNNNNNNN.png (and image_03 for stereo), the
// timestamps.txt beside each data folder, calib_cam_to_cam.txt, and oxts/
// when present (ground-truth poses). Projected velodyne depth is not read.
type Dataset struct {
	// Dir is the drive folder.
	Dir string

	calib    *Calib
	views    map[int]*View
	baseline float64
	poses    []msgs.Pose // of the left camera, nil without oxts
}

// Open reads the layout, calibration, timestamps and (when present) oxts of
// the drive in dir. calib names calib_cam_to_cam.txt; "" looks in dir and
// its parent.
func Open(dir, calib string) (*Dataset, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLayout, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a folder", ErrLayout, dir)
	}
	d := &Dataset{Dir: dir, views: map[int]*View{}}
	if calib == "" {
		calib = findUp(dir, CamToCam)
		if calib == "" {
			return nil, fmt.Errorf("%w: no %s in %s or its parent", ErrCalib, CamToCam, dir)
		}
	}
	if d.calib, err = readCalib(calib); err != nil {
		return nil, err
	}
	for _, cam := range []int{Left, Right} {
		v, err := d.openView(cam)
		if err != nil {
			if cam == Right && errors.Is(err, fs.ErrNotExist) {
				continue // mono
			}
			return nil, err
		}
		d.views[cam] = v
	}
	if r := d.views[Right]; r != nil {
		if l := d.views[Left]; r.Len() != l.Len() {
			return nil, fmt.Errorf("%w: %s has %d frames but %s has %d", ErrLayout, r.dir, r.Len(), l.dir, l.Len())
		}
		if d.baseline, err = d.calib.Baseline(Left, Right); err != nil {
			return nil, err
		}
	}
	if err := d.readOxts(); err != nil {
		return nil, err
	}
	return d, nil
}

// findUp returns dir/name or dir/../name, whichever exists, else "".
func findUp(dir, name string) string {
	for _, p := range []string{filepath.Join(dir, name), filepath.Join(filepath.Dir(filepath.Clean(dir)), name)} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func readCalib(path string) (*Calib, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCalib, err)
	}
	defer f.Close()
	return ParseCalib(f, path)
}

// Stereo reports whether the drive has image_03.
func (d *Dataset) Stereo() bool { return d.views[Right] != nil }

// Baseline is the stereo baseline in metres from the calibration (0 mono).
func (d *Dataset) Baseline() float64 { return d.baseline }

// HasPoses reports whether the drive has oxts ground-truth poses.
func (d *Dataset) HasPoses() bool { return d.poses != nil }

// View returns camera cam's frames (Left or Right).
func (d *Dataset) View(cam int) (*View, error) {
	v := d.views[cam]
	if v == nil {
		return nil, fmt.Errorf("%w: %s has no image_%02d", ErrLayout, d.Dir, cam)
	}
	return v, nil
}

// Drive returns the dataset as a replay.Drive (learner.Drive).
func (d *Dataset) Drive() (*replay.Drive, error) {
	var right replay.Stream
	if r := d.views[Right]; r != nil {
		right = r
	}
	return replay.NewDrive(d.views[Left], right, d.baseline, nil)
}

// OpenDrive opens a kitti:// URL (or a folder path) as a Drive.
func OpenDrive(pathOrURL string) (*replay.Drive, error) {
	dir := pathOrURL
	if strings.HasPrefix(pathOrURL, "kitti://") {
		var err error
		if dir, _, err = replay.ParseURL(pathOrURL); err != nil {
			return nil, err
		}
	}
	d, err := Open(dir, "")
	if err != nil {
		return nil, err
	}
	return d.Drive()
}

// View is one camera of a drive: a replay.Stream.
type View struct {
	d      *Dataset
	cam    int
	dir    string
	files  []string
	stamps []time.Time
	intr   msgs.Intrinsics
}

func (d *Dataset) openView(cam int) (*View, error) {
	dir := filepath.Join(d.Dir, fmt.Sprintf("image_%02d", cam))
	data := filepath.Join(dir, "data")
	ents, err := os.ReadDir(data)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s: %w", ErrLayout, data, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("%w: %v", ErrLayout, err)
	}
	v := &View{d: d, cam: cam, dir: dir}
	var idx []int
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".png") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(name, ".png"))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: %s: %s is not NNNNNNNNNN.png", ErrLayout, data, name)
		}
		idx = append(idx, n)
	}
	if len(idx) == 0 {
		return nil, fmt.Errorf("%w: %s holds no .png frames", ErrLayout, data)
	}
	sort.Ints(idx)
	for i, n := range idx {
		if n != i {
			return nil, fmt.Errorf("%w: %s: frame %010d.png is missing (the frames are numbered from 0 without gaps; found %010d.png next)", ErrLayout, data, i, n)
		}
		v.files = append(v.files, filepath.Join(data, fmt.Sprintf("%010d.png", n)))
	}
	if v.stamps, err = readStamps(filepath.Join(dir, "timestamps.txt"), len(v.files)); err != nil {
		return nil, err
	}
	if v.intr, err = d.calib.Intrinsics(cam); err != nil {
		return nil, err
	}
	return v, nil
}

// readStamps reads a timestamps.txt of n lines. A drive without one is
// stamped at KITTI's 10 Hz from the Unix epoch.
func readStamps(path string, n int) ([]time.Time, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		out := make([]time.Time, n)
		for i := range out {
			out[i] = time.Unix(0, int64(i)*int64(100*time.Millisecond))
		}
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLayout, err)
	}
	defer f.Close()
	var out []time.Time
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		t, err := time.Parse(stampLayout, line)
		if err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %q is not a KITTI timestamp (%s)", ErrLayout, path, len(out)+1, clip(line), stampLayout)
		}
		if len(out) > 0 && t.Before(out[len(out)-1]) {
			return nil, fmt.Errorf("%w: %s:%d: timestamp goes back in time", ErrLayout, path, len(out)+1)
		}
		out = append(out, t)
		if len(out) > n {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrLayout, path, err)
	}
	if len(out) != n {
		return nil, fmt.Errorf("%w: %s has %d timestamps for %d frames", ErrLayout, path, len(out), n)
	}
	return out, nil
}

// Len is the number of frames.
func (v *View) Len() int { return len(v.files) }

// Stamp is frame i's timestamp.
func (v *View) Stamp(i int) time.Time { return v.stamps[i] }

// Intrinsics is the camera's rectified pinhole model at S_rect size.
func (v *View) Intrinsics() msgs.Intrinsics { return v.intr }

// Frame decodes frame i (grey images become RGB), with the calibration's
// intrinsics (scaled when the image is not S_rect sized) and, when the
// drive has oxts, its ground-truth pose (Truth.Depth is nil: velodyne depth
// is not projected).
func (v *View) Frame(i int) (*msgs.Frame, error) {
	if i < 0 || i >= len(v.files) {
		return nil, fmt.Errorf("%w: frame %d of %d", ErrLayout, i, len(v.files))
	}
	f, err := os.Open(v.files[i])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFrame, err)
	}
	defer f.Close()
	im, err := png.Decode(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFrame, v.files[i], err)
	}
	b := im.Bounds()
	w, h := b.Dx(), b.Dy()
	pix := make([]byte, w*h*3)
	switch m := im.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, g := range row {
				o := (y*w + x) * 3
				pix[o], pix[o+1], pix[o+2] = g, g, g
			}
		}
	default:
		rgba, ok := im.(*image.RGBA)
		if !ok || rgba.Rect.Min != (image.Point{}) {
			rgba = image.NewRGBA(image.Rect(0, 0, w, h))
			draw.Draw(rgba, rgba.Bounds(), im, b.Min, draw.Src)
		}
		for y := 0; y < h; y++ {
			row := rgba.Pix[y*rgba.Stride : y*rgba.Stride+4*w]
			for x := 0; x < w; x++ {
				o := (y*w + x) * 3
				pix[o], pix[o+1], pix[o+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		}
	}
	k := v.intr
	if k.Width != w || k.Height != h {
		k = k.Scaled(w, h)
	}
	name := "left"
	if v.cam == Right {
		name = "right"
	}
	fr := &msgs.Frame{Camera: name, Seq: uint64(i), Stamp: v.stamps[i], Width: w, Height: h, Pix: pix, Intrinsics: &k}
	if p := v.d.poses; p != nil {
		pose := p[i]
		if v.cam == Right {
			// The right camera sits Baseline along the left's x axis.
			pose = pose.Compose(msgs.Pose{R: msgs.Identity().R, T: [3]float64{v.d.baseline, 0, 0}})
		}
		fr.Truth = &msgs.GroundTruth{Pose: pose}
	}
	return fr, nil
}

// nominalCamIMU is the rotation from the IMU axes (x forward, y left, z
// up) to a camera's (x right, y down, z forward), used when the drive has
// no calib_imu_to_velo.txt and calib_velo_to_cam.txt.
var nominalCamIMU = msgs.Pose{R: [9]float64{0, -1, 0, 0, 0, -1, 1, 0, 0}}

// readOxts reads oxts/data/NNNNNNNNNN.txt, one a frame, into left-camera
// poses (camera-to-world, the world being the left camera at frame 0), as
// the KITTI devkit's convertOxtsToPose: a Mercator projection scaled at the
// first latitude, and roll, pitch, yaw as R = Rz(yaw) Ry(pitch) Rx(roll).
func (d *Dataset) readOxts() error {
	dir := filepath.Join(d.Dir, "oxts", "data")
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	n := d.views[Left].Len()
	imu := make([]msgs.Pose, n)
	var scale float64
	for i := 0; i < n; i++ {
		path := filepath.Join(dir, fmt.Sprintf("%010d.txt", i))
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%w: oxts for frame %d: %v", ErrLayout, i, err)
		}
		v, err := parseOxts(string(b), path)
		if err != nil {
			return err
		}
		if i == 0 {
			scale = math.Cos(v[0] * math.Pi / 180)
		}
		imu[i] = oxtsPose(v, scale)
	}
	camIMU, err := d.camFromIMU()
	if err != nil {
		return err
	}
	imuCam := camIMU.Inverse()
	first := imu[0].Inverse()
	d.poses = make([]msgs.Pose, n)
	for i := range imu {
		d.poses[i] = camIMU.Compose(first.Compose(imu[i])).Compose(imuCam)
	}
	return nil
}

// parseOxts reads the first six values of an oxts line: lat, lon, alt,
// roll, pitch, yaw (degrees, metres, radians).
func parseOxts(s, path string) ([6]float64, error) {
	var v [6]float64
	f := strings.Fields(s)
	if len(f) < 6 {
		return v, fmt.Errorf("%w: %s has %d values, want 30 (at least lat lon alt roll pitch yaw)", ErrOxts, path, len(f))
	}
	for i := range v {
		x, err := strconv.ParseFloat(f[i], 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return v, fmt.Errorf("%w: %s: value %d %q is not a finite number", ErrOxts, path, i+1, clip(f[i]))
		}
		v[i] = x
	}
	if math.Abs(v[0]) >= 90 || math.Abs(v[1]) > 180 {
		return v, fmt.Errorf("%w: %s: latitude %g, longitude %g out of range", ErrOxts, path, v[0], v[1])
	}
	return v, nil
}

// earthRadius is the devkit's Earth radius in metres.
const earthRadius = 6378137.0

// oxtsPose is the devkit's IMU-to-world pose of one oxts record.
func oxtsPose(v [6]float64, scale float64) msgs.Pose {
	lat, lon, alt, roll, pitch, yaw := v[0], v[1], v[2], v[3], v[4], v[5]
	tx := scale * earthRadius * lon * math.Pi / 180
	ty := scale * earthRadius * math.Log(math.Tan((90+lat)*math.Pi/360))
	cr, sr := math.Cos(roll), math.Sin(roll)
	cp, sp := math.Cos(pitch), math.Sin(pitch)
	cy, sy := math.Cos(yaw), math.Sin(yaw)
	rx := msgs.Pose{R: [9]float64{1, 0, 0, 0, cr, -sr, 0, sr, cr}}
	ry := msgs.Pose{R: [9]float64{cp, 0, sp, 0, 1, 0, -sp, 0, cp}}
	rz := msgs.Pose{R: [9]float64{cy, -sy, 0, sy, cy, 0, 0, 0, 1}}
	p := rz.Compose(ry).Compose(rx)
	p.T = [3]float64{tx, ty, alt}
	return p
}

// camFromIMU returns the transform from IMU to rectified left-camera
// coordinates: P_rect_02's offset, R_rect_00, velo_to_cam and imu_to_velo
// when the drive has those files, else the nominal axis swap.
func (d *Dataset) camFromIMU() (msgs.Pose, error) {
	v2c, i2v := findUp(d.Dir, "calib_velo_to_cam.txt"), findUp(d.Dir, "calib_imu_to_velo.txt")
	if v2c == "" || i2v == "" {
		return nominalCamIMU, nil
	}
	cv, err := readCalib(v2c)
	if err != nil {
		return msgs.Pose{}, err
	}
	vi, err := readCalib(i2v)
	if err != nil {
		return msgs.Pose{}, err
	}
	camVelo, err := cv.Rigid()
	if err != nil {
		return msgs.Pose{}, err
	}
	veloIMU, err := vi.Rigid()
	if err != nil {
		return msgs.Pose{}, err
	}
	rect := msgs.Identity()
	if r, err := d.calib.get("R_rect_00", 9); err == nil {
		copy(rect.R[:], r)
	}
	off, err := d.calib.offset(Left)
	if err != nil {
		return msgs.Pose{}, err
	}
	toLeft := msgs.Pose{R: msgs.Identity().R, T: [3]float64{-off, 0, 0}}
	return toLeft.Compose(rect).Compose(camVelo).Compose(veloIMU), nil
}
