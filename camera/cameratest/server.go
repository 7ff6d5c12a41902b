package cameratest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/codec"
	"github.com/parallax-robotics/parallax/msgs"
)

// Errors returned by the server.
var (
	// ErrNotStarted is returned by Serve before Start.
	ErrNotStarted = errors.New("cameratest: server not started")
	// ErrPathInUse is returned by Serve when the path is already served or
	// published to.
	ErrPathInUse = errors.New("cameratest: path in use")
	// ErrBadPath is returned by Serve for an empty path.
	ErrBadPath = errors.New("cameratest: empty path")
	// ErrBadFrame is returned by Serve when the source's first frame has no
	// pixels or an odd size (H.264 with 4:2:0 chroma needs even sizes).
	ErrBadFrame = errors.New("cameratest: bad frame")
)

// Server is an RTSP server for tests and demos. It serves frames of any
// camera.Source as real H.264 (Serve), and accepts publishers (ffmpeg -f rtsp)
// on every other path, relaying their packets to readers of that path.
type Server struct {
	// Address is where the RTSP server listens.
	// It defaults to "127.0.0.1:0", a free port; see Addr after Start.
	Address string
	// UDP enables the UDP transport besides TCP, on a free even RTP port and
	// the next one for RTCP.
	// It defaults to false.
	UDP bool
	// User and Pass, when User is set, are required from every reader and
	// publisher.
	// They default to empty (no authentication).
	User, Pass string
	// WriteQueueSize is the number of packets queued for each reader; it must
	// be a power of two. 256 overflows on 720p keyframes.
	// It defaults to 4096.
	WriteQueueSize int
	// GOP is the keyframe interval of served streams in frames; a reader
	// joining late waits up to this long for its first picture.
	// It defaults to 10.
	GOP int
	// BitsPerPixel sets the bitrate of served streams as bits per pixel per
	// frame.
	// It defaults to 0.3.
	BitsPerPixel float64
	// Mangle, when set, sees every RTP packet of the served streams before
	// it goes out, for fault injection: it may change the packet in place
	// (flip bits, cut the payload) and returns false to drop it. It runs
	// on the serving goroutine of the path.
	// It defaults to nil (packets go out as encoded).
	Mangle func(path string, pkt *rtp.Packet) bool
	// Logf, when set, receives one line per notable event (publisher
	// connected, encode error).
	// It defaults to nil (silent).
	Logf func(format string, args ...any)

	srv    *gortsplib.Server
	addr   string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	paths map[string]*path

	// conns and sessions count the RTSP connections and sessions open now,
	// so a test can tell a reader that closed from one that leaked.
	conns, sessions atomic.Int64
}

// path is one stream on the server: served from a Source or published.
type path struct {
	stream    *gortsplib.ServerStream
	publisher *gortsplib.ServerSession // nil for served paths
	served    bool
}

// Start listens and starts serving.
func (s *Server) Start() error {
	if s.Address == "" {
		s.Address = "127.0.0.1:0"
	}
	if s.WriteQueueSize == 0 {
		s.WriteQueueSize = 4096
	}
	if s.GOP <= 0 {
		s.GOP = 10
	}
	if s.BitsPerPixel <= 0 {
		s.BitsPerPixel = 0.3
	}
	s.paths = make(map[string]*path)
	s.ctx, s.cancel = context.WithCancel(context.Background())

	var lastErr error
	// Free UDP port pairs are found by trying: another process may take the
	// second port between the probe and the listen.
	for attempt := 0; attempt < 20; attempt++ {
		srv := &gortsplib.Server{
			Handler:        handler{s},
			RTSPAddress:    s.Address,
			WriteQueueSize: s.WriteQueueSize,
			Listen: func(network, address string) (net.Listener, error) {
				ln, err := net.Listen(network, address)
				if err == nil {
					s.addr = ln.Addr().String()
				}
				return ln, err
			},
		}
		if s.UDP {
			host, _, err := net.SplitHostPort(s.Address)
			if err != nil {
				return fmt.Errorf("cameratest: address %q: %w", s.Address, err)
			}
			rtpPort, err := freeEvenUDPPort(host)
			if err != nil {
				return fmt.Errorf("cameratest: UDP ports: %w", err)
			}
			srv.UDPRTPAddress = net.JoinHostPort(host, strconv.Itoa(rtpPort))
			srv.UDPRTCPAddress = net.JoinHostPort(host, strconv.Itoa(rtpPort+1))
		}
		s.srv = srv
		lastErr = srv.Start()
		if lastErr == nil {
			return nil
		}
		if !s.UDP {
			break
		}
	}
	s.cancel()
	return fmt.Errorf("cameratest: start: %w", lastErr)
}

