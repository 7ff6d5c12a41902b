package codec_test

import (
	"fmt"

	"github.com/parallax-robotics/parallax/camera/codec"
)

// Encode a frame to H.264 and decode it again, reusing one output image.
func Example() {
	enc, err := codec.NewEncoder(codec.EncoderConfig{Width: 64, Height: 48})
	if err != nil {
		panic(err)
	}
	defer enc.Close()
	dec, err := codec.NewDecoder(codec.H264)
	if err != nil {
		panic(err)
	}
	defer dec.Close()

	frame := &codec.RGB{Width: 64, Height: 48, Pix: make([]byte, 3*64*48)}
	au, err := enc.Encode(frame) // the first access unit is an IDR with SPS and PPS
	if err != nil {
		panic(err)
	}
	out := &codec.RGB{}
	img, err := dec.DecodeInto(au, out)
	if err != nil {
		panic(err)
	}
	fmt.Println(img == out, img.Width, img.Height, len(enc.SPS()) > 0)
	// Output: true 64 48 true
}
