package codec

import (
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// encodedStream encodes n gradient frames with a GOP of gop and returns the
// source images and access units.
func encodedStream(t testing.TB, w, h, n, gop int) ([]*RGB, [][][]byte) {
	t.Helper()
	enc, err := NewEncoder(EncoderConfig{Width: w, Height: h, GOP: gop, Bitrate: 2_000_000})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var srcs []*RGB
	var aus [][][]byte
	for i := 0; i < n; i++ {
		src := gradientFrame(w, h, i)
		au, err := enc.Encode(src)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, src)
		aus = append(aus, au)
	}
	return srcs, aus
}

// mutateVCL returns a copy of au with f applied to a copy of its slice NAL.
func mutateVCL(au [][]byte, f func([]byte) []byte) [][]byte {
	out := make([][]byte, len(au))
	for i, n := range au {
		n = slices.Clone(n)
		if typ := n[0] & 0x1F; typ == 1 || typ == 5 {
			n = f(n)
		}
		out[i] = n
	}
	return out
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// TestDecodeCorruptH264 damages one access unit of a stream in various ways:
// the damaged unit must give ErrCorrupt or no picture (never a panic or a
// hang), and the decoder must decode the pictures from the next IDR on as
// well as an undamaged decoder does.
func TestDecodeCorruptH264(t *testing.T) {
	const w, h, gop = 320, 240, 4
	srcs, aus := encodedStream(t, w, h, 12, gop)
	tests := []struct {
		name string
		at   int // index of the damaged access unit
		// mutate returns the damaged unit.
		mutate func(au [][]byte) [][]byte
		// wantErr: the damaged unit must give ErrCorrupt, not just no picture.
		wantErr bool
	}{
		{"truncated P slice", 2, func(au [][]byte) [][]byte {
			return mutateVCL(au, func(n []byte) []byte { return n[:len(n)/3] })
		}, true},
		{"truncated IDR slice", 4, func(au [][]byte) [][]byte {
			return mutateVCL(au, func(n []byte) []byte { return n[:len(n)/2] })
		}, true},
		{"slice header only", 5, func(au [][]byte) [][]byte {
			return mutateVCL(au, func(n []byte) []byte { return n[:2] })
		}, true},
		{"flipped bits in P slice", 6, func(au [][]byte) [][]byte {
			return mutateVCL(au, func(n []byte) []byte {
				for i := len(n) / 4; i < len(n)/2; i += 7 {
					n[i] ^= 0x5A
				}
				return n
			})
		}, false},
		{"random bytes", 3, func([][]byte) [][]byte { return [][]byte{randomBytes(1, 700)} }, false},
		{"random NAL units", 6, func([][]byte) [][]byte {
			return [][]byte{randomBytes(2, 40), randomBytes(3, 1), randomBytes(4, 3000)}
		}, false},
		{"SPS of zeroes", 4, func(au [][]byte) [][]byte {
			out := slices.Clone(au)
			for i, n := range out {
				if n[0]&0x1F == 7 {
					out[i] = append([]byte{n[0]}, make([]byte, len(n)-1)...)
				}
			}
			return out
		}, false},
		{"empty NAL units", 2, func([][]byte) [][]byte { return [][]byte{{}, nil} }, false},
		{"first IDR missing its slice", 0, func(au [][]byte) [][]byte {
			return slices.DeleteFunc(slices.Clone(au), func(n []byte) bool { return n[0]&0x1F == 5 })
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDecoder(H264)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			nextIDR := (tt.at/gop + 1) * gop
			for i, au := range aus {
				if i == tt.at {
					img, err := d.Decode(tt.mutate(au))
					if err != nil && !errors.Is(err, ErrCorrupt) {
						t.Fatalf("damaged unit: error %v does not wrap ErrCorrupt", err)
					}
					if tt.wantErr && err == nil {
						t.Fatalf("damaged unit: got image %v and no error, want ErrCorrupt", img != nil)
					}
					t.Logf("damaged unit: image %v, error %v, logged %q", img != nil, err, lastLogged(d.c))
					continue
				}
				img, err := d.Decode(au)
				if i > tt.at && i < nextIDR {
					// Pictures predicted from the damaged one: anything but a panic.
					if err != nil && !errors.Is(err, ErrCorrupt) {
						t.Fatalf("unit %d: error %v does not wrap ErrCorrupt", i, err)
					}
					continue
				}
				if err != nil || img == nil {
					t.Fatalf("unit %d: image %v, error %v", i, img != nil, err)
				}
				if p := psnr(t, srcs[i].Pix, img.Pix); p < 35 {
					t.Fatalf("unit %d: PSNR %.1f dB < 35", i, p)
				}
			}
		})
	}
}

func TestDecodeCorruptMJPEG(t *testing.T) {
	const w, h = 320, 240
	var srcs []*RGB
	var jpegs [][]byte
	j, err := NewJPEGEncoder(90)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for i := 0; i < 3; i++ {
		src := gradientFrame(w, h, i)
		b, err := j.Encode(src)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, src)
		jpegs = append(jpegs, b)
	}
	good := jpegs[1]
	tests := []struct {
		name    string
		au      [][]byte
		wantErr bool
	}{
		{"truncated to half", [][]byte{slices.Clone(good[:len(good)/2])}, true},
		{"headers only", [][]byte{slices.Clone(good[:600])}, true},
		{"random bytes", [][]byte{randomBytes(5, 5000)}, true},
		{"SOI and random bytes", [][]byte{append([]byte{0xFF, 0xD8}, randomBytes(6, 5000)...)}, true},
		{"SOI only", [][]byte{{0xFF, 0xD8}}, true},
		{"SOI, random bytes, EOI", [][]byte{slices.Concat([]byte{0xFF, 0xD8}, randomBytes(8, 3000), []byte{0xFF, 0xD9})}, true},
		{"first half and EOI", [][]byte{slices.Concat(good[:len(good)/2], []byte{0xFF, 0xD9})}, false},
		{"scan data overwritten", [][]byte{func() []byte {
			b := slices.Clone(good)
			copy(b[len(b)/2:], randomBytes(7, len(b)/4))
			return b
		}()}, false},
		{"empty", [][]byte{{}}, false},
		{"no elements", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDecoder(MJPEG)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := d.Decode([][]byte{jpegs[0]}); err != nil {
				t.Fatal(err)
			}
			img, err := d.Decode(tt.au)
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			if tt.wantErr && err == nil {
				t.Fatalf("image %v and no error, want ErrCorrupt", img != nil)
			}
			t.Logf("damaged image: image %v, error %v", img != nil, err)
			img, err = d.Decode([][]byte{jpegs[2]})
			if err != nil || img == nil {
				t.Fatalf("next image: %v, %v", img != nil, err)
			}
			if p := psnr(t, srcs[2].Pix, img.Pix); p < 35 {
				t.Fatalf("next image: PSNR %.1f dB < 35", p)
			}
		})
	}
}

