package dispio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image/png"
	"math"
	"testing"
)

func sample() Map {
	m := Map{Width: 5, Height: 3, Data: make([]float32, 15)}
	for i := range m.Data {
		m.Data[i] = float32(i)*1.25 + 0.5
	}
	m.Data[3] = float32(math.NaN())
	m.Data[7] = float32(math.Inf(1))
	return m
}

func same(a, b float32) bool {
	return a == b || (math.IsNaN(float64(a)) && math.IsNaN(float64(b)))
}

func TestPFMRoundTrip(t *testing.T) {
	m := sample()
	data, err := EncodePFM(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("Pf\n5 3\n-1\n")) {
		t.Fatalf("header %q", data[:12])
	}
	// Middlebury's convention: the first row stored is the image's bottom
	// row, little endian for a negative scale.
	first := math.Float32frombits(binary.LittleEndian.Uint32(data[len("Pf\n5 3\n-1\n"):]))
	if first != m.Data[10] {
		t.Errorf("first stored value %g, want the bottom row's first %g", first, m.Data[10])
	}
	got, err := DecodePFM(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Width != 5 || got.Height != 3 {
		t.Fatalf("size %dx%d", got.Width, got.Height)
	}
	for i := range m.Data {
		if !same(got.Data[i], m.Data[i]) {
			t.Errorf("value %d: %g, want %g", i, got.Data[i], m.Data[i])
		}
	}
}

// A big-endian colour PFM as other tools write it: the first channel is
// kept, rows flipped back.
func TestPFMBigEndianColour(t *testing.T) {
	var buf bytes.Buffer
	buf.WriteString("PF\n2 2\n1.0\n")
	// Stored bottom row first: (0,1) (1,1) then (0,0) (1,0).
	for _, v := range []float32{3, 4, 1, 2} {
		for c := 0; c < 3; c++ {
			_ = binary.Write(&buf, binary.BigEndian, v+float32(10*c))
		}
	}
	m, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 2, 3, 4}
	for i, w := range want {
		if m.Data[i] != w {
			t.Errorf("value %d: %g, want %g", i, m.Data[i], w)
		}
	}
}

func TestPFMErrors(t *testing.T) {
	for _, c := range []struct{ name, data string }{
		{"empty", ""},
		{"magic", "P6\n1 1\n-1\n...."},
		{"size", "Pf\n0 1\n-1\n"},
		{"huge", "Pf\n100000 100000\n-1\n"},
		{"scale", "Pf\n1 1\nx\n...."},
		{"zero scale", "Pf\n1 1\n0\n...."},
		{"short", "Pf\n2 2\n-1\n1234"},
	} {
		if _, err := DecodePFM([]byte(c.data)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", c.name, err)
		}
	}
	if _, err := EncodePFM(Map{Width: 2, Height: 2, Data: make([]float32, 3)}); !errors.Is(err, ErrSize) {
		t.Errorf("encoding a short map: %v", err)
	}
}

