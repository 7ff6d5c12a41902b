package calibration

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Kalibr's camchain YAML (kalibr_calibrate_cameras):
//
//	cam0:
//	  camera_model: pinhole
//	  intrinsics: [fu, fv, pu, pv]
//	  distortion_model: radtan        # or equidistant, none
//	  distortion_coeffs: [k1, k2, r1, r2]
//	  resolution: [752, 480]
//	cam1:
//	  T_cn_cnm1:                      # cam0 -> cam1, 4x4
//	  - [r11, r12, r13, t1]
//	  ...
//
// Kalibr's pinhole pixels are OpenCV's. radtan is plumb_bob without k3;
// omni, ds and eucm camera models are not supported. cam0 and cam1 with
// cam1's T_cn_cnm1 make the Stereo (extrinsics only: Kalibr does not
// rectify).

func parseKalibr(data []byte, file string) (*Set, error) {
	root, err := parseYAMLRoot(data, file)
	if err != nil {
		return nil, err
	}
	var ids []int
	for key := range root.keys {
		if n, ok := strings.CutPrefix(key, "cam"); ok {
			if id, err := strconv.Atoi(n); err == nil && id >= 0 && id < 64 {
				ids = append(ids, id)
			}
		}
	}
	sort.Ints(ids)
	for i, id := range ids {
		if id != i {
			return nil, errAt(file, root.line(fmt.Sprintf("cam%d", id)), fmt.Sprintf("cam%d", id), ErrMissing, "cam%d is missing: cameras are numbered from cam0 without gaps", i)
		}
	}
	if len(ids) == 0 {
		return nil, errAt(file, 0, "cam0", ErrMissing, "no cam0: not a Kalibr camchain")
	}
	s := &Set{}
	var ext *Extrinsics
	for _, id := range ids {
		key := fmt.Sprintf("cam%d", id)
		m, err := root.mapping(key)
		if err != nil {
			return nil, err
		}
		c, err := kalibrCamera(m, key)
		if err != nil {
			return nil, err
		}
		s.Cameras = append(s.Cameras, c)
		if id == 1 {
			n, ok := m.get("T_cn_cnm1")
			if ok {
				t, err := seqMatrix(file, m.sub("T_cn_cnm1"), n, 4, 4)
				if err != nil {
					return nil, err
				}
				if t[12] != 0 || t[13] != 0 || t[14] != 0 || t[15] != 1 {
					return nil, errAt(file, n.Line, m.sub("T_cn_cnm1"), ErrInvalid, "the last row is %v, want [0 0 0 1]", fmtFloats(t[12:]))
				}
				ext = &Extrinsics{R: [9]float64{t[0], t[1], t[2], t[4], t[5], t[6], t[8], t[9], t[10]}, T: [3]float64{t[3], t[7], t[11]}}
				if err := ext.Validate(); err != nil {
					return nil, withFile(err, file, n.Line, m.sub("T_cn_cnm1"))
				}
			}
		}
	}
	if len(s.Cameras) >= 2 && ext != nil {
		st := &Stereo{Left: s.Cameras[0], Right: s.Cameras[1], Extrinsics: ext}
		if err := st.Validate(); err != nil {
			return nil, withFile(err, file, root.line("cam1"), "")
		}
		s.Stereo = st
	}
	return s, nil
}

