package codec

import (
	"bytes"
	"errors"
	"image/jpeg"
	"slices"
	"sync"
	"testing"
)

// TestResolutionChange switches the stream's size mid-way; the decoder must
// follow (libswscale context rebuilt) without an error.
func TestResolutionChange(t *testing.T) {
	sizes := [][2]int{{320, 240}, {640, 480}, {160, 96}, {320, 240}}
	t.Run("H264", func(t *testing.T) {
		d, err := NewDecoder(H264)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		for _, sz := range sizes {
			srcs, aus := encodedStream(t, sz[0], sz[1], 3, 3)
			for i, au := range aus {
				img, err := d.Decode(au)
				if err != nil || img == nil {
					t.Fatalf("%v frame %d: %v, %v", sz, i, img != nil, err)
				}
				if img.Width != sz[0] || img.Height != sz[1] {
					t.Fatalf("%v frame %d: decoded %dx%d", sz, i, img.Width, img.Height)
				}
				if p := psnr(t, srcs[i].Pix, img.Pix); p < 35 {
					t.Fatalf("%v frame %d: PSNR %.1f dB", sz, i, p)
				}
			}
		}
	})
	t.Run("MJPEG", func(t *testing.T) {
		d, err := NewDecoder(MJPEG)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		j, err := NewJPEGEncoder(95)
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		dst := &RGB{}
		for _, sz := range sizes {
			src := gradientFrame(sz[0], sz[1], 1)
			b, err := j.Encode(src)
			if err != nil {
				t.Fatal(err)
			}
			img, err := d.DecodeInto([][]byte{b}, dst)
			if err != nil || img != dst {
				t.Fatalf("%v: %v, %v", sz, img, err)
			}
			if img.Width != sz[0] || img.Height != sz[1] || len(img.Pix) != 3*sz[0]*sz[1] {
				t.Fatalf("%v: decoded %dx%d with %d bytes", sz, img.Width, img.Height, len(img.Pix))
			}
			if p := psnr(t, src.Pix, img.Pix); p < 35 {
				t.Fatalf("%v: PSNR %.1f dB", sz, p)
			}
		}
	})
}

func TestDecodeIntoReusesBuffer(t *testing.T) {
	_, aus := encodedStream(t, 320, 240, 3, 3)
	d, err := NewDecoder(H264)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	big := make([]byte, 3*640*480)
	dst := &RGB{Pix: big}
	img, err := d.DecodeInto(aus[0], dst)
	if err != nil || img != dst {
		t.Fatalf("%v, %v", img, err)
	}
	if &dst.Pix[0] != &big[0] || len(dst.Pix) != 3*320*240 {
		t.Errorf("a large enough buffer was not reused: len %d", len(dst.Pix))
	}
	small := &RGB{Pix: make([]byte, 10)}
	if img, err = d.DecodeInto(aus[1], small); err != nil || img != small || len(small.Pix) != 3*320*240 {
		t.Fatalf("small buffer: %v, len %d", err, len(small.Pix))
	}
	// Decode hands out fresh images: an earlier one stays intact.
	a, err := d.Decode(aus[2])
	if err != nil || a == nil {
		t.Fatal(err)
	}
	if &a.Pix[0] == &small.Pix[0] || &a.Pix[0] == &big[0] {
		t.Error("Decode returned a buffer it had handed out before")
	}
}

func TestClose(t *testing.T) {
	_, aus := encodedStream(t, 160, 96, 2, 2)
	d, err := NewDecoder(H264)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	d.Close()
	if _, err := d.Decode(aus[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("Decode after Close: %v, want ErrClosed", err)
	}
	if _, err := d.Drain(); !errors.Is(err, ErrClosed) {
		t.Errorf("Drain after Close: %v, want ErrClosed", err)
	}
	e, err := NewEncoder(EncoderConfig{Width: 160, Height: 96})
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	e.Close()
	if _, err := e.Encode(gradientFrame(160, 96, 0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Encode after Close: %v, want ErrClosed", err)
	}
	j, err := NewJPEGEncoder(0)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	j.Close()
	if _, err := j.Encode(gradientFrame(160, 96, 0)); !errors.Is(err, ErrClosed) {
		t.Errorf("JPEG Encode after Close: %v, want ErrClosed", err)
	}
}

// TestCloseWhileDecoding closes a decoder that another goroutine keeps
// using: it must neither crash nor race (run with -race).
func TestCloseWhileDecoding(t *testing.T) {
	_, aus := encodedStream(t, 320, 240, 8, 4)
	for round := 0; round < 5; round++ {
		d, err := NewDecoder(H264)
		if err != nil {
			t.Fatal(err)
		}
		started := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				_, err := d.Decode(aus[i%len(aus)])
				if i == 0 {
					close(started)
				}
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("decode %d: %v", i, err)
					return
				}
			}
		}()
		<-started
		d.Close()
		wg.Wait()
	}
}

