package perception

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

var (
	// ErrCheckpointFormat is returned for a file that is not a Parallax
	// checkpoint, or one of a format version this build cannot read.
	ErrCheckpointFormat = errors.New("perception: not a checkpoint")
	// ErrCheckpointCorrupt is returned for a truncated or damaged checkpoint
	// (a checksum or length that does not add up).
	ErrCheckpointCorrupt = errors.New("perception: checkpoint corrupt")
	// ErrArchMismatch is returned when a checkpoint holds another
	// architecture than the model it is loaded into.
	ErrArchMismatch = errors.New("perception: checkpoint arch mismatch")
)

// Checkpoint file layout (all integers little-endian):
//
//	magic   "PLXCKPT\n" (8 bytes)
//	version uint32 (CheckpointVersion)
//	sections, each:
//	    name    8 bytes, ASCII, right-padded with spaces
//	    length  uint64
//	    payload length bytes
//	    crc32   uint32, Castagnoli, over name, length and payload
//
// The first section is "header" (JSON: CheckpointHeader), the last is "end"
// (empty). "weights" holds the variables (see encodeWeights). Any other
// section is carried through untouched: the learner stores optimiser state
// there. A reader that meets an unknown section keeps it, so new sections
// do not need a new version.
const (
	checkpointMagic = "PLXCKPT\n"
	// CheckpointVersion is the format version this build writes. It reads
	// version 1 too, whose header records a fixed depth and pose pair
	// (ModelConfig.UnmarshalJSON); version 2 lists the sub-networks.
	CheckpointVersion = 2

	sectionHeader  = "header"
	sectionWeights = "weights"
	sectionEnd     = "end"

	// maxSection bounds one section (and thus allocations while parsing).
	maxSection = 1 << 34
)

