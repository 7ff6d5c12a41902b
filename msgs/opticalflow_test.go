package msgs

import (
	"errors"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

func TestOpticalFlowRoundTrip(t *testing.T) {
	const w, h = 3, 2
	f := OpticalFlowField{Stamp: testStamp, Next: testStamp.Add(time.Second / 10), FrameID: "left", Seq: 4, Width: w, Height: h, Flow: make([]float32, 2*w*h)}
	for i := range f.Flow {
		f.Flow[i] = float32(i) - 5.5
	}
	f.Flow[3] = float32(math.NaN())
	m, err := f.Proto()
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back parallaxv1.OpticalFlow
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	got, err := OpticalFlowFromProto(&back)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Stamp.Equal(f.Stamp) || !got.Next.Equal(f.Next) || got.FrameID != "left" || got.Seq != 4 || got.Width != w || got.Height != h {
		t.Fatalf("header round trip: %+v", got)
	}
	for i := range f.Flow {
		if math.Float32bits(got.Flow[i]) != math.Float32bits(f.Flow[i]) {
			t.Fatalf("flow[%d] = %v, want %v", i, got.Flow[i], f.Flow[i])
		}
	}
	if _, err := (&OpticalFlowField{Width: 2, Height: 2, Flow: make([]float32, 7)}).Proto(); !errors.Is(err, ErrSize) {
		t.Fatalf("short flow: error %v, want ErrSize", err)
	}
	back.Flow = back.Flow[:len(back.Flow)-8]
	if _, err := OpticalFlowFromProto(&back); !errors.Is(err, ErrSize) {
		t.Fatalf("truncated message: error %v, want ErrSize", err)
	}
	if _, err := OpticalFlowFromProto(nil); !errors.Is(err, ErrMissingField) {
		t.Fatalf("nil message: error %v, want ErrMissingField", err)
	}
}

// The colour wheel: no motion is white, unknown black, the longest vector
// fully saturated, right red, left cyan, down between yellow and green.
func TestFlowImage(t *testing.T) {
	nan := float32(math.NaN())
	f := &OpticalFlowField{Stamp: testStamp, FrameID: "left", Width: 5, Height: 1,
		Flow: []float32{0, 0, nan, nan, 4, 0, -4, 0, 0, 2}}
	img, err := FlowImage(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	if img.Encoding != "rgb8" || img.Width != 5 || img.Height != 1 || img.Step != 15 || len(img.Data) != 15 {
		t.Fatalf("image %s %dx%d step %d, %d bytes", img.Encoding, img.Width, img.Height, img.Step, len(img.Data))
	}
	px := func(i int) [3]byte { return [3]byte{img.Data[3*i], img.Data[3*i+1], img.Data[3*i+2]} }
	for i, want := range [][3]byte{{255, 255, 255}, {0, 0, 0}, {255, 0, 0}, {0, 255, 255}} {
		if got := px(i); got != want {
			t.Errorf("pixel %d = %v, want %v", i, got, want)
		}
	}
	// Down, half the longest: half-saturated yellow-green (hue 90°).
	if got := px(4); got[1] != 255 || got[2] != 128 || got[0] < 150 || got[0] > 200 {
		t.Errorf("pixel 4 (down) = %v", got)
	}
	if _, err := FlowImage(&OpticalFlowField{Width: 1, Height: 1, Flow: []float32{1}}, 0); !errors.Is(err, ErrSize) {
		t.Fatalf("short flow: error %v", err)
	}
}
