package record

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/foxglove/mcap/go/mcap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/parallax-robotics/parallax/msgs"
)

// Library is what the recordings' MCAP header names as the writer.
const Library = "parallax record"

// Profile is the MCAP header profile of the recordings: empty, because the
// messages are plain protobuf with their schemas embedded (the "ros1" and
// "ros2" profiles would promise ROS message definitions).
const Profile = ""

// MetadataName is the name of the MCAP metadata record each file of a
// recording carries with Writer.Metadata (namespace, cameras, stereo pair;
// the keys are msgs.MetadataKey*).
const MetadataName = msgs.MetadataName

// Writer writes protobuf messages into MCAP files: chunked, zstd-compressed,
// with chunk and data CRCs, each message type's schema embedded once per file
// as a serialized FileDescriptorSet (MCAP schema encoding "protobuf"), so
// Foxglove and any MCAP reader decode the files without the .proto sources.
//
// A recording is written as a stream, not atomically: each chunk reaches the
// file as soon as it is full, so a crash loses at most the chunk being filled
// (ChunkSize of uncompressed messages), and Recover rebuilds the index of what
// is left. With SplitSize or SplitDuration set, the recording is split into
// numbered files (drive.mcap becomes drive-0001.mcap, drive-0002.mcap, ...),
// each complete on its own: schemas, channels and metadata are repeated.
//
// Write is safe for concurrent use.
type Writer struct {
	// Path is the file to write. With a split it is the pattern: "-NNNN" is
	// inserted before the extension. It is required.
	Path string
	// ChunkSize is the uncompressed size at which a chunk is compressed and
	// written, in bytes: the most a crash can lose. It defaults to 1 MiB.
	ChunkSize int64
	// SplitSize starts a new file when the current one has reached this many
	// bytes on disk. It defaults to 0: no split by size.
	SplitSize int64
	// SplitDuration starts a new file when the current one spans this much
	// message time. It defaults to 0: no split by duration.
	SplitDuration time.Duration
	// Metadata is written into each file as the MCAP metadata record
	// "parallax" (MetadataName). It defaults to nil: no metadata record.
	Metadata map[string]string
	// Attachments are written into each file (the node's starting
	// checkpoint, so a replay can serve the weights the drive was recorded
	// with). They default to none.
	Attachments []Attachment
	// Compression is "zstd", "lz4" or "none". It defaults to "zstd" at its
	// fastest level: camera frames are large and the recorder runs beside
	// the networks on the same cores.
	Compression string

	mu       sync.Mutex
	started  bool
	closed   bool
	file     *os.File
	counter  *countingFile
	w        *mcap.Writer
	n        int // files opened
	files    []string
	first    uint64 // log time of the current file's first message
	any      bool   // the current file has a message
	schemas  map[string]uint16
	channels map[string]uint16
	stats    WriterStats
	prevSize int64 // bytes of the files already closed
}

// Attachment is a file carried inside a recording.
type Attachment struct {
	// Name names it in the recording ("model.ckpt").
	Name string
	// MediaType says what it is ("application/x-parallax-checkpoint").
	MediaType string
	// Data is its content.
	Data []byte
}

// WriterStats counts what a Writer wrote.
type WriterStats struct {
	// Messages is the number of messages written.
	Messages uint64
	// Bytes is the size on disk of the files so far (closed files in full,
	// the open one up to its last complete chunk).
	Bytes int64
	// PayloadBytes is the serialized size of the messages before compression.
	PayloadBytes int64
	// First and Last are the log times of the first and last message.
	First, Last time.Time
	// Files lists the files written so far, the open one last.
	Files []string
}

// countingFile counts the bytes written to a file.
type countingFile struct {
	f *os.File
	n int64
}

func (c *countingFile) Write(p []byte) (int, error) {
	n, err := c.f.Write(p)
	c.n += int64(n)
	return n, err
}

// Start checks the configuration and opens the first file.
func (w *Writer) Start() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return fmt.Errorf("%w: Start called twice", ErrInvalid)
	}
	if w.Path == "" {
		return fmt.Errorf("%w: no Path", ErrInvalid)
	}
	if w.SplitSize < 0 || w.SplitDuration < 0 || w.ChunkSize < 0 {
		return fmt.Errorf("%w: negative ChunkSize, SplitSize or SplitDuration", ErrInvalid)
	}
	if w.ChunkSize == 0 {
		w.ChunkSize = 1 << 20
	}
	switch w.Compression {
	case "":
		w.Compression = string(mcap.CompressionZSTD)
	case string(mcap.CompressionZSTD), string(mcap.CompressionLZ4), "none":
	default:
		return fmt.Errorf("%w: compression %q, want zstd, lz4 or none", ErrInvalid, w.Compression)
	}
	if err := w.open(); err != nil {
		return err
	}
	w.started = true
	return nil
}

// split reports whether the recording is split into numbered files.
func (w *Writer) split() bool { return w.SplitSize > 0 || w.SplitDuration > 0 }

// SplitName returns the name of the n-th file (from 1) of a split recording
// written with Path path: drive.mcap -> drive-0001.mcap.
func SplitName(path string, n int) string {
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s-%04d%s", strings.TrimSuffix(path, ext), n, ext)
}