var (
	crcTable      = crc32.MakeTable(crc32.Castagnoli)
	sectionNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,7}$`)
)

// CheckpointMeta is free-form information about a checkpoint.
type CheckpointMeta struct {
	// Created is when the checkpoint was written; Save sets it when zero.
	Created time.Time `json:"created"`
	// Steps counts the optimisation steps behind the weights.
	Steps int64 `json:"steps"`
	// Values holds anything else (data set, git commit, losses).
	Values map[string]string `json:"values,omitempty"`
}

// CheckpointHeader is the JSON header of a checkpoint.
type CheckpointHeader struct {
	// Arch is the model's architecture.
	Arch ModelConfig `json:"arch"`
	// Meta is information about the weights.
	Meta CheckpointMeta `json:"meta"`
}

// Section is one named block of a checkpoint. Names are 1 to 8 characters
// [a-z0-9_] starting with a letter; "header", "weights" and "end" are the
// format's own.
type Section struct {
	Name string
	Data []byte
}

// Checkpoint is a parsed checkpoint file.
type Checkpoint struct {
	Header CheckpointHeader
	// Sections holds every section after the header except "end", in file
	// order, "weights" included.
	Sections []Section
}

// Section returns the data of the named section, or nil and false.
func (c *Checkpoint) Section(name string) ([]byte, bool) {
	for _, s := range c.Sections {
		if s.Name == name {
			return s.Data, true
		}
	}
	return nil, false
}

// WriteCheckpoint writes a checkpoint atomically: to a temporary file in the
// same folder, fsynced, then renamed over path (and the folder fsynced), so
// a crash or error leaves the old file or the new one, never a mix.
func WriteCheckpoint(path string, hdr CheckpointHeader, sections ...Section) error {
	seen := map[string]bool{}
	for _, s := range sections {
		if !sectionNameRe.MatchString(s.Name) || s.Name == sectionHeader || s.Name == sectionEnd {
			return fmt.Errorf("perception: checkpoint section name %q (want [a-z][a-z0-9_]{0,7}, not header or end)", s.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("perception: checkpoint section %q twice", s.Name)
		}
		seen[s.Name] = true
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		return fmt.Errorf("perception: checkpoint header: %w", err)
	}
	return writeFileAtomic(path, func(w io.Writer) error {
		var head [12]byte
		copy(head[:8], checkpointMagic)
		binary.LittleEndian.PutUint32(head[8:], CheckpointVersion)
		if _, err := w.Write(head[:]); err != nil {
			return err
		}
		if err := writeSection(w, sectionHeader, js); err != nil {
			return err
		}
		for _, s := range sections {
			if err := writeSection(w, s.Name, s.Data); err != nil {
				return err
			}
		}
		return writeSection(w, sectionEnd, nil)
	})
}

func writeSection(w io.Writer, name string, data []byte) error {
	var head [16]byte
	copy(head[:8], fmt.Sprintf("%-8s", name))
	binary.LittleEndian.PutUint64(head[8:], uint64(len(data)))
	crc := crc32.Update(0, crcTable, head[:])
	crc = crc32.Update(crc, crcTable, data)
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], crc)
	for _, b := range [][]byte{head[:], data, tail[:]} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic runs write into a temporary file next to path and renames
// it over path only when everything, fsync included, succeeded.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("perception: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("perception: write %s: %w", path, err)
		}
	}()
	if err = write(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename itself is durable once the folder is synced.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	// Temporaries of this path that are not ours were left by a writer
	// killed mid-write (a power cut, kill -9): the file they were to
	// replace is whole, so they are litter, as large as a checkpoint.
	stale, _ := filepath.Glob(filepath.Join(dir, "."+globEscape(filepath.Base(path))+".tmp*"))
	for _, s := range stale {
		os.Remove(s)
	}
	return nil
}

// globEscape quotes the pattern characters of a file name for filepath.Glob.
func globEscape(name string) string {
	var b strings.Builder
	for _, r := range name {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ReadCheckpoint reads and checks a checkpoint file.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("perception: read checkpoint: %w", err)
	}
	c, err := ParseCheckpoint(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return c, nil
}

// ParseCheckpoint parses a whole checkpoint file: magic, version, every
// section's length and checksum, the header JSON and its architecture.
func ParseCheckpoint(data []byte) (*Checkpoint, error) {
	if len(data) < 12 || string(data[:8]) != checkpointMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrCheckpointFormat)
	}
	if v := binary.LittleEndian.Uint32(data[8:12]); v < 1 || v > CheckpointVersion {
		return nil, fmt.Errorf("%w: format version %d, this build reads 1 to %d", ErrCheckpointFormat, v, CheckpointVersion)
	}
	rest := data[12:]
	c := &Checkpoint{}
	for i := 0; ; i++ {
		if len(rest) < 16 {
			return nil, fmt.Errorf("%w: truncated at section %d", ErrCheckpointCorrupt, i)
		}
		name := string(bytes.TrimRight(rest[:8], " "))
		n := binary.LittleEndian.Uint64(rest[8:16])
		if n > maxSection || n > uint64(len(rest)-16) || uint64(len(rest)-16)-n < 4 {
			return nil, fmt.Errorf("%w: section %d (%q) truncated: %d bytes announced, %d left", ErrCheckpointCorrupt, i, name, n, len(rest)-16)
		}
		payload := rest[16 : 16+n]
		want := binary.LittleEndian.Uint32(rest[16+n : 20+n])
		crc := crc32.Update(0, crcTable, rest[:16+n])
		if crc != want {
			return nil, fmt.Errorf("%w: section %d (%q) checksum %08x, want %08x", ErrCheckpointCorrupt, i, name, crc, want)
		}
		rest = rest[20+n:]
		if !sectionNameRe.MatchString(name) {
			return nil, fmt.Errorf("%w: bad section name %q", ErrCheckpointCorrupt, name)
		}
		switch {
		case i == 0:
			if name != sectionHeader {
				return nil, fmt.Errorf("%w: first section is %q, want header", ErrCheckpointCorrupt, name)
			}
			if err := json.Unmarshal(payload, &c.Header); err != nil {
				return nil, fmt.Errorf("%w: header: %v", ErrCheckpointCorrupt, err)
			}
			c.Header.Arch = c.Header.Arch.Fill()
			if err := c.Header.Arch.Validate(); err != nil {
				return nil, fmt.Errorf("%w: header: %v", ErrCheckpointCorrupt, err)
			}
		case name == sectionEnd:
			if len(rest) != 0 {
				return nil, fmt.Errorf("%w: %d bytes after the end section", ErrCheckpointCorrupt, len(rest))
			}
			return c, nil
		case name == sectionHeader:
			return nil, fmt.Errorf("%w: second header section", ErrCheckpointCorrupt)
		default:
			if _, dup := c.Section(name); dup {
				return nil, fmt.Errorf("%w: section %q twice", ErrCheckpointCorrupt, name)
			}
			c.Sections = append(c.Sections, Section{Name: name, Data: payload})
		}
	}
}

// Weights section: uint32 count, then per tensor: uint16 name length, name,
// uint8 dtype (1 = float32), uint8 rank, rank x int64 dims, raw values.
const dtypeFloat32 = 1

// encodeWeights serialises the model's variables. Run it on a Worker.
func (m *Model) encodeWeights() ([]byte, error) {
	vars := m.NamedVariables()
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, uint32(len(vars)))
	for _, nv := range vars {
		t := nv.Tensor
		if t.DType() != gotch.Float {
			return nil, fmt.Errorf("perception: variable %s has dtype %v, only float32 is stored", nv.Name, t.DType())
		}
		shape, err := t.Size()
		if err != nil {
			return nil, err
		}
		vals, err := TensorFloat32s(t)
		if err != nil {
			return nil, fmt.Errorf("perception: variable %s: %w", nv.Name, err)
		}
		appendTensor(&buf, nv.Name, shape, vals)
	}
	return buf.Bytes(), nil
}

// appendTensor writes one tensor of the weights section: name, dtype,
// rank, shape and the values, little-endian (decodeWeights reads it).
func appendTensor(buf *bytes.Buffer, name string, shape []int64, vals []float32) {
	binary.Write(buf, binary.LittleEndian, uint16(len(name)))
	buf.WriteString(name)
	buf.WriteByte(dtypeFloat32)
	buf.WriteByte(byte(len(shape)))
	binary.Write(buf, binary.LittleEndian, shape)
	binary.Write(buf, binary.LittleEndian, vals)
}

type storedTensor struct {
	shape []int64
	vals  []float32
}

func decodeWeights(data []byte) (map[string]storedTensor, error) {
	r := bytes.NewReader(data)
	bad := func(what string) error { return fmt.Errorf("%w: weights: %s", ErrCheckpointCorrupt, what) }
	var count uint32
	if binary.Read(r, binary.LittleEndian, &count) != nil {
		return nil, bad("no count")
	}
	out := make(map[string]storedTensor)
	for i := uint32(0); i < count; i++ {
		var nlen uint16
		if binary.Read(r, binary.LittleEndian, &nlen) != nil || int(nlen) > r.Len() {
			return nil, bad(fmt.Sprintf("tensor %d: name", i))
		}
		name := make([]byte, nlen)
		io.ReadFull(r, name)
		dt, err1 := r.ReadByte()
		rank, err2 := r.ReadByte()
		if err1 != nil || err2 != nil || dt != dtypeFloat32 || rank > 8 {
			return nil, bad(fmt.Sprintf("tensor %q: dtype %d rank %d", name, dt, rank))
		}
		shape := make([]int64, rank)
		if binary.Read(r, binary.LittleEndian, shape) != nil {
			return nil, bad(fmt.Sprintf("tensor %q: shape", name))
		}
		numel := int64(1)
		for _, d := range shape {
			if d < 0 || (d > 0 && numel > math.MaxInt32/d) {
				return nil, bad(fmt.Sprintf("tensor %q: shape %v", name, shape))
			}
			numel *= d
		}
		if numel*4 > int64(r.Len()) {
			return nil, bad(fmt.Sprintf("tensor %q: %d values, %d bytes left", name, numel, r.Len()))
		}
		vals := make([]float32, numel)
		binary.Read(r, binary.LittleEndian, vals)
		if _, dup := out[string(name)]; dup {
			return nil, bad(fmt.Sprintf("tensor %q twice", name))
		}
		out[string(name)] = storedTensor{shape: shape, vals: vals}
	}
	if r.Len() != 0 {
		return nil, bad(fmt.Sprintf("%d trailing bytes", r.Len()))
	}
	return out, nil
}

// Save writes the model's architecture, meta and weights, plus any extra
// sections (optimiser state), atomically to path. Run it on a Worker.
func (m *Model) Save(path string, meta CheckpointMeta, extra ...Section) error {
	if meta.Created.IsZero() {
		meta.Created = time.Now().UTC()
	}
	w, err := m.encodeWeights()
	if err != nil {
		return err
	}
	for _, s := range extra {
		if s.Name == sectionWeights {
			return fmt.Errorf("perception: checkpoint section %q is the model's own", s.Name)
		}
	}
	secs := append([]Section{{Name: sectionWeights, Data: w}}, extra...)
	return WriteCheckpoint(path, CheckpointHeader{Arch: m.cfg, Meta: meta}, secs...)
}

// Load reads a checkpoint into the model's variables in place (so
// optimisers holding them keep working). It refuses a checkpoint of another
// architecture (ErrArchMismatch naming the difference) and a damaged file;
// on error the weights are unchanged. Run it on a Worker.
func (m *Model) Load(path string) (*Checkpoint, error) {
	c, err := ReadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	if err := m.LoadCheckpoint(c); err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return c, nil
}

// LoadCheckpoint is Load from a parsed checkpoint.
func (m *Model) LoadCheckpoint(c *Checkpoint) error {
	if d := ArchDiff(c.Header.Arch, m.cfg); d != "" {
		return fmt.Errorf("%w: %s (checkpoint != model)", ErrArchMismatch, d)
	}
	data, ok := c.Section(sectionWeights)
	if !ok {
		return fmt.Errorf("%w: no weights section", ErrCheckpointCorrupt)
	}
	stored, err := decodeWeights(data)
	if err != nil {
		return err
	}
	vars := m.NamedVariables()
	if len(stored) != len(vars) {
		return fmt.Errorf("%w: %d tensors stored, the model has %d", ErrArchMismatch, len(stored), len(vars))
	}
	// Check everything before touching any weight.
	for _, nv := range vars {
		st, ok := stored[nv.Name]
		if !ok {
			return fmt.Errorf("%w: variable %s missing", ErrArchMismatch, nv.Name)
		}
		shape, err := nv.Tensor.Size()
		if err != nil {
			return err
		}
		if fmt.Sprint(shape) != fmt.Sprint(st.shape) {
			return fmt.Errorf("%w: variable %s shape %v != %v", ErrArchMismatch, nv.Name, st.shape, shape)
		}
	}
	return NoGrad(func() error { return m.copyWeights(vars, stored) })
}

// copyWeights copies checked stored values into the variables, in place.
func (m *Model) copyWeights(vars []ts.NamedTensor, stored map[string]storedTensor) error {
	for _, nv := range vars {
		if err := AssignValues(nv.Tensor, stored[nv.Name].vals); err != nil {
			return fmt.Errorf("perception: load %s: %w", nv.Name, err)
		}
	}
	return nil
}

// LoadModel makes a model of the checkpoint's architecture on dev and loads
// its weights. Run it on a Worker.
func LoadModel(path string, dev gotch.Device) (*Model, *Checkpoint, error) {
	c, err := ReadCheckpoint(path)
	if err != nil {
		return nil, nil, err
	}
	m, err := NewModel(c.Header.Arch, dev)
	if err != nil {
		return nil, nil, fmt.Errorf("perception: checkpoint %s: %w", path, err)
	}
	if err := m.LoadCheckpoint(c); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("%w (%s)", err, path)
	}
	return m, c, nil
}
