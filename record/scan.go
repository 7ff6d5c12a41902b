package record

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/foxglove/mcap/go/mcap"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Limits of the linear scanner: a corrupt length field must not make it
// allocate gigabytes.
const (
	// MaxRecordSize is the largest record (a compressed chunk included) the
	// scanner reads.
	MaxRecordSize = 1 << 30
	// MaxChunkSize is the largest decompressed chunk the scanner accepts.
	MaxChunkSize = 1 << 30
)

// record is one MCAP record seen by the scanner.
type record struct {
	op      mcap.OpCode
	data    []byte // valid until the next call of the callback
	inChunk bool
	chunk   int // index of the chunk holding it (from 0); -1 outside chunks
}

// scanResult is what a linear scan found besides the records.
type scanResult struct {
	// Complete is true when the scan reached the footer and the closing
	// magic: the file was closed by its writer.
	Complete bool
	// Chunks is the number of complete, CRC-valid chunks.
	Chunks int
	// GoodEnd is the file offset just past the last complete record of the
	// data section: everything before it is readable.
	GoodEnd int64
	// Stop is why the scan stopped before the footer (nil when Complete):
	// a truncated or corrupt record at GoodEnd.
	Stop error
}

// scan reads an MCAP file from the start record by record, decompressing and
// CRC-checking each chunk, and calls fn for every record inside and outside
// chunks (not for the chunk records themselves). A chunk is delivered only
// when all of it is present and its CRC matches, so a truncated file yields
// exactly its complete chunks. It returns a non-nil error only for a file
// that is not MCAP or an error of fn; a truncated or corrupt tail is reported
// in scanResult.Stop.
func scan(r io.Reader, fileSize int64, fn func(rec record) error, onChunk func(compression string, compressed, uncompressed uint64)) (res scanResult, err error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic := make([]byte, len(mcap.Magic))
	if _, err := io.ReadFull(br, magic); err != nil || !bytes.Equal(magic, mcap.Magic) {
		return res, fmt.Errorf("%w: bad magic", ErrNotMCAP)
	}
	off := int64(len(mcap.Magic))
	res.GoodEnd = off
	var hdr [9]byte
	var buf []byte
	var dec *zstd.Decoder
	defer func() {
		if dec != nil {
			dec.Close()
		}
	}()
	for {
		n, e := io.ReadFull(br, hdr[:])
		if e != nil {
			if n == 0 && errors.Is(e, io.EOF) {
				res.Stop = fmt.Errorf("%w: the file ends at byte %d without a footer", ErrTruncated, off)
			} else {
				res.Stop = fmt.Errorf("%w: record header cut at byte %d", ErrTruncated, off)
			}
			return res, nil
		}
		op := mcap.OpCode(hdr[0])
		size := binary.LittleEndian.Uint64(hdr[1:])
		if fileSize >= 0 && size > uint64(fileSize-off-9) {
			res.Stop = fmt.Errorf("%w: %s record at byte %d claims %d bytes, the file has %d more", ErrTruncated, opName(op), off, size, fileSize-off-9)
			return res, nil
		}
		if size > MaxRecordSize {
			res.Stop = fmt.Errorf("%w: record 0x%02x at byte %d claims %d bytes", ErrCorrupt, byte(op), off, size)
			return res, nil
		}
		if uint64(cap(buf)) < size {
			buf = make([]byte, size)
		}
		data := buf[:size]
		if n, e := io.ReadFull(br, data); e != nil {
			res.Stop = fmt.Errorf("%w: %s record at byte %d has %d of its %d bytes", ErrTruncated, opName(op), off, n, size)
			return res, nil
		}
		switch op {
		case mcap.OpChunk:
			body, comp, e := decompressChunk(data, &dec)
			if e != nil {
				res.Stop = fmt.Errorf("chunk at byte %d: %w", off, e)
				return res, nil
			}
			if e := splitRecords(body, func(op mcap.OpCode, d []byte) error {
				return fn(record{op: op, data: d, inChunk: true, chunk: res.Chunks})
			}); e != nil {
				if errors.Is(e, ErrCorrupt) {
					res.Stop = fmt.Errorf("chunk at byte %d: %w", off, e)
					return res, nil
				}
				return res, e
			}
			res.Chunks++
			if onChunk != nil {
				onChunk(comp, size, uint64(len(body)))
			}
		case mcap.OpFooter:
			t := make([]byte, len(mcap.Magic))
			if _, e := io.ReadFull(br, t); e != nil || !bytes.Equal(t, mcap.Magic) {
				res.Stop = fmt.Errorf("%w: no closing magic after the footer", ErrTruncated)
				return res, nil
			}
			res.Complete = true
			return res, nil
		default:
			if err := fn(record{op: op, data: data, chunk: -1}); err != nil {
				return res, err
			}
		}
		off += 9 + int64(size)
		if op != mcap.OpDataEnd && !isSummary(op) {
			res.GoodEnd = off
		}
	}
}

