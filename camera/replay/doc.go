// Package replay plays recorded drives through the same pipeline as live
// cameras: mcap:// recordings made by the recorder (package record), and,
// through the Stream interface, any random-access frame store
// (camera/kitti's folders).
//
// Recording layout (msgs.FrameMessages writes it, with the topic names and
// metadata keys in msgs/recording.go; Recording reads it): camera c of
// namespace ns is recorded on ns.c.raw.image as foxglove.RawImage rgb8 (the
// decoded frames the node received, lossless: chunk-level zstd compresses
// them, and a replay feeds the networks exactly the pixels they saw, which
// makes replays deterministic), ns.c.raw.camera_info
// (foxglove.CameraCalibration; the right camera's P carries the baseline),
// and, for sources with ground truth, ns.c.truth.depth (RawImage 32FC1) and
// ns.c.truth.pose (PoseInFrame, frame "world"). The node's outputs keep
// their NATS subjects. A recording made by subscribing to NATS has only the
// JPEG previews (ns.c.image): they are replayed too, lossily. The recorder's
// "parallax" metadata record names the namespace and the stereo pair.
//
// Recording gives random access through the MCAP index with record.File
// (the summary section's chunk indexes and the message indexes after each
// chunk): a frame read decompresses and CRC-checks its chunk, and the last
// chunk is cached. A truncated recording has no index: Open fails with
// ErrNoIndex (record.ErrNoIndex), which says to run `parallax record
// recover`.
//
// Player is the camera.Source: pacing at a rate (1 real time, 0 as fast as
// possible), a start/end window, looping, stamps kept from the recording.
// Drive pairs left and right by stamp for training and evaluation
// (learner.Drive). URLs: mcap://path?rate=1&loop=0&start=0s&end=0s&camera=
// (kitti:// takes the same keys); ParseURL reads them.
//
// The package imports camera, msgs and record only: MCAP is read by
// package record alone.
package replay
