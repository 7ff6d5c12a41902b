package codec_test

import (
	"fmt"
	"testing"

	"github.com/parallax-robotics/parallax/camera/codec"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/internal/fuzzseed"
)

// TestFuzzSeeds builds the seed corpora of FuzzDecode and FuzzSplitAnnexB
// from what cameras send: frames of a small synthetic world encoded by the
// package's H.264 encoder (the one `parallax camera serve` streams with) as
// Annex B access units, and as JPEG; see internal/fuzzseed.
func TestFuzzSeeds(t *testing.T) {
	w, err := synth.NewWorld(synth.Config{Seed: 5, Width: 64, Height: 48, Style: synth.StyleUrban})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := codec.NewEncoder(codec.EncoderConfig{Width: 64, Height: 48, GOP: 2, Preset: "ultrafast"})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	jpg, err := codec.NewJPEGEncoder(50)
	if err != nil {
		t.Fatal(err)
	}
	defer jpg.Close()
	decode := fuzzseed.New(t, "FuzzDecode")
	split := fuzzseed.New(t, "FuzzSplitAnnexB")
	for i := range 3 {
		left, _ := w.Render(i)
		img := &codec.RGB{Width: left.Width, Height: left.Height, Pix: left.Pix}
		au, err := enc.Encode(img)
		if err != nil {
			t.Fatal(err)
		}
		if len(au) == 0 {
			t.Fatalf("frame %d: no access unit", i)
		}
		var b []byte
		for _, n := range au {
			b = append(append(b, 0, 0, 0, 1), n...)
		}
		name := fmt.Sprintf("synth-h264-%d", i)
		decode.Add(name, byte(codec.H264), b)
		split.Add(name, b)
		if i == 0 {
			j, err := jpg.Encode(img)
			if err != nil {
				t.Fatal(err)
			}
			decode.Add("synth-jpeg", byte(codec.MJPEG), j)
		}
	}
	decode.Close()
	split.Close()
}
