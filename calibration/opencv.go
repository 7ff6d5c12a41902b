package calibration

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/parallax-robotics/parallax/msgs"
)

// OpenCV FileStorage, YAML (%YAML:1.0, matrices tagged !!opencv-matrix
// with rows, cols, dt and data) and XML (<opencv_storage>, matrices with
// type_id="opencv-matrix"). Both are read into one tree of top-level keys;
// the layouts are then read from it:
//
//   - stereo: M1 D1 M2 D2 (also K1/K2, cameraMatrix1/2, distCoeffs1/2), the
//     extrinsics R T and optionally the rectification R1 R2 P1 P2 Q, as
//     OpenCV's stereo_calib sample writes them (intrinsics.yml with M1..D2,
//     extrinsics.yml with R T R1 R2 P1 P2 Q: Read takes both files);
//   - mono: camera_matrix (also cameraMatrix, K) and
//     distortion_coefficients (also distCoeffs, D), as OpenCV's
//     calibration sample writes them, optionally rectification_matrix and
//     projection_matrix.
//
// The image size is image_width and image_height, or imageSize/image_size
// [w, h]; stereo_calib writes none (0: the frames' size is used). The
// distortion model is distortion_model when given, else told from D's
// length: 4 is cv::fisheye's equidistant model (cv::calibrateCamera always
// returns at least 5), 5 plumb_bob, 8 (or 12 or 14 with the extra terms 0)
// rational_polynomial.

type fsKind int

const (
	fsScalar fsKind = iota + 1
	fsMatrix
	fsSeq
	fsMap
)

type fsNode struct {
	file  string
	name  string
	line  int
	kind  fsKind
	value string    // fsScalar
	rows  int       // fsMatrix
	cols  int       // fsMatrix
	data  []float64 // fsMatrix
	items []string  // fsSeq
}

type storage struct {
	format Format
	files  []string
	nodes  map[string]*fsNode
}

