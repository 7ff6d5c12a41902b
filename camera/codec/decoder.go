//go:build !nocodec

package codec

// #include "libav.h"
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

// maxAccessUnit bounds the bytes of one access unit handed to libavcodec; a
// larger one is certainly not a camera frame.
const maxAccessUnit = 64 << 20

// Decoder decodes one video stream into RGB images with libavcodec, one
// thread, no added latency beyond the stream's own frame reordering.
//
// A Decoder is meant to be used from one goroutine. Its methods are
// serialised by a mutex all the same, so Close called while a Decode is in
// progress waits for that Decode to return instead of freeing the libav
// context under it; a Decode after Close returns ErrClosed.
type Decoder struct {
	mu    sync.Mutex
	codec Codec
	c     *C.px_ctx
	// started is set once a frame came out since open or Drain: before that,
	// undecodable data is expected (a stream joined between keyframes) and
	// yields (nil, nil) instead of ErrCorrupt.
	started bool
}

// NewDecoder opens a libavcodec decoder for c.
func NewDecoder(c Codec) (*Decoder, error) {
	id := c.avID()
	if id == 0 {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, c)
	}
	initLogging()
	var averr C.int
	ctx := C.px_dec_open(id, MaxPixels, &averr)
	if ctx == nil {
		if averr == C.AVERROR_DECODER_NOT_FOUND {
			return nil, fmt.Errorf("%w: libavcodec has no %v decoder", ErrUnsupported, c)
		}
		return nil, wrapAV(ErrLibav, nil, "open "+c.String()+" decoder", averr)
	}
	return &Decoder{codec: c, c: ctx}, nil
}

// Codec returns the codec the decoder was opened for.
func (d *Decoder) Codec() Codec { return d.codec }

// Decode decodes one access unit and returns the picture it completes in a
// newly allocated image that the caller owns: it may keep it, or hand it to
// other goroutines. Use DecodeInto to reuse a buffer instead.
//
// For H.264 and H.265, au holds the NAL units of one access unit WITHOUT
// start codes, as gortsplib's rtph264/rtph265 decoders return them; parameter
// sets (SPS, PPS, VPS) may come in the same access unit or in one of their
// own, which returns (nil, nil). For MJPEG, au holds one JPEG image (several
// elements are joined into one), which must run from its start-of-image to
// its end-of-image marker.
//
// Decode returns (nil, nil) when the decoder needs more data before it can
// output a picture: before the first keyframe, or while the stream's
// B-frame reordering delays output (see Drain). Data that cannot be decoded
// returns an error wrapping ErrCorrupt, naming libavcodec's complaint, and
// the decoder stays usable: decoding resumes at the next keyframe. A picture
// that libavcodec decoded only with error concealment (a damaged or missing
// slice) is dropped with ErrCorrupt rather than returned half grey.
func (d *Decoder) Decode(au [][]byte) (*RGB, error) {
	return d.DecodeInto(au, nil)
}

// DecodeInto is Decode writing the picture into dst, whose Pix is reused
// when its capacity is large enough and replaced otherwise; it returns dst.
// With a nil dst it allocates a new image, as Decode does. When no picture
// comes out, dst is left as it was and the result is nil.
func (d *Decoder) DecodeInto(au [][]byte, dst *RGB) (*RGB, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c == nil {
		return nil, ErrClosed
	}
	if err := d.send(au); err != nil || len(au) == 0 {
		return nil, err
	}
	return d.receive(dst)
}

// send hands one access unit to libavcodec in a padded packet.
func (d *Decoder) send(au [][]byte) error {
	size := 0
	for _, nal := range au {
		if len(nal) == 0 {
			continue
		}
		if d.codec != MJPEG {
			size += 4
		}
		size += len(nal)
	}
	if size == 0 {
		return nil
	}
	if size > maxAccessUnit {
		return fmt.Errorf("%w: %v access unit of %d bytes exceeds %d", ErrCorrupt, d.codec, size, maxAccessUnit)
	}
	if d.codec == MJPEG {
		if err := checkJPEG(au); err != nil {
			return err
		}
	}
	p := C.px_dec_packet(d.c, C.int(size))
	if p == nil {
		return fmt.Errorf("%w: allocate a %d-byte packet", ErrLibav, size)
	}
	buf := unsafe.Slice((*byte)(unsafe.Pointer(p)), size)
	off := 0
	for _, nal := range au {
		if len(nal) == 0 {
			continue
		}
		if d.codec != MJPEG {
			off += copy(buf[off:], startCode[:])
		}
		off += copy(buf[off:], nal)
	}
	C.px_clear_err(d.c)
	ret := C.px_dec_send(d.c)
	if d.codec != MJPEG && !hasPicture(d.codec, au) {
		// Parameter sets (or SEI) on their own, as some cameras send them:
		// libavcodec's H.264 decoder stores them but answers "no frame!".
		// That is no damage, so forget the complaint.
		C.px_clear_err(d.c)
		return nil
	}
	if ret < 0 && ret != errEAGAIN {
		return wrapAV(ErrCorrupt, d.c, d.codec.String()+" decode", ret)
	}
	return nil
}

