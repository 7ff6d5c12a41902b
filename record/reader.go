package record

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/foxglove/mcap/go/mcap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Message is one recorded message.
type Message struct {
	// Topic is the channel's topic (a NATS subject for the node's outputs).
	Topic string
	// Schema is the protobuf message name ("foxglove.RawImage").
	Schema string
	// LogTime is the message's log time.
	LogTime time.Time
	// Data is the serialized protobuf message.
	Data []byte

	schemaData []byte
}

// Decode unmarshals the message: into the Go type registered under its
// schema name when there is one (every msgs/ type), else into a dynamic
// message built from the FileDescriptorSet embedded in the recording.
func (m *Message) Decode() (proto.Message, error) {
	var out proto.Message
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(m.Schema)); err == nil {
		out = mt.New().Interface()
	} else {
		desc, err := DescriptorFromSchema(m.Schema, m.schemaData)
		if err != nil {
			return nil, err
		}
		out = dynamicpb.NewMessage(desc)
	}
	if err := proto.Unmarshal(m.Data, out); err != nil {
		return nil, fmt.Errorf("%w: %s message on %s: %v", ErrCorrupt, m.Schema, m.Topic, err)
	}
	return out, nil
}

// DescriptorFromSchema finds message name in a serialized FileDescriptorSet
// (an MCAP schema of encoding "protobuf").
func DescriptorFromSchema(name string, data []byte) (protoreflect.MessageDescriptor, error) {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("%w: schema %s: %v", ErrCorrupt, name, err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, fmt.Errorf("%w: schema %s: %v", ErrCorrupt, name, err)
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return nil, fmt.Errorf("%w: schema %s does not declare it: %v", ErrCorrupt, name, err)
	}
	md, ok := d.(protoreflect.MessageDescriptor)
	if !ok {
		return nil, fmt.Errorf("%w: schema %s is not a message", ErrCorrupt, name)
	}
	return md, nil
}

