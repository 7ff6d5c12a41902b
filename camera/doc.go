// Package camera holds the frame sources of Parallax: everything that
// produces msgs.Frame values through the Source interface.
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
