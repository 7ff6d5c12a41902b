//go:build !nocodec

package codec

// #include "libav.h"
// #include <stdlib.h>
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

// JPEGEncoder encodes RGB images to baseline JPEG with libavcodec's MJPEG
// encoder (4:2:0, the standard Huffman tables that RTP/JPEG requires). It
// reopens its libav context when the image size changes.
//
// Its methods are serialised; Close waits for an Encode in progress.
type JPEGEncoder struct {
	mu      sync.Mutex
	quality int
	w, h    int
	c       *C.px_ctx
}

// NewJPEGEncoder returns an encoder for quality 1 (smallest) to 100 (best),
// mapped linearly onto libavcodec's quantiser scale 31..2. 0 selects
// DefaultJPEGQuality.
func NewJPEGEncoder(quality int) (*JPEGEncoder, error) {
	if quality == 0 {
		quality = DefaultJPEGQuality
	}
	if quality < 1 || quality > 100 {
		return nil, fmt.Errorf("%w: JPEG quality %d (want 1..100)", ErrBadConfig, quality)
	}
	initLogging()
	return &JPEGEncoder{quality: quality}, nil
}

// qscale maps quality 1..100 to the MJPEG quantiser scale 31..2.
func (j *JPEGEncoder) qscale() int {
	return 2 + (100-j.quality)*29/99
}

// Encode returns img as one JPEG image in a new buffer.
func (j *JPEGEncoder) Encode(img *RGB) ([]byte, error) {
	if err := img.check(); err != nil {
		return nil, err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.quality == 0 {
		return nil, ErrClosed
	}
	if j.c == nil || j.w != img.Width || j.h != img.Height {
		if err := j.open(img.Width, img.Height); err != nil {
			return nil, err
		}
	}
	C.px_clear_err(j.c)
	if ret := C.px_enc_send_rgb(j.c, (*C.uint8_t)(unsafe.Pointer(&img.Pix[0])), C.int(3*img.Width)); ret < 0 {
		return nil, wrapAV(ErrLibav, j.c, "encode JPEG", ret)
	}
	var out []byte
	for {
		ret := C.px_enc_receive(j.c)
		if ret == errEAGAIN || ret == errEOF {
			break
		}
		if ret < 0 {
			return nil, wrapAV(ErrLibav, j.c, "encode JPEG", ret)
		}
		out = C.GoBytes(unsafe.Pointer(j.c.pkt.data), j.c.pkt.size)
	}
	if out == nil {
		return nil, fmt.Errorf("%w: encode JPEG: no output", ErrLibav)
	}
	return out, nil
}

func (j *JPEGEncoder) open(w, h int) error {
	if j.c != nil {
		C.px_close(j.c)
		j.c = nil
	}
	name := C.CString("mjpeg")
	defer C.free(unsafe.Pointer(name))
	var averr C.int
	c := C.px_enc_open(name, C.int(w), C.int(h), 25, 1, 0, nil, nil, C.int(j.qscale()), &averr)
	if c == nil {
		if averr == C.AVERROR_ENCODER_NOT_FOUND {
			return fmt.Errorf("%w: libavcodec has no mjpeg encoder", ErrUnsupported)
		}
		return wrapAV(ErrLibav, nil, "open mjpeg encoder", averr)
	}
	j.c, j.w, j.h = c, w, h
	return nil
}

// Close frees the encoder. It is idempotent.
func (j *JPEGEncoder) Close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.c != nil {
		C.px_close(j.c)
		j.c = nil
	}
	j.quality = 0
}

// EncodeJPEG encodes one image with a throwaway JPEGEncoder. Keep a
// JPEGEncoder for a stream of images: it saves reopening libav each time.
func EncodeJPEG(img *RGB, quality int) ([]byte, error) {
	j, err := NewJPEGEncoder(quality)
	if err != nil {
		return nil, err
	}
	defer j.Close()
	return j.Encode(img)
}
