package calibration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/parallax-robotics/parallax/msgs"
)

// KITTI's calibration files are "key: v1 v2 ..." lines:
// calib_cam_to_cam.txt (per camera N = 00..03: S_0N raw size, K_0N, D_0N,
// R_0N and T_0N its pose from camera 0, S_rect_0N, R_rect_0N, P_rect_0N),
// calib_velo_to_cam.txt and calib_imu_to_velo.txt (R, T). KITTIFile is the
// parsed lines; the calib_cam_to_cam.txt layout becomes a Set of its
// cameras with the colour pair 02/03 (or the grey 00/01) as Stereo.

// KITTIFile is a parsed KITTI calibration file.
type KITTIFile struct {
	// Name is the file name, for errors.
	Name string
	// Values holds every numeric line by key ("P_rect_02": 12 values).
	// Text values (calib_time) are skipped.
	Values map[string][]float64
	// Lines holds each key's line.
	Lines map[string]int
}

// ParseKITTI reads a KITTI calibration file. name is used in errors.
func ParseKITTI(r io.Reader, name string) (*KITTIFile, error) {
	c := &KITTIFile{Name: name, Values: map[string][]float64{}, Lines: map[string]int{}}
	sc := bufio.NewScanner(io.LimitReader(r, MaxFileSize+1))
	sc.Buffer(make([]byte, 4096), MaxFileSize)
	size, line := 0, 0
	for sc.Scan() {
		line++
		text := sc.Text()
		size += len(text) + 1
		if size > MaxFileSize {
			return nil, errAt(name, line, "", ErrSyntax, "larger than %d bytes", MaxFileSize)
		}
		text = strings.TrimSpace(text)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		key, rest, ok := strings.Cut(text, ":")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, errAt(name, line, "", ErrSyntax, "%q is not \"key: values\"", clip(text))
		}
		if key == "calib_time" || key == "corner_dist" {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) > maxValues {
			return nil, errAt(name, line, key, ErrInvalid, "%d values, more than %d", len(fields), maxValues)
		}
		vals := make([]float64, 0, len(fields))
		for _, f := range fields {
			v, err := parseNumber(f)
			if err != nil {
				return nil, errAt(name, line, key, ErrInvalid, "%q is not a finite number", clip(f))
			}
			vals = append(vals, v)
		}
		if _, dup := c.Values[key]; dup {
			return nil, errAt(name, line, key, ErrSyntax, "given twice (first at line %d)", c.Lines[key])
		}
		c.Values[key], c.Lines[key] = vals, line
	}
	if err := sc.Err(); err != nil {
		return nil, errAt(name, line, "", ErrSyntax, "%v", err)
	}
	return c, nil
}

// Get returns key's values, which must number n.
func (c *KITTIFile) Get(key string, n int) ([]float64, error) {
	v, ok := c.Values[key]
	if !ok {
		return nil, errAt(c.Name, 0, key, ErrMissing, "%s has no %s", c.Name, key)
	}
	if len(v) != n {
		return nil, errAt(c.Name, c.Lines[key], key, ErrInvalid, "has %d values, want %d", len(v), n)
	}
	return v, nil
}

// RectifiedIntrinsics returns rectified camera cam's (2: left colour, 3:
// right colour; 0 and 1 grey) pinhole model from P_rect_0N and its size
// from S_rect_0N, in the msgs pixel convention.
func (c *KITTIFile) RectifiedIntrinsics(cam int) (msgs.Intrinsics, error) {
	p, err := c.Get(fmt.Sprintf("P_rect_%02d", cam), 12)
	if err != nil {
		return msgs.Intrinsics{}, err
	}
	key := fmt.Sprintf("S_rect_%02d", cam)
	s, err := c.Get(key, 2)
	if err != nil {
		return msgs.Intrinsics{}, err
	}
	w, h, err := c.size(key, s)
	if err != nil {
		return msgs.Intrinsics{}, err
	}
	if !(p[0] > 0) || !(p[5] > 0) || p[1] != 0 || p[4] != 0 || p[8] != 0 || p[9] != 0 || p[10] != 1 {
		return msgs.Intrinsics{}, errAt(c.Name, c.Lines[fmt.Sprintf("P_rect_%02d", cam)], fmt.Sprintf("P_rect_%02d", cam), ErrInvalid,
			"%v is not a rectified projection [fx 0 cx tx; 0 fy cy ty; 0 0 1 tz]", fmtFloats(p))
	}
	return msgs.Intrinsics{Width: w, Height: h, Fx: p[0], Fy: p[5], Cx: msgs.FromROSPixel(p[2]), Cy: msgs.FromROSPixel(p[6])}, nil
}

func (c *KITTIFile) size(key string, s []float64) (int, int, error) {
	w, h := s[0], s[1]
	if w != math.Trunc(w) || h != math.Trunc(h) || w < 1 || h < 1 || w > msgs.MaxImageSide || h > msgs.MaxImageSide {
		return 0, 0, errAt(c.Name, c.Lines[key], key, ErrInvalid, "%g x %g is not an image size", w, h)
	}
	return int(w), int(h), nil
}

