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
// loses at most the chunk being filled. The linear scanner behind Read and
// Info reads a truncated file up to its last complete, CRC-valid chunk, and
// Recover rewrites it (temporary file and rename) with a new summary and
// index. Split recordings (SplitSize, SplitDuration) are numbered files,
// drive-0001.mcap, drive-0002.mcap, each complete on its own.
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
