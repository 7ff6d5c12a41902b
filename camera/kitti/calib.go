package kitti

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/parallax-robotics/parallax/msgs"
)

// maxCalibSize bounds a calibration file: KITTI's are about 5 KB.
const maxCalibSize = 1 << 20

// Calib is a KITTI calibration file: "key: v1 v2 ..." lines
// (calib_cam_to_cam.txt, calib_velo_to_cam.txt, calib_imu_to_velo.txt).
// Values that are not numbers (calib_time) are kept as text only.
type Calib struct {
	// Values holds every numeric line by key ("P_rect_02": 12 values).
	Values map[string][]float64
	// Name is the file name, for errors.
	Name string
}

// ParseCalib reads a KITTI calibration file. name is used in errors.
func ParseCalib(r io.Reader, name string) (*Calib, error) {
	c := &Calib{Values: map[string][]float64{}, Name: name}
	sc := bufio.NewScanner(io.LimitReader(r, maxCalibSize+1))
	sc.Buffer(make([]byte, 4096), maxCalibSize)
	size, line := 0, 0
	for sc.Scan() {
		line++
		text := sc.Text()
		size += len(text) + 1
		if size > maxCalibSize {
			return nil, fmt.Errorf("%w: %s is over %d bytes", ErrCalib, name, maxCalibSize)
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		key, rest, ok := strings.Cut(text, ":")
		if !ok || strings.TrimSpace(key) == "" {
			return nil, fmt.Errorf("%w: %s:%d: %q is not \"key: values\"", ErrCalib, name, line, clip(text))
		}
		key = strings.TrimSpace(key)
		if key == "calib_time" || key == "corner_dist" {
			continue
		}
		fields := strings.Fields(rest)
		vals := make([]float64, 0, len(fields))
		for _, f := range fields {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: %s:%d: %s: %q is not a finite number", ErrCalib, name, line, key, clip(f))
			}
			vals = append(vals, v)
		}
		if _, dup := c.Values[key]; dup {
			return nil, fmt.Errorf("%w: %s:%d: %s given twice", ErrCalib, name, line, key)
		}
		c.Values[key] = vals
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCalib, name, err)
	}
	return c, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// get returns key's values, which must number n.
func (c *Calib) get(key string, n int) ([]float64, error) {
	v, ok := c.Values[key]
	if !ok {
		return nil, fmt.Errorf("%w: %s has no %s", ErrCalib, c.Name, key)
	}
	if len(v) != n {
		return nil, fmt.Errorf("%w: %s: %s has %d values, want %d", ErrCalib, c.Name, key, len(v), n)
	}
	return v, nil
}

// Intrinsics returns rectified camera cam's (2: left colour, 3: right
// colour; 0 and 1 grey) pinhole model from P_rect_0N and its image size
// from S_rect_0N, in the msgs convention (KITTI's principal point has pixel
// centres at integers, so 0.5 is added).
func (c *Calib) Intrinsics(cam int) (msgs.Intrinsics, error) {
	p, err := c.get(fmt.Sprintf("P_rect_%02d", cam), 12)
	if err != nil {
		return msgs.Intrinsics{}, err
	}
	s, err := c.get(fmt.Sprintf("S_rect_%02d", cam), 2)
	if err != nil {
		return msgs.Intrinsics{}, err
	}
	w, h := s[0], s[1]
	if w != math.Trunc(w) || h != math.Trunc(h) || w < 1 || h < 1 || w > msgs.MaxImageSide || h > msgs.MaxImageSide {
		return msgs.Intrinsics{}, fmt.Errorf("%w: %s: S_rect_%02d = %g x %g is not an image size", ErrCalib, c.Name, cam, w, h)
	}
	if !(p[0] > 0) || !(p[5] > 0) || p[1] != 0 || p[4] != 0 || p[8] != 0 || p[9] != 0 || p[10] != 1 {
		return msgs.Intrinsics{}, fmt.Errorf("%w: %s: P_rect_%02d = %v is not a rectified projection [fx 0 cx tx; 0 fy cy ty; 0 0 1 tz]", ErrCalib, c.Name, cam, p)
	}
	return msgs.Intrinsics{Width: int(w), Height: int(h), Fx: p[0], Fy: p[5], Cx: p[2] + 0.5, Cy: p[6] + 0.5}, nil
}

// offset returns camera cam's centre along the rectified x axis, in metres
// (P_rect = K [I | t] with t_x = P[3]/fx, the centre at -t_x).
func (c *Calib) offset(cam int) (float64, error) {
	p, err := c.get(fmt.Sprintf("P_rect_%02d", cam), 12)
	if err != nil {
		return 0, err
	}
	if !(p[0] > 0) {
		return 0, fmt.Errorf("%w: %s: P_rect_%02d has fx %g", ErrCalib, c.Name, cam, p[0])
	}
	return -p[3] / p[0], nil
}

// Baseline returns the distance in metres from camera left's centre to
// camera right's along the rectified x axis (2 and 3: about 0.54 m).
func (c *Calib) Baseline(left, right int) (float64, error) {
	l, err := c.offset(left)
	if err != nil {
		return 0, err
	}
	r, err := c.offset(right)
	if err != nil {
		return 0, err
	}
	b := r - l
	if !(b > 0) || b > 100 {
		return 0, fmt.Errorf("%w: %s: baseline from P_rect_%02d to P_rect_%02d is %g m: want the right camera to the right (0 to 100 m)", ErrCalib, c.Name, left, right, b)
	}
	return b, nil
}

// Rigid returns the transform of a calib_velo_to_cam / calib_imu_to_velo
// file (R: 9 values row-major, T: 3 values).
func (c *Calib) Rigid() (msgs.Pose, error) {
	r, err := c.get("R", 9)
	if err != nil {
		return msgs.Pose{}, err
	}
	t, err := c.get("T", 3)
	if err != nil {
		return msgs.Pose{}, err
	}
	var p msgs.Pose
	copy(p.R[:], r)
	copy(p.T[:], t)
	return p, nil
}
