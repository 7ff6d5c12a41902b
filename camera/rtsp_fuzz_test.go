package camera

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/msgs"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// fuzzFormats are the formats whose depacketize+decode path the fuzzer
// drives; the first input byte picks one.
func fuzzFormats() []format.Format {
	return []format.Format{
		&format.H264{PayloadTyp: 96, PacketizationMode: 1},
		&format.H265{PayloadTyp: 96},
		&format.MJPEG{},
	}
}

// FuzzTrackDecoder feeds arbitrary RTP payloads through the RTP
// depacketizer and the decoder: whatever arrives, push must return a result
// and never panic. The input is split into packets by one length byte each;
// a flag byte sets the marker bit and advances the timestamp.
func FuzzTrackDecoder(f *testing.F) {
	// Seeds: a single-NALU IDR-like packet, an FU-A start/end pair, a STAP-A
	// with a bad size, FU-B, and a JPEG-ish RTP/JPEG header.
	f.Add([]byte{0, 5, 1, 0x65, 0x88, 0x84, 0x00})
	f.Add([]byte{0, 4, 0, 0x7c, 0x85, 0x88, 4, 1, 0x7c, 0x45, 0x11})
	f.Add([]byte{0, 5, 1, 0x78, 0x00, 0x09, 0x67, 0x42})
	f.Add([]byte{0, 3, 1, 0x7d, 0x85, 0x00})
	f.Add([]byte{1, 6, 1, 0x40, 0x01, 0x0c, 0x01, 0xff, 0xff})
	f.Add([]byte{1, 4, 1, 0x62, 0x01, 0x93, 0xaf})
	f.Add([]byte{2, 12, 1, 0, 0, 0, 0, 1, 80, 8, 6, 0xff, 0xd8, 0xff})
	f.Add([]byte{2, 8, 1, 0, 0, 0, 0, 1, 255, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		forms := fuzzFormats()
		td, err := newTrackDecoder(forms[int(data[0])%len(forms)])
		if err != nil {
			t.Fatal(err)
		}
		defer td.close()
		data = data[1:]
		var seq uint16
		var ts uint32
		for len(data) >= 2 {
			n, flags := int(data[0]), data[1]
			data = data[2:]
			if n > len(data) {
				n = len(data)
			}
			pkt := &rtp.Packet{
				Header: rtp.Header{
					Version: 2, PayloadType: 96, SequenceNumber: seq,
					Timestamp: ts, Marker: flags&1 != 0,
				},
				Payload: data[:n],
			}
			data = data[n:]
			// Flag bit 1 skips a sequence number, as a lost packet would.
			seq += 1 + uint16(flags>>1&1)
			if pkt.Marker {
				ts += 3000
			}
			img, res := td.push(pkt)
			if res == pushFrame && (img == nil || len(img.Pix) != img.Width*img.Height*3) {
				t.Fatalf("pushFrame with image %+v", img)
			}
			if res != pushFrame && img != nil {
				t.Fatalf("result %d with an image", res)
			}
		}
	})
}

// TestTrackDecoderTable checks the results push reports for hand-made
// packets of each kind.
func TestTrackDecoderTable(t *testing.T) {
	tests := []struct {
		name    string
		forma   format.Format
		payload []byte
		marker  bool
		want    pushResult
	}{
		{"h264 empty payload", &format.H264{PacketizationMode: 1}, nil, true, pushDepacketizeError},
		{"h264 FU-B unsupported", &format.H264{PacketizationMode: 1}, []byte{0x7d, 0x85, 0}, true, pushDepacketizeError},
		{"h264 STAP-A bad size", &format.H264{PacketizationMode: 1}, []byte{0x78, 0x00, 0x09, 0x67}, true, pushDepacketizeError},
		{"h264 FU-A start", &format.H264{PacketizationMode: 1}, []byte{0x7c, 0x85, 0x88}, false, pushNone},
		{"h264 FU-A middle, joined mid-frame", &format.H264{PacketizationMode: 1}, []byte{0x7c, 0x05, 0x88}, false, pushNone},
		{"h264 P slice before keyframe", &format.H264{PacketizationMode: 1}, []byte{0x41, 0x9a, 0x02}, true, pushSkipped},
		{"h265 P slice before keyframe", &format.H265{}, []byte{0x02, 0x01, 0xd0, 0x10}, true, pushSkipped},
		{"mjpeg short header", &format.MJPEG{}, []byte{0, 0, 0}, true, pushDepacketizeError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			td, err := newTrackDecoder(tc.forma)
			if err != nil {
				t.Fatal(err)
			}
			defer td.close()
			_, got := td.push(&rtp.Packet{
				Header:  rtp.Header{Version: 2, PayloadType: 96, Marker: tc.marker},
				Payload: tc.payload,
			})
			if got != tc.want {
				t.Errorf("push = %d, want %d", got, tc.want)
			}
		})
	}
}

// FuzzRedact: whatever the password, neither msgs.RedactURL nor the text of a
// Start error shows it.
func FuzzRedact(f *testing.F) {
	f.Add("robot", "s3cret", "10.0.0.2:554", "/cam")
	f.Add("u", "p@ss:w/rd", "[::1", "/x")
	f.Add("", "pa%zzword", "host", "")
	f.Fuzz(func(t *testing.T, user, pass, host, path string) {
		raw := "rtsp://" + user + ":" + pass + "@" + host + path
		// A password that also appears elsewhere in the URL or in our own
		// words cannot be told apart; skip those.
		rest := "rtsp://" + user + ":xxxxx@" + host + path +
			" camera: bad RTSP URL transport parse missing ']' in host invalid port" +
			url.PathEscape(host+path) + url.QueryEscape(host+path) + strings.ToUpper(url.PathEscape(host+path))
		if len(pass) < 4 || strings.Contains(rest, pass) || strings.ContainsAny(pass, "\\\"") {
			return
		}
		if got := msgs.RedactURL(raw); strings.Contains(got, pass) {
			t.Fatalf("RedactURL(%q) = %q", raw, got)
		}
		r := &RTSP{URL: raw, Transport: "none"}
		if err := r.Start(context.Background()); err != nil && strings.Contains(err.Error(), pass) {
			t.Fatalf("Start error shows the password: %v", err)
		}
		r = &RTSP{URL: raw, ReadTimeout: time.Millisecond}
		if _, err := url.Parse(raw); err == nil {
			// Only URLs that fail before dialling: no network in a fuzzer.
			return
		}
		if err := r.Start(context.Background()); err != nil && strings.Contains(err.Error(), pass) {
			t.Fatalf("Start error shows the password: %v", err)
		}
	})
}
