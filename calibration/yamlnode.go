package calibration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// A thin layer over yaml.v3's node tree that keeps every value's line, for
// errors that point into the file.

type ymap struct {
	file string
	path string // the mapping's own path, "" at the root
	node *yaml.Node
	keys map[string]int // key -> index of its value in node.Content
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAMLRoot reads one YAML document whose root is a mapping.
func parseYAMLRoot(data []byte, file string) (root *ymap, err error) {
	defer func() {
		if r := recover(); r != nil { // yaml.v3 has panicked on hostile input before
			root, err = nil, errAt(file, 0, "", ErrSyntax, "the YAML parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errAt(file, 0, "", ErrSyntax, "the file is empty")
		}
		return nil, yamlErr(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, errAt(file, extra.Line, "", ErrSyntax, "a second YAML document: a calibration file holds one")
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlErr(file, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		line := doc.Line
		if len(doc.Content) == 1 {
			line = doc.Content[0].Line
		}
		return nil, errAt(file, line, "", ErrSyntax, "the document is not a mapping of keys")
	}
	return newYMap(file, "", doc.Content[0])
}

func yamlErr(file string, err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return errAt(file, n, "", ErrSyntax, "%s", m[2])
	}
	return errAt(file, 0, "", ErrSyntax, "%s", strings.TrimPrefix(msg, "yaml: "))
}

func newYMap(file, path string, n *yaml.Node) (*ymap, error) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, errAt(file, n.Line, path, ErrInvalid, "want a mapping of keys, got %s", kindName(n))
	}
	m := &ymap{file: file, path: path, node: n, keys: map[string]int{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			return nil, errAt(file, k.Line, path, ErrSyntax, "a key that is not a plain word")
		}
		if _, dup := m.keys[k.Value]; dup {
			return nil, errAt(file, k.Line, m.sub(k.Value), ErrSyntax, "given twice")
		}
		m.keys[k.Value] = i + 1
	}
	return m, nil
}

// deref follows aliases.
func deref(n *yaml.Node) *yaml.Node {
	for depth := 0; n.Kind == yaml.AliasNode && n.Alias != nil && depth < 16; depth++ {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", clip(n.Value))
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return "nothing"
}

func (m *ymap) sub(key string) string {
	if m.path == "" {
		return key
	}
	return m.path + "." + key
}

func (m *ymap) has(key string) bool { _, ok := m.keys[key]; return ok }

// line returns the line of key's value, or of the mapping when absent.
func (m *ymap) line(key string) int {
	if i, ok := m.keys[key]; ok {
		return m.node.Content[i].Line
	}
	return m.node.Line
}

func (m *ymap) get(key string) (*yaml.Node, bool) {
	i, ok := m.keys[key]
	if !ok {
		return nil, false
	}
	return deref(m.node.Content[i]), true
}

func (m *ymap) missing(key, what string) error {
	return errAt(m.file, m.node.Line, m.sub(key), ErrMissing, "required%s", what)
}

func (m *ymap) mapping(key string) (*ymap, error) {
	n, ok := m.get(key)
	if !ok {
		return nil, m.missing(key, "")
	}
	return newYMap(m.file, m.sub(key), n)
}

func (m *ymap) str(key string) (string, bool, error) {
	n, ok := m.get(key)
	if !ok {
		return "", false, nil
	}
	if n.Kind != yaml.ScalarNode {
		return "", true, errAt(m.file, n.Line, m.sub(key), ErrInvalid, "want text, got %s", kindName(n))
	}
	return n.Value, true, nil
}

func (m *ymap) num(key string) (float64, bool, error) {
	n, ok := m.get(key)
	if !ok {
		return 0, false, nil
	}
	v, err := scalarFloat(m.file, m.sub(key), n)
	return v, true, err
}

func (m *ymap) integer(key string, lo, hi int) (int, bool, error) {
	v, ok, err := m.num(key)
	if !ok || err != nil {
		return 0, ok, err
	}
	if v != math.Trunc(v) || v < float64(lo) || v > float64(hi) {
		return 0, true, errAt(m.file, m.line(key), m.sub(key), ErrInvalid, "%g: want a whole number from %d to %d", v, lo, hi)
	}
	return int(v), true, nil
}

// floats reads a flat list of numbers.
func (m *ymap) floats(key string) ([]float64, bool, error) {
	n, ok := m.get(key)
	if !ok {
		return nil, false, nil
	}
	v, err := seqFloats(m.file, m.sub(key), n)
	return v, true, err
}

func seqFloats(file, path string, n *yaml.Node) ([]float64, error) {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(file, n.Line, path, ErrInvalid, "want a list of numbers, got %s", kindName(n))
	}
	if len(n.Content) > maxValues {
		return nil, errAt(file, n.Line, path, ErrInvalid, "%d values, more than %d", len(n.Content), maxValues)
	}
	out := make([]float64, len(n.Content))
	for i, c := range n.Content {
		v, err := scalarFloat(file, fmt.Sprintf("%s[%d]", path, i), c)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// seqMatrix reads a list of rows of numbers (Kalibr's T_cn_cnm1).
func seqMatrix(file, path string, n *yaml.Node, rows, cols int) ([]float64, error) {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		return nil, errAt(file, n.Line, path, ErrInvalid, "want a list of %d rows, got %s", rows, kindName(n))
	}
	if len(n.Content) != rows {
		return nil, errAt(file, n.Line, path, ErrInvalid, "%d rows, want %d", len(n.Content), rows)
	}
	var out []float64
	for i, r := range n.Content {
		v, err := seqFloats(file, fmt.Sprintf("%s[%d]", path, i), r)
		if err != nil {
			return nil, err
		}
		if len(v) != cols {
			return nil, errAt(file, deref(r).Line, fmt.Sprintf("%s[%d]", path, i), ErrInvalid, "%d values, want %d", len(v), cols)
		}
		out = append(out, v...)
	}
	return out, nil
}

func scalarFloat(file, path string, n *yaml.Node) (float64, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return 0, errAt(file, n.Line, path, ErrInvalid, "want a number, got %s", kindName(n))
	}
	v, err := parseNumber(n.Value)
	if err != nil {
		return 0, errAt(file, n.Line, path, ErrInvalid, "%q is not a finite number", clip(n.Value))
	}
	return v, nil
}

// parseNumber reads a finite number as YAML, OpenCV ("1.", ".5") and
// KITTI write them.
func parseNumber(s string) (float64, error) {
	s = strings.TrimSpace(s)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !finite(v) {
		return 0, fmt.Errorf("not a finite number")
	}
	return v, nil
}

// maxValues bounds any list of numbers: the largest matrix any layout has
// is 4x4, but OpenCV files also carry per-view errors and extrinsics.
const maxValues = 1 << 16

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
