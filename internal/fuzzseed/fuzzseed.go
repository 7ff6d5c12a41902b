package fuzzseed

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

// Header is the first line of every corpus file.
const Header = "go test fuzz v1"

var write = flag.Bool("fuzzseed.write", false, "write the seed corpora in testdata/fuzz instead of checking them")

// Marshal encodes the arguments of one fuzz call as go's corpus file, the
// way `go test` itself writes them (internal/fuzz's marshalCorpusFile), so a
// generated seed and a crasher the fuzzer saved look alike.
func Marshal(vals ...any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(Header + "\n")
	for i, v := range vals {
		switch t := v.(type) {
		case int, int8, int16, int64, uint, uint16, uint32, uint64, bool:
			fmt.Fprintf(&b, "%T(%v)\n", t, t)
		case float32:
			if math.IsNaN(float64(t)) && math.Float32bits(t) != math.Float32bits(float32(math.NaN())) {
				fmt.Fprintf(&b, "math.Float32frombits(0x%x)\n", math.Float32bits(t))
			} else {
				fmt.Fprintf(&b, "%T(%v)\n", t, t)
			}
		case float64:
			if math.IsNaN(t) && math.Float64bits(t) != math.Float64bits(math.NaN()) {
				fmt.Fprintf(&b, "math.Float64frombits(0x%x)\n", math.Float64bits(t))
			} else {
				fmt.Fprintf(&b, "%T(%v)\n", t, t)
			}
		case string:
			fmt.Fprintf(&b, "string(%q)\n", t)
		case rune:
			if utf8.ValidRune(t) {
				fmt.Fprintf(&b, "rune(%q)\n", t)
			} else {
				fmt.Fprintf(&b, "int32(%v)\n", t)
			}
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", t)
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", t)
		default:
			return nil, fmt.Errorf("fuzzseed: argument %d: type %T is not a fuzz argument type", i, v)
		}
	}
	return b.Bytes(), nil
}

// Corpus is the generated part of one fuzz target's seed corpus,
// testdata/fuzz/<target> in the test's package directory.
type Corpus struct {
	t      testing.TB
	target string
	files  map[string][]byte
}

// New starts the corpus of target (a FuzzXxx function of the package under
// test). Add the seeds, then Close.
func New(t testing.TB, target string) *Corpus {
	t.Helper()
	if !strings.HasPrefix(target, "Fuzz") {
		t.Fatalf("fuzzseed: %q is not a fuzz target name", target)
	}
	return &Corpus{t: t, target: target, files: map[string][]byte{}}
}

// Prefix starts the names of generated seeds, so they can be told from the
// fuzzer's finds (16 hex digits) and replaced when they are regenerated.
const Prefix = "seed-"

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// Add adds one seed: the arguments of one call of the fuzz function, named
// after where they come from (lower case, digits, '.', '_', '-').
func (c *Corpus) Add(name string, vals ...any) {
	c.t.Helper()
	if !nameRE.MatchString(name) {
		c.t.Fatalf("fuzzseed: %s: seed name %q: want lower case letters, digits, '.', '_', '-'", c.target, name)
	}
	if _, dup := c.files[Prefix+name]; dup {
		c.t.Fatalf("fuzzseed: %s: seed %q added twice", c.target, name)
	}
	b, err := Marshal(vals...)
	if err != nil {
		c.t.Fatalf("fuzzseed: %s: seed %q: %v", c.target, name, err)
	}
	c.files[Prefix+name] = b
}

// MaxBytes bounds one target's generated seeds: a corpus is read by every
// `go test` of its package and lives in git, so seeds stay small.
const MaxBytes = 64 << 10

// Dir is where the corpus of target lives, relative to the package.
func Dir(target string) string { return filepath.Join("testdata", "fuzz", target) }

// Close writes the corpus under -fuzzseed.write (replacing the generated
// seeds, keeping the fuzzer's finds); otherwise it fails the test unless
// every generated seed is on disk with the same bytes.
func (c *Corpus) Close() {
	c.t.Helper()
	if len(c.files) == 0 {
		c.t.Fatalf("fuzzseed: %s: no seeds", c.target)
	}
	total := 0
	for _, b := range c.files {
		total += len(b)
	}
	if total > MaxBytes {
		c.t.Fatalf("fuzzseed: %s: %d bytes of seeds, more than %d", c.target, total, MaxBytes)
	}
	dir := Dir(c.target)
	if *write {
		c.writeAll(dir)
		return
	}
	for _, name := range sortedKeys(c.files) {
		got, err := os.ReadFile(filepath.Join(dir, name))
		switch {
		case err != nil:
			c.t.Errorf("fuzzseed: %v (regenerate: go test -run TestFuzzSeeds -fuzzseed.write)", err)
		case !bytes.Equal(got, c.files[name]):
			c.t.Errorf("fuzzseed: %s is stale: the generator now makes other bytes (regenerate: go test -run TestFuzzSeeds -fuzzseed.write)",
				filepath.Join(dir, name))
		}
	}
}

func (c *Corpus) writeAll(dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	old, err := filepath.Glob(filepath.Join(dir, Prefix+"*"))
	if err != nil {
		c.t.Fatal(err)
	}
	for _, p := range old {
		if _, keep := c.files[filepath.Base(p)]; !keep {
			if err := os.Remove(p); err != nil {
				c.t.Fatal(err)
			}
		}
	}
	for _, name := range sortedKeys(c.files) {
		if err := writeAtomic(filepath.Join(dir, name), c.files[name]); err != nil {
			c.t.Fatal(err)
		}
	}
	c.t.Logf("fuzzseed: wrote %d seeds to %s", len(c.files), dir)
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fuzzseed-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Target is one fuzz function found in the source.
type Target struct {
	Dir  string // the package directory
	File string // the _test.go file that declares it
	Line int
	Name string
}

var fuzzFunc = regexp.MustCompile(`^func (Fuzz[A-Za-z0-9_]*)\(\w+ \*testing\.F\)`)

// Targets walks the module under root for fuzz functions in _test.go
// files, skipping third_party, testdata, node_modules and dot directories.
func Targets(root string) ([]Target, error) {
	var out []Target
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			n := d.Name()
			if p != root && (strings.HasPrefix(n, ".") || n == "third_party" || n == "testdata" || n == "node_modules" || n == "tmp" || n == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for line := 1; sc.Scan(); line++ {
			if m := fuzzFunc.FindStringSubmatch(sc.Text()); m != nil {
				out = append(out, Target{Dir: filepath.Dir(p), File: p, Line: line, Name: m[1]})
			}
		}
		return sc.Err()
	})
	return out, err
}

// CheckCorpus returns why target's corpus directory is not a usable seed
// corpus (missing, empty, or holding a file that is not a corpus file), or
// nil.
func CheckCorpus(tg Target) error {
	dir := filepath.Join(tg.Dir, Dir(tg.Name))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%s:%d: %s has no seed corpus: %w", tg.File, tg.Line, tg.Name, err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			return fmt.Errorf("%s: a directory in a corpus", filepath.Join(dir, e.Name()))
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(b, []byte(Header+"\n")) {
			return fmt.Errorf("%s: not a corpus file (want the first line %q)", filepath.Join(dir, e.Name()), Header)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s:%d: %s: %s is empty", tg.File, tg.Line, tg.Name, dir)
	}
	return nil
}
