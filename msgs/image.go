package msgs

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

// Image encodings (ROS sensor_msgs/image_encodings names, as Foxglove uses them).
const (
	// EncodingDepth is what Parallax publishes depth in: one little-endian
	// float32 a pixel, z-depth in metres, 0 or NaN where unknown.
	EncodingDepth = "32FC1"
	// EncodingDepthMM is the depth encoding of many RGB-D cameras (REP 118):
	// one little-endian uint16 a pixel, z-depth in millimetres, 0 where
	// unknown. DepthFromImage reads it.
	EncodingDepthMM = "16UC1"
	// EncodingRGB8 is packed 8-bit RGB, the layout of Frame.Pix.
	EncodingRGB8 = "rgb8"
	// EncodingBGR8 is packed 8-bit BGR (OpenCV's order).
	EncodingBGR8 = "bgr8"
	// EncodingRGBA8 is packed 8-bit RGBA.
	EncodingRGBA8 = "rgba8"
	// EncodingBGRA8 is packed 8-bit BGRA.
	EncodingBGRA8 = "bgra8"
	// EncodingMono8 is 8-bit grey.
	EncodingMono8 = "mono8"
)

// MaxImageSide is the largest width or height the image decoders accept. It
// keeps size arithmetic far from overflow with any fixed32 input; real
// cameras are far below it.
const MaxImageSide = 1<<16 - 1

// DepthImage packs a depth map (width*height z-depths in metres, row-major)
// into a foxglove.RawImage with encoding 32FC1, step width*4 and
// little-endian float32 data, the form Parallax publishes on
// <ns>.<camera>.depth. frameID is the camera's optical frame.
func DepthImage(stamp time.Time, frameID string, width, height int, depth []float32) (*foxglove.RawImage, error) {
	if err := checkDims(width, height, len(depth), 1); err != nil {
		return nil, fmt.Errorf("depth image: %w", err)
	}
	return &foxglove.RawImage{
		Timestamp: Timestamp(stamp),
		FrameId:   frameID,
		Width:     uint32(width),
		Height:    uint32(height),
		Encoding:  EncodingDepth,
		Step:      uint32(width * 4),
		Data:      AppendFloat32s(make([]byte, 0, len(depth)*4), depth),
	}, nil
}

// DepthFromImage unpacks a depth image into width*height z-depths in metres,
// row-major, dropping any row padding. It reads encodings 32FC1 (metres) and
// 16UC1 (millimetres, 0 = unknown). Any other encoding returns ErrEncoding;
// sizes that disagree (width, height, step, data length) return ErrSize.
func DepthFromImage(img *foxglove.RawImage) (width, height int, depth []float32, err error) {
	if img == nil {
		return 0, 0, nil, fmt.Errorf("%w: depth image", ErrMissingField)
	}
	var bpp int
	switch img.GetEncoding() {
	case EncodingDepth:
		bpp = 4
	case EncodingDepthMM:
		bpp = 2
	default:
		return 0, 0, nil, fmt.Errorf("%w %q for depth: want %s (metres) or %s (millimetres)",
			ErrEncoding, img.GetEncoding(), EncodingDepth, EncodingDepthMM)
	}
	w, h, step, err := checkRaw(img, bpp)
	if err != nil {
		return 0, 0, nil, err
	}
	depth = make([]float32, w*h)
	data := img.GetData()
	for y := 0; y < h; y++ {
		row := data[y*step : y*step+w*bpp]
		out := depth[y*w : (y+1)*w]
		if bpp == 4 {
			for x := range out {
				out[x] = math.Float32frombits(binary.LittleEndian.Uint32(row[4*x:]))
			}
		} else {
			for x := range out {
				out[x] = float32(binary.LittleEndian.Uint16(row[2*x:])) / 1000
			}
		}
	}
	return w, h, depth, nil
}

// FrameImage packs a frame's pixels into a foxglove.RawImage with encoding
// rgb8; the frame_id is the camera name, the stamp the capture time.
func FrameImage(f *Frame) (*foxglove.RawImage, error) {
	if f == nil {
		return nil, fmt.Errorf("%w: frame", ErrMissingField)
	}
	if err := checkDims(f.Width, f.Height, len(f.Pix), 3); err != nil {
		return nil, fmt.Errorf("frame %q: %w", f.Camera, err)
	}
	return &foxglove.RawImage{
		Timestamp: Timestamp(f.Stamp),
		FrameId:   f.Camera,
		Width:     uint32(f.Width),
		Height:    uint32(f.Height),
		Encoding:  EncodingRGB8,
		Step:      uint32(f.Width * 3),
		Data:      append([]byte(nil), f.Pix...),
	}, nil
}

