package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/foxglove/mcap/go/mcap"
)

// File is random access to the messages of a complete, indexed recording:
// per topic, in log-time order. OpenFile reads the summary section (chunk
// indexes, channels, schemas, metadata indexes) and the message index
// records after each chunk, which place every message without
// decompressing anything. A message read decompresses its chunk and checks
// the chunk's CRC; the last chunk stays decompressed, so reading in order
// decompresses each chunk once. Safe for concurrent use.
type File struct {
	path     string
	f        *os.File
	size     int64
	chunks   []*mcap.ChunkIndex
	channels map[uint16]*channel
	topics   map[string]*Topic
	names    []string
	meta     map[string]map[string]string
	attach   []*mcap.AttachmentIndex
	maxRec   int // the largest record a chunk load may meet

	mu      sync.Mutex
	closed  bool
	lex     *mcap.Lexer // nil until the first load, and after a failed one
	base    switchReader
	dec     *decompressors
	loading int64          // start of the chunk being loaded
	cached  int            // chunk whose messages are in arena, -1 none
	arena   []byte         // the cached chunk's message records
	recs    []chunkMessage // by offset
}

// channel is what a File keeps of an MCAP channel.
type channel struct {
	topic      string
	schema     string
	schemaData []byte
}

// entry places one message: its log time, channel, chunk, and offset in
// the decompressed chunk (from the chunk's message index).
type entry struct {
	t       uint64
	offset  uint64
	chunk   int32
	channel uint16
}

// chunkMessage is one message record of the cached chunk.
type chunkMessage struct {
	offset    uint64 // of the record in the decompressed chunk
	logTime   uint64
	channel   uint16
	data, end int // the payload, in arena
}

// Topic is one topic of a File: its messages in log-time order (file order
// among messages logged at the same time). A nil *Topic has no messages.
type Topic struct {
	f          *File
	name       string
	schema     string
	schemaData []byte
	entries    []entry
}

// OpenFile opens the recording at path for random access. A recording
// without a summary section (truncated: the writer did not close it) or
// without chunk indexes returns ErrNoIndex; `parallax record recover`
// (Recover) rebuilds the index of a truncated one. Close releases the file.
func OpenFile(path string) (_ *File, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	m := &File{path: path, f: f, size: st.Size(), channels: map[uint16]*channel{}, topics: map[string]*Topic{},
		meta: map[string]map[string]string{}, cached: -1}
	if err := m.readSummary(); err != nil {
		return nil, err
	}
	for i, ci := range m.chunks {
		if err := m.readMessageIndexes(i, ci); err != nil {
			return nil, err
		}
	}
	for name, t := range m.topics {
		es := t.entries
		sort.Slice(es, func(i, j int) bool {
			a, b := es[i], es[j]
			if a.t != b.t {
				return a.t < b.t
			}
			if a.chunk != b.chunk {
				return a.chunk < b.chunk
			}
			return a.offset < b.offset
		})
		m.names = append(m.names, name)
	}
	sort.Strings(m.names)
	return m, nil
}