// Offset returns camera cam's centre along the rectified x axis in metres
// (P_rect = K [I | t] with t_x = P[3]/fx, the centre at -t_x).
func (c *KITTIFile) Offset(cam int) (float64, error) {
	key := fmt.Sprintf("P_rect_%02d", cam)
	p, err := c.Get(key, 12)
	if err != nil {
		return 0, err
	}
	if !(p[0] > 0) {
		return 0, errAt(c.Name, c.Lines[key], key, ErrInvalid, "fx is %g", p[0])
	}
	return -p[3] / p[0], nil
}

// Baseline returns the distance in metres from camera left's centre to
// camera right's along the rectified x axis (2 and 3: about 0.54 m).
func (c *KITTIFile) Baseline(left, right int) (float64, error) {
	l, err := c.Offset(left)
	if err != nil {
		return 0, err
	}
	r, err := c.Offset(right)
	if err != nil {
		return 0, err
	}
	b := r - l
	if !(b > 0) || b > 100 {
		return 0, errAt(c.Name, c.Lines[fmt.Sprintf("P_rect_%02d", right)], fmt.Sprintf("P_rect_%02d", right), ErrInvalid,
			"the baseline from P_rect_%02d to P_rect_%02d is %g m: want the right camera to the right (0 to 100 m)", left, right, b)
	}
	return b, nil
}

// Rigid returns the transform of a calib_velo_to_cam / calib_imu_to_velo
// file (R: 9 values row-major, T: 3 values).
func (c *KITTIFile) Rigid() (msgs.Pose, error) {
	r, err := c.Get("R", 9)
	if err != nil {
		return msgs.Pose{}, err
	}
	t, err := c.Get("T", 3)
	if err != nil {
		return msgs.Pose{}, err
	}
	var p msgs.Pose
	copy(p.R[:], r)
	copy(p.T[:], t)
	return p, nil
}

// Camera returns camera cam of a calib_cam_to_cam.txt: raw model from S_0N,
// K_0N and D_0N (plumb_bob) when the file has them, rectification from
// R_rect_0N and P_rect_0N, rectified size S_rect_0N. A file with only the
// rectified keys (Parallax's kitti writer, odometry-style files) gives a
// camera whose raw image is the rectified one (K from P, no distortion).
func (c *KITTIFile) Camera(cam int) (Camera, error) {
	k := func(s string) string { return fmt.Sprintf("%s_%02d", s, cam) }
	cm := Camera{Name: fmt.Sprintf("%02d", cam), Model: PlumbBob, D: make([]float64, 5), R: identity3}
	p, err := c.Get(k("P_rect"), 12)
	if err != nil {
		return cm, err
	}
	copy(cm.P[:], p)
	if s, ok := c.Values[k("S_rect")]; ok {
		if len(s) != 2 {
			return cm, errAt(c.Name, c.Lines[k("S_rect")], k("S_rect"), ErrInvalid, "%d values, want 2", len(s))
		}
		if cm.RectWidth, cm.RectHeight, err = c.size(k("S_rect"), s); err != nil {
			return cm, err
		}
	}
	if r, ok := c.Values[k("R_rect")]; ok {
		if len(r) != 9 {
			return cm, errAt(c.Name, c.Lines[k("R_rect")], k("R_rect"), ErrInvalid, "%d values, want 9", len(r))
		}
		copy(cm.R[:], r)
	} else if r, ok := c.Values["R_rect_00"]; ok && len(r) == 9 && cam != 0 {
		copy(cm.R[:], r)
	}
	if kk, ok := c.Values[k("K")]; ok {
		if len(kk) != 9 {
			return cm, errAt(c.Name, c.Lines[k("K")], k("K"), ErrInvalid, "%d values, want 9", len(kk))
		}
		copy(cm.K[:], kk)
		if d, ok := c.Values[k("D")]; ok {
			if cm.D, err = normalizeD(PlumbBob, d); err != nil {
				return cm, errAt(c.Name, c.Lines[k("D")], k("D"), errSentinel(err), "%s", errMsg(err))
			}
		}
		if s, ok := c.Values[k("S")]; ok && len(s) == 2 {
			if cm.Width, cm.Height, err = c.size(k("S"), s); err != nil {
				return cm, err
			}
		} else {
			cm.Width, cm.Height = cm.RectWidth, cm.RectHeight
		}
	} else {
		// Only the rectified camera: its raw image is the rectified one.
		cm.K = [9]float64{p[0], p[1], p[2], p[4], p[5], p[6], p[8], p[9], p[10]}
		cm.R = identity3
		cm.Width, cm.Height = cm.RectWidth, cm.RectHeight
	}
	if cm.RectWidth == cm.Width && cm.RectHeight == cm.Height {
		cm.RectWidth, cm.RectHeight = 0, 0
	}
	if err := cm.Validate(); err != nil {
		var e *Error
		if asError(err, &e) {
			key := map[string]string{"K": k("K"), "D": k("D"), "R": k("R_rect"), "P": k("P_rect"), "size": k("S")}[e.Field]
			return cm, errAt(c.Name, c.Lines[key], key, e.Err, "%s", e.Msg)
		}
		return cm, err
	}
	return cm, nil
}

