package camera_test

import (
	"context"
	"errors"
	"math"
	"net"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/cameratest"
	"github.com/parallax-robotics/parallax/camera/codec"
	"github.com/parallax-robotics/parallax/msgs"
)

// TestRTSPReadsFFmpegPublisher: ffmpeg publishes testsrc into the test
// server, camera.RTSP reads it back, and the decoded frames match what ffmpeg
// renders for the same testsrc frames.
func TestRTSPReadsFFmpegPublisher(t *testing.T) {
	needFFmpeg(t)
	const lavfi = "testsrc=size=640x480:rate=15"
	// testsrc moves (a sweeping bar and a counter), so each decoded frame is
	// compared with the best-matching one of the first 120 frames (8 s).
	// The reference goes through 4:2:0 like the streams do, so the bound
	// measures the codec and the transport, not chroma subsampling.
	refs := ffmpegFrames(t, lavfi+",format=yuv420p", 640, 480, 120)
	tests := []struct {
		name    string
		codec   string
		args    []string
		minPSNR float64
	}{
		{"h264", "H264", []string{"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
			"-g", "15", "-pix_fmt", "yuv420p"}, 40},
		{"h265", "H265", []string{"-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency",
			"-x265-params", "log-level=error:keyint=15", "-pix_fmt", "yuv420p"}, 40},
		{"mjpeg", "MJPEG", []string{"-c:v", "mjpeg", "-huffman", "default", "-q:v", "5",
			"-pix_fmt", "yuvj420p"}, 36},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, &cameratest.Server{})
			ffmpegPublish(t, lavfi, tc.args, srv.URL("cam"))
			waitPath(t, srv, "cam", 10*time.Second)

			k := &msgs.Intrinsics{Width: 640, Height: 480, Fx: 500, Fy: 500, Cx: 320, Cy: 240}
			before := time.Now()
			r := startRTSP(t, &camera.RTSP{URL: srv.URL("cam"), Camera: "front", Intrinsics: k, Buffer: 8})
			frames := readFrames(t, r, 5, 10*time.Second)

			for i, f := range frames {
				if f.Camera != "front" || f.Width != 640 || f.Height != 480 || len(f.Pix) != 640*480*3 {
					t.Fatalf("frame %d: camera %q %dx%d %d bytes", i, f.Camera, f.Width, f.Height, len(f.Pix))
				}
				if f.Intrinsics == nil || *f.Intrinsics != *k || f.Intrinsics == k {
					t.Fatalf("frame %d: intrinsics %v, want a copy of %v", i, f.Intrinsics, k)
				}
				// Stamps come from the publisher's clock through RTCP or
				// from the receive time: either way close to now.
				if f.Stamp.Before(before.Add(-5*time.Second)) || f.Stamp.After(time.Now().Add(5*time.Second)) {
					t.Errorf("frame %d: stamp %v is far from now %v", i, f.Stamp, time.Now())
				}
				if i > 0 && !f.Stamp.After(frames[i-1].Stamp) {
					t.Errorf("frame %d: stamp %v not after %v", i, f.Stamp, frames[i-1].Stamp)
				}
			}
			if frames[0].Seq != 0 {
				t.Errorf("first Seq = %d, want 0", frames[0].Seq)
			}
			best, bestIdx := 0.0, -1
			for j, ref := range refs {
				if p := psnr(frames[len(frames)-1].Pix, ref); p > best {
					best, bestIdx = p, j
				}
			}
			// The same reference moved by 16 pixels must match far worse,
			// or the PSNR bound would not tell a right picture from a wrong one.
			shifted := psnr(frames[len(frames)-1].Pix, shiftRight(refs[bestIdx], 640, 480, 16))
			t.Logf("%s: best PSNR %.1f dB against testsrc frame %d, %.1f dB shifted", tc.name, best, bestIdx, shifted)
			if best < tc.minPSNR {
				t.Errorf("PSNR %.1f dB < %.0f dB", best, tc.minPSNR)
			}
			if best-shifted < 6 {
				t.Errorf("PSNR %.1f dB hardly better than against a shifted reference (%.1f dB)", best, shifted)
			}
			st := r.Stats()
			if st.Codec != tc.codec || st.Width != 640 || st.Height != 480 || st.FramesDecoded < 5 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestServeFFprobe: ffprobe reads a served synthetic stream and sees H.264 of
// the right size, so SPS/PPS are in the SDP.
func TestServeFFprobe(t *testing.T) {
	needFFmpeg(t)
	srv := startServer(t, &cameratest.Server{})
	left := &genSource{W: 320, H: 240}
	right := &genSource{W: 160, H: 96}
	for _, g := range []*genSource{left, right} {
		g.Start(context.Background())
		defer g.Close()
	}
	if err := srv.Serve("/left", left, 15); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve("right", right, 15); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve("left", &genSource{W: 320, H: 240}, 15); !errors.Is(err, cameratest.ErrPathInUse) {
		t.Errorf("second Serve on /left: %v, want ErrPathInUse", err)
	}
	for _, tc := range []struct{ path, want string }{
		{"left", "stream|codec_name=h264|width=320|height=240"},
		{"right", "stream|codec_name=h264|width=160|height=96"},
	} {
		out, err := exec.Command("ffprobe", "-v", "error", "-rtsp_transport", "tcp",
			"-show_entries", "stream=codec_name,width,height", "-of", "compact", srv.URL(tc.path)).CombinedOutput()
		if err != nil {
			t.Fatalf("ffprobe %s: %v: %s", tc.path, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("ffprobe %s: %q, want %q", tc.path, got, tc.want)
		}
	}
}

// TestRTSPReadsServedStream: camera.RTSP reads what the server encodes, over
// TCP and UDP, and the pictures match the generator's.
func TestRTSPReadsServedStream(t *testing.T) {
	tests := []struct {
		name      string
		udp       bool
		transport string
		w, h      int
	}{
		{"tcp-640x480", false, "tcp", 640, 480},
		{"udp-160x120", true, "udp", 160, 120},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, &cameratest.Server{UDP: tc.udp})
			g := &genSource{W: tc.w, H: tc.h}
			g.Start(context.Background())
			defer g.Close()
			if err := srv.Serve("cam", g, 30); err != nil {
				t.Fatal(err)
			}
			r := startRTSP(t, &camera.RTSP{URL: srv.URL("cam"), Transport: tc.transport, Buffer: 16})
			frames := readFrames(t, r, 6, 10*time.Second)
			for i, f := range frames {
				if f.Seq != uint64(i) {
					t.Errorf("frame %d: Seq %d", i, f.Seq)
				}
			}
			f := frames[len(frames)-1]
			g.mu.Lock()
			sent := g.n
			g.mu.Unlock()
			idx, p := bestGenMatch(tc.w, tc.h, f.Pix, sent)
			t.Logf("best PSNR %.1f dB against generator frame %d of %d", p, idx, sent)
			if p < 30 {
				t.Errorf("PSNR %.1f dB < 30 dB", p)
			}
			if st := r.Stats(); st.Codec != "H264" || st.Width != tc.w || st.Height != tc.h {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestRTSPSlowReaderDropsOldest: a reader that stops reading does not build
// up latency: old frames are dropped and counted, and Seq shows the gap.
func TestRTSPSlowReaderDropsOldest(t *testing.T) {
	srv := startServer(t, &cameratest.Server{})
	g := &genSource{W: 160, H: 120}
	g.Start(context.Background())
	defer g.Close()
	if err := srv.Serve("cam", g, 30); err != nil {
		t.Fatal(err)
	}
	r := startRTSP(t, &camera.RTSP{URL: srv.URL("cam"), Buffer: 2})
	first := readFrames(t, r, 1, 10*time.Second)[0]
	deadline := time.Now().Add(10 * time.Second)
	for r.Stats().FramesDropped < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	st := r.Stats()
	if st.FramesDropped < 3 {
		t.Fatalf("FramesDropped = %d after not reading, stats %+v", st.FramesDropped, st)
	}
	next := readFrames(t, r, 1, 5*time.Second)[0]
	if next.Seq < first.Seq+4 {
		t.Errorf("after dropping, Seq %d follows %d: old frames were kept", next.Seq, first.Seq)
	}
}

// TestRTSPCorruptStream: a publisher sends garbage and truncated NAL units
// between good frames. Bad frames are dropped and counted; good ones still
// decode.
func TestRTSPCorruptStream(t *testing.T) {
	const w, h = 320, 240
	srv := startServer(t, &cameratest.Server{})
	enc, err := codec.NewEncoder(codec.EncoderConfig{Width: w, Height: h, FPS: 30, GOP: 5, Bitrate: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	first, err := enc.Encode(&codec.RGB{Width: w, Height: h, Pix: genFrame(w, h, 0)})
	if err != nil {
		t.Fatal(err)
	}
	forma := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: enc.SPS(), PPS: enc.PPS()}
	desc := &description.Session{Medias: []*description.Media{{
		Type: description.MediaTypeVideo, Formats: []format.Format{forma},
	}}}
	tcp := gortsplib.TransportTCP
	pub := &gortsplib.Client{Transport: &tcp}
	if err := pub.StartRecording(srv.URL("bad"), desc); err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	rtpEnc, err := forma.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}

	r := startRTSP(t, &camera.RTSP{URL: srv.URL("bad"), Buffer: 64})

	// badSlice is an IDR slice whose header names PPS id 1000 (> 255, so
	// invalid): a decoder must reject it.
	badSlice := append([]byte{0x65}, bitsToBytes("1"+"0001000"+"0000000001111101001")...)
	badSlice = append(badSlice, 0xde, 0xad, 0xbe, 0xef)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// send runs on the publishing goroutine: it reports a failure with
	// t.Error (t.Fatal must not be called off the test's goroutine), and
	// the test waits for that goroutine before it returns.
	send := func(i int, au [][]byte, fuB bool) bool {
		pkts, err := rtpEnc.Encode(au)
		if err != nil {
			t.Error(err)
			return false
		}
		for j, p := range pkts {
			p.Timestamp = uint32(i * 3000)
			if fuB && j == 0 {
				// Turn the first packet into FU-B, which the depacketizer
				// does not support: the whole access unit is lost.
				p.Payload = append([]byte{(p.Payload[0] & 0xe0) | 29}, p.Payload[1:]...)
			}
			if err := pub.WritePacketRTP(desc.Medias[0], p); err != nil {
				if ctx.Err() == nil {
					t.Error(err)
				}
				return false
			}
		}
		return true
	}
	published := make(chan struct{})
	defer func() { cancel(); <-published }()
	go func() {
		defer close(published)
		au := first
		for i := 0; ctx.Err() == nil && i < 400; i++ {
			if i > 0 {
				au, err = enc.Encode(&codec.RGB{Width: w, Height: h, Pix: genFrame(w, h, i)})
				if err != nil {
					return
				}
			}
			ok := true
			switch i % 5 {
			case 1:
				ok = send(i, [][]byte{badSlice}, false)
			case 2:
				// Truncated NAL units: cut every slice to a third.
				cut := make([][]byte, len(au))
				for k, n := range au {
					if l := len(n); n[0]&0x1f <= 5 && l > 8 {
						n = n[:l/3]
					}
					cut[k] = n
				}
				ok = send(i, cut, false)
			case 3:
				ok = send(i, au, true)
			default:
				ok = send(i, au, false)
				time.Sleep(10 * time.Millisecond)
			}
			if !ok {
				return
			}
		}
	}()

	var good int
	bestPSNR := 0.0
	for good < 10 {
		f, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("read after %d good frames: %v (stats %+v)", good, err, r.Stats())
		}
		_, p := bestGenMatch(w, h, f.Pix, 400)
		bestPSNR = math.Max(bestPSNR, p)
		good++
	}
	cancel()
	st := r.Stats()
	t.Logf("stats %+v, best PSNR %.1f dB", st, bestPSNR)
	if st.DepacketizeErrors == 0 {
		t.Error("FU-B packets were not counted as depacketize errors")
	}
	if st.DecodeErrors == 0 {
		t.Error("slices with an invalid PPS id were not counted as decode errors")
	}
	if bestPSNR < 28 {
		t.Errorf("no clean frame among the good ones: best PSNR %.1f dB", bestPSNR)
	}
}

// bitsToBytes packs a string of '0'/'1' MSB-first, with an RBSP stop bit.
func bitsToBytes(bits string) []byte {
	bits += "1"
	for len(bits)%8 != 0 {
		bits += "0"
	}
	out := make([]byte, len(bits)/8)
	for i, c := range bits {
		if c == '1' {
			out[i/8] |= 0x80 >> (i % 8)
		}
	}
	return out
}

// TestRTSPErrors: each failure gives its own error quickly, and the
// password in the URL never shows.
func TestRTSPErrors(t *testing.T) {
	const secret = "s3cr3tPa55"
	srv := startServer(t, &cameratest.Server{User: "robot", Pass: secret})
	g := &genSource{W: 160, H: 120}
	g.Start(context.Background())
	defer g.Close()
	if err := srv.Serve("cam", g, 15); err != nil {
		t.Fatal(err)
	}

	// An audio-only publisher: nothing to decode.
	audio := &description.Session{Medias: []*description.Media{{
		Type: description.MediaTypeAudio, Formats: []format.Format{&format.G711{
			PayloadTyp: 0, MULaw: true, SampleRate: 8000, ChannelCount: 1,
		}},
	}}}
	tcp := gortsplib.TransportTCP
	pub := &gortsplib.Client{Transport: &tcp}
	if err := pub.StartRecording(srv.URL("mic"), audio); err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	// A closed port: listen, note the port, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	// A server that accepts and never answers.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	tests := []struct {
		name string
		url  string
		want error
		text string
	}{
		{"refused", "rtsp://robot:" + secret + "@" + closedAddr + "/cam", camera.ErrConnectionRefused, "connection refused"},
		{"not found", "rtsp://robot:" + secret + "@" + srv.Addr() + "/nope", camera.ErrNotFound, "not found"},
		{"unauthorized", "rtsp://robot:wrong" + secret + "@" + srv.Addr() + "/cam", camera.ErrUnauthorized, "unauthorized"},
		{"no credentials", "rtsp://" + srv.Addr() + "/cam", camera.ErrUnauthorized, "unauthorized"},
		{"timeout", "rtsp://robot:" + secret + "@" + mute.Addr().String() + "/cam", camera.ErrTimeout, "timeout"},
		{"audio only", "rtsp://robot:" + secret + "@" + srv.Addr() + "/mic", camera.ErrNoVideoTrack, "stream has: audio G711"},
		{"bad scheme", "http://robot:" + secret + "@" + srv.Addr() + "/cam", camera.ErrBadURL, "bad RTSP URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &camera.RTSP{URL: tc.url, ReadTimeout: 500 * time.Millisecond}
			err := r.Start(context.Background())
			defer r.Close()
			if !errors.Is(err, tc.want) {
				t.Fatalf("Start: %v, want %v", err, tc.want)
			}
			msg := err.Error()
			t.Logf("error: %s", msg)
			if strings.Contains(msg, secret) {
				t.Errorf("error shows the password: %s", msg)
			}
			if !strings.Contains(msg, tc.text) {
				t.Errorf("error %q does not say %q", msg, tc.text)
			}
			if _, err := r.Read(context.Background()); !errors.Is(err, camera.ErrNotStarted) {
				t.Errorf("Read after failed Start: %v", err)
			}
		})
	}

	// The right credentials work.
	r := startRTSP(t, &camera.RTSP{URL: srv.URL("cam")})
	readFrames(t, r, 1, 10*time.Second)
}

// TestRTSPStallTimesOut: a camera that stops sending makes Read fail with
// ErrTimeout after the frames already queued.
func TestRTSPStallTimesOut(t *testing.T) {
	srv := startServer(t, &cameratest.Server{})
	g := &genSource{W: 160, H: 120, Limit: 15}
	g.Start(context.Background())
	defer g.Close()
	if err := srv.Serve("cam", g, 30); err != nil {
		t.Fatal(err)
	}
	r := startRTSP(t, &camera.RTSP{URL: srv.URL("cam"), ReadTimeout: time.Second, Buffer: 32})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	n := 0
	for {
		_, err := r.Read(ctx)
		if err == nil {
			n++
			continue
		}
		if !errors.Is(err, camera.ErrTimeout) {
			t.Fatalf("after %d frames: %v, want ErrTimeout", n, err)
		}
		t.Logf("after %d frames: %v", n, err)
		break
	}
	if n == 0 {
		t.Error("no frame before the stall")
	}
}

func TestRTSPConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		r    *camera.RTSP
		text string
	}{
		{"bad transport", &camera.RTSP{URL: "rtsp://127.0.0.1:1/x", Transport: "sctp"}, `transport "sctp"`},
		{"unparsable URL", &camera.RTSP{URL: "rtsp://u:p@[::1/x"}, "bad RTSP URL"},
		{"unparsable URL, quoted password", &camera.RTSP{URL: "rtsp://u:p\"q@[::1/x"}, "bad RTSP URL"},
		{"empty URL", &camera.RTSP{}, "bad RTSP URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Start(context.Background())
			defer tc.r.Close()
			if err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Start: %v, want an error saying %q", err, tc.text)
			}
			if strings.Contains(err.Error(), "u:p") {
				t.Errorf("credentials in %q", err)
			}
		})
	}
}

