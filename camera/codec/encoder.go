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

// Encoder encodes RGB frames to H.264 with libx264 through libavcodec:
// zerolatency tuning, no B-frames, a fixed GOP, one thread. Each Encode
// returns the access unit of that very frame. Every IDR access unit starts
// with the SPS and PPS, so a reader can join at any keyframe.
//
// Like Decoder, it is meant for one goroutine; its methods are serialised,
// and Close waits for an Encode in progress.
type Encoder struct {
	mu       sync.Mutex
	cfg      EncoderConfig
	c        *C.px_ctx
	sps, pps []byte
}

// NewEncoder opens a libx264 encoder. SPS and PPS are available as soon as
// it returns.
func NewEncoder(cfg EncoderConfig) (*Encoder, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	initLogging()
	name := C.CString("libx264")
	preset := C.CString(cfg.Preset)
	profile := C.CString(cfg.Profile)
	defer C.free(unsafe.Pointer(name))
	defer C.free(unsafe.Pointer(preset))
	defer C.free(unsafe.Pointer(profile))
	var averr C.int
	c := C.px_enc_open(name, C.int(cfg.Width), C.int(cfg.Height), C.int(cfg.FPS), C.int(cfg.GOP),
		C.int64_t(cfg.Bitrate), preset, profile, 0, &averr)
	if c == nil {
		if averr == C.AVERROR_ENCODER_NOT_FOUND {
			return nil, fmt.Errorf("%w: libavcodec has no libx264 encoder", ErrUnsupported)
		}
		return nil, wrapAV(ErrLibav, nil, "open libx264", averr)
	}
	e := &Encoder{cfg: cfg, c: c}
	// With AV_CODEC_FLAG_GLOBAL_HEADER, libx264 puts SPS and PPS into
	// extradata at open time.
	extra := C.GoBytes(unsafe.Pointer(c.ctx.extradata), c.ctx.extradata_size)
	e.noteParams(splitAnnexB(extra))
	if e.sps == nil || e.pps == nil {
		e.Close()
		return nil, fmt.Errorf("%w: libx264 gave no SPS/PPS in extradata", ErrLibav)
	}
	return e, nil
}

// Config returns the configuration with its defaults filled in.
func (e *Encoder) Config() EncoderConfig { return e.cfg }

// noteParams keeps the latest SPS and PPS among nals.
func (e *Encoder) noteParams(nals [][]byte) {
	for _, n := range nals {
		switch n[0] & 0x1F {
		case 7:
			e.sps = append(e.sps[:0:0], n...)
		case 8:
			e.pps = append(e.pps[:0:0], n...)
		}
	}
}

// SPS returns the sequence parameter set, without start code. It is set
// when NewEncoder returns. The caller must not modify it.
func (e *Encoder) SPS() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sps
}

// PPS returns the picture parameter set, without start code. It is set
// when NewEncoder returns. The caller must not modify it.
func (e *Encoder) PPS() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pps
}

// Encode encodes one frame, which must have the configured size, and returns
// its access unit: NAL units without start codes, in one newly allocated
// buffer the caller owns.
func (e *Encoder) Encode(img *RGB) ([][]byte, error) {
	if err := img.check(); err != nil {
		return nil, err
	}
	if img.Width != e.cfg.Width || img.Height != e.cfg.Height {
		return nil, fmt.Errorf("%w: %dx%d frame for a %dx%d encoder", ErrBadImage, img.Width, img.Height, e.cfg.Width, e.cfg.Height)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c == nil {
		return nil, ErrClosed
	}
	C.px_clear_err(e.c)
	if ret := C.px_enc_send_rgb(e.c, (*C.uint8_t)(unsafe.Pointer(&img.Pix[0])), C.int(3*img.Width)); ret < 0 {
		return nil, wrapAV(ErrLibav, e.c, "encode", ret)
	}
	var au [][]byte
	for {
		ret := C.px_enc_receive(e.c)
		if ret == errEAGAIN || ret == errEOF {
			break
		}
		if ret < 0 {
			return nil, wrapAV(ErrLibav, e.c, "encode", ret)
		}
		// Copy out of libav's packet: the Go caller keeps the bytes.
		data := C.GoBytes(unsafe.Pointer(e.c.pkt.data), e.c.pkt.size)
		au = append(au, splitAnnexB(data)...)
	}
	e.noteParams(au)
	return au, nil
}

// Close frees the encoder. It is idempotent.
func (e *Encoder) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c != nil {
		C.px_close(e.c)
		e.c = nil
	}
}
