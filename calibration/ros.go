package calibration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/parallax-robotics/parallax/msgs"
)

// ROS camera_info YAML, as camera_calibration_parsers reads and writes it
// (and ROS's camera_calibration and Parallax's calibrate write it):
//
//	image_width: 640
//	image_height: 480
//	camera_name: left
//	camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
//	distortion_model: plumb_bob
//	distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, p1, p2, k3]}
//	rectification_matrix: {rows: 3, cols: 3, data: [...]}
//	projection_matrix: {rows: 3, cols: 4, data: [...]}

// rosFields maps the model's field names to the file's.
var rosFields = map[string]string{
	"size": "image_width", "K": "camera_matrix", "D": "distortion_coefficients",
	"distortion_model": "distortion_model", "R": "rectification_matrix", "P": "projection_matrix",
}

func parseROS(data []byte, file string) (*Set, error) {
	root, err := parseYAMLRoot(data, file)
	if err != nil {
		return nil, err
	}
	c, err := rosCamera(root)
	if err != nil {
		return nil, err
	}
	return &Set{Cameras: []Camera{c}}, nil
}

// rosCamera reads one camera from a camera_info mapping.
func rosCamera(m *ymap) (Camera, error) {
	var c Camera
	var err error
	var ok bool
	if c.Width, ok, err = m.integer("image_width", 1, msgs.MaxImageSide); err != nil {
		return c, err
	} else if !ok {
		return c, m.missing("image_width", ": the image size the calibration is for")
	}
	if c.Height, ok, err = m.integer("image_height", 1, msgs.MaxImageSide); err != nil {
		return c, err
	} else if !ok {
		return c, m.missing("image_height", ": the image size the calibration is for")
	}
	if c.Name, _, err = m.str("camera_name"); err != nil {
		return c, err
	}
	k, err := rosMatrix(m, "camera_matrix", 3, 3, true)
	if err != nil {
		return c, err
	}
	copy(c.K[:], k)
	c.Model = PlumbBob
	if s, ok, err := m.str("distortion_model"); err != nil {
		return c, err
	} else if ok {
		if c.Model, err = ParseModel(s); err != nil {
			return c, errAt(m.file, m.line("distortion_model"), m.sub("distortion_model"), ErrUnsupported, "%q (want plumb_bob, rational_polynomial or equidistant)", s)
		}
	}
	d, err := rosMatrix(m, "distortion_coefficients", 1, -1, false)
	if err != nil {
		return c, err
	}
	if c.D, err = normalizeD(c.Model, d); err != nil {
		return c, errAt(m.file, m.line("distortion_coefficients"), m.sub("distortion_coefficients"), errSentinel(err), "%s", errMsg(err))
	}
	c.R = identity3
	if r, err := rosMatrix(m, "rectification_matrix", 3, 3, false); err != nil {
		return c, err
	} else if r != nil {
		copy(c.R[:], r)
	}
	if p, err := rosMatrix(m, "projection_matrix", 3, 4, false); err != nil {
		return c, err
	} else if p != nil {
		copy(c.P[:], p)
	}
	return c, validateAt(&c, m, rosFields)
}

// validateAt validates c, pointing an error at the file's field for it.
func validateAt(c *Camera, m *ymap, fields map[string]string) error {
	err := c.Validate()
	if err == nil {
		return nil
	}
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	out := *e
	out.File = m.file
	if f, ok := fields[e.Field]; ok {
		out.Field = m.sub(f)
		out.Line = m.line(f)
	} else {
		out.Line = m.node.Line
	}
	return &out
}

// rosMatrix reads {rows, cols, data} under key; cols -1 takes any. It
// returns nil for an absent optional matrix.
func rosMatrix(m *ymap, key string, rows, cols int, required bool) ([]float64, error) {
	if !m.has(key) {
		if required {
			return nil, m.missing(key, "")
		}
		return nil, nil
	}
	mm, err := m.mapping(key)
	if err != nil {
		return nil, err
	}
	r, hasR, err := mm.integer("rows", 0, maxValues)
	if err != nil {
		return nil, err
	}
	cl, hasC, err := mm.integer("cols", 0, maxValues)
	if err != nil {
		return nil, err
	}
	data, ok, err := mm.floats("data")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, mm.missing("data", "")
	}
	if hasR && hasC && r*cl != len(data) {
		return nil, errAt(m.file, mm.line("data"), mm.sub("data"), ErrInvalid, "%d values for %d rows and %d cols", len(data), r, cl)
	}
	if hasR && r != rows && !(cols < 0 && r*cl == len(data) && (r == 1 || cl == 1)) {
		return nil, errAt(m.file, mm.line("rows"), mm.sub("rows"), ErrInvalid, "%d, want %d", r, rows)
	}
	if cols >= 0 {
		if hasC && cl != cols {
			return nil, errAt(m.file, mm.line("cols"), mm.sub("cols"), ErrInvalid, "%d, want %d", cl, cols)
		}
		if len(data) != rows*cols {
			return nil, errAt(m.file, mm.line("data"), mm.sub("data"), ErrInvalid, "%d values, want %d (%dx%d)", len(data), rows*cols, rows, cols)
		}
	}
	return data, nil
}

