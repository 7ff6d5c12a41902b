package codec

// The declarations both builds share: the libav one (codec.go, decoder.go,
// encoder.go, jpeg.go) and the nocodec stand-in (nocodec.go).

import (
	"errors"
	"fmt"
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
	// ErrNoCodec is returned by every constructor of a build with the
	// nocodec tag (nocodec.go; it wraps ErrUnsupported).
	ErrNoCodec = fmt.Errorf("%w: this binary was built with -tags nocodec, without libavcodec (no RTSP video decoding or encoding; synth:// cameras work)", ErrUnsupported)
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

// EncoderConfig configures an H.264 Encoder.
type EncoderConfig struct {
	// Width and Height of the frames in pixels. Both are required and must be
	// even (4:2:0 chroma).
	Width, Height int
	// FPS is the frame rate written into the stream's timing.
	// It defaults to 15.
	FPS int
	// GOP is the distance between keyframes (IDR pictures) in frames; a new
	// reader of a live stream waits up to this long for its first picture.
	// It defaults to FPS (one keyframe a second).
	GOP int
	// Bitrate is the target and maximum bit rate in bit/s.
	// It defaults to 0.2 bit per pixel per frame, at least 100 kbit/s
	// (640x480 at 15 fps: 922 kbit/s).
	Bitrate int
	// Profile is the highest H.264 profile the stream may use, "baseline" or
	// "main". x264 signals the lowest profile that fits the tools the preset
	// turns on: "ultrafast" (no CABAC) streams are baseline either way.
	// It defaults to "main".
	Profile string
	// Preset is the x264 speed preset, from "ultrafast" to "placebo".
	// It defaults to "superfast": CABAC and most of the quality of slower
	// presets at about 1.7 times the CPU time of "ultrafast" (3 ms a frame
	// at 640x480 here), since the encoder shares the CPU with the networks.
	Preset string
}

// setDefaults fills the zero fields and validates the rest.
func (cfg *EncoderConfig) setDefaults() error {
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width%2 != 0 || cfg.Height%2 != 0 ||
		cfg.Width > MaxDimension || cfg.Height > MaxDimension {
		return fmt.Errorf("%w: size %dx%d (want even, 2..%d)", ErrBadConfig, cfg.Width, cfg.Height, MaxDimension)
	}
	if cfg.FPS == 0 {
		cfg.FPS = 15
	}
	if cfg.FPS < 0 || cfg.FPS > 1000 {
		return fmt.Errorf("%w: FPS %d", ErrBadConfig, cfg.FPS)
	}
	if cfg.GOP == 0 {
		cfg.GOP = cfg.FPS
	}
	if cfg.GOP < 0 {
		return fmt.Errorf("%w: GOP %d", ErrBadConfig, cfg.GOP)
	}
	if cfg.Bitrate == 0 {
		cfg.Bitrate = max(cfg.Width*cfg.Height*cfg.FPS/5, 100_000)
	}
	if cfg.Bitrate < 0 {
		return fmt.Errorf("%w: bitrate %d", ErrBadConfig, cfg.Bitrate)
	}
	switch cfg.Profile {
	case "":
		cfg.Profile = "main"
	case "baseline", "main":
	default:
		return fmt.Errorf("%w: profile %q (want baseline or main)", ErrBadConfig, cfg.Profile)
	}
	switch cfg.Preset {
	case "":
		cfg.Preset = "superfast"
	case "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo":
	default:
		return fmt.Errorf("%w: preset %q", ErrBadConfig, cfg.Preset)
	}
	return nil
}

// DefaultJPEGQuality is the quality NewJPEGEncoder uses for 0.
const DefaultJPEGQuality = 85
