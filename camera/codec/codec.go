//go:build !nocodec

package codec

// #cgo pkg-config: libavcodec libavutil libswscale
// #include "libav.h"
// #include <libavutil/error.h>
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

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