// isSummary reports whether op only appears in the summary section (or as
// index records a reader can rebuild).
func isSummary(op mcap.OpCode) bool {
	switch op {
	case mcap.OpChunkIndex, mcap.OpAttachmentIndex, mcap.OpMetadataIndex, mcap.OpStatistics, mcap.OpSummaryOffset:
		return true
	}
	return false
}

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

// decompressChunk parses a chunk record's body, decompresses its records and
// checks their CRC.
func decompressChunk(data []byte, dec **zstd.Decoder) (out []byte, comp string, err error) {
	// start(8) end(8) uncompressed_size(8) uncompressed_crc(4)
	// compression(4+n) records_length(8) records
	if len(data) < 32 {
		return nil, "", fmt.Errorf("%w: chunk header of %d bytes", ErrCorrupt, len(data))
	}
	usize := binary.LittleEndian.Uint64(data[16:])
	crc := binary.LittleEndian.Uint32(data[24:])
	clen := uint64(binary.LittleEndian.Uint32(data[28:]))
	if clen > uint64(len(data))-32-8 {
		return nil, "", fmt.Errorf("%w: compression name of %d bytes", ErrCorrupt, clen)
	}
	comp = string(data[32 : 32+clen])
	rlen := binary.LittleEndian.Uint64(data[32+clen:])
	recs := data[40+clen:]
	if rlen != uint64(len(recs)) {
		return nil, "", fmt.Errorf("%w: chunk records of %d bytes in a %d-byte record", ErrCorrupt, rlen, len(recs))
	}
	if usize > MaxChunkSize {
		return nil, "", fmt.Errorf("%w: chunk claims %d uncompressed bytes", ErrCorrupt, usize)
	}
	switch comp {
	case "":
		out = recs
	case string(mcap.CompressionZSTD):
		if *dec == nil {
			d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxChunkSize))
			if err != nil {
				return nil, "", err
			}
			*dec = d
		}
		out, err = (*dec).DecodeAll(recs, make([]byte, 0, min(usize, 64<<20)))
		if err != nil {
			return nil, "", fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
	case string(mcap.CompressionLZ4):
		out, err = io.ReadAll(io.LimitReader(lz4.NewReader(bytes.NewReader(recs)), int64(usize)+1))
		if err != nil {
			return nil, "", fmt.Errorf("%w: lz4: %v", ErrCorrupt, err)
		}
	default:
		return nil, "", fmt.Errorf("%w: unknown chunk compression %q", ErrCorrupt, comp)
	}
	if uint64(len(out)) != usize {
		return nil, "", fmt.Errorf("%w: chunk decompressed to %d bytes, header says %d", ErrCorrupt, len(out), usize)
	}
	if crc != 0 && crc32.ChecksumIEEE(out) != crc {
		return nil, "", fmt.Errorf("%w: chunk CRC mismatch", ErrCorrupt)
	}
	return out, comp, nil
}

// splitRecords calls fn for each record of a decompressed chunk.
func splitRecords(b []byte, fn func(op mcap.OpCode, data []byte) error) error {
	for len(b) > 0 {
		if len(b) < 9 {
			return fmt.Errorf("%w: %d stray bytes at the end of a chunk", ErrCorrupt, len(b))
		}
		size := binary.LittleEndian.Uint64(b[1:])
		if size > uint64(len(b)-9) {
			return fmt.Errorf("%w: record of %d bytes in %d left of the chunk", ErrCorrupt, size, len(b)-9)
		}
		if err := fn(mcap.OpCode(b[0]), b[9:9+size]); err != nil {
			return err
		}
		b = b[9+size:]
	}
	return nil
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
