package perception

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch"
)

// modelOutputs runs both networks on fixed inputs and returns every output
// value, for bit-exact comparisons.
func modelOutputs(m *Model) ([][]float32, error) {
	cfg := m.Config()
	a, err := randImage(11, 1, cfg.Height, cfg.Width)
	if err != nil {
		return nil, err
	}
	defer a.MustDrop()
	b, err := randImage(12, 1, cfg.Height, cfg.Width)
	if err != nil {
		return nil, err
	}
	defer b.MustDrop()
	var out [][]float32
	err = NoGrad(func() error {
		disps, err := m.Depth().Forward(a, false)
		if err != nil {
			return err
		}
		defer dropAll(disps)
		outs := disps
		if m.Pose() != nil {
			vec, err := m.Pose().Forward(a, b)
			if err != nil {
				return err
			}
			defer vec.MustDrop()
			outs = append(outs, vec)
		}
		for _, x := range outs {
			v, err := TensorFloat32s(x)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.ckpt")
	cfg := withPose(smallConfig(), func(p *PoseConfig) { p.ForwardPrior = 0.3 })
	meta := CheckpointMeta{Created: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), Steps: 1234, Values: map[string]string{"world": "urban"}}
	optim := Section{Name: "optim", Data: []byte("adam state here")}
	onWorker(t, func() error {
		m1, err := NewModel(cfg, gotch.CPU)
		if err != nil {
			return err
		}
		defer m1.Close()
		want, err := modelOutputs(m1)
		if err != nil {
			return err
		}
		if err := m1.Save(path, meta, optim); err != nil {
			return err
		}
		// A fresh model has other random weights until it loads.
		m2, err := NewModel(cfg, gotch.CPU)
		if err != nil {
			return err
		}
		defer m2.Close()
		before, err := modelOutputs(m2)
		if err != nil {
			return err
		}
		if equalOutputs(before, want) == nil {
			return errors.New("two fresh models give identical outputs: the test proves nothing")
		}
		c, err := m2.Load(path)
		if err != nil {
			return err
		}
		got, err := modelOutputs(m2)
		if err != nil {
			return err
		}
		if err := equalOutputs(got, want); err != nil {
			return fmt.Errorf("after Load: %w", err)
		}
		if !c.Header.Meta.Created.Equal(meta.Created) || c.Header.Meta.Steps != 1234 || c.Header.Meta.Values["world"] != "urban" {
			return fmt.Errorf("meta %+v, want %+v", c.Header.Meta, meta)
		}
		if d := ArchDiff(c.Header.Arch, m1.Config()); d != "" || !reflect.DeepEqual(c.Header.Arch, m1.Config()) {
			return fmt.Errorf("arch %+v, want %+v", c.Header.Arch, m1.Config())
		}
		if d, ok := c.Section("optim"); !ok || string(d) != "adam state here" {
			return fmt.Errorf("optim section %q %v", d, ok)
		}
		// LoadModel builds the architecture from the file.
		m3, c3, err := LoadModel(path, gotch.CPU)
		if err != nil {
			return err
		}
		defer m3.Close()
		if !reflect.DeepEqual(m3.Config(), m1.Config()) || c3.Header.Meta.Steps != 1234 {
			return fmt.Errorf("LoadModel: config %+v", m3.Config())
		}
		got3, err := modelOutputs(m3)
		if err != nil {
			return err
		}
		return equalOutputs(got3, want)
	})
}

func equalOutputs(got, want [][]float32) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d outputs, want %d", len(got), len(want))
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			return fmt.Errorf("output %d: %d values, want %d", i, len(got[i]), len(want[i]))
		}
		for j := range got[i] {
			if got[i][j] != want[i][j] {
				return fmt.Errorf("output %d[%d] = %g, want %g (bit-exact)", i, j, got[i][j], want[i][j])
			}
		}
	}
	return nil
}

func TestCheckpointArchMismatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "small.ckpt")
	onWorker(t, func() error {
		m, err := NewModel(smallConfig(), gotch.CPU)
		if err != nil {
			return err
		}
		defer m.Close()
		if err := m.Save(path, CheckpointMeta{}); err != nil {
			return err
		}
		cases := []struct {
			edit func(ModelConfig) ModelConfig
			want string
		}{
			{func(c ModelConfig) ModelConfig { return withDepth(c, func(d *DepthConfig) { d.Size = SizeDefault }) },
				"perception: checkpoint arch mismatch: depth size small != default"},
			{func(c ModelConfig) ModelConfig { return withPose(c, func(p *PoseConfig) { p.Size = SizeDefault }) }, "pose size small != default"},
			{func(c ModelConfig) ModelConfig { c.Width = 192; return c }, "input 128x64 != 192x64"},
			{func(c ModelConfig) ModelConfig { return withDepth(c, func(d *DepthConfig) { d.MaxDepth = 80 }) }, "max depth 100 != 80"},
			{func(c ModelConfig) ModelConfig { delete(c.Nets, NetPose); return c }, "no pose network"},
		}
		for _, tc := range cases {
			cfg := tc.edit(smallConfig())
			other, err := NewModel(cfg, gotch.CPU)
			if err != nil {
				return err
			}
			want, err := modelOutputs(other)
			if err != nil {
				return err
			}
			_, err = other.Load(path)
			if !errors.Is(err, ErrArchMismatch) || !strings.Contains(err.Error(), tc.want) {
				other.Close()
				return fmt.Errorf("load into %+v: %v, want %q", cfg, err, tc.want)
			}
			got, err := modelOutputs(other)
			other.Close()
			if err != nil {
				return err
			}
			if err := equalOutputs(got, want); err != nil {
				return fmt.Errorf("a refused load changed the weights: %w", err)
			}
		}
		// InitDepth and ForwardPrior only initialise: not a mismatch.
		cfg := withDepth(smallConfig(), func(d *DepthConfig) { d.InitDepth = 5 })
		cfg = withPose(cfg, func(p *PoseConfig) { p.ForwardPrior = 1 })
		other, err := NewModel(cfg, gotch.CPU)
		if err != nil {
			return err
		}
		defer other.Close()
		_, err = other.Load(path)
		return err
	})
}