func parseStorage(data []byte, file string, f Format) (*storage, error) {
	st := &storage{format: f, files: []string{file}, nodes: map[string]*fsNode{}}
	var err error
	if f == FormatOpenCVXML {
		err = st.parseXML(data, file)
	} else {
		err = st.parseYAML(data, file)
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (st *storage) add(n *fsNode) error {
	if old, dup := st.nodes[n.name]; dup {
		where := ""
		if old.file != n.file {
			where = " in " + old.file
		}
		return errAt(n.file, n.line, n.name, ErrSyntax, "given twice (first at line %d%s)", old.line, where)
	}
	st.nodes[n.name] = n
	return nil
}

func (st *storage) merge(o *storage) error {
	for _, n := range o.nodes {
		if err := st.add(n); err != nil {
			return err
		}
	}
	st.files = append(st.files, o.files...)
	return nil
}

// parseYAML reads FileStorage YAML: yaml.v3 with the %YAML:1.0 line (not
// valid YAML 1.1 syntax) turned into a comment, so lines stay put.
func (st *storage) parseYAML(data []byte, file string) error {
	fixed := data
	if i := bytes.Index(data, []byte("%YAML:")); i >= 0 && len(bytes.TrimSpace(data[:i])) == 0 {
		fixed = bytes.Clone(data)
		fixed[i] = '#'
	}
	root, err := parseYAMLRoot(fixed, file)
	if err != nil {
		return err
	}
	for i := 0; i+1 < len(root.node.Content); i += 2 {
		key, val := root.node.Content[i].Value, deref(root.node.Content[i+1])
		n := &fsNode{file: file, name: key, line: val.Line}
		switch {
		case val.Kind == yaml.MappingNode && (strings.Contains(val.Tag, "opencv-matrix") || isMatrixMap(val)):
			m, err := newYMap(file, key, val)
			if err != nil {
				return err
			}
			if err := yamlMatrix(m, n); err != nil {
				return err
			}
		case val.Kind == yaml.ScalarNode:
			n.kind, n.value = fsScalar, val.Value
		case val.Kind == yaml.SequenceNode:
			n.kind = fsSeq
			for _, c := range val.Content {
				c = deref(c)
				if c.Kind != yaml.ScalarNode {
					n.kind = fsMap // nested data this package does not read
					break
				}
				n.items = append(n.items, c.Value)
			}
		default:
			n.kind = fsMap
		}
		if err := st.add(n); err != nil {
			return err
		}
	}
	return nil
}

func isMatrixMap(n *yaml.Node) bool {
	has := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		has[n.Content[i].Value] = true
	}
	return has["rows"] && has["cols"] && has["data"]
}

func yamlMatrix(m *ymap, n *fsNode) error {
	rows, ok, err := m.integer("rows", 0, maxValues)
	if err != nil {
		return err
	} else if !ok {
		return m.missing("rows", "")
	}
	cols, ok, err := m.integer("cols", 0, maxValues)
	if err != nil {
		return err
	} else if !ok {
		return m.missing("cols", "")
	}
	data, ok, err := m.floats("data")
	if err != nil {
		return err
	} else if !ok {
		return m.missing("data", "")
	}
	dt, _, err := m.str("dt")
	if err != nil {
		return err
	}
	channels := 1
	if len(dt) > 1 && dt[0] >= '1' && dt[0] <= '9' {
		channels = int(dt[0] - '0')
	}
	if rows*cols*channels != len(data) {
		return errAt(m.file, m.line("data"), m.sub("data"), ErrInvalid, "%d values for %d rows, %d cols and %d channels", len(data), rows, cols, channels)
	}
	n.kind, n.rows, n.cols, n.data = fsMatrix, rows, cols*channels, data
	return nil
}

// parseXML reads FileStorage XML: <opencv_storage> with one element per key.
func (st *storage) parseXML(data []byte, file string) (err error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	line := func() int { l, _ := dec.InputPos(); return l }
	synErr := func(e error) error {
		var se *xml.SyntaxError
		if errors.As(e, &se) {
			return errAt(file, se.Line, "", ErrSyntax, "%s", se.Msg)
		}
		return errAt(file, line(), "", ErrSyntax, "%v", e)
	}
	// The root.
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errAt(file, line(), "", ErrSyntax, "no <opencv_storage> element")
			}
			return synErr(err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "opencv_storage" {
				return errAt(file, line(), "", ErrFormat, "the root element is <%s>, want <opencv_storage>", se.Name.Local)
			}
			break
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errAt(file, line(), "", ErrSyntax, "</opencv_storage> is missing")
			}
			return synErr(err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil // </opencv_storage>
		case xml.StartElement:
			n := &fsNode{file: file, name: t.Name.Local, line: line()}
			matrix := false
			for _, a := range t.Attr {
				if a.Name.Local == "type_id" && a.Value == "opencv-matrix" {
					matrix = true
				}
			}
			if err := xmlValue(dec, n, matrix, synErr, line); err != nil {
				return err
			}
			if err := st.add(n); err != nil {
				return err
			}
		}
	}
}

// xmlValue reads the content of one top-level element.
func xmlValue(dec *xml.Decoder, n *fsNode, matrix bool, synErr func(error) error, line func() int) error {
	var text strings.Builder
	fields := map[string]string{}
	fieldLine := map[string]int{}
	depth := 0
	var cur string
	for {
		tok, err := dec.Token()
		if err != nil {
			return synErr(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > 8 {
				return errAt(n.file, line(), n.name, ErrSyntax, "nested too deep")
			}
			cur = t.Name.Local
			fieldLine[cur] = line()
			if depth == 1 && !matrix {
				n.kind = fsMap
			}
		case xml.EndElement:
			if depth == 0 {
				if matrix {
					return xmlMatrix(n, fields, fieldLine)
				}
				if n.kind == fsMap {
					return nil
				}
				s := strings.TrimSpace(text.String())
				if items := xmlItems(s); len(items) > 1 {
					n.kind, n.items = fsSeq, items
				} else {
					n.kind, n.value = fsScalar, strings.Trim(s, `"`)
				}
				return nil
			}
			depth--
			cur = ""
		case xml.CharData:
			if text.Len()+len(t) > MaxFileSize {
				return errAt(n.file, line(), n.name, ErrSyntax, "too long")
			}
			if depth == 0 {
				text.Write(t)
			} else if depth == 1 && cur != "" {
				fields[cur] += string(t)
			}
		}
	}
}

// xmlItems splits a FileStorage XML sequence: whitespace-separated values,
// strings in double quotes.
func xmlItems(s string) []string {
	var out []string
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			break
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				out = append(out, s[1:])
				break
			}
			out = append(out, s[1:1+end])
			s = s[2+end:]
			continue
		}
		end := strings.IndexAny(s, " \t\r\n")
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}

