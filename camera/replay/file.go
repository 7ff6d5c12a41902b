package replay

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sort"
	"sync"

	"github.com/foxglove/mcap/go/mcap"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/parallax-robotics/parallax/msgs"
)

// maxChunk bounds a chunk's decompressed size: a corrupt index must not make
// the reader allocate gigabytes.
const maxChunk = 1 << 30

// entry locates one message: its log time, its chunk, and its offset in
// the decompressed chunk.
type entry struct {
	t      uint64
	chunk  int
	offset uint64
}

// file is random access to the messages of an indexed MCAP file: the
// summary section's chunk indexes and each chunk's message indexes give
// every message's place without decompressing anything; a message read
// decompresses (and CRC-checks) its chunk, and the last chunk is cached, so
// reading in order decompresses each chunk once. Safe for concurrent use.
type file struct {
	path     string
	f        *os.File
	size     int64
	chunks   []*mcap.ChunkIndex
	channels map[uint16]*mcap.Channel
	schemas  map[uint16]*mcap.Schema
	topics   map[string]uint16
	meta     map[string]string
	index    map[uint16][]entry // by log time

	mu      sync.Mutex
	cached  int // chunk in buf, -1 none
	buf     []byte
	dec     *zstd.Decoder
	scratch []byte
}

// openFile reads the summary and message indexes of the MCAP file at path.
func openFile(path string) (_ *file, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	m := &file{path: path, f: f, size: st.Size(), cached: -1, topics: map[string]uint16{},
		meta: map[string]string{}, index: map[uint16][]entry{}}
	if err := m.readSummary(); err != nil {
		return nil, err
	}
	for i, ci := range m.chunks {
		if err := m.readMessageIndexes(i, ci); err != nil {
			return nil, err
		}
	}
	for ch := range m.index {
		es := m.index[ch]
		sort.SliceStable(es, func(i, j int) bool { return es[i].t < es[j].t })
	}
	return m, nil
}

// readSummary parses the summary section with the mcap library, which can
// panic on corrupt input: a panic becomes ErrCorrupt.
func (m *file) readSummary() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: summary: %v", ErrCorrupt, m.path, r)
		}
	}()
	magic := make([]byte, len(mcap.Magic))
	if _, err := io.ReadFull(m.f, magic); err != nil || !bytes.Equal(magic, mcap.Magic) {
		return fmt.Errorf("%w: %s is not an MCAP file", ErrCorrupt, m.path)
	}
	if _, err := m.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r, err := mcap.NewReader(m.f)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, m.path, err)
	}
	defer r.Close()
	info, err := r.Info()
	if err != nil || info.Footer == nil || info.Footer.SummaryStart == 0 {
		return fmt.Errorf("%w: %s", ErrNoIndex, m.path)
	}
	if len(info.ChunkIndexes) == 0 && info.Statistics != nil && info.Statistics.MessageCount > 0 {
		return fmt.Errorf("%w: %s is not chunked", ErrNoIndex, m.path)
	}
	m.chunks, m.channels, m.schemas = info.ChunkIndexes, info.Channels, info.Schemas
	for id, ch := range m.channels {
		m.topics[ch.Topic] = id
	}
	for _, mi := range info.MetadataIndexes {
		if mi.Name != msgs.MetadataName {
			continue
		}
		md, err := r.GetMetadata(mi.Offset)
		if err != nil {
			return fmt.Errorf("%w: %s: metadata: %v", ErrCorrupt, m.path, err)
		}
		for k, v := range md.Metadata {
			m.meta[k] = v
		}
	}
	return nil
}

// readAt reads n bytes at off, checking the range against the file size.
func (m *file) readAt(off, n uint64) ([]byte, error) {
	if off > uint64(m.size) || n > uint64(m.size)-off {
		return nil, fmt.Errorf("%w: %s: index points at bytes %d+%d of a %d-byte file", ErrCorrupt, m.path, off, n, m.size)
	}
	b := make([]byte, n)
	if _, err := m.f.ReadAt(b, int64(off)); err != nil {
		return nil, fmt.Errorf("replay: %s: %w", m.path, err)
	}
	return b, nil
}

