package msgs

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

var testStamp = time.Date(2026, 11, 26, 19, 0, 0, 123456789, time.UTC)

func TestDepthImageRoundTrip(t *testing.T) {
	const w, h = 5, 3
	depth := make([]float32, w*h)
	for i := range depth {
		depth[i] = float32(i)*0.25 + 0.5
	}
	depth[3] = 0                   // unknown
	depth[7] = float32(math.NaN()) // unknown
	depth[8] = math.MaxFloat32     // extreme but valid
	depth[9] = math.SmallestNonzeroFloat32

	img, err := DepthImage(testStamp, "left", w, h, depth)
	if err != nil {
		t.Fatal(err)
	}
	if img.Encoding != "32FC1" || img.Step != w*4 || img.Width != w || img.Height != h || img.FrameId != "left" {
		t.Fatalf("header: encoding %q step %d size %dx%d frame %q", img.Encoding, img.Step, img.Width, img.Height, img.FrameId)
	}
	if len(img.Data) != w*h*4 {
		t.Fatalf("data has %d bytes, want %d", len(img.Data), w*h*4)
	}
	// The wire format is little-endian float32, whatever the host.
	if got := math.Float32frombits(binary.LittleEndian.Uint32(img.Data[4*5:])); got != depth[5] {
		t.Fatalf("pixel 5 on the wire = %v, want %v", got, depth[5])
	}
	if !img.Timestamp.AsTime().Equal(testStamp) {
		t.Fatalf("timestamp %v, want %v", img.Timestamp.AsTime(), testStamp)
	}

	// Through the wire, as a subscriber sees it.
	b, err := proto.Marshal(img)
	if err != nil {
		t.Fatal(err)
	}
	var got foxglove.RawImage
	if err := proto.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	gw, gh, gd, err := DepthFromImage(&got)
	if err != nil {
		t.Fatal(err)
	}
	if gw != w || gh != h || len(gd) != len(depth) {
		t.Fatalf("decoded %dx%d with %d values", gw, gh, len(gd))
	}
	for i := range depth {
		if math.Float32bits(gd[i]) != math.Float32bits(depth[i]) {
			t.Errorf("pixel %d = %v, want %v (bit-exact)", i, gd[i], depth[i])
		}
	}
}

func TestDepthFromImagePaddedAndMillimetres(t *testing.T) {
	// 2x2 32FC1 with 4 bytes of padding a row.
	padded := &foxglove.RawImage{Width: 2, Height: 2, Encoding: "32FC1", Step: 12}
	for _, v := range [][3]float32{{1, 2, 99}, {3, 4, 99}} {
		padded.Data = AppendFloat32s(padded.Data, v[:])
	}
	_, _, d, err := DepthFromImage(padded)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{1, 2, 3, 4}; !equalF32(d, want) {
		t.Fatalf("padded 32FC1 = %v, want %v", d, want)
	}

	mm := &foxglove.RawImage{Width: 3, Height: 1, Encoding: "16UC1", Step: 6}
	for _, v := range []uint16{0, 1500, 65535} {
		mm.Data = binary.LittleEndian.AppendUint16(mm.Data, v)
	}
	_, _, d, err = DepthFromImage(mm)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float32{0, 1.5, 65.535}; !equalF32(d, want) {
		t.Fatalf("16UC1 = %v, want %v", d, want)
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDepthImageErrors(t *testing.T) {
	tests := []struct {
		name          string
		w, h          int
		n             int
		wantErr       error
		wantSubstring string
	}{
		{"too few values", 4, 3, 11, ErrSize, "11 values for 4x3 pixels, want 12"},
		{"too many values", 4, 3, 13, ErrSize, "13 values"},
		{"zero width", 0, 3, 0, ErrSize, "0x3 pixels"},
		{"negative height", 3, -1, 0, ErrSize, "3x-1 pixels"},
		{"huge", MaxImageSide + 1, 1, 0, ErrSize, "want 1 to 65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DepthImage(testStamp, "left", tt.w, tt.h, make([]float32, tt.n))
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantSubstring) {
				t.Fatalf("error %v, want %v containing %q", err, tt.wantErr, tt.wantSubstring)
			}
		})
	}
}