func xmlMatrix(n *fsNode, f map[string]string, lines map[string]int) error {
	at := func(k string) int {
		if l, ok := lines[k]; ok {
			return l
		}
		return n.line
	}
	num := func(k string) (int, error) {
		s, ok := f[k]
		if !ok {
			return 0, errAt(n.file, n.line, n.name+"."+k, ErrMissing, "required")
		}
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < 0 || v > maxValues {
			return 0, errAt(n.file, at(k), n.name+"."+k, ErrInvalid, "%q is not a matrix size", clip(strings.TrimSpace(s)))
		}
		return v, nil
	}
	rows, err := num("rows")
	if err != nil {
		return err
	}
	cols, err := num("cols")
	if err != nil {
		return err
	}
	ds, ok := f["data"]
	if !ok {
		return errAt(n.file, n.line, n.name+".data", ErrMissing, "required")
	}
	fields := strings.Fields(ds)
	if len(fields) > maxValues {
		return errAt(n.file, at("data"), n.name+".data", ErrInvalid, "%d values, more than %d", len(fields), maxValues)
	}
	data := make([]float64, len(fields))
	for i, s := range fields {
		v, err := parseNumber(s)
		if err != nil {
			return errAt(n.file, at("data"), fmt.Sprintf("%s.data[%d]", n.name, i), ErrInvalid, "%q is not a finite number", clip(s))
		}
		data[i] = v
	}
	channels := 1
	if dt := strings.TrimSpace(f["dt"]); len(dt) > 1 && dt[0] >= '1' && dt[0] <= '9' {
		channels = int(dt[0] - '0')
	}
	if rows*cols*channels != len(data) {
		return errAt(n.file, at("data"), n.name+".data", ErrInvalid, "%d values for %d rows, %d cols and %d channels", len(data), rows, cols, channels)
	}
	n.kind, n.rows, n.cols, n.data = fsMatrix, rows, cols*channels, data
	return nil
}

// The layouts.

func (st *storage) first(names ...string) *fsNode {
	for _, k := range names {
		if n, ok := st.nodes[k]; ok {
			return n
		}
	}
	return nil
}

func (st *storage) fileName() string { return strings.Join(st.files, " + ") }

// matrix returns the matrix under one of names with exactly size values
// (any shape: OpenCV writes D as 1x5 or 5x1), nil when absent.
func (st *storage) matrix(size int, names ...string) ([]float64, *fsNode, error) {
	n := st.first(names...)
	if n == nil {
		return nil, nil, nil
	}
	if n.kind != fsMatrix {
		return nil, n, errAt(n.file, n.line, n.name, ErrInvalid, "want an opencv-matrix")
	}
	if size > 0 && len(n.data) != size {
		return nil, n, errAt(n.file, n.line, n.name, ErrInvalid, "%dx%d, want %d values", n.rows, n.cols, size)
	}
	return n.data, n, nil
}

func (st *storage) scalarInt(lo, hi int, names ...string) (int, bool, error) {
	n := st.first(names...)
	if n == nil {
		return 0, false, nil
	}
	if n.kind != fsScalar {
		return 0, true, errAt(n.file, n.line, n.name, ErrInvalid, "want a number")
	}
	v, err := strconv.Atoi(strings.TrimSpace(n.value))
	if err != nil || v < lo || v > hi {
		return 0, true, errAt(n.file, n.line, n.name, ErrInvalid, "%q: want a whole number from %d to %d", clip(n.value), lo, hi)
	}
	return v, true, nil
}