// checkpointBytes returns a small valid checkpoint file's bytes.
func checkpointBytes(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.ckpt")
	w := new(bytes.Buffer)
	binary.Write(w, binary.LittleEndian, uint32(1))
	binary.Write(w, binary.LittleEndian, uint16(3))
	w.WriteString("a.b")
	w.Write([]byte{dtypeFloat32, 2})
	binary.Write(w, binary.LittleEndian, []int64{2, 1})
	binary.Write(w, binary.LittleEndian, []float32{1.5, -2})
	hdr := CheckpointHeader{Arch: smallConfig().Fill(), Meta: CheckpointMeta{Steps: 3}}
	if err := WriteCheckpoint(path, hdr, Section{Name: "weights", Data: w.Bytes()}, Section{Name: "optim", Data: []byte{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseCheckpointErrors(t *testing.T) {
	good := checkpointBytes(t)
	c, err := ParseCheckpoint(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sections) != 2 || c.Header.Meta.Steps != 3 {
		t.Fatalf("parsed %+v", c)
	}
	wd, _ := c.Section("weights")
	ws, err := decodeWeights(wd)
	if err != nil || len(ws) != 1 || fmt.Sprint(ws["a.b"].shape, ws["a.b"].vals) != "[2 1] [1.5 -2]" {
		t.Fatalf("weights %v %v", ws, err)
	}
	// Every truncation is refused as corrupt (or, under 12 bytes, not a
	// checkpoint).
	for n := 0; n < len(good); n++ {
		_, err := ParseCheckpoint(good[:n])
		if !errors.Is(err, ErrCheckpointCorrupt) && !(n < 12 && errors.Is(err, ErrCheckpointFormat)) {
			t.Fatalf("truncated to %d of %d bytes: %v", n, len(good), err)
		}
	}
	// Every single flipped bit is refused.
	for i := 0; i < len(good); i++ {
		bad := bytes.Clone(good)
		bad[i] ^= 0x10
		if _, err := ParseCheckpoint(bad); err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	bad := bytes.Clone(good)
	bad[0] = 'X'
	if _, err := ParseCheckpoint(bad); !errors.Is(err, ErrCheckpointFormat) || !strings.Contains(err.Error(), "magic") {
		t.Fatalf("bad magic: %v", err)
	}
	bad = bytes.Clone(good)
	binary.LittleEndian.PutUint32(bad[8:], CheckpointVersion+1)
	if _, err := ParseCheckpoint(bad); !errors.Is(err, ErrCheckpointFormat) || !strings.Contains(err.Error(), "version 3") {
		t.Fatalf("version 3: %v", err)
	}
	if _, err := ParseCheckpoint(append(bytes.Clone(good), 0)); !errors.Is(err, ErrCheckpointCorrupt) {
		t.Fatalf("trailing byte: %v", err)
	}
	// A truncated file on disk, through Model.Load.
	path := filepath.Join(t.TempDir(), "trunc.ckpt")
	onWorker(t, func() error {
		m, err := NewModel(smallConfig(), gotch.CPU)
		if err != nil {
			return err
		}
		defer m.Close()
		if err := m.Save(path, CheckpointMeta{}); err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, data[:len(data)/2], 0o644); err != nil {
			return err
		}
		if _, err := m.Load(path); !errors.Is(err, ErrCheckpointCorrupt) || !strings.Contains(err.Error(), "truncated") {
			return fmt.Errorf("half a file: %v, want a truncation error", err)
		}
		return nil
	})
}

func TestWriteCheckpointAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.ckpt")
	old := checkpointBytes(t)
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	// A write that fails half way leaves the old file and no temporary file.
	failing := errors.New("disk full")
	err := writeFileAtomic(path, func(w io.Writer) error {
		w.Write(make([]byte, 1000))
		return failing
	})
	if !errors.Is(err, failing) {
		t.Fatalf("writeFileAtomic: %v, want the write's error", err)
	}
	// Refused sections fail before anything is written.
	hdr := CheckpointHeader{Arch: smallConfig().Fill()}
	for _, s := range []Section{{Name: "header"}, {Name: "end"}, {Name: "Bad"}, {Name: "toolongname"}} {
		if err := WriteCheckpoint(path, hdr, s); err == nil {
			t.Fatalf("section %q accepted", s.Name)
		}
	}
	if err := WriteCheckpoint(path, hdr, Section{Name: "a"}, Section{Name: "a"}); err == nil {
		t.Fatal("duplicate section accepted")
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, old) {
		t.Fatalf("old file changed after failed writes (%v)", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("folder holds %v, want only model.ckpt", names)
	}
	// A successful write replaces it, and removes the temporaries of
	// writers killed mid-write; other files stay.
	for _, name := range []string{".model.ckpt.tmp123", ".model.ckpt.tmp9", "other.ckpt", ".other.ckpt.tmp1"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteCheckpoint(path, hdr); err != nil {
		t.Fatal(err)
	}
	c, err := ReadCheckpoint(path)
	if err != nil || len(c.Sections) != 0 {
		t.Fatalf("rewritten: %+v %v", c, err)
	}
	var names []string
	ents, _ = os.ReadDir(dir)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != ".other.ckpt.tmp1 model.ckpt other.ckpt" {
		t.Errorf("folder holds %v, want the stale temporaries of model.ckpt gone and nothing else", names)
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add(checkpointBytes(f))
	f.Add([]byte(checkpointMagic + "\x01\x00\x00\x00"))
	f.Add([]byte("junk"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCheckpoint(data)
		if err != nil {
			if !errors.Is(err, ErrCheckpointCorrupt) && !errors.Is(err, ErrCheckpointFormat) {
				t.Fatalf("error %v is neither corrupt nor format", err)
			}
			return
		}
		if err := c.Header.Arch.Validate(); err != nil {
			t.Fatalf("accepted an invalid arch: %v", err)
		}
		if w, ok := c.Section("weights"); ok {
			decodeWeights(w) // must not panic or over-allocate
		}
	})
}

// BenchmarkCheckpointSaveLoad: save and load of the default model (640x192).
func BenchmarkCheckpointSaveLoad(b *testing.B) {
	path := filepath.Join(b.TempDir(), "m.ckpt")
	w, err := NewWorker(2)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	var m *Model
	if err := w.Do(func() (err error) { m, err = NewModel(ModelConfig{}, gotch.CPU); return err }); err != nil {
		b.Fatal(err)
	}
	defer w.Do(func() error { m.Close(); return nil })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := w.Do(func() error {
			if err := m.Save(path, CheckpointMeta{}); err != nil {
				return err
			}
			_, err := m.Load(path)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	st, _ := os.Stat(path)
	b.ReportMetric(float64(st.Size())/1e6, "MB/file")
}