// FrameFromImage unpacks a raw colour or grey image into a Frame with packed
// RGB pixels: Camera is the frame_id, Stamp the timestamp; Seq, Intrinsics
// and Truth are left empty. It reads rgb8, bgr8, rgba8, bgra8 (alpha
// dropped) and mono8 (grey copied to all three channels).
func FrameFromImage(img *foxglove.RawImage) (*Frame, error) {
	if img == nil {
		return nil, fmt.Errorf("%w: image", ErrMissingField)
	}
	// r, g, b are the byte offsets of the channels within a pixel of bpp bytes.
	var bpp, r, g, b int
	switch img.GetEncoding() {
	case EncodingRGB8:
		bpp, r, g, b = 3, 0, 1, 2
	case EncodingBGR8:
		bpp, r, g, b = 3, 2, 1, 0
	case EncodingRGBA8:
		bpp, r, g, b = 4, 0, 1, 2
	case EncodingBGRA8:
		bpp, r, g, b = 4, 2, 1, 0
	case EncodingMono8:
		bpp, r, g, b = 1, 0, 0, 0
	default:
		return nil, fmt.Errorf("%w %q for a colour frame: want rgb8, bgr8, rgba8, bgra8 or mono8",
			ErrEncoding, img.GetEncoding())
	}
	w, h, step, err := checkRaw(img, bpp)
	if err != nil {
		return nil, err
	}
	stamp, err := Time(img.GetTimestamp())
	if err != nil {
		return nil, err
	}
	pix := make([]byte, w*h*3)
	data := img.GetData()
	for y := 0; y < h; y++ {
		row := data[y*step : y*step+w*bpp]
		out := pix[y*w*3 : (y+1)*w*3]
		if bpp == 3 && r == 0 {
			copy(out, row)
			continue
		}
		for x := 0; x < w; x++ {
			p := row[x*bpp:]
			out[3*x], out[3*x+1], out[3*x+2] = p[r], p[g], p[b]
		}
	}
	return &Frame{Camera: img.GetFrameId(), Stamp: stamp, Width: w, Height: h, Pix: pix}, nil
}

// checkDims checks the sizes of an image to be encoded: n values, per
// values a pixel.
func checkDims(width, height, n, per int) error {
	if width <= 0 || height <= 0 || width > MaxImageSide || height > MaxImageSide {
		return fmt.Errorf("%w: %dx%d pixels, want 1 to %d each way", ErrSize, width, height, MaxImageSide)
	}
	if n != width*height*per {
		return fmt.Errorf("%w: %d values for %dx%d pixels, want %d", ErrSize, n, width, height, width*height*per)
	}
	return nil
}

// checkRaw checks the sizes of a received image with bpp bytes a pixel and
// returns them as ints. ROS and Foxglove require len(data) == step*height.
func checkRaw(img *foxglove.RawImage, bpp int) (w, h, step int, err error) {
	w, h, step = int(img.GetWidth()), int(img.GetHeight()), int(img.GetStep())
	if w == 0 || h == 0 || w > MaxImageSide || h > MaxImageSide {
		return 0, 0, 0, fmt.Errorf("%w: %s image of %dx%d pixels, want 1 to %d each way",
			ErrSize, img.GetEncoding(), w, h, MaxImageSide)
	}
	if step < w*bpp {
		return 0, 0, 0, fmt.Errorf("%w: %s image step %d is less than width %d x %d bytes",
			ErrSize, img.GetEncoding(), step, w, bpp)
	}
	if n := len(img.GetData()); n != step*h {
		return 0, 0, 0, fmt.Errorf("%w: %s image %dx%d with step %d needs %d bytes of data, has %d",
			ErrSize, img.GetEncoding(), w, h, step, step*h, n)
	}
	return w, h, step, nil
}

// AppendFloat32s appends v to dst as little-endian IEEE-754 float32 values,
// the packing of every float array in the contract.
func AppendFloat32s(dst []byte, v []float32) []byte {
	for _, f := range v {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
	}
	return dst
}

// Float32s unpacks little-endian float32 values; a length that is not a
// multiple of 4 returns ErrSize.
func Float32s(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of float32 values", ErrSize, len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}
