package record

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/foxglove/mcap/go/mcap"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Limits of the readers: a corrupt length field must not make them allocate
// gigabytes.
const (
	// MaxRecordSize is the largest record (a compressed chunk included) the
	// readers read.
	MaxRecordSize = 1 << 30
	// MaxChunkSize is the largest decompressed chunk the readers accept.
	MaxChunkSize = 1 << 30
)

// This file adapts the mcap library's Lexer to the two ways the package
// reads: a linear scan of a possibly truncated file (linear.go, for
// Read, Info, Recover) and loading one chunk of an indexed file (File). Both
// run the lexer with ValidateChunkCRCs, so it decompresses a whole chunk and
// checks its CRC before it emits the chunk's first record, and both give it
// the decompressors below instead of its own.

// counter counts the bytes the lexer consumes from the file. The lexer
// reads through it with exact lengths (a record header, a record, a chunk's
// header fields, and, through chunkReader, a chunk's whole compressed
// records), so between two tokens the count is the end of a complete
// top-level record or of a whole chunk.
//
// It also guards the lexer's first read at check, the record boundary the
// scan stands at when it asks for the next token: the lexer allocates a
// record's length before it reads the record, so a header whose length runs
// past the end of the file is refused there (errBeyond) instead of costing
// up to MaxRecordSize of memory.
type counter struct {
	r     *bufio.Reader
	n     int64
	size  int64
	check int64 // -1: none
}

// errBeyond reports a record header at byte off whose length runs past the
// end of the file.
type errBeyond struct{ off int64 }

func (e *errBeyond) Error() string {
	return fmt.Sprintf("the record at byte %d runs past the end of the file", e.off)
}