// size reads the image size, 0x0 when the file has none.
func (st *storage) size() (w, h int, err error) {
	w, okW, err := st.scalarInt(1, msgs.MaxImageSide, "image_width", "imageWidth", "width")
	if err != nil {
		return 0, 0, err
	}
	h, okH, err := st.scalarInt(1, msgs.MaxImageSide, "image_height", "imageHeight", "height")
	if err != nil {
		return 0, 0, err
	}
	if okW && okH {
		return w, h, nil
	}
	if okW != okH {
		n := st.first("image_width", "imageWidth", "width", "image_height", "imageHeight", "height")
		return 0, 0, errAt(n.file, n.line, n.name, ErrMissing, "image_width and image_height go together")
	}
	n := st.first("imageSize", "image_size")
	if n == nil {
		return 0, 0, nil
	}
	var vals []string
	switch n.kind {
	case fsSeq:
		vals = n.items
	case fsMatrix:
		for _, v := range n.data {
			vals = append(vals, strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	if len(vals) != 2 {
		return 0, 0, errAt(n.file, n.line, n.name, ErrInvalid, "want [width, height]")
	}
	for i, s := range vals {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < 1 || v > msgs.MaxImageSide {
			return 0, 0, errAt(n.file, n.line, n.name, ErrInvalid, "%q is not an image side", clip(s))
		}
		if i == 0 {
			w = v
		} else {
			h = v
		}
	}
	return w, h, nil
}

// model returns the distortion model: the file's distortion_model, else
// told from the coefficient count.
func (st *storage) model(d []float64) (Model, error) {
	if n := st.first("distortion_model", "distortionModel"); n != nil && n.kind == fsScalar {
		m, err := ParseModel(n.value)
		if err != nil {
			return "", errAt(n.file, n.line, n.name, ErrUnsupported, "%q (want plumb_bob, rational_polynomial or equidistant)", n.value)
		}
		return m, nil
	}
	switch {
	case len(d) == 4:
		return Equidistant, nil
	case len(d) <= 5:
		return PlumbBob, nil
	}
	return RationalPolynomial, nil
}

// camera reads one camera's K and D under the given names.
func (st *storage) camera(kNames, dNames []string, w, h int) (Camera, error) {
	var c Camera
	k, kn, err := st.matrix(9, kNames...)
	if err != nil {
		return c, err
	}
	if k == nil {
		return c, errAt(st.fileName(), 0, kNames[0], ErrMissing, "required")
	}
	copy(c.K[:], k)
	d, dn, err := st.matrix(0, dNames...)
	if err != nil {
		return c, err
	}
	if c.Model, err = st.model(d); err != nil {
		return c, err
	}
	if c.D, err = normalizeD(c.Model, d); err != nil {
		return c, errAt(dn.file, dn.line, dn.name, errSentinel(err), "%s", errMsg(err))
	}
	c.Width, c.Height, c.R = w, h, identity3
	if err := c.Validate(); err != nil {
		return c, st.fieldErr(err, map[string]*fsNode{"K": kn, "D": dn})
	}
	return c, nil
}

// fieldErr points a model error at the node its field came from.
func (st *storage) fieldErr(err error, nodes map[string]*fsNode) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	out := *e
	out.File = st.fileName()
	field := e.Field
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		field = field[i+1:]
	}
	if n := nodes[field]; n != nil {
		out.File, out.Line, out.Field = n.file, n.line, n.name
	}
	return &out
}

func (st *storage) set() (*Set, error) {
	w, h, err := st.size()
	if err != nil {
		return nil, err
	}
	if st.first("M1", "K1", "cameraMatrix1", "M2", "K2", "cameraMatrix2") != nil {
		return st.stereo(w, h)
	}
	if st.first("camera_matrix", "cameraMatrix", "K", "M") != nil {
		c, err := st.camera([]string{"camera_matrix", "cameraMatrix", "K", "M"},
			[]string{"distortion_coefficients", "distortion_coeffs", "distCoeffs", "dist_coeffs", "D"}, w, h)
		if err != nil {
			return nil, err
		}
		if n := st.first("camera_name", "cameraName"); n != nil && n.kind == fsScalar {
			c.Name = n.value
		}
		nodes := map[string]*fsNode{}
		if r, n, err := st.matrix(9, "rectification_matrix", "R"); err != nil {
			return nil, err
		} else if r != nil {
			copy(c.R[:], r)
			nodes["R"] = n
		}
		if p, n, err := st.matrix(12, "projection_matrix", "P"); err != nil {
			return nil, err
		} else if p != nil {
			copy(c.P[:], p)
			nodes["P"] = n
		}
		if err := c.Validate(); err != nil {
			return nil, st.fieldErr(err, nodes)
		}
		return &Set{Cameras: []Camera{c}}, nil
	}
	if st.first("R1", "P1", "T") != nil {
		return nil, errAt(st.fileName(), 0, "M1", ErrMissing, "the file holds extrinsics (R, T, R1, P1, ...) but no camera matrices: read it together with the intrinsics file (M1 D1 M2 D2; launch files: stereo.calibration and stereo.extrinsics)")
	}
	return nil, errAt(st.fileName(), 0, "", ErrFormat, "an OpenCV FileStorage file with neither a stereo calibration (M1 D1 M2 D2) nor a camera's (camera_matrix, distortion_coefficients)")
}

func (st *storage) stereo(w, h int) (*Set, error) {
	left, err := st.camera([]string{"M1", "K1", "cameraMatrix1"}, []string{"D1", "distCoeffs1"}, w, h)
	if err != nil {
		return nil, err
	}
	right, err := st.camera([]string{"M2", "K2", "cameraMatrix2"}, []string{"D2", "distCoeffs2"}, w, h)
	if err != nil {
		return nil, err
	}
	left.Name, right.Name = "left", "right"
	s := &Stereo{Left: left, Right: right}
	nodes := map[string]*fsNode{}
	r, rn, err := st.matrix(9, "R")
	if err != nil {
		return nil, err
	}
	t, tn, err := st.matrix(3, "T")
	if err != nil {
		return nil, err
	}
	if (r == nil) != (t == nil) {
		return nil, errAt(st.fileName(), 0, "T", ErrMissing, "R and T go together")
	}
	if r != nil {
		e := &Extrinsics{}
		copy(e.R[:], r)
		copy(e.T[:], t)
		s.Extrinsics = e
		nodes["R"], nodes["T"] = rn, tn
	}
	for _, side := range []struct {
		cam  *Camera
		r, p string
	}{{&s.Left, "R1", "P1"}, {&s.Right, "R2", "P2"}} {
		rr, rn, err := st.matrix(9, side.r)
		if err != nil {
			return nil, err
		}
		pp, pn, err := st.matrix(12, side.p)
		if err != nil {
			return nil, err
		}
		if (rr == nil) != (pp == nil) {
			return nil, errAt(st.fileName(), 0, side.p, ErrMissing, "%s and %s go together", side.r, side.p)
		}
		if rr != nil {
			copy(side.cam.R[:], rr)
			copy(side.cam.P[:], pp)
			nodes[side.r], nodes[side.p] = rn, pn
		}
	}
	if s.Extrinsics == nil && !s.Rectified() {
		return nil, errAt(st.fileName(), 0, "R", ErrMissing, "the file holds the cameras' intrinsics (M1 D1 M2 D2) but neither extrinsics (R, T) nor a rectification (R1 R2 P1 P2): read it together with the extrinsics file (launch files: stereo.extrinsics)")
	}
	if err := s.Validate(); err != nil {
		return nil, st.stereoErr(err, nodes)
	}
	return &Set{Cameras: []Camera{s.Left, s.Right}, Stereo: s}, nil
}

// stereoErr points a Stereo.Validate error at the file's key.
func (st *storage) stereoErr(err error, nodes map[string]*fsNode) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	key := map[string]string{"left.R": "R1", "left.P": "P1", "right.R": "R2", "right.P": "P2", "extrinsics.R": "R", "extrinsics.T": "T",
		"P": "P2", "right.size": "P2"}[e.Field]
	out := *e
	out.File = st.fileName()
	if n := nodes[key]; n != nil {
		out.File, out.Line, out.Field = n.file, n.line, n.name
	}
	return &out
}

