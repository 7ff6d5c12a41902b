package record

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/foxglove/mcap/go/mcap"
)

// Recovered reports what Recover did.
type Recovered struct {
	// WasComplete is true when the input was already a complete recording:
	// nothing was written.
	WasComplete bool
	// Messages is the number of messages kept; Chunks the number of
	// complete chunks they came from.
	Messages uint64
	Chunks   int
	// LostBytes is the size of the unreadable tail that was dropped.
	LostBytes int64
	// BadChunks are the file offsets of the chunks that were dropped
	// because their content is damaged (Summary.BadChunks; the scan reads
	// on after them, and LostBytes does not count them).
	BadChunks []int64
	// Problem says why the input stopped (empty when WasComplete).
	Problem string
	// Output is the file written.
	Output string
}

// Recover rewrites the truncated recording at path into out (path itself
// when out is empty) with every message of its complete chunks, its
// schemas, channels and metadata, and a new summary section and index: the
// file a clean Close would have left, minus the chunk that was being filled.
// The output is written to a temporary file and renamed, so a failed Recover
// leaves both files as they were. A recording that is already complete is
// left alone (WasComplete), even one with a chunk that fails its CRC (Read
// skips that chunk).
func Recover(path, out string) (*Recovered, error) {
	if out == "" {
		out = path
	}
	in, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	magic := make([]byte, len(mcap.Magic))
	if _, err := in.ReadAt(magic, 0); err != nil || !bytes.Equal(magic, mcap.Magic) {
		return nil, fmt.Errorf("record: recovering %s: %w: bad magic", path, ErrNotMCAP)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".recover-*")
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w, err := mcap.NewWriter(tmp, &mcap.WriterOptions{Chunked: true, ChunkSize: 1 << 20,
		Compression: mcap.CompressionZSTD, CompressionLevel: mcap.CompressionLevelFastest,
		IncludeCRC: true, OverrideLibrary: true})
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			w.Close() // releases the compressor; the temporary file goes
		}
	}()
	header := false
	var metas []*mcap.Metadata
	var attachments []*mcap.Attachment
	rep := &Recovered{Output: out}
	channels := map[uint16]bool{}
	ensureHeader := func(h *mcap.Header) error {
		if header {
			return nil
		}
		header = true
		if h == nil {
			h = &mcap.Header{Library: Library}
		}
		return w.WriteHeader(h)
	}
	var msg mcap.Message
	// Records that do not parse are skipped (the writer could not have
	// written them), so the scan stops only where the file does.
	res, err := scan(in, st.Size(), func(tok mcap.TokenType, data []byte) error {
		switch tok {
		case mcap.TokenHeader:
			h, err := safe("header", func() (*mcap.Header, error) { return mcap.ParseHeader(data) })
			if err != nil {
				return err
			}
			return ensureHeader(h)
		case mcap.TokenSchema:
			sc, err := safe("schema", func() (*mcap.Schema, error) { return mcap.ParseSchema(data) })
			if err != nil || sc.ID == 0 {
				return nil // a schema the writer could not have written: skip it
			}
			if err := ensureHeader(nil); err != nil {
				return err
			}
			return w.WriteSchema(sc)
		case mcap.TokenChannel:
			ch, err := safe("channel", func() (*mcap.Channel, error) { return mcap.ParseChannel(data) })
			if err != nil {
				return nil
			}
			if err := ensureHeader(nil); err != nil {
				return err
			}
			if err := w.WriteChannel(ch); err != nil {
				return nil // its schema is missing: its messages go too
			}
			channels[ch.ID] = true
		case mcap.TokenMetadata:
			md, err := safe("metadata", func() (*mcap.Metadata, error) { return mcap.ParseMetadata(data) })
			if err == nil {
				metas = append(metas, md)
			}
		case mcap.TokenMessage:
			if _, err := safe("message", func() (struct{}, error) { return struct{}{}, msg.PopulateFrom(data, false) }); err != nil {
				return nil
			}
			if !channels[msg.ChannelID] {
				return nil
			}
			if err := ensureHeader(nil); err != nil {
				return err
			}
			rep.Messages++
			return w.WriteMessage(&msg)
		}
		return nil
	}, nil, func(a *mcap.AttachmentReader) error {
		// Attachments (the node's starting checkpoint) are kept: whole
		// ones with a valid CRC, within MaxAttachment.
		if a.DataSize > MaxAttachment {
			return nil
		}
		data, err := io.ReadAll(io.LimitReader(a.Data(), int64(a.DataSize)))
		if err != nil || uint64(len(data)) != a.DataSize {
			return nil
		}
		got, err1 := a.ComputedCRC()
		want, err2 := a.ParsedCRC()
		if err1 != nil || err2 != nil || (want != 0 && got != want) {
			return nil
		}
		attachments = append(attachments, &mcap.Attachment{Name: a.Name, MediaType: a.MediaType,
			LogTime: a.LogTime, CreateTime: a.CreateTime, DataSize: a.DataSize, Data: bytes.NewReader(data)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record: recovering %s: %w", path, err)
	}
	if res.Complete {
		rep.WasComplete = true
		rep.Output = path
		return rep, nil
	}
	rep.Chunks, rep.BadChunks = res.Chunks, res.BadChunks
	rep.LostBytes = st.Size() - res.GoodEnd
	if res.Stop != nil {
		rep.Problem = res.Stop.Error()
	}
	if err := ensureHeader(nil); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	for _, md := range metas {
		if err := w.WriteMetadata(md); err != nil {
			return nil, fmt.Errorf("record: %w", err)
		}
	}
	for _, a := range attachments {
		if err := w.WriteAttachment(a); err != nil {
			return nil, fmt.Errorf("record: %w", err)
		}
	}
	closed = true
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	tmp = nil
	return rep, nil
}
