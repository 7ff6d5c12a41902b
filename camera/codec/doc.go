// Package codec decodes H.264, H.265 and MJPEG video into packed RGB images,
// and encodes RGB images to H.264 and JPEG, with Debian's libavcodec and
// libswscale through cgo.
//
// gortsplib carries video but does not decode it; the RTSP source feeds the
// access units its depacketisers return to a Decoder, and the test RTSP
// server encodes synthetic frames with an Encoder.
//
// # Decoding
//
// NewDecoder opens one libavcodec decoder (one thread: measured fastest here,
// and no added latency). Decode takes one access unit: for H.264/H.265 the
// NAL units without start codes, for MJPEG one JPEG image. It returns a new
// image the caller owns, or (nil, nil) while the decoder waits for a
// keyframe; DecodeInto reuses a caller's buffer instead (no allocation per
// frame). Undecodable data returns an error wrapping ErrCorrupt and the
// decoder carries on with the next keyframe. Resolution and pixel format may
// change mid-stream. Colour conversion follows the stream's signalled matrix
// (BT.601 unless it says BT.709 or BT.2020) and range.
//
// # Encoding
//
// NewEncoder opens libx264 (zerolatency, no B-frames, fixed GOP, one thread):
// every Encode returns that frame's access unit at once, and SPS/PPS are
// known from NewEncoder on and repeated before each IDR. JPEGEncoder writes
// baseline JPEG with the standard Huffman tables, as RTP/JPEG requires.
//
// # Concurrency and memory
//
// Decoders and encoders are meant for one goroutine each. Their methods are
// serialised by a mutex, so a Close racing a Decode waits for it rather than
// freeing memory libavcodec is using, and later calls return ErrClosed. No Go
// pointer is kept by C: input is copied into libav's padded packets, and
// images are converted into Go memory during the call only.
//
// # Logging
//
// The first decoder or encoder installs a libav log callback for the whole
// process: messages of this package's codec contexts are kept for the error
// Decode returns instead of being printed, and other libav output is limited
// to errors.
package codec
