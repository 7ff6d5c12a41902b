package codec

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to each decoder: they must never crash,
// and every error must wrap ErrCorrupt. For H.264/H.265 the input is split
// on Annex-B start codes into the NAL units of one access unit.
func FuzzDecode(f *testing.F) {
	_, aus := encodedStream(f, 64, 48, 3, 2)
	for _, au := range aus {
		f.Add(byte(H264), annexB(au))
	}
	f.Add(byte(H264), annexB(aus[1]))
	j, err := NewJPEGEncoder(50)
	if err != nil {
		f.Fatal(err)
	}
	img, err := j.Encode(gradientFrame(32, 16, 0))
	j.Close()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(byte(MJPEG), img)
	f.Add(byte(MJPEG), img[:len(img)/2])
	if b, err := os.ReadFile(ffmpegFile(f, "fuzz-seed.h265", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=15", "-frames:v", "2",
		"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-f", "hevc")); err == nil {
		f.Add(byte(H265), b)
	}
	f.Add(byte(H264), []byte{0, 0, 1, 0x65, 0x88, 0x80, 0x40})
	f.Fuzz(func(t *testing.T, codec byte, data []byte) {
		c := Codec(codec%3 + 1)
		d, err := NewDecoder(c)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		au := [][]byte{data}
		if c != MJPEG {
			if nals := splitAnnexB(data); len(nals) > 0 {
				au = nals
			}
		}
		// Twice: the second call sees the state the first one left.
		for range 2 {
			img, err := d.Decode(au)
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%v: error %v does not wrap ErrCorrupt", c, err)
			}
			if img != nil && (img.Width <= 0 || img.Height <= 0 || len(img.Pix) != 3*img.Width*img.Height) {
				t.Fatalf("%v: malformed image %dx%d with %d bytes", c, img.Width, img.Height, len(img.Pix))
			}
		}
		if _, err := d.Drain(); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%v: drain: %v", c, err)
		}
	})
}

// annexB joins NAL units with 4-byte start codes.
func annexB(au [][]byte) []byte {
	var b []byte
	for _, n := range au {
		b = append(append(b, startCode[:]...), n...)
	}
	return b
}

// FuzzSplitAnnexB checks the splitter's invariants on arbitrary input.
func FuzzSplitAnnexB(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0})
	f.Add([]byte{0, 0, 1, 0, 0, 1})
	f.Add([]byte{1, 2, 0, 0, 3, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		units := splitAnnexB(data)
		total := 0
		for _, n := range units {
			if len(n) == 0 || n[len(n)-1] == 0 {
				t.Fatalf("unit %x is empty or ends in a zero byte", n)
			}
			if bytes.Contains(n, []byte{0, 0, 1}) {
				t.Fatalf("unit %x contains a start code", n)
			}
			total += len(n) + 3
		}
		if total > len(data) {
			t.Fatalf("%d bytes of units and start codes from %d bytes", total, len(data))
		}
		// Joining the units again must give them back.
		back := splitAnnexB(annexB(units))
		if len(back) != len(units) {
			t.Fatalf("round trip: %d units, want %d", len(back), len(units))
		}
		for i := range back {
			if !bytes.Equal(back[i], units[i]) {
				t.Fatalf("round trip: unit %d is %x, want %x", i, back[i], units[i])
			}
		}
	})
}