// freeEvenUDPPort returns an even port p such that p and p+1 were both free.
func freeEvenUDPPort(host string) (int, error) {
	for i := 0; i < 50; i++ {
		c1, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, err
		}
		p := c1.LocalAddr().(*net.UDPAddr).Port
		if p%2 != 0 {
			c1.Close()
			continue
		}
		c2, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(p+1)))
		c1.Close()
		if err != nil {
			continue
		}
		c2.Close()
		return p, nil
	}
	return 0, errors.New("no free even/odd port pair")
}

// Addr returns the address the server listens on (host:port), valid after Start.
func (s *Server) Addr() string { return s.addr }

// URL returns the rtsp:// URL of a path on this server, with the server's
// credentials when it has some.
func (s *Server) URL(p string) string {
	user := ""
	if s.User != "" {
		user = s.User + ":" + s.Pass + "@"
	}
	return "rtsp://" + user + s.addr + "/" + strings.Trim(p, "/")
}

// Close stops the server, every served stream and disconnects every client.
// Sources passed to Serve are not closed: they belong to the caller.
func (s *Server) Close() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.wg.Wait()
	s.srv.Close()
	s.mu.Lock()
	for k, p := range s.paths {
		p.stream.Close()
		delete(s.paths, k)
	}
	s.mu.Unlock()
}

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// Serve publishes the frames of src on rtsp://Addr()/p as H.264. src must be
// started; Serve reads its first frame to size the encoder, so when it
// returns nil the path is ready for readers. Frames are sent at fps when
// fps > 0, else at the pace of the frames' stamps (a live source paces
// itself). A frame of a new size restarts the encoder, whose first access
// unit is an IDR picture with the new SPS and PPS in-band, as a camera
// reconfigured mid-stream sends it. The stream ends when src returns an
// error or the server closes.
func (s *Server) Serve(p string, src camera.Source, fps int) error {
	if s.srv == nil {
		return ErrNotStarted
	}
	key := strings.Trim(p, "/")
	if key == "" {
		return ErrBadPath
	}
	s.mu.Lock()
	_, busy := s.paths[key]
	s.mu.Unlock()
	if busy {
		return fmt.Errorf("%w: %s", ErrPathInUse, key)
	}

	first, err := src.Read(s.ctx)
	if err != nil {
		return fmt.Errorf("cameratest: serve %s: first frame: %w", key, err)
	}
	if first.Width <= 0 || first.Height <= 0 || first.Width%2 != 0 || first.Height%2 != 0 ||
		len(first.Pix) != first.Width*first.Height*3 {
		return fmt.Errorf("%w: %dx%d with %d bytes", ErrBadFrame, first.Width, first.Height, len(first.Pix))
	}
	encFPS := fps
	if encFPS <= 0 {
		encFPS = 30
	}
	enc, err := codec.NewEncoder(codec.EncoderConfig{
		Width:   first.Width,
		Height:  first.Height,
		FPS:     encFPS,
		GOP:     s.GOP,
		Bitrate: int(s.BitsPerPixel * float64(first.Width*first.Height*encFPS)),
	})
	if err != nil {
		return fmt.Errorf("cameratest: serve %s: %w", key, err)
	}
	// Encode the first frame before announcing the stream: the SPS and PPS
	// exist only then, and clients such as ffprobe want them in the SDP.
	au, err := enc.Encode(&codec.RGB{Width: first.Width, Height: first.Height, Pix: first.Pix})
	if err != nil {
		enc.Close()
		return fmt.Errorf("cameratest: serve %s: encode: %w", key, err)
	}
	forma := &format.H264{
		PayloadTyp:        96,
		PacketizationMode: 1,
		SPS:               enc.SPS(),
		PPS:               enc.PPS(),
	}
	rtpEnc, err := forma.CreateEncoder()
	if err != nil {
		enc.Close()
		return fmt.Errorf("cameratest: serve %s: %w", key, err)
	}
	medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	stream := &gortsplib.ServerStream{
		Server: s.srv,
		Desc:   &description.Session{Medias: []*description.Media{medi}},
	}
	if err := stream.Initialize(); err != nil {
		enc.Close()
		return fmt.Errorf("cameratest: serve %s: %w", key, err)
	}

	s.mu.Lock()
	if _, busy := s.paths[key]; busy {
		s.mu.Unlock()
		stream.Close()
		enc.Close()
		return fmt.Errorf("%w: %s", ErrPathInUse, key)
	}
	s.paths[key] = &path{stream: stream, served: true}
	s.mu.Unlock()

	sp := &servedPath{
		s: s, key: key, src: src, fps: fps, enc: enc, rtpEnc: rtpEnc,
		stream: stream, medi: medi, rtpBase: randUint32(),
	}
	s.wg.Add(1)
	go sp.run(first, au)
	return nil
}