func (c *counter) Read(p []byte) (int, error) {
	if c.n == c.check {
		c.check = -1
		if len(p) == 9 {
			if h, err := c.r.Peek(9); err == nil && binary.LittleEndian.Uint64(h[1:]) > uint64(c.size-c.n-9) {
				return 0, &errBeyond{c.n}
			}
		}
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// switchReader is the base reader of a File's lexer: it is pointed at one
// chunk record after another, so one lexer (and its decompression buffers)
// serves every chunk load.
type switchReader struct {
	r    *io.SectionReader
	n    int64 // bytes read of r
	size int64 // r's
}

func (s *switchReader) point(r io.ReaderAt, off, n int64) {
	s.r, s.n, s.size = io.NewSectionReader(r, off, n), 0, n
}

func (s *switchReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	return n, err
}

// errChunkData reports a chunk whose records field cannot be read whole: it
// claims more bytes than the file (or the chunk record) holds.
type errChunkData struct {
	claimed, left int64
}

func (e *errChunkData) Error() string {
	return fmt.Sprintf("chunk records claim %d bytes, %d are left", e.claimed, e.left)
}

// errBadChunk reports a chunk whose records field is all there but does
// not decompress to the size its header claims. The lexer fails such a
// chunk in Reset, before it changes any state: it can read on after it.
type errBadChunk struct{ problem string }

func (e *errBadChunk) Error() string { return e.problem }

// chunkReader is the lexer's decompressor for one compression format
// (mcap.LexerOptions.Decompressors). Reset reads the chunk's compressed
// records whole and decompresses them at once, before the lexer goes on
// with the chunk, for three reasons. The lexer then has consumed exactly
// the chunk from the file, however the decompressor fares (a streaming
// zstd decoder may leave a frame's checksum unread, a corrupt chunk may
// have trailing bytes), so the linear scan's byte count stays on record
// boundaries. The decompressed size is checked against the size the chunk
// header claims before the lexer allocates a buffer of that size, so a
// corrupt header cannot make it allocate a gigabyte. And the scan learns
// each chunk's compression and sizes, which the lexer does not emit.
type chunkReader struct {
	format mcap.CompressionFormat
	// left returns how many bytes of the file (or section) remain after
	// the lexer's position: a records length beyond it is a truncated
	// file, not an allocation to make.
	left func() int64
	// claimed returns the uncompressed size the chunk header claims; it is
	// called once the compressed records were read.
	claimed func(c *chunkReader, compressed int64) (uint64, error)
	// begin, when set, is called when Reset starts: the lexer has moved
	// past the previous chunk. loaded is called after each successful
	// Reset, with the size of the compressed records.
	begin  func()
	loaded func(c *chunkReader, compressed int64)

	src     []byte // compressed records
	out     []byte // decompressed (zstd, lz4)
	br      bytes.Reader
	zstd    *zstd.Decoder
	lz4     *lz4.Reader
	served  int64 // decompressed bytes handed to the lexer since Reset
	drained bool
}

// claimedSize reads the uncompressed size field of the chunk record at
// byte start: opcode(1) length(8) message_start_time(8)
// message_end_time(8) uncompressed_size(8).
func claimedSize(r io.ReaderAt, start int64) (uint64, error) {
	var b [8]byte
	if _, err := r.ReadAt(b[:], start+25); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// Reset implements mcap.ResettableReader. r is the lexer's LimitedReader
// over the chunk's records field.
func (c *chunkReader) Reset(r io.Reader) error {
	if c.begin != nil {
		c.begin()
	}
	n := int64(-1)
	if lr, ok := r.(*io.LimitedReader); ok {
		n = lr.N
	}
	if left := c.left(); n < 0 || n > left {
		return &errChunkData{claimed: n, left: left}
	}
	if n > MaxRecordSize {
		// Not an errBadChunk: the records are left unread, so the lexer
		// is not past the chunk.
		return fmt.Errorf("chunk records of %d bytes (at most %d)", n, MaxRecordSize)
	}
	if int64(cap(c.src)) < n {
		c.src = make([]byte, n)
	}
	c.src = c.src[:n]
	if k, err := io.ReadFull(r, c.src); err != nil {
		return &errChunkData{claimed: n, left: int64(k)}
	}
	usize, err := c.claimed(c, n)
	if err != nil {
		return err
	}
	if usize > MaxChunkSize {
		return &errBadChunk{fmt.Sprintf("chunk claims %d uncompressed bytes (at most %d)", usize, MaxChunkSize)}
	}
	out := c.src
	switch c.format {
	case mcap.CompressionZSTD:
		if c.zstd == nil {
			// One goroutine: the node shares its cores with the networks,
			// and a chunk is decoded by one reader at a time anyway.
			d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxChunkSize))
			if err != nil {
				return err
			}
			c.zstd = d
		}
		out, err = c.zstd.DecodeAll(c.src, c.out[:0])
	case mcap.CompressionLZ4:
		if c.lz4 == nil {
			c.lz4 = lz4.NewReader(nil)
		}
		c.br.Reset(c.src)
		c.lz4.Reset(&c.br)
		buf := bytes.NewBuffer(c.out[:0])
		_, err = buf.ReadFrom(io.LimitReader(c.lz4, int64(usize)+1))
		out = buf.Bytes()
	}
	if c.format != mcap.CompressionNone && cap(out) > cap(c.out) {
		c.out = out[:0]
	}
	if err != nil {
		return &errBadChunk{fmt.Sprintf("%s: %v", c.format, err)}
	}
	if uint64(len(out)) != usize {
		return &errBadChunk{fmt.Sprintf("chunk decompresses to %d bytes, its header claims %d", len(out), usize)}
	}
	c.br.Reset(out)
	c.served, c.drained = 0, false
	if c.loaded != nil {
		c.loaded(c, n)
	}
	return nil
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.drained {
		return 0, io.EOF
	}
	n, err := c.br.Read(p)
	c.served += int64(n)
	return n, err
}

// drain makes the reader report the end of the chunk: after a chunk fails
// its CRC the lexer goes on reading the chunk's records from its
// decompressor, and those must not be parsed as records.
func (c *chunkReader) drain() { c.drained = true }

func (c *chunkReader) close() {
	if c.zstd != nil {
		c.zstd.Close()
		c.zstd = nil
	}
}

// decompressors is one chunkReader per compression format the writer
// produces; the lexer reports any other format as unsupported.
type decompressors [3]*chunkReader

func newDecompressors(left func() int64, claimed func(*chunkReader, int64) (uint64, error), begin func(), loaded func(*chunkReader, int64)) *decompressors {
	var d decompressors
	for i, f := range []mcap.CompressionFormat{mcap.CompressionNone, mcap.CompressionZSTD, mcap.CompressionLZ4} {
		d[i] = &chunkReader{format: f, left: left, claimed: claimed, begin: begin, loaded: loaded}
	}
	return &d
}

func (d *decompressors) options() map[mcap.CompressionFormat]mcap.ResettableReader {
	m := map[mcap.CompressionFormat]mcap.ResettableReader{}
	for _, c := range d {
		m[c.format] = c
	}
	return m
}

func (d *decompressors) close() {
	for _, c := range d {
		c.close()
	}
}

// lexerPanic is the error next returns when the lexer panicked; it wraps
// ErrCorrupt.
type lexerPanic struct{ v any }

func (e *lexerPanic) Error() string { return fmt.Sprintf("the mcap library panicked: %v", e.v) }
func (e *lexerPanic) Unwrap() error { return ErrCorrupt }

// next returns the lexer's next token. The lexer can panic on corrupt input
// (loadChunk slices a 32-byte buffer with a compression-name length read
// from the file): a panic becomes a *lexerPanic error, and the lexer, in
// an unknown state, must not be used again.
func next(l *mcap.Lexer, p []byte) (tok mcap.TokenType, data []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			tok, data, err = mcap.TokenError, nil, &lexerPanic{r}
		}
	}()
	return l.Next(p)
}

