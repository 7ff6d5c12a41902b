package codec

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// benchStream returns the access units of an ffmpeg-encoded stream: H.264
// High profile (ffmpeg's libx264 defaults, with B-frames) or MJPEG.
func benchStream(b *testing.B, c Codec, w, h int) [][][]byte {
	b.Helper()
	size := fmt.Sprintf("%dx%d", w, h)
	var file string
	switch c {
	case H264:
		file = ffmpegFile(b, "bench-"+size+".h264", "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=15", "-frames:v", "30",
			"-c:v", "libx264", "-preset", "veryfast", "-g", "15", "-f", "h264")
	case MJPEG:
		file = ffmpegFile(b, "bench-"+size+".mjpeg", "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=15", "-frames:v", "30",
			"-c:v", "mjpeg", "-q:v", "5", "-pix_fmt", "yuvj420p", "-f", "mjpeg")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	if c == MJPEG {
		var aus [][][]byte
		for _, img := range jpegImages(data) {
			aus = append(aus, [][]byte{img})
		}
		return aus
	}
	return accessUnits(b, c, data)
}

// BenchmarkDecode reports ms/frame and allocations per decoded frame, for
// Decode (a fresh image each frame) and DecodeInto (one reused image).
func BenchmarkDecode(b *testing.B) {
	for _, c := range []Codec{H264, MJPEG} {
		for _, sz := range [][2]int{{640, 480}, {1280, 720}} {
			for _, reuse := range []bool{false, true} {
				mode := "Decode"
				if reuse {
					mode = "DecodeInto"
				}
				b.Run(fmt.Sprintf("%v/%dx%d/%s", c, sz[0], sz[1], mode), func(b *testing.B) {
					aus := benchStream(b, c, sz[0], sz[1])
					d, err := NewDecoder(c)
					if err != nil {
						b.Fatal(err)
					}
					defer d.Close()
					var dst *RGB
					if reuse {
						dst = &RGB{}
					}
					frames := 0
					b.ReportAllocs()
					b.ResetTimer()
					start := time.Now()
					for i := 0; i < b.N; i++ {
						// The stream starts with an IDR picture, so looping over
						// it is one long valid stream.
						img, err := d.DecodeInto(aus[i%len(aus)], dst)
						if err != nil {
							b.Fatal(err)
						}
						if img != nil {
							frames++
						}
					}
					elapsed := time.Since(start)
					if frames > 0 {
						b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(frames), "ms/frame")
					}
				})
			}
		}
	}
}

// BenchmarkEncode reports ms/frame of the H.264 Encoder with its default
// bit rate, for several x264 presets.
func BenchmarkEncode(b *testing.B) {
	for _, sz := range [][2]int{{320, 96}, {640, 192}, {640, 480}} {
		for _, preset := range []string{"ultrafast", "superfast", "veryfast"} {
			b.Run(fmt.Sprintf("%dx%d/%s", sz[0], sz[1], preset), func(b *testing.B) {
				w, h := sz[0], sz[1]
				frames := make([]*RGB, 8)
				for i := range frames {
					frames[i] = noiseFrame(w, h, i, 6)
				}
				e, err := NewEncoder(EncoderConfig{Width: w, Height: h, Preset: preset})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					if _, err := e.Encode(frames[i%len(frames)]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/frame")
			})
		}
	}
}

// BenchmarkEncodeJPEG reports ms/frame of the JPEGEncoder at quality 85.
func BenchmarkEncodeJPEG(b *testing.B) {
	for _, sz := range [][2]int{{640, 480}, {1280, 720}} {
		b.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(b *testing.B) {
			img := noiseFrame(sz[0], sz[1], 0, 6)
			j, err := NewJPEGEncoder(0)
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := j.Encode(img); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/frame")
		})
	}
}