func (w *Writer) open() error {
	w.n++
	name := w.Path
	if w.split() {
		name = SplitName(w.Path, w.n)
	}
	f, err := os.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	comp := mcap.CompressionFormat(w.Compression)
	if w.Compression == "none" {
		comp = mcap.CompressionNone
	}
	c := &countingFile{f: f}
	mw, err := mcap.NewWriter(c, &mcap.WriterOptions{
		Chunked: true, ChunkSize: w.ChunkSize, Compression: comp,
		CompressionLevel: mcap.CompressionLevelFastest, IncludeCRC: true,
		OverrideLibrary: true,
	})
	if err == nil {
		err = mw.WriteHeader(&mcap.Header{Profile: Profile, Library: Library})
	}
	if err == nil && len(w.Metadata) > 0 {
		err = mw.WriteMetadata(&mcap.Metadata{Name: MetadataName, Metadata: w.Metadata})
	}
	for _, a := range w.Attachments {
		if err != nil {
			break
		}
		err = mw.WriteAttachment(&mcap.Attachment{Name: a.Name, MediaType: a.MediaType,
			LogTime: uint64(time.Now().UnixNano()), CreateTime: uint64(time.Now().UnixNano()),
			DataSize: uint64(len(a.Data)), Data: bytes.NewReader(a.Data)})
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("record: %s: %w", name, err)
	}
	w.file, w.counter, w.w = f, c, mw
	w.files = append(w.files, name)
	w.schemas, w.channels = map[string]uint16{}, map[string]uint16{}
	w.any = false
	return nil
}

// finish closes the current file: last chunk, summary, footer.
func (w *Writer) finish() error {
	err := w.w.Close()
	if e := w.file.Sync(); err == nil && e != nil {
		err = e
	}
	if e := w.file.Close(); err == nil && e != nil {
		err = e
	}
	w.prevSize += w.counter.n
	if err != nil {
		return fmt.Errorf("record: closing %s: %w", w.file.Name(), err)
	}
	return nil
}

// Write appends m on topic with the given log time (for camera frames and
// the node's outputs, the capture stamp, so a replay in log-time order is in
// capture order). The channel and the schema of m's type are declared in the
// file the first time they are used.
func (w *Writer) Write(topic string, logTime time.Time, m proto.Message) error {
	if topic == "" || m == nil {
		return fmt.Errorf("%w: empty topic or nil message", ErrInvalid)
	}
	data, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("record: %s: %w", topic, err)
	}
	return w.WriteRaw(topic, m.ProtoReflect().Descriptor(), logTime, data)
}

// WriteRaw is Write for a message already serialized (a NATS payload), of
// the type desc describes.
func (w *Writer) WriteRaw(topic string, desc protoreflect.MessageDescriptor, logTime time.Time, data []byte) error {
	if topic == "" || desc == nil {
		return fmt.Errorf("%w: empty topic or no message type", ErrInvalid)
	}
	if logTime.Before(time.Unix(0, 0)) {
		return fmt.Errorf("%w: %s: log time %v is before 1970", ErrInvalid, topic, logTime)
	}
	t := uint64(logTime.UnixNano())
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.started || w.closed {
		return ErrClosed
	}
	if w.any && w.split() && ((w.SplitSize > 0 && w.counter.n >= w.SplitSize) ||
		(w.SplitDuration > 0 && t > w.first && time.Duration(t-w.first) >= w.SplitDuration)) {
		if err := w.finish(); err != nil {
			w.closed = true
			return err
		}
		if err := w.open(); err != nil {
			w.closed = true
			return err
		}
	}
	ch, err := w.channel(topic, desc)
	if err != nil {
		return err
	}
	if err := w.w.WriteMessage(&mcap.Message{ChannelID: ch, Sequence: uint32(w.stats.Messages),
		LogTime: t, PublishTime: t, Data: data}); err != nil {
		return fmt.Errorf("record: %s: %w", topic, err)
	}
	if !w.any {
		w.any, w.first = true, t
	}
	s := &w.stats
	if s.Messages == 0 || logTime.Before(s.First) {
		s.First = logTime
	}
	if logTime.After(s.Last) {
		s.Last = logTime
	}
	s.Messages++
	s.PayloadBytes += int64(len(data))
	return nil
}

// channel returns the channel id of topic in the current file, declaring the
// schema and the channel first when needed.
func (w *Writer) channel(topic string, desc protoreflect.MessageDescriptor) (uint16, error) {
	if id, ok := w.channels[topic]; ok {
		return id, nil
	}
	name := string(desc.FullName())
	sid, ok := w.schemas[name]
	if !ok {
		set := msgs.FileDescriptorSet(newMessage(desc))
		data, err := proto.Marshal(set)
		if err != nil {
			return 0, fmt.Errorf("record: schema %s: %w", name, err)
		}
		sid = uint16(len(w.schemas) + 1)
		if err := w.w.WriteSchema(&mcap.Schema{ID: sid, Name: name, Encoding: "protobuf", Data: data}); err != nil {
			return 0, fmt.Errorf("record: schema %s: %w", name, err)
		}
		w.schemas[name] = sid
	}
	if len(w.channels) >= 1<<16-1 {
		return 0, fmt.Errorf("%w: more than 65535 topics", ErrInvalid)
	}
	id := uint16(len(w.channels))
	if err := w.w.WriteChannel(&mcap.Channel{ID: id, SchemaID: sid, Topic: topic, MessageEncoding: "protobuf"}); err != nil {
		return 0, fmt.Errorf("record: channel %s: %w", topic, err)
	}
	w.channels[topic] = id
	return id, nil
}

// newMessage returns an empty message of desc's type, for its descriptor's
// file (a dynamic message would do as well; the registered type is cheaper).
func newMessage(desc protoreflect.MessageDescriptor) proto.Message {
	return dynamicOrRegistered(desc)
}

// Stats returns what was written so far.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Files = append([]string(nil), w.files...)
	s.Bytes = w.prevSize
	if w.counter != nil && !w.closed {
		s.Bytes += w.counter.n
	}
	return s
}

// Close writes the last chunk and the summary section (schemas, channels,
// statistics, chunk and metadata indexes) and closes the file. It is safe to
// call more than once.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.started || w.closed {
		return nil
	}
	w.closed = true
	return w.finish()
}
