package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foxglove/mcap/go/mcap"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

// writeMixed writes a recording of several topics and chunks: writeTest's
// frames and camera_infos, and odometry logged out of order (so log-time
// order differs from file order) with ties.
func writeMixed(t testing.TB, path, compression string) {
	t.Helper()
	w := &Writer{Path: path, ChunkSize: 4 << 10, Compression: compression, Metadata: map[string]string{"namespace": "ns", "cameras": "left"}}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	writeTest(t, w, 12, 32, 24)
	t0 := time.Unix(1700000000, 0)
	for _, k := range []int{5, 3, 3, 9, 0, 7, 3} {
		st := t0.Add(time.Duration(k) * 10 * time.Millisecond)
		if err := w.Write("ns.odom", st, msgs.Odometry(st, "odom", "left", uint64(k), msgs.Identity())); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// byTopic reads path with Read, per topic in log-time order (file order
// among ties: the order File promises).
func byTopic(t *testing.T, path string) (map[string][]*Message, *Summary) {
	t.Helper()
	out := map[string][]*Message{}
	s, err := Read(path, nil, func(m *Message) error {
		out[m.Topic] = append(out[m.Topic], m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ms := range out {
		sort.SliceStable(ms, func(i, j int) bool { return ms[i].LogTime.Before(ms[j].LogTime) })
	}
	return out, s
}

// TestFileMatchesRead reads every message through the index, in order,
// backwards and from several goroutines, and compares it with what the
// linear Read returns.
func TestFileMatchesRead(t *testing.T) {
	for _, comp := range []string{"zstd", "lz4", "none"} {
		t.Run(comp, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mixed.mcap")
			writeMixed(t, path, comp)
			want, sum := byTopic(t, path)
			f, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got, w := fmt.Sprint(f.Topics()), "[ns.left.raw.camera_info ns.left.raw.image ns.odom]"; got != w {
				t.Fatalf("topics %s, want %s", got, w)
			}
			if md := f.Metadata(MetadataName); md["namespace"] != "ns" || md["cameras"] != "left" {
				t.Errorf("metadata %v", md)
			}
			if f.Metadata("nope") != nil || f.Topic("nope") != nil || f.Topic("nope").Len() != 0 {
				t.Error("an absent metadata record or topic is not nil")
			}
			check := func(topic string, i int) error {
				tp := f.Topic(topic)
				m, err := tp.Message(i)
				if err != nil {
					return err
				}
				w := want[topic][i]
				if !bytes.Equal(m.Data, w.Data) || !m.LogTime.Equal(w.LogTime) || !tp.LogTime(i).Equal(w.LogTime) ||
					m.Schema != w.Schema || m.Topic != topic || !bytes.Equal(m.schemaData, w.schemaData) {
					return fmt.Errorf("%s message %d differs from Read's", topic, i)
				}
				return nil
			}
			var n uint64
			for topic, ms := range want {
				tp := f.Topic(topic)
				if tp.Len() != len(ms) || tp.Schema() != ms[0].Schema || !bytes.Equal(tp.SchemaData(), ms[0].schemaData) {
					t.Fatalf("%s: %d messages of %s, Read has %d of %s", topic, tp.Len(), tp.Schema(), len(ms), ms[0].Schema)
				}
				for i := range ms {
					if err := check(topic, i); err != nil {
						t.Fatal(err)
					}
				}
				for i := len(ms) - 1; i >= 0; i-- {
					if err := check(topic, i); err != nil {
						t.Fatal(err)
					}
				}
				n += uint64(len(ms))
			}
			if n != sum.Messages || sum.Chunks < 4 {
				t.Fatalf("%d messages compared of %d, in %d chunks", n, sum.Messages, sum.Chunks)
			}
			// Decode keeps working on a message read through the index.
			m, err := f.Topic("ns.left.raw.image").Message(3)
			if err != nil {
				t.Fatal(err)
			}
			if pm, err := m.Decode(); err != nil || pm.(*foxglove.RawImage).Width != 32 {
				t.Fatalf("decode: %v", err)
			}
			// Concurrent readers share the chunk cache.
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					rng := rand.New(rand.NewSource(int64(g)))
					topics := f.Topics()
					for k := 0; k < 100; k++ {
						topic := topics[rng.Intn(len(topics))]
						if err := check(topic, rng.Intn(len(want[topic]))); err != nil {
							errs <- err
							return
						}
					}
				}(g)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			odom := f.Topic("ns.odom")
			for i := 1; i < odom.Len(); i++ {
				if odom.LogTime(i).Before(odom.LogTime(i - 1)) {
					t.Fatalf("odom not in log-time order at %d", i)
				}
			}
		})
	}
}

// chunkIndexes returns the chunk indexes of a complete recording.
func chunkIndexes(t *testing.T, path string) []*mcap.ChunkIndex {
	t.Helper()
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
	return info.ChunkIndexes
}

// TestBadChunkCRC corrupts one chunk's CRC: Read skips the chunk, counts
// it and reads on; random access to its messages returns ErrCorrupt, and
// to the others works; a truncated copy recovers without it. The first
// chunk also declares the channels: Read then takes them from the summary.
func TestBadChunkCRC(t *testing.T) {
	for _, k := range []int{2, 0} {
		t.Run(fmt.Sprint("chunk", k), func(t *testing.T) { testBadChunkCRC(t, k, false) })
	}
	// A byte of the compressed records: zstd's own checks fail it before
	// the CRC is computed, and it is skipped the same way.
	t.Run("data", func(t *testing.T) { testBadChunkCRC(t, 2, true) })
}

func testBadChunkCRC(t *testing.T, k int, data bool) {
	dir := t.TempDir()
	path := filepath.Join(dir, "drive.mcap")
	writeMixed(t, path, "zstd")
	want, full := byTopic(t, path)
	cis := chunkIndexes(t, path)
	bad := cis[k]
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// opcode(1) length(8) start(8) end(8) uncompressed_size(8) uncompressed_crc(4)
	if data {
		b[bad.ChunkStartOffset+bad.ChunkLength-bad.CompressedSize/2] ^= 0x5a
	} else {
		crcAt := bad.ChunkStartOffset + 9 + 24
		binary.LittleEndian.PutUint32(b[crcAt:], binary.LittleEndian.Uint32(b[crcAt:])^0x5a5a)
	}
	corrupt := filepath.Join(dir, "corrupt.mcap")
	if err := os.WriteFile(corrupt, b, 0o644); err != nil {
		t.Fatal(err)
	}

	got, s := byTopic(t, corrupt)
	if !s.Complete || s.Problem != "" || len(s.BadChunks) != 1 || s.BadChunks[0] != int64(bad.ChunkStartOffset) {
		t.Fatalf("read: complete %v, problem %q, bad chunks %v; want complete with chunk %d bad", s.Complete, s.Problem, s.BadChunks, bad.ChunkStartOffset)
	}
	if s.Chunks != full.Chunks-1 || s.Messages >= full.Messages || s.Messages == 0 {
		t.Fatalf("read %d messages in %d chunks; the clean file has %d in %d", s.Messages, s.Chunks, full.Messages, full.Chunks)
	}
	var out bytes.Buffer
	s.Format(&out)
	if !strings.Contains(out.String(), fmt.Sprintf("bad chunks:  1 (damaged: CRC or decompression failed; their messages were skipped) at byte %d", bad.ChunkStartOffset)) {
		t.Errorf("info does not report the bad chunk:\n%s", out.String())
	}

	f, err := OpenFile(corrupt)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var inBad, fine int
	for topic, ms := range want {
		tp := f.Topic(topic)
		for i := range ms {
			m, err := tp.Message(i)
			// The message is in the bad chunk when Read did not see it.
			seen := false
			for _, g := range got[topic] {
				if g.LogTime.Equal(ms[i].LogTime) && bytes.Equal(g.Data, ms[i].Data) {
					seen = true
				}
			}
			switch {
			case !seen:
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), corrupt) || !strings.Contains(err.Error(), fmt.Sprintf("chunk at byte %d", bad.ChunkStartOffset)) ||
					(!data && !strings.Contains(err.Error(), "CRC")) {
					t.Fatalf("%s message %d in the bad chunk: %v, want ErrCorrupt naming the file and the CRC", topic, i, err)
				}
				inBad++
			case err != nil:
				t.Fatalf("%s message %d: %v", topic, i, err)
			case !bytes.Equal(m.Data, ms[i].Data):
				t.Fatalf("%s message %d differs", topic, i)
			default:
				fine++
			}
		}
	}
	if inBad == 0 || uint64(fine) != s.Messages {
		t.Fatalf("%d messages in the bad chunk, %d read; Read saw %d", inBad, fine, s.Messages)
	}

	if k == 0 {
		return // a truncated copy has no summary to declare the channels
	}
	// A truncated copy: the scan reads past the bad chunk, and Recover
	// keeps every other complete chunk and reports the bad one.
	last := cis[len(cis)-1]
	cut := filepath.Join(dir, "cut.mcap")
	os.WriteFile(cut, b[:last.ChunkStartOffset+last.ChunkLength/2], 0o644)
	rep, err := Recover(cut, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.BadChunks) != 1 || rep.BadChunks[0] != int64(bad.ChunkStartOffset) || rep.Chunks != len(cis)-2 {
		t.Fatalf("recover: %+v; want %d chunks kept, chunk %d reported bad", rep, len(cis)-2, bad.ChunkStartOffset)
	}
	if r, err := Info(cut); err != nil || !r.Complete || r.Messages != rep.Messages {
		t.Fatalf("recovered: %v, %+v", err, r)
	}
}

// TestFileIndexMismatch edits a message index so that it no longer leads
// to the message it names: random access must notice.
func TestFileIndexMismatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "drive.mcap")
	writeMixed(t, path, "zstd")
	ci := chunkIndexes(t, path)[1]
	b, _ := os.ReadFile(path)
	// The first message index after the chunk: opcode(1) length(8)
	// channel_id(2) entries_length(4), then (log_time(8), offset(8)) pairs.
	idx := ci.ChunkStartOffset + ci.ChunkLength
	if mcap.OpCode(b[idx]) != mcap.OpMessageIndex {
		t.Fatalf("no message index at %d", idx)
	}
	entry := idx + 9 + 6
	for _, tc := range []struct {
		name string
		edit func(b []byte)
		want string
	}{
		{"offset", func(b []byte) { binary.LittleEndian.PutUint64(b[entry+8:], binary.LittleEndian.Uint64(b[entry+8:])+1) }, "no message record starts"},
		{"log time", func(b []byte) { binary.LittleEndian.PutUint64(b[entry:], binary.LittleEndian.Uint64(b[entry:])+1) }, "the index says"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := append([]byte(nil), b...)
			tc.edit(c)
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "")+".mcap")
			os.WriteFile(p, c, 0o644)
			f, err := OpenFile(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var found error
			for _, topic := range f.Topics() {
				tp := f.Topic(topic)
				for i := 0; i < tp.Len(); i++ {
					if _, err := tp.Message(i); err != nil {
						if !errors.Is(err, ErrCorrupt) {
							t.Fatalf("%s %d: %v, want ErrCorrupt", topic, i, err)
						}
						found = err
					}
				}
			}
			if found == nil || !strings.Contains(found.Error(), tc.want) {
				t.Fatalf("edited index: %v, want ErrCorrupt with %q", found, tc.want)
			}
		})
	}
}

func TestOpenFileErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "drive.mcap")
	writeMixed(t, path, "zstd")
	full, _ := os.ReadFile(path)
	for _, n := range []int{len(full) - 1, len(full) / 2, 8, 12} {
		cut := filepath.Join(dir, fmt.Sprintf("cut%d.mcap", n))
		os.WriteFile(cut, full[:n], 0o644)
		_, err := OpenFile(cut)
		if !errors.Is(err, ErrNoIndex) || !strings.Contains(err.Error(), "parallax record recover "+cut) {
			t.Errorf("cut at %d: %v, want ErrNoIndex telling to run parallax record recover %s", n, err, cut)
		}
	}
	text := filepath.Join(dir, "x.mcap")
	os.WriteFile(text, []byte("not an mcap file at all, sorry"), 0o644)
	if _, err := OpenFile(text); !errors.Is(err, ErrNotMCAP) || !strings.Contains(err.Error(), text) {
		t.Errorf("text file: %v", err)
	}
	if _, err := OpenFile(filepath.Join(dir, "missing.mcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img := f.Topic("ns.left.raw.image")
	for _, i := range []int{-1, img.Len()} {
		if _, err := img.Message(i); !errors.Is(err, ErrInvalid) {
			t.Errorf("message %d of %d: %v, want ErrInvalid", i, img.Len(), err)
		}
	}
	if _, err := f.Topic("nope").Message(0); !errors.Is(err, ErrInvalid) {
		t.Errorf("message of an absent topic: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := img.Message(0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("read after Close: %v", err)
	}
}

// FuzzOpenFile opens arbitrary bytes with OpenFile and reads messages of
// every topic: errors that name the file, never a panic. The seeds
// (testdata/fuzz/FuzzOpenFile) are a small recording whole, truncated, and
// with a chunk's CRC, a chunk index and a message index corrupted.
func FuzzOpenFile(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.mcap")
	w := &Writer{Path: path, ChunkSize: 1 << 10, Metadata: map[string]string{"namespace": "ns"}}
	if err := w.Start(); err != nil {
		f.Fatal(err)
	}
	writeTest(f, w, 3, 8, 4)
	w.Close()
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "f.mcap")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		named := func(err error) {
			if err != nil && !strings.Contains(err.Error(), p) {
				t.Fatalf("error does not name the file: %v", err)
			}
		}
		rf, err := OpenFile(p)
		named(err)
		if err != nil {
			if !errors.Is(err, ErrNotMCAP) && !errors.Is(err, ErrNoIndex) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("OpenFile: %v, want ErrNotMCAP, ErrNoIndex or ErrCorrupt", err)
			}
			return
		}
		defer rf.Close()
		for _, topic := range rf.Topics() {
			tp := rf.Topic(topic)
			for i := 0; i < tp.Len() && i < 16; i++ {
				m, err := tp.Message(i)
				named(err)
				if err != nil && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s message %d: %v, want ErrCorrupt", topic, i, err)
				}
				if err == nil {
					m.Decode()
				}
			}
		}
	})
}
