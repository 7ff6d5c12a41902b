package codec

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// testDir holds the streams ffmpeg writes, shared by the tests of one run.
var testDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "codec-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// gradientFrame is a smooth moving pattern, easy to compress.
func gradientFrame(w, h, i int) *RGB {
	img := &RGB{Width: w, Height: h, Pix: make([]byte, 3*w*h)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := img.Pix[3*(y*w+x):]
			p[0] = byte((x + 3*i) * 255 / (w + 3*i + 1))
			p[1] = byte(triangle(y*2+i, 256))
			p[2] = byte(128 + 100*math.Sin(float64(x+y+4*i)/17))
		}
	}
	return img
}

// triangle is a triangle wave of period 2*n: 0..n..0.
func triangle(v, n int) int {
	v %= 2 * n
	if v >= n {
		return 2*n - 1 - v
	}
	return v
}

// noiseFrame is a gradient plus uniform grey noise of +-amp, hard to
// compress. The noise is the same on R, G and B: noise in colour would be
// lost to 4:2:0 chroma subsampling whatever the bit rate.
func noiseFrame(w, h, i, amp int) *RGB {
	img := gradientFrame(w, h, i)
	r := rand.New(rand.NewPCG(uint64(i), 7))
	for k := 0; k < len(img.Pix); k += 3 {
		n := r.IntN(2*amp+1) - amp
		for c := k; c < k+3; c++ {
			img.Pix[c] = byte(min(max(int(img.Pix[c])+n, 0), 255))
		}
	}
	return img
}

// psnr of two 8-bit images of the same size, in dB (capped at 99).
func psnr(t testing.TB, a, b []byte) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("psnr: sizes %d and %d differ", len(a), len(b))
	}
	var se float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		se += d * d
	}
	if se == 0 {
		return 99
	}
	return 10 * math.Log10(255*255*float64(len(a))/se)
}

// ffmpegFile runs ffmpeg once per name and returns the path of the file it
// wrote; args are the input and encoding options, the output path is added.
var ffmpegMu sync.Mutex

func ffmpegFile(t testing.TB, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg CLI not installed")
	}
	ffmpegMu.Lock()
	defer ffmpegMu.Unlock()
	out := filepath.Join(testDir, name)
	if _, err := os.Stat(out); err == nil {
		return out
	}
	full := append([]string{"-hide_banner", "-v", "error", "-y"}, args...)
	full = append(full, out)
	cmd := exec.Command("ffmpeg", full...)
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(out)
		t.Fatalf("ffmpeg %v: %v\n%s", full, err, b)
	}
	return out
}

// ffmpegRGB decodes a file with the ffmpeg CLI into rgb24 frames of w x h.
func ffmpegRGB(t testing.TB, file string, w, h int) [][]byte {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-hide_banner", "-v", "error", "-i", file, "-f", "rawvideo", "-pix_fmt", "rgb24", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg decode %s: %v\n%s", file, err, stderr.Bytes())
	}
	n := 3 * w * h
	if len(raw)%n != 0 {
		t.Fatalf("ffmpeg decode %s: %d bytes is not a whole number of %dx%d frames", file, len(raw), w, h)
	}
	var frames [][]byte
	for len(raw) > 0 {
		frames = append(frames, raw[:n])
		raw = raw[n:]
	}
	return frames
}

// accessUnits splits an Annex-B file into access units (NAL units without
// start codes), with the AU boundary rules of H.264 7.4.1.2.3 and H.265
// 7.4.2.4.4 reduced to what encoders emit: a parameter set, AUD or SEI after
// a picture, or the first slice of a new picture, opens a new unit.
func accessUnits(t testing.TB, c Codec, data []byte) [][][]byte {
	t.Helper()
	var aus [][][]byte
	var cur [][]byte
	vcl := false
	for _, n := range splitAnnexB(data) {
		var isVCL, opens bool
		switch c {
		case H264:
			typ := n[0] & 0x1F
			isVCL = typ >= 1 && typ <= 5
			opens = typ == 6 || typ == 7 || typ == 8 || typ == 9 || (typ >= 14 && typ <= 18) ||
				(isVCL && len(n) > 1 && n[1]&0x80 != 0)
		case H265:
			typ := (n[0] >> 1) & 0x3F
			isVCL = typ < 32
			opens = (typ >= 32 && typ <= 35) || typ == 39 || (isVCL && len(n) > 2 && n[2]&0x80 != 0)
		default:
			t.Fatalf("accessUnits: %v", c)
		}
		if vcl && opens {
			aus = append(aus, cur)
			cur, vcl = nil, false
		}
		cur = append(cur, n)
		vcl = vcl || isVCL
	}
	if len(cur) > 0 {
		aus = append(aus, cur)
	}
	return aus
}

// jpegImages splits a concatenation of JPEG images (ffmpeg -f mjpeg) on the
// start-of-image marker that follows an end-of-image marker.
func jpegImages(data []byte) [][]byte {
	var imgs [][]byte
	for len(data) > 0 {
		end := bytes.Index(data, []byte{0xFF, 0xD9, 0xFF, 0xD8})
		if end < 0 {
			imgs = append(imgs, data)
			break
		}
		imgs = append(imgs, data[:end+2])
		data = data[end+2:]
	}
	return imgs
}

// decodeAll decodes every access unit and drains the decoder, failing on
// any error.
func decodeAll(t testing.TB, d *Decoder, aus [][][]byte) []*RGB {
	t.Helper()
	var out []*RGB
	for i, au := range aus {
		img, err := d.Decode(au)
		if err != nil {
			t.Fatalf("access unit %d: %v", i, err)
		}
		if img != nil {
			out = append(out, img)
		}
	}
	rest, err := d.Drain()
	if err != nil {
		t.Fatalf("drain: %v", err)
	}
	return append(out, rest...)
}

func nalTypes(au [][]byte) []int {
	var ts []int
	for _, n := range au {
		ts = append(ts, int(n[0]&0x1F))
	}
	return ts
}