// servedPath is the goroutine state of one Serve call.
type servedPath struct {
	s       *Server
	key     string
	src     camera.Source
	fps     int
	enc     *codec.Encoder
	rtpEnc  *rtph264.Encoder
	stream  *gortsplib.ServerStream
	medi    *description.Media
	rtpBase uint32

	start      time.Time // wall time of the first frame
	firstStamp time.Time // source stamp of the first frame
	n          int       // frames sent
}

func (sp *servedPath) run(first *msgs.Frame, au [][]byte) {
	defer sp.s.wg.Done()
	defer func() { sp.enc.Close() }()
	sp.start = time.Now()
	sp.firstStamp = first.Stamp
	sp.send(first, au, 0)
	for {
		f, err := sp.src.Read(sp.s.ctx)
		if err != nil {
			if sp.s.ctx.Err() == nil {
				sp.s.logf("cameratest: %s: source ended: %v", sp.key, err)
			}
			return
		}
		sp.n++
		due := sp.due(f)
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-sp.s.ctx.Done():
				t.Stop()
				return
			}
		}
		if f.Width <= 0 || f.Height <= 0 || f.Width%2 != 0 || f.Height%2 != 0 || len(f.Pix) != f.Width*f.Height*3 {
			sp.s.logf("cameratest: %s: frame %d is %dx%d with %d bytes: skipped", sp.key, f.Seq, f.Width, f.Height, len(f.Pix))
			continue
		}
		if cfg := sp.enc.Config(); f.Width != cfg.Width || f.Height != cfg.Height {
			// A camera reconfigured mid-stream: a new encoder, whose first
			// access unit is an IDR picture with the new SPS and PPS
			// in-band, as a real camera sends them.
			cfg.Width, cfg.Height = f.Width, f.Height
			cfg.Bitrate = int(sp.s.BitsPerPixel * float64(f.Width*f.Height*cfg.FPS))
			enc, err := codec.NewEncoder(cfg)
			if err != nil {
				sp.s.logf("cameratest: %s: %dx%d encoder: %v", sp.key, f.Width, f.Height, err)
				continue
			}
			sp.enc.Close()
			sp.enc = enc
			sp.s.logf("cameratest: %s: resolution now %dx%d", sp.key, f.Width, f.Height)
		}
		au, err := sp.enc.Encode(&codec.RGB{Width: f.Width, Height: f.Height, Pix: f.Pix})
		if err != nil {
			sp.s.logf("cameratest: %s: encode: %v", sp.key, err)
			continue
		}
		sp.send(f, au, due.Sub(sp.start))
	}
}

// due is when frame number sp.n should go out.
func (sp *servedPath) due(f *msgs.Frame) time.Time {
	if sp.fps > 0 {
		return sp.start.Add(time.Duration(sp.n) * time.Second / time.Duration(sp.fps))
	}
	if !f.Stamp.IsZero() && !sp.firstStamp.IsZero() && f.Stamp.After(sp.firstStamp) {
		return sp.start.Add(f.Stamp.Sub(sp.firstStamp))
	}
	return time.Now()
}