// Read calls fn for every message of the recording at path on one of topics
// (all when topics is empty), in file order (the order they were written),
// and returns the scan's outcome. A truncated recording is read up to its
// last complete chunk: Read then returns the messages it holds and a
// Summary whose Complete is false, not an error. A chunk whose CRC does not
// match its content is skipped, and listed in the Summary's BadChunks.
// fn may keep m.Data; an error of fn ends Read and is returned.
func Read(path string, topics []string, fn func(m *Message) error) (*Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	defer f.Close()
	want := map[string]bool{}
	for _, t := range topics {
		want[t] = true
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	sum := newSummary(path)
	sum.Size = st.Size()
	err = sum.scan(f, func(sc *mcap.Schema, ch *mcap.Channel, m *mcap.Message) error {
		if len(want) > 0 && !want[ch.Topic] {
			return nil
		}
		name, data := "", []byte(nil)
		if sc != nil {
			name, data = sc.Name, sc.Data
		}
		return fn(&Message{Topic: ch.Topic, Schema: name, LogTime: fromNanos(m.LogTime),
			Data: append([]byte(nil), m.Data...), schemaData: data})
	})
	if err != nil {
		return nil, err
	}
	return sum, nil
}

func fromNanos(t uint64) time.Time {
	if t > 1<<63-1 {
		t = 1<<63 - 1
	}
	return time.Unix(0, int64(t)).UTC()
}

// Summary describes a recording, like `mcap info`.
type Summary struct {
	// Path is the file.
	Path string
	// Size is the file size in bytes.
	Size int64
	// Complete is true when the writer closed the file (footer, summary);
	// false for a truncated recording, whose complete chunks are counted.
	Complete bool
	// Problem says why a truncated recording stops (empty when Complete).
	Problem string
	// Readable is the offset up to which a truncated recording is readable
	// (its size when Complete).
	Readable int64
	// BadChunks are the file offsets of the chunks whose content is
	// damaged (its CRC does not match, or it does not decompress to the
	// size its header claims): a linear scan (Read, Info of a truncated
	// recording) skips them and reads on. Info of a complete recording reads only the
	// summary and leaves it empty.
	BadChunks []int64
	// Library and Profile are the header's.
	Library, Profile string
	// Messages is the message count; Start and End the first and last log time.
	Messages   uint64
	Start, End time.Time
	// Chunks is the number of chunks; Compression their compression
	// formats ("zstd"); CompressedBytes and UncompressedBytes their sizes.
	Chunks                             int
	Compression                        []string
	CompressedBytes, UncompressedBytes uint64
	// Channels are the channels by topic.
	Channels []ChannelSummary
	// Schemas are the schemas by name.
	Schemas []SchemaSummary
	// Metadata holds the metadata records by name (MetadataName is the
	// recorder's).
	Metadata map[string]map[string]string

	schemas  map[uint16]*mcap.Schema
	channels map[uint16]*mcap.Channel
	counts   map[uint16]uint64
}

// ChannelSummary is one channel of a Summary.
type ChannelSummary struct {
	ID       uint16
	Topic    string
	Schema   string
	Encoding string
	Messages uint64
}

// SchemaSummary is one schema of a Summary.
type SchemaSummary struct {
	ID       uint16
	Name     string
	Encoding string
	Bytes    int
}

func newSummary(path string) *Summary {
	return &Summary{Path: path, Metadata: map[string]map[string]string{},
		schemas: map[uint16]*mcap.Schema{}, channels: map[uint16]*mcap.Channel{}, counts: map[uint16]uint64{}}
}

// Duration is End - Start.
func (s *Summary) Duration() time.Duration {
	if s.Messages == 0 {
		return 0
	}
	return s.End.Sub(s.Start)
}

// scan fills s from a linear scan of r (s.Size bytes) and calls fn (when
// set) for every message.
func (s *Summary) scan(r io.ReaderAt, fn func(*mcap.Schema, *mcap.Channel, *mcap.Message) error) error {
	comp := map[string]bool{}
	var msg mcap.Message
	// The writer declares a channel (and its schema) in the chunk of the
	// channel's first message: when that chunk fails its CRC, a complete
	// file's summary section still declares them.
	var summary *mcap.Info
	undeclared := func(id uint16) *mcap.Channel {
		if summary == nil {
			summary = &mcap.Info{}
			if _, err := checkFraming(r, s.Size); err != nil {
				return nil
			}
			if mr, err := safe("header", func() (*mcap.Reader, error) { return mcap.NewReader(io.NewSectionReader(r, 0, s.Size)) }); err == nil {
				if info, err := safe("summary", func() (*mcap.Info, error) { return mr.Info() }); err == nil {
					summary = info
				}
				mr.Close()
			}
		}
		ch := summary.Channels[id]
		if ch == nil {
			return nil
		}
		s.channels[id] = ch
		if sc := summary.Schemas[ch.SchemaID]; sc != nil && s.schemas[sc.ID] == nil {
			s.schemas[sc.ID] = sc
		}
		return ch
	}
	res, err := scan(r, s.Size, func(tok mcap.TokenType, data []byte) error {
		switch tok {
		case mcap.TokenHeader:
			h, err := safe("header", func() (*mcap.Header, error) { return mcap.ParseHeader(data) })
			if err != nil {
				return &stopError{err}
			}
			s.Library, s.Profile = h.Library, h.Profile
		case mcap.TokenSchema:
			sc, err := safe("schema", func() (*mcap.Schema, error) { return mcap.ParseSchema(data) })
			if err != nil {
				return &stopError{err}
			}
			sc.Data = append([]byte(nil), sc.Data...)
			s.schemas[sc.ID] = sc
		case mcap.TokenChannel:
			ch, err := safe("channel", func() (*mcap.Channel, error) { return mcap.ParseChannel(data) })
			if err != nil {
				return &stopError{err}
			}
			s.channels[ch.ID] = ch
		case mcap.TokenMetadata:
			md, err := safe("metadata", func() (*mcap.Metadata, error) { return mcap.ParseMetadata(data) })
			if err != nil {
				return &stopError{err}
			}
			s.Metadata[md.Name] = md.Metadata
		case mcap.TokenMessage:
			if _, err := safe("message", func() (struct{}, error) { return struct{}{}, msg.PopulateFrom(data, false) }); err != nil {
				return &stopError{err}
			}
			ch := s.channels[msg.ChannelID]
			if ch == nil {
				ch = undeclared(msg.ChannelID)
			}
			if ch == nil {
				return &stopError{fmt.Errorf("%w: message on undeclared channel %d", ErrCorrupt, msg.ChannelID)}
			}
			t := fromNanos(msg.LogTime)
			if s.Messages == 0 || t.Before(s.Start) {
				s.Start = t
			}
			if t.After(s.End) {
				s.End = t
			}
			s.Messages++
			s.counts[msg.ChannelID]++
			if fn != nil {
				return fn(s.schemas[ch.SchemaID], ch, &msg)
			}
		}
		return nil
	}, func(compression string, compressed, uncompressed uint64) {
		comp[compression] = true
		s.CompressedBytes += compressed
		s.UncompressedBytes += uncompressed
	}, nil)
	if err != nil {
		return fmt.Errorf("record: %s: %w", s.Path, err)
	}
	s.Complete, s.Chunks, s.Readable, s.BadChunks = res.Complete, res.Chunks, res.GoodEnd, res.BadChunks
	if res.Complete {
		s.Readable = s.Size
	} else if res.Stop != nil {
		s.Problem = res.Stop.Error()
	}
	for c := range comp {
		s.Compression = append(s.Compression, c)
	}
	sort.Strings(s.Compression)
	s.fill()
	return nil
}

// fill builds the sorted Channels and Schemas lists.
func (s *Summary) fill() {
	s.Channels, s.Schemas = nil, nil
	for id, ch := range s.channels {
		name := ""
		if sc := s.schemas[ch.SchemaID]; sc != nil {
			name = sc.Name
		}
		s.Channels = append(s.Channels, ChannelSummary{ID: id, Topic: ch.Topic, Schema: name,
			Encoding: ch.MessageEncoding, Messages: s.counts[id]})
	}
	sort.Slice(s.Channels, func(i, j int) bool { return s.Channels[i].Topic < s.Channels[j].Topic })
	for id, sc := range s.schemas {
		s.Schemas = append(s.Schemas, SchemaSummary{ID: id, Name: sc.Name, Encoding: sc.Encoding, Bytes: len(sc.Data)})
	}
	sort.Slice(s.Schemas, func(i, j int) bool { return s.Schemas[i].Name < s.Schemas[j].Name })
}

// Info describes the recording at path. A complete recording is described
// from its summary section without decompressing anything; a truncated one
// (Complete false) is scanned to its last complete chunk.
func Info(path string) (*Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	defer f.Close()
	s := newSummary(path)
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	s.Size = st.Size()
	if ok, err := s.fromSummary(f); err != nil {
		return nil, err
	} else if ok {
		return s, nil
	}
	// Start afresh: a summary that failed half-way may have filled some.
	s = newSummary(path)
	s.Size = st.Size()
	if err := s.scan(f, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// fromSummary fills s from the summary section; false when the file has
// none usable (it was not closed), so the caller scans instead.
func (s *Summary) fromSummary(f *os.File) (bool, error) {
	magic := make([]byte, len(mcap.Magic))
	if _, err := f.ReadAt(magic, 0); err != nil || string(magic) != string(mcap.Magic) {
		return false, fmt.Errorf("record: %s: %w: bad magic", s.Path, ErrNotMCAP)
	}
	if start, err := checkFraming(f, s.Size); err != nil || start == 0 {
		return false, nil
	}
	r, err := safe("reader", func() (*mcap.Reader, error) { return mcap.NewReader(io.NewSectionReader(f, 0, s.Size)) })
	if err != nil {
		return false, nil
	}
	defer r.Close()
	info, err := safe("summary", func() (*mcap.Info, error) { return r.Info() })
	if err != nil || info.Statistics == nil || info.Footer == nil || info.Footer.SummaryStart == 0 {
		return false, nil
	}
	if info.Header != nil {
		s.Library, s.Profile = info.Header.Library, info.Header.Profile
	}
	st := info.Statistics
	s.Complete, s.Readable = true, s.Size
	s.Messages = st.MessageCount
	if st.MessageCount > 0 {
		s.Start, s.End = fromNanos(st.MessageStartTime), fromNanos(st.MessageEndTime)
	}
	s.Chunks = int(st.ChunkCount)
	s.schemas, s.channels, s.counts = info.Schemas, info.Channels, st.ChannelMessageCounts
	comp := map[string]bool{}
	for _, ci := range info.ChunkIndexes {
		comp[string(ci.Compression)] = true
		s.CompressedBytes += ci.CompressedSize
		s.UncompressedBytes += ci.UncompressedSize
	}
	for c := range comp {
		s.Compression = append(s.Compression, c)
	}
	sort.Strings(s.Compression)
	for _, mi := range info.MetadataIndexes {
		md, err := readMetadata(f, s.Size, mi)
		if err != nil {
			return false, nil
		}
		s.Metadata[md.Name] = md.Metadata
	}
	s.fill()
	return true, nil
}

// Format writes the summary as text, in the layout of `mcap info`.
func (s *Summary) Format(w io.Writer) {
	fmt.Fprintf(w, "file:        %s\n", s.Path)
	fmt.Fprintf(w, "library:     %s\n", s.Library)
	fmt.Fprintf(w, "profile:     %s\n", s.Profile)
	fmt.Fprintf(w, "size:        %.2f MB\n", float64(s.Size)/1e6)
	if s.Complete {
		fmt.Fprintf(w, "state:       complete (indexed)\n")
	} else {
		fmt.Fprintf(w, "state:       TRUNCATED: readable up to byte %d of %d (%s); run `parallax record recover %s`\n",
			s.Readable, s.Size, s.Problem, s.Path)
	}
	fmt.Fprintf(w, "messages:    %d\n", s.Messages)
	dur := s.Duration()
	fmt.Fprintf(w, "duration:    %.3fs\n", dur.Seconds())
	if s.Messages > 0 {
		fmt.Fprintf(w, "start:       %s\n", s.Start.Format(time.RFC3339Nano))
		fmt.Fprintf(w, "end:         %s\n", s.End.Format(time.RFC3339Nano))
	}
	ratio := ""
	if s.CompressedBytes > 0 {
		ratio = fmt.Sprintf(" (%.2f MB -> %.2f MB, %.1fx)", float64(s.UncompressedBytes)/1e6,
			float64(s.CompressedBytes)/1e6, float64(s.UncompressedBytes)/float64(s.CompressedBytes))
	}
	fmt.Fprintf(w, "chunks:      %d %s%s\n", s.Chunks, strings.Join(s.Compression, ","), ratio)
	if len(s.BadChunks) > 0 {
		offs := make([]string, len(s.BadChunks))
		for i, o := range s.BadChunks {
			offs[i] = fmt.Sprint(o)
		}
		fmt.Fprintf(w, "bad chunks:  %d (damaged: CRC or decompression failed; their messages were skipped) at byte %s\n", len(s.BadChunks), strings.Join(offs, ", "))
	}
	fmt.Fprintf(w, "channels:\n")
	width := 0
	for _, c := range s.Channels {
		width = max(width, len(c.Topic))
	}
	for _, c := range s.Channels {
		hz := ""
		if dur > 0 && c.Messages > 1 {
			hz = fmt.Sprintf(" @ %.2f Hz", float64(c.Messages-1)/dur.Seconds())
		}
		fmt.Fprintf(w, "  (%d) %-*s %6d msgs%s : %s [%s]\n", c.ID, width, c.Topic, c.Messages, hz, c.Schema, c.Encoding)
	}
	fmt.Fprintf(w, "schemas:\n")
	for _, sc := range s.Schemas {
		fmt.Fprintf(w, "  (%d) %s [%s, %d bytes]\n", sc.ID, sc.Name, sc.Encoding, sc.Bytes)
	}
	if len(s.Metadata) > 0 {
		names := make([]string, 0, len(s.Metadata))
		for n := range s.Metadata {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(w, "metadata:\n")
		for _, n := range names {
			keys := make([]string, 0, len(s.Metadata[n]))
			for k := range s.Metadata[n] {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "  %s.%s = %s\n", n, k, s.Metadata[n][k])
			}
		}
	}
}