// Writing.

func writeOpenCV(w io.Writer, f Format, s *Set) error {
	type entry struct {
		key        string
		rows, cols int
		data       []float64
		text       string // a scalar instead
	}
	var es []entry
	mat := func(k string, r, c int, d []float64) { es = append(es, entry{key: k, rows: r, cols: c, data: d}) }
	scalar := func(k, v string) { es = append(es, entry{key: k, text: v}) }
	switch {
	case s.Stereo != nil:
		st := s.Stereo
		if err := st.Validate(); err != nil {
			return err
		}
		if st.Left.Width > 0 {
			scalar("image_width", strconv.Itoa(st.Left.Width))
			scalar("image_height", strconv.Itoa(st.Left.Height))
		}
		if st.Left.Model != st.Right.Model {
			return fmt.Errorf("%w: OpenCV's stereo layout has one distortion model, the cameras have %s and %s", ErrUnsupported, st.Left.Model, st.Right.Model)
		}
		scalar("distortion_model", string(st.Left.Model))
		mat("M1", 3, 3, st.Left.K[:])
		mat("D1", 1, len(st.Left.D), st.Left.D)
		mat("M2", 3, 3, st.Right.K[:])
		mat("D2", 1, len(st.Right.D), st.Right.D)
		if e := st.Extrinsics; e != nil {
			mat("R", 3, 3, e.R[:])
			mat("T", 3, 1, e.T[:])
		}
		if st.Rectified() {
			mat("R1", 3, 3, st.Left.R[:])
			mat("R2", 3, 3, st.Right.R[:])
			mat("P1", 3, 4, st.Left.P[:])
			mat("P2", 3, 4, st.Right.P[:])
			q := st.Q()
			mat("Q", 4, 4, q[:])
		}
	default:
		c, err := s.Mono()
		if err != nil {
			return err
		}
		if err := c.Validate(); err != nil {
			return err
		}
		if c.Width > 0 {
			scalar("image_width", strconv.Itoa(c.Width))
			scalar("image_height", strconv.Itoa(c.Height))
		}
		if c.Name != "" {
			scalar("camera_name", c.Name)
		}
		scalar("distortion_model", string(c.Model))
		mat("camera_matrix", 3, 3, c.K[:])
		mat("distortion_coefficients", 1, len(c.D), c.D)
		if c.HasRectification() {
			mat("rectification_matrix", 3, 3, c.R[:])
			mat("projection_matrix", 3, 4, c.P[:])
		}
	}
	var b bytes.Buffer
	if f == FormatOpenCVXML {
		b.WriteString("<?xml version=\"1.0\"?>\n<opencv_storage>\n")
		for _, e := range es {
			if e.data == nil {
				var t bytes.Buffer
				if err := xml.EscapeText(&t, []byte(e.text)); err != nil {
					return err
				}
				if _, err := strconv.Atoi(e.text); err != nil {
					fmt.Fprintf(&b, "<%s>\"%s\"</%s>\n", e.key, t.String(), e.key)
				} else {
					fmt.Fprintf(&b, "<%s>%s</%s>\n", e.key, t.String(), e.key)
				}
				continue
			}
			fmt.Fprintf(&b, "<%s type_id=\"opencv-matrix\">\n  <rows>%d</rows>\n  <cols>%d</cols>\n  <dt>d</dt>\n  <data>\n   ", e.key, e.rows, e.cols)
			for _, v := range e.data {
				b.WriteString(" " + cvFloat(v))
			}
			fmt.Fprintf(&b, "</data></%s>\n", e.key)
		}
		b.WriteString("</opencv_storage>\n")
	} else {
		b.WriteString("%YAML:1.0\n---\n")
		for _, e := range es {
			if e.data == nil {
				if _, err := strconv.Atoi(e.text); err == nil {
					fmt.Fprintf(&b, "%s: %s\n", e.key, e.text)
				} else {
					fmt.Fprintf(&b, "%s: %s\n", e.key, strconv.Quote(e.text))
				}
				continue
			}
			fmt.Fprintf(&b, "%s: !!opencv-matrix\n   rows: %d\n   cols: %d\n   dt: d\n   data: [", e.key, e.rows, e.cols)
			for i, v := range e.data {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(" " + cvFloat(v))
			}
			b.WriteString(" ]\n")
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// cvFloat writes a real as OpenCV reads one back as a real: exactly (the
// shortest round-tripping text) and with a '.' or an exponent.
func cvFloat(v float64) string {
	s := formatFloat(v)
	if !strings.ContainsAny(s, ".eEn") && !math.IsInf(v, 0) {
		s += "."
	}
	return s
}