func TestDepthFromImageErrors(t *testing.T) {
	ok := func() *foxglove.RawImage {
		return &foxglove.RawImage{Width: 2, Height: 2, Encoding: "32FC1", Step: 8, Data: make([]byte, 16)}
	}
	tests := []struct {
		name          string
		mutate        func(*foxglove.RawImage) *foxglove.RawImage
		wantErr       error
		wantSubstring string
	}{
		{"nil", func(*foxglove.RawImage) *foxglove.RawImage { return nil }, ErrMissingField, "depth image"},
		{"rgb8", func(m *foxglove.RawImage) *foxglove.RawImage { m.Encoding = "rgb8"; return m }, ErrEncoding, `"rgb8" for depth`},
		{"empty encoding", func(m *foxglove.RawImage) *foxglove.RawImage { m.Encoding = ""; return m }, ErrEncoding, `""`},
		{"lower case", func(m *foxglove.RawImage) *foxglove.RawImage { m.Encoding = "32fc1"; return m }, ErrEncoding, "32fc1"},
		{"zero width", func(m *foxglove.RawImage) *foxglove.RawImage { m.Width = 0; return m }, ErrSize, "0x2 pixels"},
		{"huge height", func(m *foxglove.RawImage) *foxglove.RawImage { m.Height = math.MaxUint32; return m }, ErrSize, "want 1 to 65535"},
		{"short step", func(m *foxglove.RawImage) *foxglove.RawImage { m.Step = 7; return m }, ErrSize, "step 7 is less than width 2 x 4 bytes"},
		{"short data", func(m *foxglove.RawImage) *foxglove.RawImage { m.Data = m.Data[:15]; return m }, ErrSize, "needs 16 bytes of data, has 15"},
		{"long data", func(m *foxglove.RawImage) *foxglove.RawImage { m.Data = append(m.Data, 0); return m }, ErrSize, "has 17"},
		{"huge step", func(m *foxglove.RawImage) *foxglove.RawImage { m.Step = math.MaxUint32; return m }, ErrSize, "needs"},
		{"16UC1 odd data", func(m *foxglove.RawImage) *foxglove.RawImage {
			m.Encoding = "16UC1"
			m.Step = 4
			m.Data = m.Data[:7]
			return m
		}, ErrSize, "needs 8 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, d, err := DepthFromImage(tt.mutate(ok()))
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantSubstring) {
				t.Fatalf("error %v, want %v containing %q", err, tt.wantErr, tt.wantSubstring)
			}
			if d != nil {
				t.Fatalf("returned %d values with an error", len(d))
			}
		})
	}
}

func TestFrameImageRoundTrip(t *testing.T) {
	f := &Frame{Camera: "front", Stamp: testStamp, Width: 3, Height: 2, Pix: make([]byte, 18)}
	for i := range f.Pix {
		f.Pix[i] = byte(i * 13)
	}
	img, err := FrameImage(f)
	if err != nil {
		t.Fatal(err)
	}
	if img.Encoding != "rgb8" || img.Step != 9 || img.FrameId != "front" {
		t.Fatalf("encoding %q step %d frame %q", img.Encoding, img.Step, img.FrameId)
	}
	f.Pix[0] = 255 // the image must not alias the frame's buffer
	if img.Data[0] != 0 {
		t.Fatal("FrameImage aliases Frame.Pix")
	}
	f.Pix[0] = 0
	got, err := FrameFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	if got.Camera != "front" || !got.Stamp.Equal(testStamp) || got.Width != 3 || got.Height != 2 || string(got.Pix) != string(f.Pix) {
		t.Fatalf("round trip = %+v, want %+v", got, f)
	}
	if _, err := FrameImage(&Frame{Width: 2, Height: 2, Pix: make([]byte, 11)}); !errors.Is(err, ErrSize) {
		t.Fatalf("short Pix: error %v, want ErrSize", err)
	}
}

func TestFrameFromImageEncodings(t *testing.T) {
	// One 2x1 image in each encoding: a red pixel, then a grey-ish one.
	want := []byte{200, 10, 20, 7, 8, 9}
	tests := []struct {
		encoding string
		step     uint32
		data     []byte
		want     []byte
	}{
		{"rgb8", 6, []byte{200, 10, 20, 7, 8, 9}, want},
		{"bgr8", 7, []byte{20, 10, 200, 9, 8, 7, 0xee}, want}, // one byte of padding
		{"rgba8", 8, []byte{200, 10, 20, 255, 7, 8, 9, 0}, want},
		{"bgra8", 8, []byte{20, 10, 200, 255, 9, 8, 7, 0}, want},
		{"mono8", 2, []byte{50, 60}, []byte{50, 50, 50, 60, 60, 60}},
	}
	for _, tt := range tests {
		t.Run(tt.encoding, func(t *testing.T) {
			f, err := FrameFromImage(&foxglove.RawImage{Width: 2, Height: 1, Encoding: tt.encoding, Step: tt.step, Data: tt.data})
			if err != nil {
				t.Fatal(err)
			}
			if string(f.Pix) != string(tt.want) {
				t.Fatalf("Pix = %v, want %v", f.Pix, tt.want)
			}
			if f.Stamp != (time.Time{}) {
				t.Fatalf("unset timestamp became %v, want the zero time", f.Stamp)
			}
		})
	}
	for _, enc := range []string{"32FC1", "yuyv", "bayer_rggb8", "mono16"} {
		if _, err := FrameFromImage(&foxglove.RawImage{Width: 1, Height: 1, Encoding: enc, Step: 4, Data: make([]byte, 4)}); !errors.Is(err, ErrEncoding) {
			t.Errorf("%s: error %v, want ErrEncoding", enc, err)
		}
	}
	if _, err := FrameFromImage(nil); !errors.Is(err, ErrMissingField) {
		t.Errorf("nil: error %v, want ErrMissingField", err)
	}
}

