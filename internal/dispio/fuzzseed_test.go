package dispio

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"testing"

	"github.com/parallax-robotics/parallax/internal/fuzzseed"
)

// TestFuzzSeeds builds the decoders' seed corpora from what the encoders
// write (a map with NaN, zero and fractional disparities) and from the
// 8-bit PNG layout of Middlebury's ground truth, the disparity files users
// bring; see internal/fuzzseed.
func TestFuzzSeeds(t *testing.T) {
	m := sample()
	enc := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pfm := fuzzseed.New(t, "FuzzDecodePFM")
	pfm.Add("sample", enc(EncodePFM(m)))
	pfm.Close()

	// An 8-bit disparity PNG in pixels, 0 unknown, like aloeGT.png.
	gt := image.NewGray(image.Rect(0, 0, 8, 4))
	for i := range gt.Pix {
		gt.Pix[i] = uint8(i * 7)
	}
	gt.SetGray(0, 0, color.Gray{})
	var b8 bytes.Buffer
	if err := png.Encode(&b8, gt); err != nil {
		t.Fatal(err)
	}
	pngs := fuzzseed.New(t, "FuzzDecodePNG")
	pngs.Add("kitti-16bit", enc(EncodeKITTIPNG(m)))
	pngs.Add("middlebury-8bit", b8.Bytes())
	pngs.Close()

	tiff := fuzzseed.New(t, "FuzzDecodeTIFF")
	tiff.Add("sample", enc(EncodeTIFF(m)))
	tiff.Close()
}