// readSummary reads the summary section with the mcap library and checks
// the index against the file.
func (m *File) readSummary() error {
	magic := make([]byte, len(mcap.Magic))
	if _, err := m.f.ReadAt(magic, 0); err != nil || !bytes.Equal(magic, mcap.Magic) {
		return fmt.Errorf("%w: %s does not start with the MCAP magic", ErrNotMCAP, m.path)
	}
	// Without the closing magic there is no footer to find the summary by:
	// the writer did not finish the file.
	if m.size < 2*int64(len(mcap.Magic)) {
		return fmt.Errorf("%w: %s is truncated (%d bytes); run `parallax record recover %s`", ErrNoIndex, m.path, m.size, m.path)
	}
	if _, err := m.f.ReadAt(magic, m.size-int64(len(mcap.Magic))); err != nil || !bytes.Equal(magic, mcap.Magic) {
		return fmt.Errorf("%w: %s is truncated (it does not end with the MCAP magic: the writer did not close it); run `parallax record recover %s`", ErrNoIndex, m.path, m.path)
	}
	start, err := checkFraming(m.f, m.size)
	if err != nil {
		return fmt.Errorf("%s: %w", m.path, err)
	}
	if start == 0 {
		return fmt.Errorf("%w: %s was written without a summary section", ErrNoIndex, m.path)
	}
	rs := io.NewSectionReader(m.f, 0, m.size)
	r, err := safe("header", func() (*mcap.Reader, error) { return mcap.NewReader(rs) })
	if err != nil {
		return fmt.Errorf("%s: %w", m.path, err)
	}
	defer r.Close()
	info, err := safe("summary section", func() (*mcap.Info, error) { return r.Info() })
	if err != nil {
		return fmt.Errorf("%s: %w", m.path, err)
	}
	if info.Footer == nil || info.Footer.SummaryStart == 0 {
		return fmt.Errorf("%w: %s was written without a summary section", ErrNoIndex, m.path)
	}
	if len(info.ChunkIndexes) == 0 && info.Statistics != nil && info.Statistics.MessageCount > 0 {
		return fmt.Errorf("%w: %s is not chunked", ErrNoIndex, m.path)
	}
	ids := make([]uint16, 0, len(info.Channels))
	for id := range info.Channels {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		ch := info.Channels[id]
		c := &channel{topic: ch.Topic}
		if sc := info.Schemas[ch.SchemaID]; sc != nil {
			c.schema, c.schemaData = sc.Name, sc.Data
		}
		m.channels[id] = c
		if m.topics[ch.Topic] == nil {
			// Several channels may share a topic: the lowest id names the
			// topic's schema (each message keeps its own channel's).
			m.topics[ch.Topic] = &Topic{f: m, name: ch.Topic, schema: c.schema, schemaData: c.schemaData}
		}
	}
	m.chunks = append([]*mcap.ChunkIndex(nil), info.ChunkIndexes...)
	sort.SliceStable(m.chunks, func(i, j int) bool { return m.chunks[i].ChunkStartOffset < m.chunks[j].ChunkStartOffset })
	size := uint64(m.size)
	for _, ci := range m.chunks {
		end := ci.ChunkStartOffset + ci.ChunkLength
		if ci.ChunkStartOffset > size || ci.ChunkLength > size-ci.ChunkStartOffset || ci.ChunkLength < 9 ||
			ci.MessageIndexLength > size-end {
			return fmt.Errorf("%w: %s: the chunk index points at bytes %d+%d (and %d of message index) of a %d-byte file",
				ErrCorrupt, m.path, ci.ChunkStartOffset, ci.ChunkLength, ci.MessageIndexLength, m.size)
		}
		if ci.UncompressedSize > MaxChunkSize || ci.ChunkLength-9 > MaxRecordSize {
			return fmt.Errorf("%w: %s: the chunk at byte %d claims %d bytes, %d decompressed", ErrCorrupt, m.path,
				ci.ChunkStartOffset, ci.ChunkLength, ci.UncompressedSize)
		}
		m.maxRec = max(m.maxRec, int(ci.ChunkLength-9), int(ci.UncompressedSize))
	}
	m.attach = info.AttachmentIndexes
	for _, mi := range info.MetadataIndexes {
		md, err := readMetadata(m.f, m.size, mi)
		if err != nil {
			return fmt.Errorf("%s: %w", m.path, err)
		}
		if m.meta[md.Name] == nil {
			m.meta[md.Name] = map[string]string{}
		}
		for k, v := range md.Metadata {
			m.meta[md.Name][k] = v
		}
	}
	return nil
}

// readMessageIndexes adds chunk i's message index entries to the topics.
func (m *File) readMessageIndexes(i int, ci *mcap.ChunkIndex) error {
	if ci.MessageIndexLength == 0 {
		return nil
	}
	start := int64(ci.ChunkStartOffset + ci.ChunkLength)
	lex, err := mcap.NewLexer(io.NewSectionReader(m.f, start, int64(ci.MessageIndexLength)),
		&mcap.LexerOptions{SkipMagic: true, MaxRecordSize: int(ci.MessageIndexLength)})
	if err != nil {
		return fmt.Errorf("%w: %s: message index at byte %d: %v", ErrCorrupt, m.path, start, err)
	}
	defer lex.Close()
	var buf []byte
	for {
		tok, data, err := next(lex, buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %s: message index after the chunk at byte %d: %v", ErrCorrupt, m.path, ci.ChunkStartOffset, err)
		}
		if cap(data) > cap(buf) {
			buf = data[:0]
		}
		if tok != mcap.TokenMessageIndex {
			continue // the specification puts nothing else there; nothing to index
		}
		idx, err := safe("message index", func() (*mcap.MessageIndex, error) { return mcap.ParseMessageIndex(data) })
		if err != nil {
			return fmt.Errorf("%s: after the chunk at byte %d: %w", m.path, ci.ChunkStartOffset, err)
		}
		ch := m.channels[idx.ChannelID]
		if ch == nil {
			return fmt.Errorf("%w: %s: the chunk at byte %d indexes messages of undeclared channel %d", ErrCorrupt, m.path, ci.ChunkStartOffset, idx.ChannelID)
		}
		t := m.topics[ch.topic]
		for _, e := range idx.Records {
			if e.Offset >= ci.UncompressedSize {
				return fmt.Errorf("%w: %s: the message index puts a message at offset %d of the %d-byte chunk at byte %d",
					ErrCorrupt, m.path, e.Offset, ci.UncompressedSize, ci.ChunkStartOffset)
			}
			t.entries = append(t.entries, entry{t: e.Timestamp, offset: e.Offset, chunk: int32(i), channel: idx.ChannelID})
		}
	}
}

