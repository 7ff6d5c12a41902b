//go:build nocodec

package codec

// This file replaces the libav-backed codec (codec.go, decoder.go,
// encoder.go, jpeg.go) when Parallax is built with `-tags nocodec`: for a
// computer without libavcodec/libswscale, such as the GPU benchmark machine
// of `make gpu-bundle` (their Debian packages and dependencies come to about
// 100 MiB). The declarations both builds share are in types.go; every
// constructor here returns ErrNoCodec, so RTSP cameras fail at start-up with
// a clear error while synth:// cameras, which need no codec, work.

import "fmt"

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