func (sp *servedPath) send(f *msgs.Frame, au [][]byte, pts time.Duration) {
	if len(au) == 0 {
		return
	}
	pkts, err := sp.rtpEnc.Encode(au)
	if err != nil {
		sp.s.logf("cameratest: %s: packetize: %v", sp.key, err)
		return
	}
	ntp := f.Stamp
	if ntp.IsZero() {
		ntp = time.Now()
	}
	ts := sp.rtpBase + uint32(pts*90000/time.Second)
	for _, pkt := range pkts {
		pkt.Timestamp = ts
		if sp.s.Mangle != nil && !sp.s.Mangle(sp.key, pkt) {
			continue
		}
		if err := sp.stream.WritePacketRTPWithNTP(sp.medi, pkt, ntp); err != nil {
			sp.s.logf("cameratest: %s: write: %v", sp.key, err)
			return
		}
	}
}

func randUint32() uint32 {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0
	}
	return binary.BigEndian.Uint32(b[:])
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (s handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !s.authorized(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	st := s.stream(ctx.Path)
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

// OnAnnounce implements gortsplib.ServerHandlerOnAnnounce: a publisher takes
// over a path that is not served from a Source.
func (s handler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	if !s.authorized(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	}
	key := strings.Trim(ctx.Path, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.paths[key]; ok {
		if old.served {
			return &base.Response{StatusCode: base.StatusBadRequest},
				fmt.Errorf("%w: %s is served from a source", ErrPathInUse, key)
		}
		// The newest publisher wins, like a camera that reconnects.
		old.stream.Close()
		old.publisher.Close()
	}
	stream := &gortsplib.ServerStream{Server: s.srv, Desc: ctx.Description}
	if err := stream.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, err
	}
	s.paths[key] = &path{stream: stream, publisher: ctx.Session}
	s.logf("cameratest: publisher on /%s", key)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (s handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	// Publishers set up the tracks they announced: no stream to attach to.
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	if !s.authorized(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	st := s.stream(ctx.Path)
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (s handler) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnRecord implements gortsplib.ServerHandlerOnRecord: relay the publisher's
// packets, unchanged, to the readers of its path.
func (s handler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	st := s.stream(ctx.Path)
	if st == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil
	}
	ctx.Session.OnPacketRTPAny(func(medi *description.Media, _ format.Format, pkt *rtp.Packet) {
		// A full reader queue only drops packets for that reader.
		_ = st.WritePacketRTP(medi, pkt)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// Conns returns the number of RTSP (TCP) connections open now: readers and
// publishers, with or without a session.
func (s *Server) Conns() int { return int(s.conns.Load()) }

// Sessions returns the number of RTSP sessions open now (a reader that has
// sent SETUP, or a publisher).
func (s *Server) Sessions() int { return int(s.sessions.Load()) }

// OnConnOpen implements gortsplib.ServerHandlerOnConnOpen.
func (s handler) OnConnOpen(*gortsplib.ServerHandlerOnConnOpenCtx) { s.conns.Add(1) }

// OnConnClose implements gortsplib.ServerHandlerOnConnClose.
func (s handler) OnConnClose(*gortsplib.ServerHandlerOnConnCloseCtx) { s.conns.Add(-1) }

// OnSessionOpen implements gortsplib.ServerHandlerOnSessionOpen.
func (s handler) OnSessionOpen(*gortsplib.ServerHandlerOnSessionOpenCtx) { s.sessions.Add(1) }

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose: when a
// publisher leaves, its path goes away and its readers are disconnected.
func (s handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s.sessions.Add(-1)
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range s.paths {
		if p.publisher != nil && p.publisher == ctx.Session {
			p.stream.Close()
			delete(s.paths, k)
		}
	}
}

func (s *Server) stream(p string) *gortsplib.ServerStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pa, ok := s.paths[strings.Trim(p, "/")]; ok {
		return pa.stream
	}
	return nil
}

func (s *Server) authorized(conn *gortsplib.ServerConn, req *base.Request) bool {
	if s.User == "" {
		return true
	}
	return conn.VerifyCredentials(req, s.User, s.Pass)
}

// Paths returns the paths currently served or published, for diagnostics.
func (s *Server) Paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.paths))
	for k := range s.paths {
		out = append(out, k)
	}
	return out
}

// handler receives the gortsplib server callbacks; it is a separate type so
// they stay out of Server's API.
type handler struct{ *Server }
