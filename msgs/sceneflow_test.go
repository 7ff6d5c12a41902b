package msgs

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

func TestSceneFlowRoundTrip(t *testing.T) {
	const w, h = 4, 2
	f := SceneFlowField{
		Stamp: testStamp, Next: testStamp.Add(time.Second / 30), FrameID: "left", Seq: 7,
		Width: w, Height: h, Flow: make([]float32, w*h*3), Depth: make([]float32, w*h),
		EgoMotionRemoved: true,
	}
	for i := range f.Flow {
		f.Flow[i] = float32(i) - 10
	}
	f.Flow[5] = float32(math.NaN())
	for i := range f.Depth {
		f.Depth[i] = float32(i) + 1
	}
	m, err := f.Proto()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Flow) != w*h*12 || len(m.Depth) != w*h*4 || len(m.Disparity) != 0 {
		t.Fatalf("packed sizes flow %d depth %d disparity %d", len(m.Flow), len(m.Depth), len(m.Disparity))
	}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back parallaxv1.SceneFlow
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	got, err := SceneFlowFromProto(&back)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Stamp.Equal(f.Stamp) || !got.Next.Equal(f.Next) || got.FrameID != "left" || got.Seq != 7 ||
		got.Width != w || got.Height != h || !got.EgoMotionRemoved || got.Disparity != nil {
		t.Fatalf("header round trip: %+v", got)
	}
	for i := range f.Flow {
		if math.Float32bits(got.Flow[i]) != math.Float32bits(f.Flow[i]) {
			t.Fatalf("flow[%d] = %v, want %v", i, got.Flow[i], f.Flow[i])
		}
	}
	if !equalF32(got.Depth, f.Depth) {
		t.Fatalf("depth = %v, want %v", got.Depth, f.Depth)
	}
}

func TestSceneFlowErrors(t *testing.T) {
	bad := []struct {
		name   string
		f      SceneFlowField
		substr string
	}{
		{"flow short", SceneFlowField{Width: 2, Height: 2, Flow: make([]float32, 11)}, "11 values for 2x2 pixels, want 12"},
		{"depth short", SceneFlowField{Width: 2, Height: 2, Flow: make([]float32, 12), Depth: make([]float32, 3)}, "depth"},
		{"disparity long", SceneFlowField{Width: 2, Height: 2, Flow: make([]float32, 12), Disparity: make([]float32, 5)}, "disparity"},
		{"empty", SceneFlowField{}, "0x0 pixels"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.f.Proto(); !errors.Is(err, ErrSize) || !strings.Contains(err.Error(), tt.substr) {
				t.Fatalf("error %v, want ErrSize containing %q", err, tt.substr)
			}
		})
	}
	msgs := []struct {
		name   string
		m      *parallaxv1.SceneFlow
		want   error
		substr string
	}{
		{"nil", nil, ErrMissingField, "scene flow"},
		{"no size", &parallaxv1.SceneFlow{}, ErrSize, "0x0"},
		{"flow short", &parallaxv1.SceneFlow{Width: 2, Height: 1, Flow: make([]byte, 23)}, ErrSize, "flow has 23 bytes, want 24"},
		{"depth short", &parallaxv1.SceneFlow{Width: 2, Height: 1, Flow: make([]byte, 24), Depth: make([]byte, 4)}, ErrSize, "depth has 4 bytes, want 8"},
		{"disparity odd", &parallaxv1.SceneFlow{Width: 2, Height: 1, Flow: make([]byte, 24), Disparity: make([]byte, 7)}, ErrSize, "disparity"},
	}
	for _, tt := range msgs {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := SceneFlowFromProto(tt.m); !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.substr) {
				t.Fatalf("error %v, want %v containing %q", err, tt.want, tt.substr)
			}
		})
	}
}

// FuzzSceneFlowFromProto decodes arbitrary serialized messages: never a
// panic, and accepted fields have the sizes the header promises.
func FuzzSceneFlowFromProto(f *testing.F) {
	seed := SceneFlowField{Stamp: testStamp, Width: 2, Height: 1, Flow: make([]float32, 6), Depth: []float32{1, 2}}
	m, err := seed.Proto()
	if err != nil {
		f.Fatal(err)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{0x1d, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m parallaxv1.SceneFlow
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		got, err := SceneFlowFromProto(&m)
		if err != nil {
			return
		}
		n := got.Width * got.Height
		if len(got.Flow) != 3*n || (got.Depth != nil && len(got.Depth) != n) || (got.Disparity != nil && len(got.Disparity) != n) {
			t.Fatalf("%dx%d field with %d/%d/%d values", got.Width, got.Height, len(got.Flow), len(got.Depth), len(got.Disparity))
		}
	})
}
