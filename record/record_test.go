package record

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/foxglove/mcap/go/mcap"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

// writeTest writes n frames of w x h noise (so zstd cannot shrink them much
// and chunks fill) and a camera_info each, at 10 Hz from t0.
func writeTest(t testing.TB, w *Writer, n, width, height int) []*foxglove.RawImage {
	t.Helper()
	rng := rand.New(rand.NewSource(1))
	t0 := time.Unix(1700000000, 0)
	var imgs []*foxglove.RawImage
	for i := 0; i < n; i++ {
		pix := make([]byte, width*height*3)
		rng.Read(pix)
		stamp := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		img, err := msgs.FrameImage(&msgs.Frame{Camera: "left", Stamp: stamp, Width: width, Height: height, Pix: pix})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write("ns.left.raw.image", stamp, img); err != nil {
			t.Fatal(err)
		}
		cal, err := msgs.CameraCalibration(stamp, "left", msgs.Intrinsics{Width: width, Height: height, Fx: 50, Fy: 50, Cx: 32, Cy: 24}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write("ns.left.raw.camera_info", stamp, cal); err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	return imgs
}

func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "drive.mcap")
	w := &Writer{Path: path, ChunkSize: 64 << 10, Metadata: map[string]string{"namespace": "ns", "cameras": "left"}}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	imgs := writeTest(t, w, 20, 64, 48)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write("x", time.Now(), &foxglove.RawImage{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
	s, err := Info(path)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Complete || s.Messages != 40 || len(s.Channels) != 2 || len(s.Schemas) != 2 || s.Chunks < 2 {
		t.Fatalf("summary: complete %v, %d messages, %d channels, %d schemas, %d chunks", s.Complete, s.Messages, len(s.Channels), len(s.Schemas), s.Chunks)
	}
	if s.Duration() != 1900*time.Millisecond {
		t.Errorf("duration %v, want 1.9s", s.Duration())
	}
	if got := s.Metadata[MetadataName]["namespace"]; got != "ns" {
		t.Errorf("metadata namespace %q", got)
	}
	if s.Compression[0] != "zstd" {
		t.Errorf("compression %v", s.Compression)
	}
	var got []*foxglove.RawImage
	rs, err := Read(path, []string{"ns.left.raw.image"}, func(m *Message) error {
		pm, err := m.Decode()
		if err != nil {
			return err
		}
		got = append(got, pm.(*foxglove.RawImage))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rs.Complete || len(got) != len(imgs) {
		t.Fatalf("read %d images (complete %v), want %d", len(got), rs.Complete, len(imgs))
	}
	for i := range got {
		if !proto.Equal(got[i], imgs[i]) {
			t.Fatalf("image %d differs after the round trip", i)
		}
	}
	var buf bytes.Buffer
	s.Format(&buf)
	for _, want := range []string{"ns.left.raw.image", "foxglove.RawImage", "foxglove.CameraCalibration", "complete", "parallax.namespace = ns"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("info output lacks %q:\n%s", want, buf.String())
		}
	}
}

// TestDynamicDecode decodes with only the schema embedded in the file, as a
// reader without the generated Go types would.
func TestDynamicDecode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.mcap")
	w := &Writer{Path: path}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	writeTest(t, w, 1, 8, 4)
	w.Close()
	var schema []byte
	Read(path, []string{"ns.left.raw.camera_info"}, func(m *Message) error { schema = m.schemaData; return nil })
	desc, err := DescriptorFromSchema("foxglove.CameraCalibration", schema)
	if err != nil {
		t.Fatal(err)
	}
	if f := desc.Fields().ByName("K"); f == nil || f.Number() != 6 {
		t.Fatalf("embedded schema lacks K = 6: %v", f)
	}
	if _, err := DescriptorFromSchema("foxglove.Nope", schema); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown name: %v", err)
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int64
		chunk int64
		dur   time.Duration
		min   int
	}{
		{"size", 50 << 10, 32 << 10, 0, 3},
		{"duration", 0, 0, 500 * time.Millisecond, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := &Writer{Path: filepath.Join(dir, "drive.mcap"), SplitSize: tc.size, ChunkSize: tc.chunk, SplitDuration: tc.dur}
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			writeTest(t, w, 20, 64, 48)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			files := w.Stats().Files
			if len(files) < tc.min {
				t.Fatalf("%d files, want at least %d", len(files), tc.min)
			}
			var total uint64
			for i, f := range files {
				if want := filepath.Join(dir, fmt.Sprintf("drive-%04d.mcap", i+1)); f != want {
					t.Errorf("file %d is %s, want %s", i, f, want)
				}
				s, err := Info(f)
				if err != nil {
					t.Fatal(err)
				}
				if !s.Complete || len(s.Schemas) == 0 {
					t.Errorf("%s: complete %v, %d schemas", f, s.Complete, len(s.Schemas))
				}
				total += s.Messages
			}
			if total != 40 {
				t.Errorf("%d messages over the files, want 40", total)
			}
		})
	}
}