func TestFloat32s(t *testing.T) {
	in := []float32{0, -1.5, float32(math.Inf(1)), 3e-39}
	got, err := Float32s(AppendFloat32s(nil, in))
	if err != nil || !equalF32(got, in) {
		t.Fatalf("round trip = %v, %v", got, err)
	}
	if _, err := Float32s(make([]byte, 7)); !errors.Is(err, ErrSize) {
		t.Fatalf("7 bytes: error %v, want ErrSize", err)
	}
}

// FuzzDepthFromImage feeds arbitrary image headers and data to the decoder:
// it must never panic, and what it accepts must agree with the header.
func FuzzDepthFromImage(f *testing.F) {
	seed, _ := DepthImage(testStamp, "left", 3, 2, []float32{1, 2, 3, 4, 5, 6})
	f.Add(seed.Width, seed.Height, seed.Step, seed.Encoding, seed.Data)
	f.Add(uint32(2), uint32(1), uint32(4), "16UC1", []byte{1, 2, 3, 4})
	f.Add(uint32(1), uint32(1), uint32(0), "32FC1", []byte{})
	f.Add(uint32(math.MaxUint32), uint32(math.MaxUint32), uint32(math.MaxUint32), "32FC1", []byte{1})
	f.Fuzz(func(t *testing.T, w, h, step uint32, enc string, data []byte) {
		img := &foxglove.RawImage{Width: w, Height: h, Step: step, Encoding: enc, Data: data}
		gw, gh, d, err := DepthFromImage(img)
		if err != nil {
			if !errors.Is(err, ErrSize) && !errors.Is(err, ErrEncoding) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if uint32(gw) != w || uint32(gh) != h || len(d) != gw*gh {
			t.Fatalf("decoded %dx%d with %d values from a %dx%d header", gw, gh, len(d), w, h)
		}
		if uint64(len(data)) != uint64(step)*uint64(h) {
			t.Fatalf("accepted %d bytes for step %d x height %d", len(data), step, h)
		}
		if enc == EncodingDepth && step == w*4 {
			// Unpadded 32FC1 re-encodes to the same bytes.
			img2, err := DepthImage(time.Time{}, "", gw, gh, d)
			if err != nil || string(img2.Data) != string(data) {
				t.Fatalf("re-encoding differs: %v", err)
			}
		}
	})
}

// FuzzFrameFromImage does the same for the colour decoder.
func FuzzFrameFromImage(f *testing.F) {
	f.Add(uint32(2), uint32(1), uint32(6), "rgb8", []byte{1, 2, 3, 4, 5, 6})
	f.Add(uint32(2), uint32(1), uint32(8), "bgra8", []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(uint32(3), uint32(1), uint32(3), "mono8", []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, w, h, step uint32, enc string, data []byte) {
		fr, err := FrameFromImage(&foxglove.RawImage{Width: w, Height: h, Step: step, Encoding: enc, Data: data})
		if err != nil {
			if !errors.Is(err, ErrSize) && !errors.Is(err, ErrEncoding) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if len(fr.Pix) != fr.Width*fr.Height*3 || uint32(fr.Width) != w || uint32(fr.Height) != h {
			t.Fatalf("frame %dx%d with %d bytes", fr.Width, fr.Height, len(fr.Pix))
		}
	})
}

func BenchmarkDepthImage(b *testing.B) {
	const w, h = 640, 192
	depth := make([]float32, w*h)
	for i := range depth {
		depth[i] = float32(i%1000) * 0.01
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(depth) * 4))
	for b.Loop() {
		if _, err := DepthImage(testStamp, "left", w, h, depth); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDepthFromImage(b *testing.B) {
	const w, h = 640, 192
	img, err := DepthImage(testStamp, "left", w, h, make([]float32, w*h))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(img.Data)))
	for b.Loop() {
		if _, _, _, err := DepthFromImage(img); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDepthMarshal is the whole publish path of one 640x192 depth map:
// pack and serialize.
func BenchmarkDepthMarshal(b *testing.B) {
	const w, h = 640, 192
	depth := make([]float32, w*h)
	b.ReportAllocs()
	b.SetBytes(int64(len(depth) * 4))
	for b.Loop() {
		img, err := DepthImage(testStamp, "left", w, h, depth)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := proto.Marshal(img); err != nil {
			b.Fatal(err)
		}
	}
}
