//go:build !nocodec

package codec

// #cgo pkg-config: libavcodec libavutil libswscale
// #include "libav.h"
// #include <libavutil/error.h>
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// Errors returned by this package. They are wrapped with %w and details, so
// test them with errors.Is.
var (
	// ErrCorrupt is returned by Decode for data libavcodec cannot decode:
	// corrupt, truncated or not of the decoder's codec.
	ErrCorrupt = errors.New("codec: corrupt or truncated data")
	// ErrClosed is returned by the methods of a closed Decoder or Encoder.
	ErrClosed = errors.New("codec: closed")
	// ErrUnsupported is returned for a Codec value this package does not know
	// or whose libavcodec decoder or encoder is missing.
	ErrUnsupported = errors.New("codec: unsupported codec")
	// ErrBadConfig is returned by NewEncoder for an invalid EncoderConfig.
	ErrBadConfig = errors.New("codec: bad encoder config")
	// ErrBadImage is returned by the encoders for an RGB image whose size does
	// not match its pixels or the encoder.
	ErrBadImage = errors.New("codec: bad image")
	// ErrLibav is returned when libavcodec or libswscale fails for a reason
	// that is not the input data (out of memory, a failed open).
	ErrLibav = errors.New("codec: libav failure")
)

// Codec names a video compression format.
type Codec int

// The codecs this package decodes. Only H264 is also encoded as a stream;
// JPEGEncoder writes single MJPEG images.
const (
	H264 Codec = iota + 1
	H265
	MJPEG
)

// String returns the codec's common name, as gortsplib and ffprobe spell it.
func (c Codec) String() string {
	switch c {
	case H264:
		return "H264"
	case H265:
		return "H265"
	case MJPEG:
		return "MJPEG"
	}
	return fmt.Sprintf("Codec(%d)", int(c))
}

// avID is the libavcodec codec id of c, or 0 for an unknown codec.
func (c Codec) avID() C.int {
	switch c {
	case H264:
		return C.AV_CODEC_ID_H264
	case H265:
		return C.AV_CODEC_ID_HEVC
	case MJPEG:
		return C.AV_CODEC_ID_MJPEG
	}
	return 0
}

// Limits on image size. They bound the memory a forged or corrupt stream
// header can make a decoder allocate.
const (
	// MaxDimension is the largest width or height accepted for an image.
	MaxDimension = 16384
	// MaxPixels is the largest picture a Decoder decodes: 8K UHD
	// (7680x4320, 100 MB as RGB).
	MaxPixels = 7680 * 4320
)

// RGB is a packed 8-bit RGB image, 3*Width bytes a row, rows top to bottom.
type RGB struct {
	Width, Height int
	Pix           []byte
}

// check reports whether img is a well-formed image.
func (img *RGB) check() error {
	if img == nil {
		return fmt.Errorf("%w: nil image", ErrBadImage)
	}
	if img.Width <= 0 || img.Height <= 0 || img.Width > MaxDimension || img.Height > MaxDimension {
		return fmt.Errorf("%w: size %dx%d", ErrBadImage, img.Width, img.Height)
	}
	if n := 3 * img.Width * img.Height; len(img.Pix) < n {
		return fmt.Errorf("%w: %dx%d needs %d bytes, Pix has %d", ErrBadImage, img.Width, img.Height, n, len(img.Pix))
	}
	return nil
}

// reshape makes img a w x h image, reusing Pix when it is large enough.
func (img *RGB) reshape(w, h int) {
	n := 3 * w * h
	if cap(img.Pix) < n {
		img.Pix = make([]byte, n)
	} else {
		img.Pix = img.Pix[:n]
	}
	img.Width, img.Height = w, h
}

var logOnce sync.Once

// initLogging routes libav's messages: errors of our own codec contexts go
// into the error Decode returns instead of stderr, and other libav messages
// below error level are silenced. It changes process-wide libav state, which
// is fine because this package is the project's only libav user.
func initLogging() {
	logOnce.Do(func() { C.px_init_logging() })
}

// averror formats a libav error code.
func averror(code C.int) string {
	var buf [128]C.char
	if C.av_strerror(code, &buf[0], C.size_t(len(buf))) < 0 {
		return fmt.Sprintf("libav error %d", int(code))
	}
	return C.GoString(&buf[0])
}

// lastLogged returns the first error libav logged for c since px_clear_err.
func lastLogged(c *C.px_ctx) string {
	return C.GoString((*C.char)(unsafe.Pointer(&c.err[0])))
}

// wrapAV builds an error wrapping sentinel from a failed libav call, adding
// the message libav logged if any.
func wrapAV(sentinel error, c *C.px_ctx, what string, code C.int) error {
	msg := averror(code)
	if c != nil {
		if l := lastLogged(c); l != "" {
			msg += " (" + l + ")"
		}
	}
	return fmt.Errorf("%w: %s: %s", sentinel, what, msg)
}

var (
	errEAGAIN = C.int(-C.EAGAIN)
	errEOF    = C.int(C.AVERROR_EOF)
)