// TestTruncatedAndRecover cuts a recording at random bytes: it must read up
// to its last complete chunk, and Recover must make a complete file of the
// same messages.
func TestTruncatedAndRecover(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "full.mcap")
	w := &Writer{Path: path, ChunkSize: 40 << 10, Metadata: map[string]string{"namespace": "ns"}}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	writeTest(t, w, 30, 64, 48)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := Info(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	cuts := []int{len(full) - 1, len(full) / 2, 9}
	for i := 0; i < 5; i++ {
		cuts = append(cuts, 8+rng.Intn(len(full)-8))
	}
	for _, cut := range cuts {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			p := filepath.Join(dir, fmt.Sprintf("cut-%d.mcap", cut))
			if err := os.WriteFile(p, full[:cut], 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Info(p)
			if err != nil {
				t.Fatal(err)
			}
			if s.Complete {
				t.Fatal("a truncated file reads as complete")
			}
			// Every message of a complete chunk is read, each image whole.
			var n uint64
			if _, err := Read(p, nil, func(m *Message) error {
				if _, err := m.Decode(); err != nil {
					return err
				}
				n++
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if n != s.Messages || n > fs.Messages {
				t.Fatalf("read %d messages, info says %d (full file %d)", n, s.Messages, fs.Messages)
			}
			// All but the chunk being filled: the readable part ends where a
			// chunk (with its indexes) ends.
			if cut == len(full)-1 && s.Messages != fs.Messages {
				t.Errorf("cut in the footer lost messages: %d of %d", s.Messages, fs.Messages)
			}
			rep, err := Recover(p, "")
			if err != nil {
				t.Fatal(err)
			}
			if rep.WasComplete || rep.Messages != n || rep.Chunks != s.Chunks {
				t.Fatalf("recover: %+v, want %d messages from %d chunks", rep, n, s.Chunks)
			}
			r, err := Info(p)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Complete || r.Messages != n {
				t.Fatalf("recovered file: complete %v, %d messages, want %d", r.Complete, r.Messages, n)
			}
			if n > 0 && r.Metadata[MetadataName]["namespace"] != "ns" {
				t.Errorf("recovered file lost the metadata: %v", r.Metadata)
			}
			again, err := Recover(p, "")
			if err != nil || !again.WasComplete {
				t.Fatalf("second recover: %+v, %v", again, err)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	notMCAP := filepath.Join(dir, "x.mcap")
	os.WriteFile(notMCAP, []byte("hello, this is not a recording"), 0o644)
	if _, err := Info(notMCAP); !errors.Is(err, ErrNotMCAP) {
		t.Errorf("Info of a text file: %v", err)
	}
	if _, err := Recover(notMCAP, ""); !errors.Is(err, ErrNotMCAP) {
		t.Errorf("Recover of a text file: %v", err)
	}
	if _, err := Info(filepath.Join(dir, "missing.mcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Info of a missing file: %v", err)
	}
	for _, w := range []*Writer{{}, {Path: filepath.Join(dir, "a.mcap"), SplitSize: -1}, {Path: filepath.Join(dir, "a.mcap"), Compression: "brotli"}} {
		if err := w.Start(); !errors.Is(err, ErrInvalid) {
			t.Errorf("Start(%+v): %v", w, err)
		}
	}
	w := &Writer{Path: filepath.Join(dir, "b.mcap")}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Write("", time.Now(), &foxglove.RawImage{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty topic: %v", err)
	}
	if err := w.Write("a", time.Unix(-5, 0), &foxglove.RawImage{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("time before 1970: %v", err)
	}
}

// FuzzRead feeds arbitrary bytes after the MCAP magic to the scanner, the
// summary reader and Recover: errors, never panics.
func FuzzRead(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.mcap")
	w := &Writer{Path: path, ChunkSize: 4 << 10}
	if err := w.Start(); err != nil {
		f.Fatal(err)
	}
	writeTest(f, w, 3, 16, 8)
	w.Close()
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add([]byte("\x89MCAP0\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "f.mcap")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		Info(p)
		Read(p, nil, func(m *Message) error { m.Decode(); return nil })
		Recover(p, filepath.Join(filepath.Dir(p), "out.mcap"))
	})
}

// TestAttachments: a Writer's attachments come back from File.Attachment
// with their bytes; Recover of a cut file keeps them; a recording without
// one says so.
func TestAttachments(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.mcap")
	model := bytes.Repeat([]byte("checkpoint bytes "), 1000)
	w := &Writer{Path: path, ChunkSize: 40 << 10, Attachments: []Attachment{{Name: ModelAttachment, MediaType: ModelMediaType, Data: model}}}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	writeTest(t, w, 30, 64, 48)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	get := func(p string) ([]byte, bool) {
		f, err := OpenFile(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b, ok, err := f.Attachment(ModelAttachment)
		if err != nil {
			t.Fatal(err)
		}
		return b, ok
	}
	if b, ok := get(path); !ok || !bytes.Equal(b, model) {
		t.Fatalf("attachment: %v, %d bytes", ok, len(b))
	}
	full, _ := os.ReadFile(path)
	cut := filepath.Join(dir, "cut.mcap")
	os.WriteFile(cut, full[:len(full)*2/3], 0o644)
	if _, err := Recover(cut, ""); err != nil {
		t.Fatal(err)
	}
	if b, ok := get(cut); !ok || !bytes.Equal(b, model) {
		t.Fatalf("attachment after recover: %v, %d bytes", ok, len(b))
	}
	plain := filepath.Join(dir, "plain.mcap")
	w = &Writer{Path: plain}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	writeTest(t, w, 2, 8, 8)
	w.Close()
	if _, ok := get(plain); ok {
		t.Fatal("a recording without attachments has one")
	}
}

// TestFoxgloveReader: a recording opens in Foxglove's own MCAP reader
// (github.com/foxglove/mcap/go/mcap: summary, indexed reading in log-time
// order) and every message decodes with the schema the file embeds alone,
// as Foxglove Studio does.
func TestFoxgloveReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fox.mcap")
	w := &Writer{Path: path, ChunkSize: 40 << 10, Metadata: map[string]string{"namespace": "ns"},
		Attachments: []Attachment{{Name: ModelAttachment, MediaType: ModelMediaType, Data: []byte("x")}}}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	writeTest(t, w, 20, 64, 48)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := mcap.NewReader(fh)
	if err != nil {
		t.Fatal(err)
	}
	info, err := r.Info()
	if err != nil {
		t.Fatal(err)
	}
	it, err := r.Messages(mcap.UsingIndex(true), mcap.InOrder(mcap.LogTimeOrder))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	var last uint64
	for {
		sc, ch, m, err := it.NextInto(nil)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.LogTime < last {
			t.Fatalf("message %d out of log-time order", n)
		}
		last = m.LogTime
		desc, err := DescriptorFromSchema(sc.Name, sc.Data)
		if err != nil {
			t.Fatalf("%s on %s: %v", sc.Name, ch.Topic, err)
		}
		if err := proto.Unmarshal(m.Data, dynamicpb.NewMessage(desc)); err != nil {
			t.Fatalf("%s on %s: %v", sc.Name, ch.Topic, err)
		}
		n++
	}
	if n != 40 || info.Statistics.MessageCount != n || len(info.AttachmentIndexes) != 1 {
		t.Fatalf("read %d messages, statistics %d, %d attachments", n, info.Statistics.MessageCount, len(info.AttachmentIndexes))
	}
}