func TestKITTIPNGRoundTrip(t *testing.T) {
	m := Map{Width: 4, Height: 2, Data: []float32{0.5, 12.25, float32(math.NaN()), -1, 255.5, 300, 1.0 / 256, 77.125}}
	data, err := EncodeKITTIPNG(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	want := []float32{0.5, 12.25, nan, nan, 255.5, 65535.0 / 256, 1.0 / 256, 77.125}
	for i := range want {
		if !same(got.Data[i], want[i]) {
			t.Errorf("value %d: %g, want %g", i, got.Data[i], want[i])
		}
	}
}

func TestScore(t *testing.T) {
	nan := float32(math.NaN())
	gt := Map{Width: 6, Height: 1, Data: []float32{10, 10, 10, 100, nan, 10}}
	est := Map{Width: 6, Height: 1, Data: []float32{10.5, 11.5, 12.5, 104, 3, nan}}
	s, err := Score(est, gt, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Known: 5 pixels; estimated: 4 with errors 0.5 1.5 2.5 4.
	if s.Pixels != 5 || math.Abs(s.Density-0.8) > 1e-12 {
		t.Errorf("pixels %d density %g", s.Pixels, s.Density)
	}
	if math.Abs(s.EPE-8.5/4) > 1e-6 || s.Bad1 != 0.75 || s.Bad2 != 0.5 || s.Bad3 != 0.25 {
		t.Errorf("EPE %g bad1 %g bad2 %g bad3 %g", s.EPE, s.Bad1, s.Bad2, s.Bad3)
	}
	// 4 px on 100 is under 5 %: not a D1 outlier; the missing pixel is.
	if math.Abs(s.D1All-0.2) > 1e-12 || math.Abs(s.Bad2All-0.6) > 1e-12 {
		t.Errorf("D1-all %g bad2-all %g", s.D1All, s.Bad2All)
	}
	s, err = Score(est, gt, []bool{true, false, false, false, false, false})
	if err != nil || s.Pixels != 1 || s.Bad1 != 0 {
		t.Errorf("masked: %+v %v", s, err)
	}
	if _, err := Score(est, Map{Width: 3, Height: 2, Data: gt.Data}, nil); !errors.Is(err, ErrSize) {
		t.Errorf("sizes differ: %v", err)
	}
}

func TestPreview(t *testing.T) {
	m := Map{Width: 64, Height: 20, Data: make([]float32, 64*20)}
	for i := range m.Data {
		m.Data[i] = float32(i % 64)
	}
	m.Data[0] = float32(math.NaN())
	data, err := Preview(m, 0, 63, "px", false)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() <= 20 {
		t.Fatalf("preview %v, want 64 wide and taller than the map (the scale bar)", b)
	}
	r, g, b, _ := img.At(0, 0).RGBA()
	if r != 0 || g != 0 || b != 0 {
		t.Errorf("unknown pixel %d %d %d, want black", r, g, b)
	}
	// Low values are blue, high ones red, in the map and on its bar.
	for _, y := range []int{5, 20 + 4} {
		lr, _, lb, _ := img.At(1, y).RGBA()
		hr, _, hb, _ := img.At(63, y).RGBA()
		if !(lb > lr && hr > hb) {
			t.Errorf("row %d: low (r %d b %d), high (r %d b %d): want blue to red", y, lr, lb, hr, hb)
		}
	}
}

func FuzzDecodePFM(f *testing.F) {
	good, _ := EncodePFM(sample())
	f.Add(good)
	f.Add([]byte("PF\n1 1\n1\n000000000000"))
	f.Add([]byte("Pf\n3 1\n-1.5\n\x00\x00\x80\x7f"))
	f.Add([]byte("Pf 2 2 -1 "))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodePFM(data)
		if err != nil {
			return
		}
		again, err := EncodePFM(m)
		if err != nil {
			t.Fatalf("re-encoding a decoded %dx%d map: %v", m.Width, m.Height, err)
		}
		back, err := DecodePFM(again)
		if err != nil {
			t.Fatal(err)
		}
		for i := range m.Data {
			if math.Float32bits(back.Data[i]) != math.Float32bits(m.Data[i]) {
				t.Fatalf("value %d changed in a round trip", i)
			}
		}
	})
}

func FuzzDecodePNG(f *testing.F) {
	good, _ := EncodeKITTIPNG(sample())
	f.Add(good)
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err == nil && len(m.Data) != m.Width*m.Height {
			t.Fatalf("%d values for %dx%d", len(m.Data), m.Width, m.Height)
		}
	})
}

func TestTIFFRoundTrip(t *testing.T) {
	m := sample()
	data, err := EncodeTIFF(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeTIFF(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Width != m.Width || got.Height != m.Height {
		t.Fatalf("size %dx%d", got.Width, got.Height)
	}
	for i := range m.Data {
		if !same(got.Data[i], m.Data[i]) {
			t.Errorf("value %d: %g, want %g", i, got.Data[i], m.Data[i])
		}
	}
	bad := append([]byte(nil), data...)
	bad[8+2+12*10+8] = 1 // SampleFormat 1: unsigned integers
	if _, err := DecodeTIFF(bad); !errors.Is(err, ErrFormat) {
		t.Errorf("integer TIFF: %v", err)
	}
	if _, err := DecodeTIFF(data[:40]); !errors.Is(err, ErrFormat) {
		t.Errorf("cut TIFF: %v", err)
	}
}

func FuzzDecodeTIFF(f *testing.F) {
	good, _ := EncodeTIFF(sample())
	f.Add(good)
	f.Add([]byte("II*\x00\x08\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeTIFF(data)
		if err == nil && len(m.Data) != m.Width*m.Height {
			t.Fatalf("%d values for %dx%d", len(m.Data), m.Width, m.Height)
		}
	})
}