// normalizeD checks and pads a coefficient list to the model's length:
// plumb_bob with 4 (radtan, no k3) or none, a rational model with 5 (k4 to
// k6 zero), trailing zeros beyond the model's length (OpenCV's 14-term
// vectors with the extra terms unused).
func normalizeD(m Model, d []float64) ([]float64, error) {
	n := m.Coeffs()
	if n == 0 {
		return nil, fmt.Errorf("%w: distortion model %q", ErrUnsupported, string(m))
	}
	out := make([]float64, n)
	switch {
	case len(d) <= n:
		if len(d) != 0 && len(d) != n && !(m == PlumbBob && len(d) == 4) && !(m == RationalPolynomial && (len(d) == 5 || len(d) == 4)) {
			return nil, fmt.Errorf("%w: %d coefficients for %s, want %d", ErrInvalid, len(d), m, n)
		}
		copy(out, d)
	default:
		for i, v := range d[n:] {
			if v != 0 {
				return nil, fmt.Errorf("%w: coefficient %d of %d is %g: %s has %d (thin-prism and tilted models are not supported)", ErrUnsupported, n+i+1, len(d), v, m, n)
			}
		}
		copy(out, d[:n])
	}
	return out, nil
}

func errSentinel(err error) error {
	for _, s := range []error{ErrUnsupported, ErrMissing, ErrSyntax, ErrSize, ErrCameras} {
		if errors.Is(err, s) {
			return s
		}
	}
	return ErrInvalid
}

// errMsg is err's text without the sentinel's prefix.
func errMsg(err error) string {
	msg := err.Error()
	for _, s := range []error{ErrUnsupported, ErrMissing, ErrSyntax, ErrSize, ErrCameras, ErrInvalid} {
		msg = strings.TrimPrefix(msg, s.Error()+": ")
	}
	return msg
}

// WriteROS writes one camera as ROS camera_info YAML. A camera without a
// rectification is written with R the identity and P = [K|0], as ROS's
// camera_calibration does for a mono camera; the size must be known.
func WriteROS(w io.Writer, c Camera) error {
	if c.Width == 0 || c.Height == 0 {
		return fmt.Errorf("%w: ROS camera_info needs the image size", ErrSize)
	}
	if err := c.Validate(); err != nil {
		return err
	}
	c = c.WithDefaultRectification()
	var b bytes.Buffer
	fmt.Fprintf(&b, "image_width: %d\nimage_height: %d\n", c.Width, c.Height)
	name := c.Name
	if name == "" {
		name = "camera"
	}
	fmt.Fprintf(&b, "camera_name: %s\n", yamlString(name))
	rosWriteMatrix(&b, "camera_matrix", 3, 3, c.K[:])
	fmt.Fprintf(&b, "distortion_model: %s\n", c.Model)
	rosWriteMatrix(&b, "distortion_coefficients", 1, len(c.D), c.D)
	rosWriteMatrix(&b, "rectification_matrix", 3, 3, c.R[:])
	rosWriteMatrix(&b, "projection_matrix", 3, 4, c.P[:])
	_, err := w.Write(b.Bytes())
	return err
}

func rosWriteMatrix(b *bytes.Buffer, key string, rows, cols int, data []float64) {
	fmt.Fprintf(b, "%s:\n  rows: %d\n  cols: %d\n  data: [", key, rows, cols)
	for i, v := range data {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(formatFloat(v))
	}
	b.WriteString("]\n")
}

// formatFloat writes the shortest text that reads back to v exactly.
func formatFloat(v float64) string {
	if v == 0 {
		return "0" // not -0
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// yamlString quotes s when YAML would read it as something else.
func yamlString(s string) string {
	safe := s != "" && !strings.ContainsAny(s, ":#{}[],&*!|>'\"%@`\n\t") && strings.TrimSpace(s) == s
	if safe {
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			safe = false
		}
		switch strings.ToLower(s) {
		case "true", "false", "yes", "no", "on", "off", "null", "~":
			safe = false
		}
	}
	if safe {
		return s
	}
	return strconv.Quote(s)
}