// pose returns camera cam's R_0N, T_0N (from camera 0), ok false when absent.
func (c *KITTIFile) pose(cam int) (Extrinsics, bool) {
	r, okR := c.Values[fmt.Sprintf("R_%02d", cam)]
	t, okT := c.Values[fmt.Sprintf("T_%02d", cam)]
	if !okR || !okT || len(r) != 9 || len(t) != 3 {
		return Extrinsics{}, false
	}
	var e Extrinsics
	copy(e.R[:], r)
	copy(e.T[:], t)
	return e, true
}

func parseKITTISet(data []byte, name string) (*Set, error) {
	f, err := ParseKITTI(bytes.NewReader(data), name)
	if err != nil {
		return nil, err
	}
	var ids []int
	for key := range f.Values {
		if n, ok := strings.CutPrefix(key, "P_rect_"); ok {
			if id, err := strconv.Atoi(n); err == nil && id >= 0 && id < 100 {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil, errAt(name, 0, "P_rect_02", ErrMissing, "no P_rect_0N: not a calib_cam_to_cam.txt")
	}
	sort.Ints(ids)
	s := &Set{}
	byID := map[int]int{}
	for _, id := range ids {
		cam, err := f.Camera(id)
		if err != nil {
			return nil, err
		}
		byID[id] = len(s.Cameras)
		s.Cameras = append(s.Cameras, cam)
	}
	for _, pair := range [][2]int{{2, 3}, {0, 1}} {
		li, okL := byID[pair[0]]
		ri, okR := byID[pair[1]]
		if !okL || !okR {
			continue
		}
		st := &Stereo{Left: s.Cameras[li], Right: s.Cameras[ri]}
		if pl, ok := f.pose(pair[0]); ok {
			if pr, ok := f.pose(pair[1]); ok {
				// x_r = R_r R_l^T (x_l - T_l) + T_r.
				r := mul3(pr.R, transpose3(pl.R))
				rt := mulVec3(r, pl.T)
				st.Extrinsics = &Extrinsics{R: r, T: vec3{pr.T[0] - rt[0], pr.T[1] - rt[1], pr.T[2] - rt[2]}}
			}
		}
		if err := st.Validate(); err != nil {
			return nil, withFile(err, name, f.Lines[fmt.Sprintf("P_rect_%02d", pair[1])], "")
		}
		s.Stereo = st
		break
	}
	return s, nil
}

// writeKITTI writes a calib_cam_to_cam.txt: a stereo set as cameras 02 and
// 03 (the left as the reference, R_02 the identity), a mono one as camera
// 02. KITTI's layout has P_rect: a stereo set must be rectified; a mono
// camera without a rectification gets [K|0].
func writeKITTI(w io.Writer, s *Set) error {
	var cams []Camera
	var ext *Extrinsics
	if s.Stereo != nil {
		if !s.Stereo.Rectified() {
			return fmt.Errorf("%w: KITTI's calib_cam_to_cam.txt needs the pair's rectification (P_rect_02, P_rect_03): rectify it first", ErrMissing)
		}
		if err := s.Stereo.Validate(); err != nil {
			return err
		}
		cams, ext = []Camera{s.Stereo.Left, s.Stereo.Right}, s.Stereo.Extrinsics
	} else {
		c, err := s.Mono()
		if err != nil {
			return err
		}
		cams = []Camera{c.WithDefaultRectification()}
	}
	var b bytes.Buffer
	b.WriteString("calib_time: written by parallax\n")
	line := func(key string, v []float64) {
		b.WriteString(key + ":")
		for _, x := range v {
			b.WriteString(" " + formatFloat(x))
		}
		b.WriteString("\n")
	}
	for i, c := range cams {
		if err := c.Validate(); err != nil {
			return err
		}
		if c.Model != PlumbBob {
			return fmt.Errorf("%w: KITTI's D_0N is plumb_bob, camera %d is %s", ErrUnsupported, i, c.Model)
		}
		id := 2 + i
		k := func(s string) string { return fmt.Sprintf("%s_%02d", s, id) }
		if c.Width > 0 {
			line(k("S"), []float64{float64(c.Width), float64(c.Height)})
		}
		line(k("K"), c.K[:])
		line(k("D"), c.D)
		r, t := identity3, vec3{}
		if i == 1 && ext != nil {
			r, t = ext.R, ext.T
		}
		if i == 0 || ext != nil {
			line(k("R"), r[:])
			line(k("T"), t[:])
		}
		if rw, rh := c.RectSize(); rw > 0 {
			line(k("S_rect"), []float64{float64(rw), float64(rh)})
		}
		line(k("R_rect"), c.R[:])
		line(k("P_rect"), c.P[:])
	}
	_, err := w.Write(b.Bytes())
	return err
}