// safe runs a parse function of the mcap library, which can panic on
// corrupt input (it slices with lengths read from the file), turning a panic
// into ErrCorrupt.
func safe[T any](what string, f func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, what, r)
		}
	}()
	v, err = f()
	if err != nil {
		err = fmt.Errorf("%w: %s: %v", ErrCorrupt, what, err)
	}
	return v, err
}

// opName names a record's opcode for error messages.
func opName(op mcap.OpCode) string {
	switch op {
	case mcap.OpChunk:
		return "chunk"
	case mcap.OpMessage:
		return "message"
	case mcap.OpMessageIndex:
		return "message index"
	case mcap.OpSchema:
		return "schema"
	case mcap.OpChannel:
		return "channel"
	case mcap.OpMetadata:
		return "metadata"
	}
	return fmt.Sprintf("opcode 0x%02x", byte(op))
}

// describeStop explains why the lexer stopped at the record starting at
// byte off of a size-byte file: a record the file is too short for is
// truncation (the writer did not finish it), anything else corruption.
func describeStop(r io.ReaderAt, size, off int64, lexErr error) error {
	var hdr [9]byte
	if n, _ := r.ReadAt(hdr[:], off); n < len(hdr) {
		if n == 0 {
			return fmt.Errorf("%w: the file ends at byte %d without a footer", ErrTruncated, off)
		}
		return fmt.Errorf("%w: record header cut at byte %d", ErrTruncated, off)
	}
	op := mcap.OpCode(hdr[0])
	length := binary.LittleEndian.Uint64(hdr[1:])
	if left := size - off - 9; length > uint64(left) {
		return fmt.Errorf("%w: %s record at byte %d claims %d bytes, the file has %d more", ErrTruncated, opName(op), off, length, left)
	}
	var cd *errChunkData
	var bc *errBadChunk
	switch {
	case errors.As(lexErr, &cd):
		return fmt.Errorf("%w: chunk at byte %d: %v", ErrCorrupt, off, cd)
	case errors.As(lexErr, &bc):
		return fmt.Errorf("%w: chunk at byte %d: %v", ErrCorrupt, off, bc)
	}
	return fmt.Errorf("%w: %s record at byte %d: %v", ErrCorrupt, opName(op), off, lexErr)
}