// Path is the recording's file.
func (m *File) Path() string { return m.path }

// Topics returns the recording's topics, sorted.
func (m *File) Topics() []string { return append([]string(nil), m.names...) }

// Topic returns the topic of that name, nil when the recording has none.
func (m *File) Topic(name string) *Topic { return m.topics[name] }

// Metadata returns a copy of the metadata records named name (MetadataName
// is the recorder's), their keys merged in file order; nil when the
// recording has none.
func (m *File) Metadata(name string) map[string]string {
	md, ok := m.meta[name]
	if !ok {
		return nil
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		out[k] = v
	}
	return out
}

// MaxAttachment bounds the size of an attachment Attachment reads.
const MaxAttachment = 1 << 30

// Attachment returns the content of the attachment named name, false when
// the recording has none. Its CRC is checked.
func (m *File) Attachment(name string) ([]byte, bool, error) {
	for _, ai := range m.attach {
		if ai.Name != name {
			continue
		}
		if ai.Offset > uint64(m.size) || ai.Length > uint64(m.size)-ai.Offset || ai.DataSize > MaxAttachment || ai.DataSize > ai.Length {
			return nil, false, fmt.Errorf("%w: %s: attachment %q claims bytes %d+%d (%d of data) of a %d-byte file", ErrCorrupt, m.path, name, ai.Offset, ai.Length, ai.DataSize, m.size)
		}
		data, err := safe("attachment "+name, func() ([]byte, error) {
			r, err := mcap.NewReader(io.NewSectionReader(m.f, 0, m.size))
			if err != nil {
				return nil, err
			}
			defer r.Close()
			ar, err := r.GetAttachmentReader(ai.Offset)
			if err != nil {
				return nil, err
			}
			b, err := io.ReadAll(io.LimitReader(ar.Data(), int64(ai.DataSize)))
			if err != nil {
				return nil, err
			}
			want, err := ar.ParsedCRC()
			if err != nil {
				return nil, err
			}
			got, err := ar.ComputedCRC()
			if err != nil {
				return nil, err
			}
			if want != 0 && want != got {
				return nil, fmt.Errorf("CRC %08x, want %08x", got, want)
			}
			return b, nil
		})
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", m.path, err)
		}
		return data, true, nil
	}
	return nil, false, nil
}

// Close releases the file. Reads after Close fail; a second Close does
// nothing.
func (m *File) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	if m.lex != nil {
		m.lex.Close()
		m.lex = nil
	}
	if m.dec != nil {
		m.dec.close()
	}
	m.arena, m.recs = nil, nil
	return m.f.Close()
}

// Name is the topic.
func (t *Topic) Name() string { return t.name }

// Schema is the name of the topic's message type ("foxglove.RawImage"),
// "" when its channel has no schema.
func (t *Topic) Schema() string { return t.schema }

// SchemaData is the topic's schema (a serialized FileDescriptorSet for
// schema encoding "protobuf"); a copy.
func (t *Topic) SchemaData() []byte { return append([]byte(nil), t.schemaData...) }

// Len is the number of messages.
func (t *Topic) Len() int {
	if t == nil {
		return 0
	}
	return len(t.entries)
}

// LogTime is message i's log time, 0 <= i < Len(): from the index, no read.
func (t *Topic) LogTime(i int) time.Time { return fromNanos(t.entries[i].t) }

// Message reads message i, 0 <= i < Len(), decompressing its chunk unless
// it is the cached one. A chunk that fails its CRC, or a message index that
// does not lead to the message it promises, returns ErrCorrupt. The
// returned Data is the caller's.
func (t *Topic) Message(i int) (*Message, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: message %d of a topic the recording does not have", ErrInvalid, i)
	}
	if i < 0 || i >= t.Len() {
		return nil, fmt.Errorf("%w: %s: message %d of %d on %s", ErrInvalid, t.f.path, i, t.Len(), t.name)
	}
	m, e := t.f, t.entries[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("record: %s: %w", m.path, os.ErrClosed)
	}
	if err := m.load(int(e.chunk)); err != nil {
		return nil, err
	}
	ci := m.chunks[e.chunk]
	k := sort.Search(len(m.recs), func(j int) bool { return m.recs[j].offset >= e.offset })
	if k == len(m.recs) || m.recs[k].offset != e.offset {
		return nil, fmt.Errorf("%w: %s: the index puts %s message %d at offset %d of the chunk at byte %d, where no message record starts",
			ErrCorrupt, m.path, t.name, i, e.offset, ci.ChunkStartOffset)
	}
	r := m.recs[k]
	if r.channel != e.channel || r.logTime != e.t {
		return nil, fmt.Errorf("%w: %s: %s message %d: the index says channel %d logged at %d, the record at offset %d of the chunk at byte %d is channel %d logged at %d",
			ErrCorrupt, m.path, t.name, i, e.channel, e.t, e.offset, ci.ChunkStartOffset, r.channel, r.logTime)
	}
	ch := m.channels[e.channel]
	return &Message{Topic: t.name, Schema: ch.schema, LogTime: fromNanos(e.t),
		Data: append([]byte(nil), m.arena[r.data:r.end]...), schemaData: ch.schemaData}, nil
}