// TestDecodeCorruptH265 damages one access unit of an ffmpeg/x265 stream and
// checks that decoding resumes at the next IDR, against ffmpeg's decode.
// libavcodec's HEVC decoder has no error concealment and does not flag a
// truncated slice, so the damaged unit itself may come out as a picture.
func TestDecodeCorruptH265(t *testing.T) {
	const w, h = 320, 240
	file := ffmpegFile(t, "gop4.h265", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15", "-frames:v", "12",
		"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=4:min-keyint=4:bframes=0:scenecut=0:log-level=error", "-f", "hevc")
	want := ffmpegRGB(t, file, w, h)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	aus := accessUnits(t, H265, data)
	if len(aus) != len(want) {
		t.Fatalf("%d access units, ffmpeg decoded %d frames", len(aus), len(want))
	}
	for _, tt := range []struct {
		name   string
		at     int
		mutate func([][]byte) [][]byte
	}{
		{"truncated slice", 5, func(au [][]byte) [][]byte {
			out := slices.Clone(au)
			last := out[len(out)-1]
			out[len(out)-1] = last[:len(last)/3]
			return out
		}},
		{"random bytes", 2, func([][]byte) [][]byte { return [][]byte{randomBytes(9, 900)} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDecoder(H265)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			nextIDR := (tt.at/4 + 1) * 4
			for i, au := range aus {
				if i == tt.at {
					au = tt.mutate(au)
				}
				img, err := d.Decode(au)
				if err != nil && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("unit %d: error %v does not wrap ErrCorrupt", i, err)
				}
				if i < tt.at || i >= nextIDR {
					if err != nil || img == nil {
						t.Fatalf("unit %d: image %v, error %v", i, img != nil, err)
					}
					if p := psnr(t, want[i], img.Pix); p < 40 {
						t.Fatalf("unit %d: PSNR against ffmpeg %.1f dB", i, p)
					}
				} else if i == tt.at {
					t.Logf("damaged unit: image %v, error %v, logged %q", img != nil, err, lastLogged(d.c))
				}
			}
		})
	}
}
