package dispio

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math"
)

// KITTIScale is KITTI's 16-bit PNG disparity scale: value = disparity*256.
const KITTIScale = 256

// DecodePNG decodes a disparity PNG: 16-bit grey in KITTI's convention
// (disparity*256), or 8-bit grey in pixels (Middlebury 2005/2006's and
// OpenCV's aloeGT.png at full size); 0 is unknown and becomes NaN.
func DecodePNG(data []byte) (Map, error) {
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return Map{}, fmt.Errorf("%w: PNG: %v", ErrFormat, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxPixels {
		return Map{}, fmt.Errorf("%w: PNG of %dx%d (at most %d pixels)", ErrFormat, cfg.Width, cfg.Height, MaxPixels)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return Map{}, fmt.Errorf("%w: PNG: %v", ErrFormat, err)
	}
	b := img.Bounds()
	m := Map{Width: b.Dx(), Height: b.Dy(), Data: make([]float32, b.Dx()*b.Dy())}
	nan := float32(math.NaN())
	set := func(i int, v uint16, scale float32) {
		if v == 0 {
			m.Data[i] = nan
		} else {
			m.Data[i] = float32(v) / scale
		}
	}
	switch g := img.(type) {
	case *image.Gray16:
		for y := 0; y < m.Height; y++ {
			for x := 0; x < m.Width; x++ {
				set(y*m.Width+x, g.Gray16At(b.Min.X+x, b.Min.Y+y).Y, KITTIScale)
			}
		}
	case *image.Gray:
		for y := 0; y < m.Height; y++ {
			for x := 0; x < m.Width; x++ {
				set(y*m.Width+x, uint16(g.GrayAt(b.Min.X+x, b.Min.Y+y).Y), 1)
			}
		}
	default:
		return Map{}, fmt.Errorf("%w: PNG of colour model %T: a disparity PNG is 16-bit grey (KITTI, disparity*256) or 8-bit grey (pixels)", ErrFormat, img)
	}
	return m, nil
}

// EncodeKITTIPNG encodes a disparity map as KITTI's 16-bit PNG
// (round(d*256), 0 = unknown): NaN and disparities of 0 or less become 0,
// disparities above 255.99 are clipped to the largest value the format
// holds.
func EncodeKITTIPNG(m Map) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	img := image.NewGray16(image.Rect(0, 0, m.Width, m.Height))
	for i, v := range m.Data {
		var q uint16
		if v > 0 {
			q = uint16(math.Min(math.Max(math.Round(float64(v)*KITTIScale), 1), math.MaxUint16))
		}
		img.Pix[2*i], img.Pix[2*i+1] = byte(q>>8), byte(q)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode decodes a PFM or a disparity PNG, by its first bytes.
func Decode(data []byte) (Map, error) {
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG")):
		return DecodePNG(data)
	case bytes.HasPrefix(data, []byte("Pf")), bytes.HasPrefix(data, []byte("PF")):
		return DecodePFM(data)
	}
	return Map{}, fmt.Errorf("%w: neither a PFM (Pf/PF) nor a PNG", ErrFormat)
}
