package perception

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/parallax-robotics/parallax/assets"
	"github.com/parallax-robotics/parallax/internal/fuzzseed"
)

// TestFuzzSeeds builds FuzzParseCheckpoint's seed corpus from the demo
// checkpoint (assets/demo.ckpt, 4.6 MB): its header (architecture and
// training meta) with a weights section of its first small tensors (the
// norms and biases, up to 4 KB of values) and any other small sections,
// written by WriteCheckpoint; see internal/fuzzseed. The whole file would make a corpus of megabytes that
// every `go test` of the package reads.
func TestFuzzSeeds(t *testing.T) {
	c, err := ParseCheckpoint(assets.DemoCheckpoint())
	if err != nil {
		t.Fatal(err)
	}
	data, ok := c.Section(sectionWeights)
	if !ok {
		t.Fatal("the demo checkpoint has no weights")
	}
	weights, err := decodeWeights(data)
	if err != nil {
		t.Fatal(err)
	}
	// The file's order, which decodeWeights' map does not keep.
	names := tensorNames(t, data)
	var buf bytes.Buffer
	var kept []string
	size := 0
	for _, n := range names {
		w := weights[n]
		if len(w.vals) > 64 || size+4*len(w.vals) > 4<<10 || len(kept) == 24 {
			continue
		}
		kept = append(kept, n)
		size += 4 * len(w.vals)
	}
	binary.Write(&buf, binary.LittleEndian, uint32(len(kept)))
	for _, n := range kept {
		appendTensor(&buf, n, weights[n].shape, weights[n].vals)
	}
	sub := Section{Name: sectionWeights, Data: buf.Bytes()}
	var rest []Section
	for _, s := range c.Sections {
		if s.Name != sectionWeights && len(s.Data) <= 2<<10 {
			rest = append(rest, s)
		}
	}
	corpus := fuzzseed.New(t, "FuzzParseCheckpoint")
	for name, secs := range map[string][]Section{"demo-small-tensors": append([]Section{sub}, rest...)} {
		path := filepath.Join(t.TempDir(), name+".ckpt")
		if err := WriteCheckpoint(path, c.Header, secs...); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseCheckpoint(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ArchDiff(back.Header.Arch, c.Header.Arch) != "" || back.Header.Meta.Steps != c.Header.Meta.Steps {
			t.Fatalf("%s: header %+v, want the demo's", name, back.Header)
		}
		corpus.Add(name, b)
	}
	corpus.Close()
	t.Logf("%d of %d tensors kept; other sections: %d", len(kept), len(names), len(c.Sections)-1)
}

// tensorNames lists the names of a weights section in file order.
func tensorNames(t *testing.T, data []byte) []string {
	t.Helper()
	r := bytes.NewReader(data)
	var count uint32
	binary.Read(r, binary.LittleEndian, &count)
	var names []string
	for range count {
		var nlen uint16
		binary.Read(r, binary.LittleEndian, &nlen)
		name := make([]byte, nlen)
		r.Read(name)
		dt, _ := r.ReadByte()
		rank, _ := r.ReadByte()
		if dt != dtypeFloat32 {
			t.Fatalf("tensor %q: dtype %d", name, dt)
		}
		shape := make([]int64, rank)
		binary.Read(r, binary.LittleEndian, shape)
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		r.Seek(4*n, 1)
		names = append(names, string(name))
	}
	return names
}