// checkFraming checks the length fields of the records mcap.NewReader and
// Reader.Info read, the header and the summary section up to the footer,
// against the file: the library allocates a record's length before it reads
// the record, and a corrupt length would have it allocate up to 2 GiB.
// It returns the footer's summary start (0: no summary section).
func checkFraming(r io.ReaderAt, size int64) (uint64, error) {
	const footerLen = 9 + 20 // summary_start(8) summary_offset_start(8) crc(4)
	var hdr [footerLen]byte
	footer := size - int64(len(mcap.Magic)) - footerLen
	if footer < int64(len(mcap.Magic))+9 {
		return 0, fmt.Errorf("%w: %d bytes are too few for a header and a footer", ErrCorrupt, size)
	}
	if _, err := r.ReadAt(hdr[:9], int64(len(mcap.Magic))); err != nil {
		return 0, fmt.Errorf("record: %w", err)
	}
	if op, n := mcap.OpCode(hdr[0]), binary.LittleEndian.Uint64(hdr[1:9]); op != mcap.OpHeader || n > uint64(footer-17) {
		return 0, fmt.Errorf("%w: the file does not begin with a header record (%s of %d bytes)", ErrCorrupt, opName(op), n)
	}
	if _, err := r.ReadAt(hdr[:], footer); err != nil {
		return 0, fmt.Errorf("record: %w", err)
	}
	if mcap.OpCode(hdr[0]) != mcap.OpFooter || binary.LittleEndian.Uint64(hdr[1:9]) != 20 {
		return 0, fmt.Errorf("%w: no footer record before the closing magic", ErrCorrupt)
	}
	start := binary.LittleEndian.Uint64(hdr[9:])
	if start == 0 {
		return 0, nil
	}
	if start < uint64(len(mcap.Magic))+9 || start > uint64(footer) {
		return 0, fmt.Errorf("%w: the footer puts the summary section at byte %d of a %d-byte file", ErrCorrupt, start, size)
	}
	br := bufio.NewReaderSize(io.NewSectionReader(r, int64(start), footer-int64(start)), 1<<16)
	for off := int64(start); off < footer; {
		if _, err := io.ReadFull(br, hdr[:9]); err != nil {
			return 0, fmt.Errorf("%w: summary record header cut at byte %d", ErrCorrupt, off)
		}
		n := binary.LittleEndian.Uint64(hdr[1:9])
		if n > uint64(footer-off-9) {
			return 0, fmt.Errorf("%w: %s record at byte %d of the summary section claims %d bytes, %d are left before the footer",
				ErrCorrupt, opName(mcap.OpCode(hdr[0])), off, n, footer-off-9)
		}
		if _, err := br.Discard(int(n)); err != nil {
			return 0, fmt.Errorf("record: %w", err)
		}
		off += 9 + int64(n)
	}
	return start, nil
}

// readMetadata reads the metadata record mi points at, with a lexer held to
// the record's length (mcap.Reader.GetMetadata trusts the length field).
func readMetadata(r io.ReaderAt, size int64, mi *mcap.MetadataIndex) (*mcap.Metadata, error) {
	if mi.Offset > uint64(size) || mi.Length > uint64(size)-mi.Offset || mi.Length < 9 {
		return nil, fmt.Errorf("%w: the metadata index points at bytes %d+%d of a %d-byte file", ErrCorrupt, mi.Offset, mi.Length, size)
	}
	lex, err := mcap.NewLexer(io.NewSectionReader(r, int64(mi.Offset), int64(mi.Length)),
		&mcap.LexerOptions{SkipMagic: true, MaxRecordSize: int(mi.Length - 9)})
	if err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", ErrCorrupt, err)
	}
	defer lex.Close()
	tok, data, err := next(lex, nil)
	if err != nil || tok != mcap.TokenMetadata {
		return nil, fmt.Errorf("%w: no metadata record at byte %d (%v)", ErrCorrupt, mi.Offset, err)
	}
	return safe("metadata", func() (*mcap.Metadata, error) { return mcap.ParseMetadata(data) })
}
