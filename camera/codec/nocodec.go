//go:build nocodec

package codec

// This file replaces the libav-backed codec (codec.go, decoder.go,
// encoder.go, jpeg.go) when Parallax is built with `-tags nocodec`: for a
// computer without libavcodec/libswscale, such as the GPU benchmark machine
// of `make gpu-bundle` (their Debian packages and dependencies come to about
// 100 MiB). The API is the same; every constructor returns ErrNoCodec, so
// RTSP cameras fail at start-up with a clear error while synth:// cameras,
// which need no codec, work.

import (
	"errors"
	"fmt"
)

// Errors returned by this package. They are wrapped with %w and details, so
// test them with errors.Is.
var (
	// ErrCorrupt is returned by Decode for data libavcodec cannot decode.
	ErrCorrupt = errors.New("codec: corrupt or truncated data")
	// ErrClosed is returned by the methods of a closed Decoder or Encoder.
	ErrClosed = errors.New("codec: closed")
	// ErrUnsupported is returned for a Codec value this package does not know.
	ErrUnsupported = errors.New("codec: unsupported codec")
	// ErrBadConfig is returned by NewEncoder for an invalid EncoderConfig.
	ErrBadConfig = errors.New("codec: bad encoder config")
	// ErrBadImage is returned by the encoders for a malformed RGB image.
	ErrBadImage = errors.New("codec: bad image")
	// ErrLibav is returned when libavcodec or libswscale fails.
	ErrLibav = errors.New("codec: libav failure")
	// ErrNoCodec is returned by every constructor of a build with the
	// nocodec tag (it wraps ErrUnsupported).
	ErrNoCodec = fmt.Errorf("%w: this binary was built with -tags nocodec, without libavcodec (no RTSP video decoding or encoding; synth:// cameras work)", ErrUnsupported)
)

// Codec names a video compression format.
type Codec int

// The codecs the libav build decodes.
const (
	H264 Codec = iota + 1
	H265
	MJPEG
)

// String returns the codec's common name.
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

// Limits on image size, as in the libav build.
const (
	MaxDimension = 16384
	MaxPixels    = 7680 * 4320
)

// DefaultJPEGQuality is the quality NewJPEGEncoder uses for 0.
const DefaultJPEGQuality = 85

// RGB is a packed 8-bit RGB image, row after row.
type RGB struct {
	Width, Height int
	Pix           []byte
}

// Decoder is not available in a nocodec build.
type Decoder struct{}

// NewDecoder returns ErrNoCodec.
func NewDecoder(c Codec) (*Decoder, error) {
	return nil, fmt.Errorf("%w (decoder for %v)", ErrNoCodec, c)
}

// Codec returns 0.
func (d *Decoder) Codec() Codec { return 0 }

// Decode returns ErrNoCodec.
func (d *Decoder) Decode(au [][]byte) (*RGB, error) { return nil, ErrNoCodec }

// DecodeInto returns ErrNoCodec.
func (d *Decoder) DecodeInto(au [][]byte, dst *RGB) (*RGB, error) { return nil, ErrNoCodec }

// Drain returns ErrNoCodec.
func (d *Decoder) Drain() ([]*RGB, error) { return nil, ErrNoCodec }

// Close does nothing.
func (d *Decoder) Close() {}

// EncoderConfig configures an H.264 Encoder (see the libav build).
type EncoderConfig struct {
	Width, Height int
	FPS           int
	GOP           int
	Bitrate       int
	Profile       string
	Preset        string
}

// Encoder is not available in a nocodec build.
type Encoder struct{}

// NewEncoder returns ErrNoCodec.
func NewEncoder(cfg EncoderConfig) (*Encoder, error) { return nil, ErrNoCodec }

// Config returns the zero configuration.
func (e *Encoder) Config() EncoderConfig { return EncoderConfig{} }

// SPS returns nil.
func (e *Encoder) SPS() []byte { return nil }

// PPS returns nil.
func (e *Encoder) PPS() []byte { return nil }

// Encode returns ErrNoCodec.
func (e *Encoder) Encode(img *RGB) ([][]byte, error) { return nil, ErrNoCodec }

// Close does nothing.
func (e *Encoder) Close() {}

// JPEGEncoder is not available in a nocodec build.
type JPEGEncoder struct{}

// NewJPEGEncoder returns ErrNoCodec.
func NewJPEGEncoder(quality int) (*JPEGEncoder, error) { return nil, ErrNoCodec }

// Encode returns ErrNoCodec.
func (j *JPEGEncoder) Encode(img *RGB) ([]byte, error) { return nil, ErrNoCodec }

// Close does nothing.
func (j *JPEGEncoder) Close() {}

// EncodeJPEG returns ErrNoCodec.
func EncodeJPEG(img *RGB, quality int) ([]byte, error) { return nil, ErrNoCodec }
