package launch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/parallax-robotics/parallax/camera"
	"gopkg.in/yaml.v3"
)

// maxCollected bounds the problems one Parse gathers before it stops
// recording: aliases can make a small file expand into many errors.
const maxCollected = 1000

// Parse parses and validates a launch file. name is used in errors and to
// resolve relative paths (Dir is its folder). It returns every problem it
// finds, joined and sorted by line, and a nil Launch when there is any. It
// does not check that named files exist: see CheckFiles.
func Parse(data []byte, name string) (*Launch, error) {
	l := Defaults()
	l.file = name
	l.Dir = filepath.Dir(name)
	if name == "" {
		l.Dir = "."
	}
	l.lines = map[string]int{}
	pr := &problems{file: name, lines: l.lines, bad: map[string]bool{}}

	root, ok := parseYAML(data, pr)
	if ok {
		d := &decoder{l: l, pr: pr}
		d.mapping("", "", root, nil)
		l.fill()
		l.validate(pr)
	}
	if err := pr.err(); err != nil {
		return nil, err
	}
	return l, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML reads exactly one YAML document whose root is a mapping.
func parseYAML(data []byte, pr *problems) (root *yaml.Node, ok bool) {
	defer func() {
		// yaml.v3 has panicked on hostile input before; a launch file is
		// user input, so turn any panic into an error.
		if r := recover(); r != nil {
			pr.at(0, ErrSyntax, "", "the YAML parser failed: %v", r)
			root, ok = nil, false
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			pr.at(0, ErrMissing, "", "the file is empty: a launch file needs at least a cameras list")
		} else {
			yamlError(pr, err, data)
		}
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		pr.at(extra.Line, ErrSyntax, "", "a second YAML document (---): a launch file holds one")
		return nil, false
	} else if !errors.Is(err, io.EOF) {
		yamlError(pr, err, data)
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		pr.at(doc.Line, ErrSyntax, "", "not a YAML document")
		return nil, false
	}
	root = resolve(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		pr.at(root.Line, ErrMissing, "", "the file is empty: a launch file needs at least a cameras list")
		return nil, false
	}
	if root.Kind != yaml.MappingNode {
		pr.at(root.Line, ErrType, "", "want a mapping of keys (namespace:, cameras:, ...), got %s", describe(root, false))
		return nil, false
	}
	return root, true
}

// yamlError turns yaml.v3's "yaml: line N: msg" into a positioned problem.
func yamlError(pr *problems, err error, data []byte) {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		if strings.Contains(m[2], "tab character") {
			n = tabLine(data, n)
		}
		pr.at(n, ErrSyntax, "", "%s", m[2])
		return
	}
	pr.at(0, ErrSyntax, "", "%s", strings.TrimPrefix(msg, "yaml: "))
}

// tabLine returns the first line from n on that is indented with a tab:
// yaml.v3 reports a tab in the indentation at the line before it.
func tabLine(data []byte, n int) int {
	for i, line := range strings.Split(string(data), "\n") {
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		if i+1 >= n && strings.Contains(indent, "\t") {
			return i + 1
		}
	}
	return n
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// describe names a node's type, and its value when it is a scalar and not secret.
func describe(n *yaml.Node, secret bool) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if secret {
			return "a " + strings.TrimPrefix(n.Tag, "!!")
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return strconv.Quote(v)
	}
	return "an alias"
}

type decoder struct {
	l  *Launch
	pr *problems
}

// mapping decodes the keys of n, a section whose table path is tp and whose
// display path is dp ("cameras[]" and "cameras[2]").
func (d *decoder) mapping(tp, dp string, n *yaml.Node, cam *Camera) {
	seen := map[string]int{}
	kids := children[tp]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.pr.at(k.Line, ErrType, dp, "a key must be a string, got %s", describe(k, false))
			continue
		}
		key := k.Value
		full := key
		if dp != "" {
			full = dp + "." + key
		}
		if k.Tag == "!!merge" {
			d.pr.at(k.Line, ErrUnknownKey, dp, "merge keys (<<) are not supported: alias the whole value instead (intrinsics: *k)")
			continue
		}
		if first, dup := seen[key]; dup {
			d.pr.at(k.Line, ErrDuplicateKey, full, "given twice (first at line %d)", first)
			d.pr.bad[full] = true
			continue
		}
		seen[key] = k.Line
		tpKey := key
		if tp != "" {
			tpKey = tp + "." + key
		}
		p := byName[tpKey]
		if p == nil {
			names := make([]string, len(kids))
			for j, c := range kids {
				names[j] = c.Name[strings.LastIndexByte(c.Name, '.')+1:]
			}
			d.pr.at(k.Line, ErrUnknownKey, dp, "unknown key %q%s", key, suggest(key, names))
			continue
		}
		d.l.lines[full] = k.Line
		d.value(p, full, resolve(v), cam)
	}
}

