// Package camera holds the frame sources of Parallax: everything that
// produces msgs.Frame values through the Source interface, and the
// registry that opens them by URL.
//
// The registry (registry.go): a Driver serves one or more URL schemes; it
// checks a URL, opens the node's camera from a launch-file Spec (a Feed:
// a fresh Source per connection, the baseline it knows, whether it replays
// in lockstep), and opens a recorded or synthetic drive for random access
// (Drive, for training and evaluation). Drivers register themselves:
// rtsp and rtsps here, synth:// in camera/synth, mcap:// in camera/replay,
// kitti:// in camera/kitti; camera/drivers links them all. Open, Check and
// OpenDrive find the driver by scheme, so the node, launch files, train
// and eval share one list of schemes, and a new kind of source is one
// package and one Register call.
//
// RTSP reads a live camera over RTSP (gortsplib): it plays the first H.264,
// H.265 or MJPEG video track, decodes it to packed RGB with camera/codec
// (libavcodec), and stamps each frame with the camera's clock mapped to wall
// time through RTCP sender reports, or with the receive time of the first
// packet plus the RTP time elapsed when the camera sends none. A slow reader
// never builds up latency: the oldest queued frame is dropped and counted.
// Credentials in the URL are used for authentication and never appear in
// errors; msgs.RedactURL makes a URL fit for logs.
//
// Errors are sentinel values (ErrConnectionRefused, ErrNotFound,
// ErrUnauthorized, ErrTimeout, ErrNoVideoTrack, ...) wrapped with the
// redacted URL and the cause; test them with errors.Is.
//
// The subpackage cameratest serves real RTSP on 127.0.0.1 for tests and
// demos: any Source re-encoded as H.264, plus paths that ffmpeg can publish to.
package camera