// load decompresses chunk i into the cache: the lexer, over exactly the
// chunk record, checks the CRC before it emits the chunk's records, and the
// records' offsets are counted from their sizes, as the message indexes
// count them. Called with m.mu held.
func (m *File) load(i int) error {
	if m.cached == i {
		return nil
	}
	m.cached = -1
	ci := m.chunks[i]
	m.loading = int64(ci.ChunkStartOffset)
	var hdr [9]byte
	if _, err := m.f.ReadAt(hdr[:], int64(ci.ChunkStartOffset)); err != nil {
		return fmt.Errorf("record: %s: %w", m.path, err)
	}
	if mcap.OpCode(hdr[0]) != mcap.OpChunk || binary.LittleEndian.Uint64(hdr[1:]) != ci.ChunkLength-9 {
		return fmt.Errorf("%w: %s: the chunk index points at byte %d, where no %d-byte chunk starts", ErrCorrupt, m.path, ci.ChunkStartOffset, ci.ChunkLength)
	}
	m.base.point(m.f, int64(ci.ChunkStartOffset), int64(ci.ChunkLength))
	if m.lex == nil {
		if m.dec == nil {
			m.dec = newDecompressors(func() int64 { return m.base.size - m.base.n },
				func(*chunkReader, int64) (uint64, error) { return claimedSize(m.f, m.loading) }, nil, nil)
		}
		// One lexer for every load (its decompression buffer is reused):
		// each load ends at the end of its section, where the lexer is
		// back outside any chunk.
		lex, err := mcap.NewLexer(&m.base, &mcap.LexerOptions{SkipMagic: true, ValidateChunkCRCs: true,
			MaxRecordSize: m.maxRec, MaxDecompressedChunkSize: MaxChunkSize, Decompressors: m.dec.options()})
		if err != nil {
			return fmt.Errorf("record: %s: %w", m.path, err)
		}
		m.lex = lex
	}
	// Room for the chunk's records as the index sizes them, unless the
	// index claims more than 64 times the compressed chunk (a corrupt
	// index must not cost a gigabyte up front; a chunk that does compress
	// that well grows the arena as it is read).
	if want := min(ci.UncompressedSize, 64*ci.ChunkLength); uint64(cap(m.arena)) < want {
		m.arena = make([]byte, 0, want)
	}
	arena, recs := m.arena[:0], m.recs[:0]
	fail := func(format string, a ...any) error {
		m.lex.Close()
		m.lex = nil // in an unknown state, perhaps inside the chunk
		return fmt.Errorf("%w: %s: chunk at byte %d: %s", ErrCorrupt, m.path, ci.ChunkStartOffset, fmt.Sprintf(format, a...))
	}
	var pos uint64
	for {
		// The lexer reads a record into the buffer it is given when it
		// fits: the arena's free tail, so a message is copied once.
		tok, data, err := next(m.lex, arena[len(arena):cap(arena)])
		if err == io.EOF {
			break
		}
		if err != nil {
			// Errors of our Reset go without the lexer's "failed to reset
			// custom decompressor", which says nothing to a user.
			var bc *errBadChunk
			var cd *errChunkData
			switch {
			case errors.As(err, &bc):
				return fail("%v", bc)
			case errors.As(err, &cd):
				return fail("%v", cd)
			}
			return fail("%v", err)
		}
		switch tok {
		case mcap.TokenMessage:
			// channel_id(2) sequence(4) log_time(8) publish_time(8) data
			if len(data) < 22 {
				return fail("message record of %d bytes", len(data))
			}
			start := len(arena)
			if len(data) <= cap(arena)-start {
				arena = arena[:start+len(data)] // read in place
			} else {
				arena = append(arena, data...)
			}
			recs = append(recs, chunkMessage{offset: pos, channel: binary.LittleEndian.Uint16(data),
				logTime: binary.LittleEndian.Uint64(data[6:]), data: start + 22, end: start + len(data)})
		case mcap.TokenSchema, mcap.TokenChannel:
			// Declared in the chunk as well as in the summary.
		default:
			return fail("a %s record where chunk records belong", tok)
		}
		pos += 9 + uint64(len(data))
	}
	m.arena, m.recs, m.cached = arena, recs, i
	return nil
}