func TestNewDecoderUnsupported(t *testing.T) {
	for _, c := range []Codec{0, 4, -1} {
		if _, err := NewDecoder(c); !errors.Is(err, ErrUnsupported) {
			t.Errorf("NewDecoder(%v): %v, want ErrUnsupported", c, err)
		}
	}
}

func TestCodecString(t *testing.T) {
	for c, want := range map[Codec]string{H264: "H264", H265: "H265", MJPEG: "MJPEG", 9: "Codec(9)"} {
		if got := c.String(); got != want {
			t.Errorf("%d: %q, want %q", int(c), got, want)
		}
	}
}

func TestEncoderConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  EncoderConfig
		want EncoderConfig // zero: an error is expected
	}{
		{"defaults", EncoderConfig{Width: 640, Height: 480},
			EncoderConfig{Width: 640, Height: 480, FPS: 15, GOP: 15, Bitrate: 921_600, Profile: "main", Preset: "superfast"}},
		{"small gets the minimum bitrate", EncoderConfig{Width: 64, Height: 48, FPS: 30},
			EncoderConfig{Width: 64, Height: 48, FPS: 30, GOP: 30, Bitrate: 100_000, Profile: "main", Preset: "superfast"}},
		{"explicit", EncoderConfig{Width: 320, Height: 96, FPS: 10, GOP: 3, Bitrate: 500_000, Profile: "baseline", Preset: "ultrafast"},
			EncoderConfig{Width: 320, Height: 96, FPS: 10, GOP: 3, Bitrate: 500_000, Profile: "baseline", Preset: "ultrafast"}},
		{"odd width", EncoderConfig{Width: 641, Height: 480}, EncoderConfig{}},
		{"zero height", EncoderConfig{Width: 640}, EncoderConfig{}},
		{"huge", EncoderConfig{Width: 1 << 20, Height: 2}, EncoderConfig{}},
		{"negative FPS", EncoderConfig{Width: 64, Height: 48, FPS: -1}, EncoderConfig{}},
		{"negative GOP", EncoderConfig{Width: 64, Height: 48, GOP: -1}, EncoderConfig{}},
		{"negative bitrate", EncoderConfig{Width: 64, Height: 48, Bitrate: -1}, EncoderConfig{}},
		{"high profile", EncoderConfig{Width: 64, Height: 48, Profile: "high"}, EncoderConfig{}},
		{"unknown preset", EncoderConfig{Width: 64, Height: 48, Preset: "warp"}, EncoderConfig{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewEncoder(tt.cfg)
			if tt.want == (EncoderConfig{}) {
				if !errors.Is(err, ErrBadConfig) {
					t.Fatalf("got %v, want ErrBadConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			if got := e.Config(); got != tt.want {
				t.Errorf("config %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEncodeBadImage(t *testing.T) {
	e, err := NewEncoder(EncoderConfig{Width: 64, Height: 48})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	j, err := NewJPEGEncoder(0)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	tests := []struct {
		name string
		img  *RGB
		jpeg bool // also bad for the JPEG encoder
	}{
		{"nil", nil, true},
		{"short Pix", &RGB{Width: 64, Height: 48, Pix: make([]byte, 100)}, true},
		{"zero size", &RGB{Pix: make([]byte, 100)}, true},
		{"negative size", &RGB{Width: -64, Height: -48, Pix: make([]byte, 100)}, true},
		{"other size", gradientFrame(32, 48, 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.Encode(tt.img); !errors.Is(err, ErrBadImage) {
				t.Errorf("Encode: %v, want ErrBadImage", err)
			}
			_, err := j.Encode(tt.img)
			if tt.jpeg && !errors.Is(err, ErrBadImage) {
				t.Errorf("JPEG: %v, want ErrBadImage", err)
			}
			if !tt.jpeg && err != nil {
				t.Errorf("JPEG: %v", err)
			}
		})
	}
}

// TestJPEGEncoder checks the JPEG output with Go's own decoder, an
// implementation independent of libavcodec, and quality against size.
func TestJPEGEncoder(t *testing.T) {
	src := gradientFrame(320, 240, 3)
	var sizes []int
	for _, tt := range []struct {
		quality int
		minPSNR float64
	}{{30, 30}, {85, 36}, {100, 39}} {
		b, err := EncodeJPEG(src, tt.quality)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(b))
		im, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("quality %d: image/jpeg: %v", tt.quality, err)
		}
		if r := im.Bounds(); r.Dx() != 320 || r.Dy() != 240 {
			t.Fatalf("quality %d: %v", tt.quality, r)
		}
		got := make([]byte, 0, len(src.Pix))
		for y := 0; y < 240; y++ {
			for x := 0; x < 320; x++ {
				r, g, b, _ := im.At(x, y).RGBA()
				got = append(got, byte(r>>8), byte(g>>8), byte(b>>8))
			}
		}
		p := psnr(t, src.Pix, got)
		if p < tt.minPSNR {
			t.Errorf("quality %d: PSNR %.1f dB < %.0f", tt.quality, p, tt.minPSNR)
		}
		t.Logf("quality %d: %d bytes, PSNR %.1f dB", tt.quality, len(b), p)
	}
	if !slices.IsSorted(sizes) {
		t.Errorf("sizes %v do not grow with quality", sizes)
	}
	for _, q := range []int{-1, 101} {
		if _, err := NewJPEGEncoder(q); !errors.Is(err, ErrBadConfig) {
			t.Errorf("quality %d: %v, want ErrBadConfig", q, err)
		}
	}
}

func TestSplitAnnexB(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want [][]byte
	}{
		{"empty", nil, nil},
		{"no start code", []byte{1, 2, 3, 4}, nil},
		{"4-byte start codes", []byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3}, [][]byte{{0x67, 1, 2}, {0x68, 3}}},
		{"3-byte start codes", []byte{0, 0, 1, 0x65, 9, 0, 0, 1, 0x41, 8}, [][]byte{{0x65, 9}, {0x41, 8}}},
		{"leading garbage and trailing zeroes", []byte{7, 7, 0, 0, 1, 0x65, 5, 0, 0, 0, 0}, [][]byte{{0x65, 5}}},
		{"empty units", []byte{0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0x09, 0xF0}, [][]byte{{0x09, 0xF0}}},
		{"emulation prevention kept", []byte{0, 0, 1, 0x65, 0, 0, 3, 1, 2}, [][]byte{{0x65, 0, 0, 3, 1, 2}}},
		{"start code at the end", []byte{0, 0, 1, 0x65, 1, 0, 0, 1}, [][]byte{{0x65, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitAnnexB(tt.in)
			if len(got) != len(tt.want) {
				t.Fatalf("got %x, want %x", got, tt.want)
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Fatalf("got %x, want %x", got, tt.want)
				}
			}
		})
	}
}

// TestParameterSetsApart feeds SPS, PPS and the IDR picture as separate
// access units, as some cameras send them: only the picture yields an image.
func TestParameterSetsApart(t *testing.T) {
	srcs, aus := encodedStream(t, 320, 240, 3, 3)
	d, err := NewDecoder(H264)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var pics [][]byte
	for _, n := range aus[0] {
		switch n[0] & 0x1F {
		case 7, 8:
			img, err := d.Decode([][]byte{n})
			if img != nil || err != nil {
				t.Fatalf("NAL type %d alone: %v, %v", n[0]&0x1F, img != nil, err)
			}
		default:
			pics = append(pics, n)
		}
	}
	img, err := d.Decode(pics)
	if err != nil || img == nil {
		t.Fatalf("IDR: %v, %v", img != nil, err)
	}
	if p := psnr(t, srcs[0].Pix, img.Pix); p < 35 {
		t.Fatalf("PSNR %.1f dB", p)
	}
	// The same again once started: parameter sets alone are not an error.
	if img, err := d.Decode([][]byte{aus[0][0]}); img != nil || err != nil {
		t.Fatalf("SPS alone after a picture: %v, %v", img != nil, err)
	}
}
