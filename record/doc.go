// Package record writes and reads MCAP recordings of what the node sees and
// publishes (github.com/foxglove/mcap v1.7.0).
//
// Files are chunked and zstd-compressed (fastest level: camera frames are
// large and the recorder shares the cores with the networks), with chunk and
// data-section CRCs. Each message type's schema is embedded once per file as
// a serialized google.protobuf.FileDescriptorSet (schema encoding
// "protobuf"), built from the msgs/ generated descriptors, so Foxglove and
// any MCAP reader decode foxglove.RawImage, foxglove.CameraCalibration,
// foxglove.PoseInFrame, parallax.v1.Odometry ... without the .proto files.
// scripts/mcap_check.py is an independent reader (the format from its
// specification, Python's protobuf) that the tests run on the files.
//
// Crash safety: a recording is written as a stream, chunk by chunk (Writer's
// ChunkSize, 1 MiB by default), not atomically: a crash or a power loss
// loses at most the chunk being filled. Split recordings (SplitSize,
// SplitDuration) are numbered files, drive-0001.mcap, drive-0002.mcap, each
// complete on its own.
//
// Reading: this package is the only MCAP reader of the node, and it reads
// through the mcap library (its Lexer, Reader.Info and Parse functions):
// records, chunks and CRCs are the library's business, and the package only
// hands the lexer its decompressors (lexer.go says why). Read, Info of a truncated file, and
// Recover scan linearly with the lexer validating chunk CRCs: a truncated
// file is read up to its last complete chunk (Recover rewrites it, through
// a temporary file and a rename, with a new summary and index), and a chunk
// whose CRC does not match is skipped and reported (Summary.BadChunks).
// OpenFile gives random access to a complete file, per topic in log-time
// order, from its summary and message indexes: a message read decompresses
// its chunk (once, for messages read in order) and checks its CRC; a
// truncated file returns ErrNoIndex. The library can panic on corrupt input
// and allocates what a record's length field says: the package turns panics
// into ErrCorrupt and checks lengths against the file first, so a corrupt
// file gives an error naming it, never a crash.
//
// Topics are chosen by the caller (the recorder actor): the node's outputs
// keep their NATS subjects, and the inputs live under
// <ns>.<camera>.raw.image (foxglove.RawImage rgb8, lossless: a replay
// feeds the networks exactly the pixels they saw), .raw.camera_info and the
// ground truth of synthetic sources (.truth.depth, .truth.pose): the
// layout of msgs/recording.go (msgs.FrameMessages); camera/replay reads
// them back.
//
// The package imports msgs only.
package record
