package cameratest_test

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/cameratest"
	"github.com/parallax-robotics/parallax/msgs"
)

// flatSource yields n grey frames of w x h, then camera.ErrEOF.
type flatSource struct {
	w, h, n, i int
	pixLen     int // overrides len(Pix) when > 0
}

func (s *flatSource) Start(context.Context) error { return nil }
func (s *flatSource) Close() error                { return nil }
func (s *flatSource) Read(ctx context.Context) (*msgs.Frame, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.n > 0 && s.i >= s.n {
		return nil, camera.ErrEOF
	}
	s.i++
	l := s.w * s.h * 3
	if s.pixLen > 0 {
		l = s.pixLen
	}
	pix := make([]byte, l)
	for k := range pix {
		pix[k] = byte(s.i * 8)
	}
	return &msgs.Frame{Seq: uint64(s.i - 1), Width: s.w, Height: s.h, Pix: pix}, nil
}

func TestServeErrors(t *testing.T) {
	var idle cameratest.Server
	if err := idle.Serve("cam", &flatSource{w: 64, h: 48}, 10); !errors.Is(err, cameratest.ErrNotStarted) {
		t.Errorf("Serve before Start: %v", err)
	}
	idle.Close() // Close without Start is harmless.

	s := &cameratest.Server{}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		name string
		path string
		src  camera.Source
		want error
	}{
		{"empty path", "/", &flatSource{w: 64, h: 48}, cameratest.ErrBadPath},
		{"odd size", "odd", &flatSource{w: 63, h: 48}, cameratest.ErrBadFrame},
		{"short pixels", "short", &flatSource{w: 64, h: 48, pixLen: 10}, cameratest.ErrBadFrame},
		{"source ends at once", "eof", &flatSource{w: 64, h: 48, n: 1, i: 1}, camera.ErrEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Serve(tc.path, tc.src, 10); !errors.Is(err, tc.want) {
				t.Errorf("Serve: %v, want %v", err, tc.want)
			}
		})
	}
	if got := s.Paths(); len(got) != 0 {
		t.Errorf("failed Serve calls left paths %v", got)
	}
}

func TestServerAddressAndUDPPorts(t *testing.T) {
	s := &cameratest.Server{UDP: true, User: "u", Pass: "p"}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	host, port, err := net.SplitHostPort(s.Addr())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addr() = %q", s.Addr())
	}
	if got, want := s.URL("/left"), "rtsp://u:p@"+s.Addr()+"/left"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	// The port is really ours: a second listener on it fails.
	if ln, err := net.Listen("tcp", s.Addr()); err == nil {
		ln.Close()
		t.Errorf("nothing listens on %s", s.Addr())
	}
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatal(err)
	}
}

// TestPublisherRelay: a gortsplib publisher pushes packets to a path; a
// reader of that path receives them unchanged; when the publisher leaves
// the path disappears.
func TestPublisherRelay(t *testing.T) {
	s := &cameratest.Server{}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	if err := s.Serve("taken", &flatSource{w: 64, h: 48}, 10); err != nil {
		t.Fatal(err)
	}
	desc := func() *description.Session {
		return &description.Session{Medias: []*description.Media{{
			Type:    description.MediaTypeVideo,
			Formats: []format.Format{&format.H264{PayloadTyp: 96, PacketizationMode: 1}},
		}}}
	}
	// Publishing on a served path is refused.
	tcp := gortsplib.TransportTCP
	intruder := &gortsplib.Client{Transport: &tcp}
	if err := intruder.StartRecording(s.URL("taken"), desc()); err == nil {
		intruder.Close()
		t.Error("publishing on a served path was accepted")
	}

	pubDesc := desc()
	pub := &gortsplib.Client{Transport: &tcp}
	if err := pub.StartRecording(s.URL("cam"), pubDesc); err != nil {
		t.Fatal(err)
	}

	u, err := base.ParseURL(s.URL("cam"))
	if err != nil {
		t.Fatal(err)
	}
	rd := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp}
	if err := rd.Start2(); err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	got, _, err := rd.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	if err := rd.SetupAll(got.BaseURL, got.Medias); err != nil {
		t.Fatal(err)
	}
	payloads := make(chan []byte, 100)
	rd.OnPacketRTPAny(func(_ *description.Media, _ format.Format, pkt *rtp.Packet) {
		payloads <- append([]byte(nil), pkt.Payload...)
	})
	if _, err := rd.Play(nil); err != nil {
		t.Fatal(err)
	}

	want := []byte{0x41, 0x9a, 0x02, 0x03}
	deadline := time.After(5 * time.Second)
	for i := 0; ; i++ {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i),
			Timestamp: uint32(i * 3000), Marker: true}, Payload: want}
		if err := pub.WritePacketRTP(pubDesc.Medias[0], pkt); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-payloads:
			if string(p) != string(want) {
				t.Fatalf("relayed payload %x, want %x", p, want)
			}
			goto relayed
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatal("no packet relayed")
		}
	}