// TestRTSPStampsFromSenderReports: once the server's first RTCP sender
// report arrives (gortsplib sends them every 10 s), frames carry the camera's
// clock, here a source whose clock runs one hour behind the wall clock;
// before it they carry the receive time.
func TestRTSPStampsFromSenderReports(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 10 s for the first RTCP sender report")
	}
	const behind = time.Hour
	srv := startServer(t, &cameratest.Server{})
	g := &genSource{W: 64, H: 48, FPS: 10, Epoch: time.Now().Add(-behind)}
	g.Start(context.Background())
	defer g.Close()
	// fps 0: the server paces by the stamps and passes them on as NTP time.
	if err := srv.Serve("cam", g, 0); err != nil {
		t.Fatal(err)
	}
	r := startRTSP(t, &camera.RTSP{URL: srv.URL("cam"), Buffer: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sawLocal := false
	for {
		f, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("no frame with the camera's clock: %v (receive-time frames seen: %v)", err, sawLocal)
		}
		lag := time.Since(f.Stamp)
		switch {
		case lag < 2*time.Second && lag > -2*time.Second:
			sawLocal = true
		case lag > behind-2*time.Second && lag < behind+2*time.Second:
			if !sawLocal {
				t.Error("the first frames already had the camera's clock, before any sender report")
			}
			if !r.Stats().CameraClock {
				t.Error("stamps are on the camera's clock but Stats does not say so")
			}
			return
		default:
			t.Fatalf("frame %d: stamp %v is neither now nor one hour ago", f.Seq, f.Stamp)
		}
	}
}