// readMessageIndexes adds chunk i's message index entries to m.index.
func (m *file) readMessageIndexes(i int, ci *mcap.ChunkIndex) error {
	if ci.MessageIndexLength == 0 {
		return nil
	}
	start := ci.ChunkStartOffset + ci.ChunkLength
	b, err := m.readAt(start, ci.MessageIndexLength)
	if err != nil {
		return err
	}
	for len(b) > 0 {
		if len(b) < 9 {
			return fmt.Errorf("%w: %s: message index cut", ErrCorrupt, m.path)
		}
		size := binary.LittleEndian.Uint64(b[1:])
		if size > uint64(len(b)-9) {
			return fmt.Errorf("%w: %s: message index of %d bytes in %d", ErrCorrupt, m.path, size, len(b)-9)
		}
		if mcap.OpCode(b[0]) == mcap.OpMessageIndex {
			rec := b[9 : 9+size]
			if len(rec) < 6 {
				return fmt.Errorf("%w: %s: short message index", ErrCorrupt, m.path)
			}
			ch := binary.LittleEndian.Uint16(rec)
			n := binary.LittleEndian.Uint32(rec[2:])
			es := rec[6:]
			if uint64(n) != uint64(len(es)) || n%16 != 0 {
				return fmt.Errorf("%w: %s: message index entries of %d bytes in %d", ErrCorrupt, m.path, n, len(es))
			}
			for k := 0; k < len(es); k += 16 {
				m.index[ch] = append(m.index[ch], entry{t: binary.LittleEndian.Uint64(es[k:]), chunk: i,
					offset: binary.LittleEndian.Uint64(es[k+8:])})
			}
		}
		b = b[9+size:]
	}
	return nil
}

// message returns the payload of the message at e (a copy).
func (m *file) message(e entry) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.load(e.chunk); err != nil {
		return nil, err
	}
	b := m.buf
	if e.offset > uint64(len(b)) || uint64(len(b))-e.offset < 9 {
		return nil, fmt.Errorf("%w: %s: message offset %d outside its %d-byte chunk", ErrCorrupt, m.path, e.offset, len(b))
	}
	rec := b[e.offset:]
	size := binary.LittleEndian.Uint64(rec[1:])
	if mcap.OpCode(rec[0]) != mcap.OpMessage || size > uint64(len(rec)-9) || size < 22 {
		return nil, fmt.Errorf("%w: %s: no message record at chunk offset %d", ErrCorrupt, m.path, e.offset)
	}
	return append([]byte(nil), rec[9+22:9+size]...), nil
}

// load decompresses chunk i into m.buf, checking its CRC.
func (m *file) load(i int) error {
	if m.cached == i {
		return nil
	}
	ci := m.chunks[i]
	raw, err := m.readAt(ci.ChunkStartOffset, ci.ChunkLength)
	if err != nil {
		return err
	}
	// opcode(1) length(8) start(8) end(8) usize(8) crc(4) clen(4) compression records_len(8) records
	if len(raw) < 9+32+8 || mcap.OpCode(raw[0]) != mcap.OpChunk {
		return fmt.Errorf("%w: %s: no chunk at byte %d", ErrCorrupt, m.path, ci.ChunkStartOffset)
	}
	body := raw[9:]
	usize := binary.LittleEndian.Uint64(body[16:])
	crc := binary.LittleEndian.Uint32(body[24:])
	clen := uint64(binary.LittleEndian.Uint32(body[28:]))
	if clen > uint64(len(body))-40 {
		return fmt.Errorf("%w: %s: chunk at byte %d: bad compression field", ErrCorrupt, m.path, ci.ChunkStartOffset)
	}
	comp := string(body[32 : 32+clen])
	recs := body[40+clen:]
	if binary.LittleEndian.Uint64(body[32+clen:]) != uint64(len(recs)) || usize > maxChunk {
		return fmt.Errorf("%w: %s: chunk at byte %d: bad sizes", ErrCorrupt, m.path, ci.ChunkStartOffset)
	}
	var out []byte
	switch comp {
	case "":
		out = recs
	case string(mcap.CompressionZSTD):
		if m.dec == nil {
			if m.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxChunk)); err != nil {
				return err
			}
		}
		out, err = m.dec.DecodeAll(recs, m.scratch[:0])
	case string(mcap.CompressionLZ4):
		out, err = io.ReadAll(io.LimitReader(lz4.NewReader(bytes.NewReader(recs)), int64(usize)+1))
	default:
		return fmt.Errorf("%w: %s: chunk compression %q", ErrCorrupt, m.path, comp)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: chunk at byte %d: %v", ErrCorrupt, m.path, ci.ChunkStartOffset, err)
	}
	if uint64(len(out)) != usize || (crc != 0 && crc32.ChecksumIEEE(out) != crc) {
		return fmt.Errorf("%w: %s: chunk at byte %d fails its size or CRC check", ErrCorrupt, m.path, ci.ChunkStartOffset)
	}
	if comp == string(mcap.CompressionZSTD) {
		m.scratch = out
	}
	m.buf, m.cached = out, i
	return nil
}

// schemaOf returns the schema name of topic's channel, "" if none.
func (m *file) schemaOf(topic string) string {
	ch, ok := m.topics[topic]
	if !ok {
		return ""
	}
	if s := m.schemas[m.channels[ch].SchemaID]; s != nil {
		return s.Name
	}
	return ""
}

// entries returns topic's index, nil when the file has no such topic.
func (m *file) entries(topic string) []entry {
	ch, ok := m.topics[topic]
	if !ok {
		return nil
	}
	return m.index[ch]
}

func (m *file) close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dec != nil {
		m.dec.Close()
		m.dec = nil
	}
	return m.f.Close()
}
