package record

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/foxglove/mcap/go/mcap"
)

// scanResult is what a linear scan found besides the records.
type scanResult struct {
	// Complete is true when the scan reached the footer and the closing
	// magic: the file was closed by its writer.
	Complete bool
	// Chunks is the number of complete, CRC-valid chunks.
	Chunks int
	// BadChunks are the file offsets of the chunks skipped because their
	// content does not match their CRC or does not decompress to the size
	// their header claims.
	BadChunks []int64
	// GoodEnd is the file offset just past the last complete record of the
	// data section: everything before it is readable.
	GoodEnd int64
	// Stop is why the scan stopped before the footer (nil when Complete):
	// a truncated or corrupt record at GoodEnd.
	Stop error
}

// stopError marks an error of a scan callback that ends the readable part
// of the file (a record that does not parse), as opposed to a failure of
// the callback's own (a write error, an error of Read's caller), which
// scan returns.
type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }
func (e *stopError) Unwrap() error { return e.err }

// scan reads the size-byte MCAP file r from the start with the mcap
// library's lexer and calls fn for every record of the data section inside
// and outside chunks (not for the chunk records themselves), and onChunk
// (when set) for every complete chunk. The lexer checks each chunk's CRC
// before it emits the chunk's first record, so a truncated file yields
// exactly its complete chunks, and a chunk whose CRC does not match (or
// that does not decompress to its size) is skipped and listed in
// BadChunks. fn's data is valid until it returns. onAttachment, when set,
// reads each attachment record (the lexer skips them otherwise).
// scan returns a non-nil error only for a file that is not MCAP or an
// error of fn that is not a *stopError; a truncated or corrupt tail, or a
// *stopError of fn, is reported in scanResult.Stop.
func scan(r io.ReaderAt, size int64, fn func(tok mcap.TokenType, data []byte) error, onChunk func(compression string, compressed, uncompressed uint64), onAttachment func(*mcap.AttachmentReader) error) (res scanResult, err error) {
	cr := &counter{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16), size: size, check: -1}
	// pending is the chunk the lexer loaded during the current Next call:
	// it is complete once the lexer emits anything after loading it.
	type chunk struct {
		c                 *chunkReader
		start, end, bytes int64
	}
	var pending *chunk
	lastChunk := int64(-1) // start of the last complete chunk
	settle := func() {
		if pending == nil {
			return
		}
		res.Chunks++
		lastChunk = pending.start
		if onChunk != nil {
			onChunk(string(pending.c.format), uint64(pending.bytes), uint64(pending.c.served))
		}
		pending = nil
	}
	var loading int64 // start of the chunk in Reset
	claimed := func(c *chunkReader, n int64) (uint64, error) {
		// The records field ends the chunk record, after its 9-byte record
		// header, 40 bytes of fields and the compression name.
		loading = cr.n - n - int64(49+len(c.format))
		return claimedSize(r, loading)
	}
	dec := newDecompressors(func() int64 { return size - cr.n }, claimed, settle, func(c *chunkReader, n int64) {
		pending = &chunk{c: c, start: loading, end: cr.n, bytes: n}
	})
	defer dec.close()
	lex, err := mcap.NewLexer(cr, &mcap.LexerOptions{ValidateChunkCRCs: true, EmitInvalidChunks: true,
		MaxRecordSize: MaxRecordSize, MaxDecompressedChunkSize: MaxChunkSize, Decompressors: dec.options(),
		AttachmentCallback: onAttachment, ComputeAttachmentCRCs: onAttachment != nil})
	if err != nil {
		return res, fmt.Errorf("%w: bad magic", ErrNotMCAP)
	}
	defer lex.Close()
	res.GoodEnd = int64(len(mcap.Magic))
	top := res.GoodEnd // start of the top-level record the last token came from
	dataEnd := false
	var buf []byte
	for {
		before := cr.n
		cr.check = before
		tok, data, err := next(lex, buf)
		cr.check = -1
		if cap(data) > cap(buf) {
			buf = data[:0]
		}
		if cr.n > before {
			top = before
		}
		if tok == mcap.TokenInvalidChunk && pending != nil {
			pending.c.drain()
			res.BadChunks = append(res.BadChunks, pending.start)
			pending = nil
			if !dataEnd {
				res.GoodEnd = cr.n
			}
			continue
		}
		var bc *errBadChunk
		if errors.As(err, &bc) {
			// The lexer failed the chunk in Reset, back outside any chunk
			// and past this one: read on, as after a CRC mismatch.
			res.BadChunks = append(res.BadChunks, loading)
			if !dataEnd {
				res.GoodEnd = cr.n
			}
			continue
		}
		if err != nil {
			// A chunk loaded in this call is complete if the lexer read
			// past it before failing (it had no records).
			if pending != nil && cr.n > pending.end {
				settle()
			}
			var eb *errBeyond
			switch {
			case errors.As(err, &eb):
				res.Stop = describeStop(r, size, eb.off, err)
			case err == io.EOF && cr.n == before: // at a record boundary
				res.Stop = fmt.Errorf("%w: the file ends at byte %d without a footer", ErrTruncated, cr.n)
			case pending != nil:
				res.Stop = describeStop(r, size, pending.start, err)
			default:
				res.Stop = describeStop(r, size, top, err)
			}
			return res, nil
		}
		settle()
		switch tok {
		case mcap.TokenFooter:
			magic := make([]byte, len(mcap.Magic))
			if n, _ := r.ReadAt(magic, cr.n); n < len(magic) || !bytes.Equal(magic, mcap.Magic) {
				res.Stop = fmt.Errorf("%w: no closing magic after the footer", ErrTruncated)
				return res, nil
			}
			res.Complete = true
			return res, nil
		case mcap.TokenDataEnd:
			dataEnd = true
			continue
		}
		if dataEnd || isSummary(tok) {
			// The summary section repeats the schemas and channels and
			// indexes the data section: nothing a linear reader needs.
			continue
		}
		if err := fn(tok, data); err != nil {
			var se *stopError
			if !errors.As(err, &se) {
				return res, err
			}
			if top == lastChunk {
				// Part of the chunk was delivered, but the chunk is not
				// readable as a whole.
				res.Chunks--
				res.Stop = fmt.Errorf("chunk at byte %d: %w", top, se.err)
			} else {
				res.Stop = fmt.Errorf("%s record at byte %d: %w", tok, top, se.err)
			}
			res.GoodEnd = top
			return res, nil
		}
		res.GoodEnd = cr.n
	}
}

// isSummary reports whether tok is a record that only appears in the
// summary section (or an index a reader can rebuild).
func isSummary(tok mcap.TokenType) bool {
	switch tok {
	case mcap.TokenChunkIndex, mcap.TokenAttachmentIndex, mcap.TokenMetadataIndex, mcap.TokenStatistics, mcap.TokenSummaryOffset:
		return true
	}
	return false
}
