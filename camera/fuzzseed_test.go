package camera_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmjpeg"
	"github.com/pion/rtp"

	"github.com/parallax-robotics/parallax/camera/codec"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/internal/fuzzseed"
	"github.com/parallax-robotics/parallax/launch"
)

// TestFuzzSeeds builds the seed corpora of FuzzTrackDecoder (real RTP:
// frames of a synthetic world encoded as H.264 and JPEG, packetized by
// gortsplib's RTP encoders as the camera server sends them) and FuzzRedact
// (the launch examples' camera URLs); see internal/fuzzseed.
func TestFuzzSeeds(t *testing.T) {
	w, err := synth.NewWorld(synth.Config{Seed: 9, Width: 64, Height: 48, Style: synth.StyleSuburb})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := codec.NewEncoder(codec.EncoderConfig{Width: 64, Height: 48, GOP: 2, Preset: "ultrafast"})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	// Payloads of at most 200 bytes: the fuzz input gives each packet one
	// length byte, so access units go out as FU-A fragments.
	h264 := &rtph264.Encoder{PayloadType: 96, PayloadMaxSize: 200, PacketizationMode: 1}
	if err := h264.Init(); err != nil {
		t.Fatal(err)
	}
	var stream []byte
	track := fuzzseed.New(t, "FuzzTrackDecoder")
	for i := range 2 {
		left, _ := w.Render(i)
		au, err := enc.Encode(&codec.RGB{Width: left.Width, Height: left.Height, Pix: left.Pix})
		if err != nil {
			t.Fatal(err)
		}
		pkts, err := h264.Encode(au)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			// The same two frames with the second one's first packet lost.
			lost := appendPackets(t, append([]byte{0}, stream...), pkts, 0)
			track.Add("synth-h264-lost", lost)
		}
		stream = appendPackets(t, stream, pkts, -1)
	}
	track.Add("synth-h264", append([]byte{0}, stream...))

	jenc, err := codec.NewJPEGEncoder(50)
	if err != nil {
		t.Fatal(err)
	}
	defer jenc.Close()
	left, _ := w.Render(2)
	j, err := jenc.Encode(&codec.RGB{Width: left.Width, Height: left.Height, Pix: left.Pix})
	if err != nil {
		t.Fatal(err)
	}
	mj := &rtpmjpeg.Encoder{PayloadMaxSize: 200}
	if err := mj.Init(); err != nil {
		t.Fatal(err)
	}
	pkts, err := mj.Encode(j)
	if err != nil {
		t.Fatal(err)
	}
	track.Add("synth-mjpeg", append([]byte{2}, appendPackets(t, nil, pkts, -1)...))
	track.Close()

	redact := fuzzseed.New(t, "FuzzRedact")
	for _, file := range []string{"demo", "robot.example"} {
		l, err := launch.Load("../launch/" + file + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range l.Cameras {
			u, err := url.Parse(c.URL)
			if err != nil {
				t.Fatal(err)
			}
			pass, _ := u.User.Password()
			redact.Add(fmt.Sprintf("%s-%s", file, c.Name), u.User.Username(), pass, u.Host, u.Path)
		}
	}
	redact.Close()
}

// appendPackets writes packets as FuzzTrackDecoder reads them: a length
// byte, a flag byte (bit 0 the marker, bit 1 a sequence number skipped
// before the packet) and the payload. The packet at index lose is left out.
func appendPackets(t *testing.T, b []byte, pkts []*rtp.Packet, lose int) []byte {
	t.Helper()
	skip := byte(0)
	for i, p := range pkts {
		if i == lose {
			skip = 2
			continue
		}
		if len(p.Payload) > 255 {
			t.Fatalf("packet %d: %d bytes of payload", i, len(p.Payload))
		}
		flags := skip
		if p.Marker {
			flags |= 1
		}
		skip = 0
		b = append(append(b, byte(len(p.Payload)), flags), p.Payload...)
	}
	return b
}