// value decodes one key's value.
func (d *decoder) value(p *Param, dp string, v *yaml.Node, cam *Camera) {
	null := v.Kind == yaml.ScalarNode && v.Tag == "!!null"
	switch p.kind {
	case kindMap:
		if p.open != nil && !p.present(d.l, cam) {
			p.open(d.l, cam)
		}
		if null {
			return
		}
		if v.Kind != yaml.MappingNode {
			d.pr.at(v.Line, ErrType, dp, "want a mapping of keys, got %s", describe(v, false))
			d.pr.bad[dp] = true
			return
		}
		d.mapping(p.Name, dp, v, cam)
	case kindList:
		if null {
			return
		}
		if v.Kind != yaml.SequenceNode {
			d.pr.at(v.Line, ErrType, dp, "want a list, got %s", describe(v, false))
			d.pr.bad[dp] = true
			return
		}
		for i, item := range v.Content {
			item = resolve(item)
			if i == MaxCameras {
				d.pr.at(item.Line, ErrInvalid, dp, "more than %d cameras", MaxCameras)
				d.pr.bad[dp] = true
				return
			}
			key := fmt.Sprintf("%s[%d]", dp, i)
			d.l.lines[key] = item.Line
			c := cameraDefaults()
			if item.Kind != yaml.MappingNode {
				d.pr.at(item.Line, ErrType, key, "want a mapping of keys (name:, url:, ...), got %s", describe(item, false))
				d.pr.bad[key] = true
			} else {
				d.mapping(p.Name+"[]", key, item, &c)
			}
			d.l.Cameras = append(d.l.Cameras, c)
		}
	default:
		if null {
			if p.required {
				d.pr.at(v.Line, ErrMissing, dp, "required, and null here")
				d.pr.bad[dp] = true
			}
			return // "key:" or "key: ~" keeps the default
		}
		val, msg, sentinel := scalar(p, v)
		if sentinel != nil {
			d.pr.at(v.Line, sentinel, dp, "%s", msg)
			d.pr.bad[dp] = true
			return
		}
		if ptr := p.ptr(d.l, cam); ptr != nil {
			setValue(ptr, val)
		}
	}
}

// scalar decodes a leaf value, or says why it cannot (msg) and which kind
// of problem that is (sentinel).
func scalar(p *Param, v *yaml.Node) (val any, msg string, sentinel error) {
	wrongType := func() (any, string, error) {
		return nil, fmt.Sprintf("want %s, got %s", typeName(p.kind), describe(v, p.secret)), ErrType
	}
	if v.Kind != yaml.ScalarNode {
		return wrongType()
	}
	switch p.kind {
	case kindString:
		return v.Value, "", nil
	case kindInt:
		if v.Tag == "!!int" {
			var n int64
			if err := v.Decode(&n); err == nil && n >= math.MinInt32 && n <= math.MaxInt32 {
				return int(n), "", nil
			}
			return nil, fmt.Sprintf("%s is out of range: want %s", describe(v, p.secret), p.Range), ErrInvalid
		}
	case kindFloat:
		if v.Tag == "!!int" || v.Tag == "!!float" {
			var f float64
			if err := v.Decode(&f); err == nil {
				if math.IsNaN(f) || math.IsInf(f, 0) {
					return nil, fmt.Sprintf("not a finite number: %s", describe(v, p.secret)), ErrInvalid
				}
				return p.fromFile(f), "", nil
			}
		}
	case kindBool:
		if v.Tag == "!!bool" {
			var b bool
			if err := v.Decode(&b); err == nil {
				return b, "", nil
			}
		}
	case kindDuration:
		if dur, err := time.ParseDuration(v.Value); err == nil {
			return dur, "", nil
		}
		return nil, fmt.Sprintf("want a duration with a unit (10ms, 1.5s), got %s", describe(v, p.secret)), ErrType
	}
	return wrongType()
}

func typeName(k kind) string {
	switch k {
	case kindString:
		return "a string"
	case kindInt:
		return "an integer"
	case kindFloat:
		return "a number"
	case kindBool:
		return "true or false"
	case kindDuration:
		return "a duration"
	case kindMap:
		return "a mapping"
	case kindList:
		return "a list"
	}
	return "a value"
}

// fill sets the defaults that depend on other values: the RTSP transport,
// and the stereo pair when the cameras have left and right roles.
func (l *Launch) fill() {
	var left, right []string
	for i := range l.Cameras {
		c := &l.Cameras[i]
		if d := driverOf(c.URL); c.Transport == "" && d != nil && d.Network {
			c.Transport = "tcp"
		}
		switch c.Role {
		case RoleLeft:
			left = append(left, c.Name)
		case RoleRight:
			right = append(right, c.Name)
		}
	}
	if l.Stereo == nil && len(left) == 1 && len(right) == 1 {
		l.Stereo = &Stereo{SyncTolerance: 10 * time.Millisecond, MonoAfter: time.Second}
	}
	if l.Stereo != nil {
		if l.Stereo.Left == "" && len(left) == 1 {
			l.Stereo.Left = left[0]
		}
		if l.Stereo.Right == "" && len(right) == 1 {
			l.Stereo.Right = right[0]
		}
	}
}

// scheme returns the lower-case scheme of u, "" when it has none.
func scheme(u string) string {
	i := strings.Index(u, "://")
	if i <= 0 {
		return ""
	}
	return strings.ToLower(u[:i])
}

// driverOf returns the camera driver of a URL's scheme, nil when none is
// registered.
func driverOf(u string) *camera.Driver {
	d, _, err := camera.Lookup(u)
	if err != nil {
		return nil
	}
	return d
}

// suggest returns ` (did you mean "x"?)` for the closest candidate within
// two edits, or "".
func suggest(s string, candidates []string) string {
	best := Nearest(s, candidates)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// Nearest returns the candidate closest to s (at most two edits away, a
// swapped pair of letters counting one), or "": what a typo most likely
// meant. The launch loader and the command line's flags use it.
func Nearest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), c); d < bestD && d < len(c) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Damerau-Levenshtein (optimal string alignment)
// distance, so a swapped pair of letters ("trasnport") costs one edit.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