func kalibrCamera(m *ymap, name string) (Camera, error) {
	c := Camera{Name: name, R: identity3}
	if model, ok, err := m.str("camera_model"); err != nil {
		return c, err
	} else if ok && model != "pinhole" {
		return c, errAt(m.file, m.line("camera_model"), m.sub("camera_model"), ErrUnsupported, "%q: only pinhole cameras are supported (not omni, ds or eucm)", model)
	}
	in, ok, err := m.floats("intrinsics")
	if err != nil {
		return c, err
	} else if !ok {
		return c, m.missing("intrinsics", ": [fu, fv, pu, pv]")
	}
	if len(in) != 4 {
		return c, errAt(m.file, m.line("intrinsics"), m.sub("intrinsics"), ErrInvalid, "%d values, want [fu, fv, pu, pv]", len(in))
	}
	c.K = [9]float64{in[0], 0, in[2], 0, in[1], in[3], 0, 0, 1}
	res, ok, err := m.floats("resolution")
	if err != nil {
		return c, err
	} else if !ok {
		return c, m.missing("resolution", ": [width, height]")
	}
	if len(res) != 2 || res[0] != float64(int(res[0])) || res[1] != float64(int(res[1])) {
		return c, errAt(m.file, m.line("resolution"), m.sub("resolution"), ErrInvalid, "%v is not [width, height]", fmtFloats(res))
	}
	c.Width, c.Height = int(res[0]), int(res[1])
	dm, ok, err := m.str("distortion_model")
	if err != nil {
		return c, err
	}
	if !ok || dm == "none" {
		dm = "radtan"
	}
	switch dm {
	case "radtan", "equidistant":
		c.Model, _ = ParseModel(dm)
	default:
		return c, errAt(m.file, m.line("distortion_model"), m.sub("distortion_model"), ErrUnsupported, "%q: want radtan, equidistant or none (not fov)", dm)
	}
	d, _, err := m.floats("distortion_coeffs")
	if err != nil {
		return c, err
	}
	if len(d) != 0 && len(d) != 4 {
		return c, errAt(m.file, m.line("distortion_coeffs"), m.sub("distortion_coeffs"), ErrInvalid, "%d coefficients, %s has 4", len(d), dm)
	}
	if c.D, err = normalizeD(c.Model, d); err != nil {
		return c, errAt(m.file, m.line("distortion_coeffs"), m.sub("distortion_coeffs"), errSentinel(err), "%s", errMsg(err))
	}
	return c, validateAt(&c, m, map[string]string{"K": "intrinsics", "D": "distortion_coeffs", "size": "resolution"})
}

// writeKalibr writes a camchain: every camera, and cam1's T_cn_cnm1 from
// the stereo extrinsics. Kalibr has no rectification (R and P are not
// written), no k3 and no rational model.
func writeKalibr(w io.Writer, s *Set) error {
	cams := s.Cameras
	var ext *Extrinsics
	if s.Stereo != nil {
		cams = []Camera{s.Stereo.Left, s.Stereo.Right}
		ext = s.Stereo.Extrinsics
		if ext == nil {
			return fmt.Errorf("%w: Kalibr's camchain needs the pair's extrinsics (T_cn_cnm1)", ErrMissing)
		}
	}
	if len(cams) == 0 {
		return fmt.Errorf("%w: no camera", ErrCameras)
	}
	var b bytes.Buffer
	list := func(v []float64) string {
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = formatFloat(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	for i, c := range cams {
		if err := c.Validate(); err != nil {
			return err
		}
		if c.Width == 0 {
			return fmt.Errorf("%w: Kalibr's camchain needs the image size (resolution)", ErrSize)
		}
		if c.K[1] != 0 {
			return fmt.Errorf("%w: Kalibr's pinhole model has no skew", ErrUnsupported)
		}
		var dm string
		var d []float64
		switch c.Model {
		case PlumbBob:
			if c.D[4] != 0 {
				return fmt.Errorf("%w: Kalibr's radtan has no k3 (camera %d has k3 = %g)", ErrUnsupported, i, c.D[4])
			}
			dm, d = "radtan", c.D[:4]
		case Equidistant:
			dm, d = "equidistant", c.D
		default:
			return fmt.Errorf("%w: Kalibr has no %s model", ErrUnsupported, c.Model)
		}
		fmt.Fprintf(&b, "cam%d:\n", i)
		if i == 1 && ext != nil {
			r, t := ext.R, ext.T
			b.WriteString("  T_cn_cnm1:\n")
			fmt.Fprintf(&b, "  - %s\n  - %s\n  - %s\n  - [0, 0, 0, 1]\n",
				list([]float64{r[0], r[1], r[2], t[0]}), list([]float64{r[3], r[4], r[5], t[1]}), list([]float64{r[6], r[7], r[8], t[2]}))
		}
		if i > 0 {
			fmt.Fprintf(&b, "  cam_overlaps: [%d]\n", i-1)
		}
		fmt.Fprintf(&b, "  camera_model: pinhole\n  distortion_coeffs: %s\n  distortion_model: %s\n", list(d), dm)
		fmt.Fprintf(&b, "  intrinsics: %s\n  resolution: [%d, %d]\n", list([]float64{c.K[0], c.K[4], c.K[2], c.K[5]}), c.Width, c.Height)
	}
	_, err := w.Write(b.Bytes())
	return err
}
