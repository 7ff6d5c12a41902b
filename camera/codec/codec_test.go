package codec

import (
	"bytes"
	"os"
	"slices"
	"testing"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		cfg     EncoderConfig
		frame   func(w, h, i int) *RGB
		minPSNR float64
	}{
		{"gradient 320x96 defaults", EncoderConfig{Width: 320, Height: 96}, gradientFrame, 35},
		{"gradient 640x480 baseline", EncoderConfig{Width: 640, Height: 480, Profile: "baseline", GOP: 4}, gradientFrame, 35},
		{"noise 160x120 ultrafast 2 Mbit/s", EncoderConfig{Width: 160, Height: 120, FPS: 30, GOP: 5, Bitrate: 2_000_000, Preset: "ultrafast"},
			func(w, h, i int) *RGB { return noiseFrame(w, h, i, 20) }, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := NewEncoder(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			cfg := enc.Config()
			sps, pps := enc.SPS(), enc.PPS()
			if len(sps) == 0 || sps[0]&0x1F != 7 || len(pps) == 0 || pps[0]&0x1F != 8 {
				t.Fatalf("SPS %x PPS %x after NewEncoder", sps, pps)
			}
			// x264 signals the lowest profile the preset's tools fit in:
			// ultrafast (no CABAC) is baseline even when main is allowed.
			allowed := map[string][]byte{"main": {66, 77}, "baseline": {66}}[cfg.Profile]
			if !slices.Contains(allowed, sps[1]) {
				t.Errorf("profile_idc %d, want one of %v (%s)", sps[1], allowed, cfg.Profile)
			}
			dec, err := NewDecoder(H264)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			const n = 12
			minPSNR := 99.0
			for i := 0; i < n; i++ {
				src := tt.frame(cfg.Width, cfg.Height, i)
				au, err := enc.Encode(src)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				types := nalTypes(au)
				isIDR := slices.Contains(types, 5)
				if wantIDR := i%cfg.GOP == 0; isIDR != wantIDR {
					t.Errorf("frame %d: NAL types %v, IDR %v, want %v (GOP %d)", i, types, isIDR, wantIDR, cfg.GOP)
				}
				if isIDR {
					// A late reader must find the parameter sets in band.
					if !slices.Contains(types, 7) || !slices.Contains(types, 8) {
						t.Errorf("frame %d: IDR access unit without SPS/PPS: %v", i, types)
					}
					for _, nal := range au {
						if nal[0]&0x1F == 7 && !bytes.Equal(nal, sps) {
							t.Errorf("frame %d: in-band SPS %x differs from SPS() %x", i, nal, sps)
						}
					}
				}
				// No B-frames and zerolatency: each access unit decodes at once.
				img, err := dec.Decode(au)
				if err != nil || img == nil {
					t.Fatalf("frame %d: decode: %v, %v", i, img, err)
				}
				if img.Width != cfg.Width || img.Height != cfg.Height {
					t.Fatalf("frame %d: decoded %dx%d", i, img.Width, img.Height)
				}
				p := psnr(t, src.Pix, img.Pix)
				if p < tt.minPSNR {
					t.Errorf("frame %d: PSNR %.1f dB < %.0f", i, p, tt.minPSNR)
				}
				minPSNR = min(minPSNR, p)
			}
			t.Logf("%s profile_idc %d: lowest PSNR %.1f dB", cfg.Preset, sps[1], minPSNR)
		})
	}
}

// TestDecodeFFmpeg decodes streams written by the ffmpeg CLI and compares
// every picture with ffmpeg's own rgb24 decode of the same file.
func TestDecodeFFmpeg(t *testing.T) {
	tests := []struct {
		name  string
		codec Codec
		file  string
		args  []string
		w, h  int
		n     int
	}{
		{"H264 High with B-frames", H264, "high.h264", []string{"-f", "lavfi", "-i", "testsrc=size=640x480:rate=15", "-frames:v", "10",
			"-c:v", "libx264", "-preset", "veryfast", "-bsf:v", "h264_mp4toannexb", "-f", "h264"}, 640, 480, 10},
		{"H264 720p BT.709", H264, "hd.h264", []string{"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=15", "-frames:v", "6",
			"-c:v", "libx264", "-preset", "ultrafast", "-colorspace", "bt709", "-f", "h264"}, 1280, 720, 6},
		{"H265", H265, "main.h265", []string{"-f", "lavfi", "-i", "testsrc=size=320x240:rate=15", "-frames:v", "8",
			"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-f", "hevc"}, 320, 240, 8},
		{"MJPEG", MJPEG, "cam.mjpeg", []string{"-f", "lavfi", "-i", "testsrc=size=640x480:rate=15", "-frames:v", "5",
			"-c:v", "mjpeg", "-q:v", "5", "-pix_fmt", "yuvj420p", "-f", "mjpeg"}, 640, 480, 5},
		{"MJPEG 4:2:2", MJPEG, "cam422.mjpeg", []string{"-f", "lavfi", "-i", "testsrc=size=320x240:rate=15", "-frames:v", "3",
			"-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj422p", "-f", "mjpeg"}, 320, 240, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := ffmpegFile(t, tt.file, tt.args...)
			want := ffmpegRGB(t, file, tt.w, tt.h)
			if len(want) != tt.n {
				t.Fatalf("ffmpeg decoded %d frames, want %d", len(want), tt.n)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var aus [][][]byte
			if tt.codec == MJPEG {
				for _, img := range jpegImages(data) {
					aus = append(aus, [][]byte{img})
				}
			} else {
				aus = accessUnits(t, tt.codec, data)
			}
			if len(aus) != tt.n {
				t.Fatalf("split into %d access units, want %d", len(aus), tt.n)
			}
			dec, err := NewDecoder(tt.codec)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			got := decodeAll(t, dec, aus)
			if len(got) != tt.n {
				t.Fatalf("decoded %d frames, want %d", len(got), tt.n)
			}
			for i, img := range got {
				if img.Width != tt.w || img.Height != tt.h {
					t.Fatalf("frame %d is %dx%d", i, img.Width, img.Height)
				}
				// Same libavcodec decoder; only the YUV to RGB conversion may differ.
				if p := psnr(t, want[i], img.Pix); p < 40 {
					t.Errorf("frame %d: PSNR against ffmpeg %.1f dB < 40", i, p)
				}
			}
		})
	}
}