// hasPicture reports whether an H.264/H.265 access unit holds a coded slice
// (a VCL NAL unit).
func hasPicture(c Codec, au [][]byte) bool {
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch c {
		case H264:
			if typ := n[0] & 0x1F; typ >= 1 && typ <= 5 {
				return true
			}
		case H265:
			if typ := (n[0] >> 1) & 0x3F; typ < 32 {
				return true
			}
		}
	}
	return false
}

// receive collects what the last packet produced. A packet normally yields
// at most one picture; if it yields more, the last one wins.
func (d *Decoder) receive(dst *RGB) (*RGB, error) {
	var out *RGB
	concealed := false
	for {
		ret := C.px_dec_receive(d.c)
		if ret == errEAGAIN || ret == errEOF {
			break
		}
		if ret < 0 {
			return nil, wrapAV(ErrCorrupt, d.c, d.codec.String()+" decode", ret)
		}
		f := d.c.frame
		if f.decode_error_flags != 0 || f.flags&C.AV_FRAME_FLAG_CORRUPT != 0 {
			concealed = true
			continue
		}
		img, err := d.convert(dst)
		if err != nil {
			return nil, err
		}
		out = img
	}
	if out != nil {
		d.started = true
		return out, nil
	}
	if concealed {
		return nil, fmt.Errorf("%w: %v picture decoded with errors concealed: %s", ErrCorrupt, d.codec, orNone(lastLogged(d.c)))
	}
	if d.started {
		if msg := lastLogged(d.c); msg != "" {
			return nil, fmt.Errorf("%w: %v decode: %s", ErrCorrupt, d.codec, msg)
		}
	}
	return nil, nil
}

func orNone(s string) string {
	if s == "" {
		return "no detail"
	}
	return s
}

// convert turns the decoded frame into packed RGB in dst, or a new image.
func (d *Decoder) convert(dst *RGB) (*RGB, error) {
	w, h := int(d.c.frame.width), int(d.c.frame.height)
	if w <= 0 || h <= 0 || w > MaxDimension || h > MaxDimension {
		return nil, fmt.Errorf("%w: %v picture of %dx%d", ErrCorrupt, d.codec, w, h)
	}
	if dst == nil {
		dst = &RGB{}
	}
	dst.reshape(w, h)
	if ret := C.px_frame_to_rgb(d.c, (*C.uint8_t)(unsafe.Pointer(&dst.Pix[0])), C.int(3*w)); ret < 0 {
		return nil, wrapAV(ErrLibav, d.c, "convert to RGB", ret)
	}
	return dst, nil
}

// Drain returns the pictures the decoder still holds at the end of a stream
// (H.264/H.265 with B-frames output each picture a few access units late)
// and resets the decoder, which then expects a keyframe again. Live streams
// from cameras rarely need it; replays of files do.
func (d *Decoder) Drain() ([]*RGB, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c == nil {
		return nil, ErrClosed
	}
	defer func() {
		C.px_dec_flush(d.c)
		d.started = false
	}()
	C.px_clear_err(d.c)
	if ret := C.px_dec_send_eof(d.c); ret < 0 && ret != errEOF {
		return nil, wrapAV(ErrLibav, d.c, "drain", ret)
	}
	var imgs []*RGB
	for {
		ret := C.px_dec_receive(d.c)
		if ret == errEAGAIN || ret == errEOF {
			return imgs, nil
		}
		if ret < 0 {
			return imgs, wrapAV(ErrCorrupt, d.c, d.codec.String()+" drain", ret)
		}
		f := d.c.frame
		if f.decode_error_flags != 0 || f.flags&C.AV_FRAME_FLAG_CORRUPT != 0 {
			continue
		}
		img, err := d.convert(nil)
		if err != nil {
			return imgs, err
		}
		imgs = append(imgs, img)
	}
}

// Close frees the decoder. It is idempotent, and waits for a Decode in
// progress on another goroutine.
func (d *Decoder) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c != nil {
		C.px_close(d.c)
		d.c = nil
	}
}

// checkJPEG rejects what is not one whole JPEG image: libavcodec decodes the
// first rows of a truncated JPEG without reporting any error, and a robot
// must not take the grey rest for a wall.
func checkJPEG(au [][]byte) error {
	var first, last []byte
	for _, e := range au {
		if len(e) > 0 {
			if first == nil {
				first = e
			}
			last = e
		}
	}
	if len(first) < 2 || first[0] != 0xFF || first[1] != 0xD8 {
		return fmt.Errorf("%w: MJPEG: no JPEG start-of-image marker", ErrCorrupt)
	}
	// Some writers pad an image with zero bytes after its end marker.
	end := len(last)
	for end > 0 && last[end-1] == 0 {
		end--
	}
	if end < 2 || last[end-2] != 0xFF || last[end-1] != 0xD9 {
		return fmt.Errorf("%w: MJPEG: no JPEG end-of-image marker (truncated image)", ErrCorrupt)
	}
	return nil
}