// TestRTSPCloseAndLeaks: Close unblocks Read, Read after Close says so, and
// closing the source and the server leaves no goroutines behind.
func TestRTSPCloseAndLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	srv := &cameratest.Server{}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	g := &genSource{W: 160, H: 120}
	g.Start(context.Background())
	if err := srv.Serve("cam", g, 30); err != nil {
		t.Fatal(err)
	}
	r := &camera.RTSP{URL: srv.URL("cam")}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	readFrames(t, r, 2, 10*time.Second)

	done := make(chan error, 1)
	go func() {
		// Keep reading until Close interrupts.
		for {
			if _, err := r.Read(context.Background()); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	r.Close()
	r.Close()
	select {
	case err := <-done:
		if !errors.Is(err, camera.ErrClosed) {
			t.Errorf("pending Read returned %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	if _, err := r.Read(context.Background()); !errors.Is(err, camera.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	srv.Close()
	g.Close()

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// BenchmarkRTSPRead640x480 reads a served 640x480 H.264 stream as fast as the
// server can encode it. Encoder and decoder share the machine, so frames/s is
// a floor for the reader alone; allocs/op counts the whole process (server
// included) per frame read; ms/decode is the reader's decode time.
func BenchmarkRTSPRead640x480(b *testing.B) {
	srv := startServer(b, &cameratest.Server{})
	// Stamps 1 ms apart and fps 0: the server sends as fast as it encodes.
	g := &genSource{W: 640, H: 480, FPS: 1000, Cycle: 30}
	g.Start(context.Background())
	defer g.Close()
	if err := srv.Serve("cam", g, 0); err != nil {
		b.Fatal(err)
	}
	r := startRTSP(b, &camera.RTSP{URL: srv.URL("cam"), Buffer: 64})
	readFrames(b, r, 2, 10*time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	readFrames(b, r, b.N, time.Minute)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
	b.StopTimer()
	st := r.Stats()
	b.ReportMetric(float64(st.DecodeTotal.Microseconds())/1000/float64(st.FramesDecoded), "ms/decode")
}