relayed:
	pub.Close()
	end := time.Now().Add(5 * time.Second)
	for time.Now().Before(end) && strings.Contains(strings.Join(s.Paths(), ","), "cam") {
		time.Sleep(20 * time.Millisecond)
	}
	if p := strings.Join(s.Paths(), ","); p != "taken" {
		t.Errorf("paths after the publisher left: %q, want \"taken\"", p)
	}
}

// TestFFmpegPublishesMJPEG: ffmpeg's RTSP muxer can publish into the server
// and ffprobe reads the relayed stream back.
func TestFFmpegPublishesMJPEG(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed")
	}
	s := &cameratest.Server{}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=15", "-c:v", "mjpeg", "-huffman", "default",
		"-q:v", "5", "-pix_fmt", "yuvj420p", "-f", "rtsp", "-rtsp_transport", "tcp", s.URL("cam"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Paths()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// Only stdout: ffprobe may warn on stderr about the first, partial
	// RTP/JPEG frame it joins in the middle of.
	out, err := exec.Command("ffprobe", "-v", "error", "-rtsp_transport", "tcp",
		"-show_entries", "stream=codec_name,width,height", "-of", "compact", s.URL("cam")).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != "stream|codec_name=mjpeg|width=320|height=240" {
		t.Errorf("ffprobe: %q", got)
	}
}

// resizingSource yields frames of the first size, then of the second from
// frame switchAt on: a camera reconfigured mid-stream.
type resizingSource struct {
	a, b     flatSource
	switchAt int
	i        int
}

func (s *resizingSource) Start(context.Context) error { return nil }
func (s *resizingSource) Close() error                { return nil }
func (s *resizingSource) Read(ctx context.Context) (*msgs.Frame, error) {
	s.i++
	if s.i > s.switchAt {
		return s.b.Read(ctx)
	}
	return s.a.Read(ctx)
}

// TestServeResolutionChange serves a source whose frames change size
// mid-stream: the stream goes on with the new size (new SPS in-band) and
// a reader decodes frames of both sizes without reconnecting.
func TestServeResolutionChange(t *testing.T) {
	s := &cameratest.Server{}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := &resizingSource{a: flatSource{w: 64, h: 48}, b: flatSource{w: 96, h: 64}, switchAt: 20}
	if err := s.Serve("cam", src, 30); err != nil {
		t.Fatal(err)
	}
	r := &camera.RTSP{URL: s.URL("cam"), Buffer: 64}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sizes := map[[2]int]int{}
	for sizes[[2]int{96, 64}] < 5 {
		f, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("read (sizes so far %v): %v", sizes, err)
		}
		sizes[[2]int{f.Width, f.Height}]++
	}
	if sizes[[2]int{64, 48}] == 0 {
		t.Errorf("no frame of the first size: %v", sizes)
	}
	if len(sizes) != 2 {
		t.Errorf("sizes %v, want 64x48 then 96x64", sizes)
	}
}

// waitCount polls f until it returns want or 5 s pass: the server hears of
// a closed connection when its reader goroutine does.
func waitCount(t *testing.T, what string, f func() int, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d, want %d", what, f(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServerCountsConns: Conns and Sessions follow readers that connect,
// set up and close, and a bare TCP connection that never gets a session.
func TestServerCountsConns(t *testing.T) {
	s := &cameratest.Server{}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Serve("cam", &flatSource{w: 32, h: 16}, 30); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var readers []*camera.RTSP
	for i := range 2 {
		r := &camera.RTSP{URL: s.URL("cam")}
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := r.Read(ctx); err != nil {
			t.Fatal(err)
		}
		readers = append(readers, r)
		waitCount(t, "connections", s.Conns, i+1)
		waitCount(t, "sessions", s.Sessions, i+1)
	}
	bare, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	waitCount(t, "connections with a bare one", s.Conns, 3)
	if n := s.Sessions(); n != 2 {
		t.Errorf("a bare connection opened a session: %d sessions", n)
	}
	bare.Close()
	waitCount(t, "connections after the bare one closed", s.Conns, 2)
	readers[0].Close()
	waitCount(t, "connections after a reader closed", s.Conns, 1)
	waitCount(t, "sessions after a reader closed", s.Sessions, 1)
	readers[1].Close()
	waitCount(t, "connections", s.Conns, 0)
	waitCount(t, "sessions", s.Sessions, 0)
}
