package camera

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/parallax-robotics/parallax/msgs"
)

// Errors returned by the RTSP source. Each error also names the (redacted)
// URL and the underlying cause; test for the kind with errors.Is.
var (
	// ErrNoVideoTrack is returned by Start when the stream offers no video
	// track in a codec the source can decode.
	ErrNoVideoTrack = errors.New("camera: no supported video track")
	// ErrConnectionRefused is returned when nothing listens at the address.
	ErrConnectionRefused = errors.New("camera: connection refused")
	// ErrUnauthorized is returned when the server rejects the credentials (401).
	ErrUnauthorized = errors.New("camera: unauthorized")
	// ErrNotFound is returned when the server does not know the path (404).
	ErrNotFound = errors.New("camera: stream not found")
	// ErrTimeout is returned when the server stops answering or sending.
	ErrTimeout = errors.New("camera: timeout")
	// ErrBadURL is returned by Start for a URL that is not rtsp:// or rtsps://.
	ErrBadURL = errors.New("camera: bad RTSP URL")
	// ErrNotStarted is returned by Read before Start succeeded.
	ErrNotStarted = errors.New("camera: source not started")
)

// RTSP is a live camera read over RTSP. It plays the first video track it can
// decode (H.264, H.265 or MJPEG), decodes every frame to RGB and hands the
// frames to Read.
//
// A live camera must never build up latency: when the reader falls behind,
// the oldest queued frame is dropped (and counted in Stats), so Read always
// returns recent frames.
//
// Stamps: until the camera's first RTCP sender report, a frame's Stamp is
// the receive time of the stream's first packet plus the RTP time elapsed
// since; from the first report on it is the camera's clock (NTP). Cameras
// send reports every few seconds (gortsplib servers every 10 s), so the
// stamps of a camera whose clock is off jump once, early in the stream.
type RTSP struct {
	// URL of the stream, rtsp://[user:pass@]host[:port]/path. Credentials are
	// used for authentication and never appear in errors.
	URL string
	// Camera is the name put into every frame ("left", "front").
	// It defaults to "camera".
	Camera string
	// Transport is "tcp" or "udp". TCP is the default because UDP loses
	// packets at high bitrates on busy hosts.
	// It defaults to "tcp".
	Transport string
	// ReadTimeout bounds every RTSP request and the gap between packets.
	// It defaults to 10 seconds.
	ReadTimeout time.Duration
	// Intrinsics, when set, is copied into every frame.
	// It defaults to nil.
	Intrinsics *msgs.Intrinsics
	// Buffer is how many decoded frames wait for Read; when it is full the
	// oldest frame is dropped.
	// It defaults to 2.
	Buffer int

	redacted string
	client   *gortsplib.Client
	media    *description.Media
	frames   chan *msgs.Frame
	closed   chan struct{}
	failed   chan struct{}
	waitDone chan struct{}
	failErr  error
	once     sync.Once
	started  atomic.Bool

	// decMu serialises the packet callback with Close, so the decoder is
	// never used after it is freed.
	decMu     sync.Mutex
	track     *trackDecoder
	decClosed bool
	seq       uint64
	haveBase  bool
	baseTime  time.Time
	basePTS   int64
	clockRate int64

	statsMu sync.Mutex
	stats   RTSPStats
}

// RTSPStats are the counters of an RTSP source.
type RTSPStats struct {
	// Codec is the codec of the track being played ("H264", "H265", "MJPEG").
	Codec string
	// Width and Height are the size of the decoded frames, 0 until the first one.
	Width, Height int
	// FramesDecoded counts the frames decoded and queued for Read.
	FramesDecoded uint64
	// FramesDropped counts decoded frames thrown away because Read was slow.
	FramesDropped uint64
	// DecodeErrors counts access units (or JPEGs) the decoder rejected.
	DecodeErrors uint64
	// PacketsLost counts RTP packets that never arrived (sequence gaps).
	PacketsLost uint64
	// DepacketizeErrors counts RTP payloads that could not be reassembled into
	// an access unit: the trace of lost or malformed packets.
	DepacketizeErrors uint64
	// SkippedUntilKeyframe counts access units skipped while waiting for the
	// first random-access point.
	SkippedUntilKeyframe uint64
	// LastDecode is how long the last successful decode took.
	LastDecode time.Duration
	// DecodeTotal is the time spent in successful decodes; divided by
	// FramesDecoded it is the mean decode time.
	DecodeTotal time.Duration
	// LastFrame is the receive time of the last decoded frame.
	LastFrame time.Time
	// CameraClock is true once frame stamps come from the camera's own clock
	// (an RTCP sender report arrived); until then they are receive times.
	CameraClock bool
}

// Stats returns a snapshot of the counters.
func (r *RTSP) Stats() RTSPStats {
	r.statsMu.Lock()
	defer r.statsMu.Unlock()
	return r.stats
}

// Start connects, picks the video track, and starts playing.
func (r *RTSP) Start(ctx context.Context) error {
	if r.Camera == "" {
		r.Camera = "camera"
	}
	if r.Transport == "" {
		r.Transport = "tcp"
	}
	if r.ReadTimeout == 0 {
		r.ReadTimeout = 10 * time.Second
	}
	if r.Buffer <= 0 {
		r.Buffer = 2
	}
	r.redacted = msgs.RedactURL(r.URL)

	var transport gortsplib.Transport
	switch strings.ToLower(r.Transport) {
	case "tcp":
		transport = gortsplib.TransportTCP
	case "udp":
		transport = gortsplib.TransportUDP
	default:
		return fmt.Errorf("camera: transport %q: want \"tcp\" or \"udp\"", r.Transport)
	}

	u, err := base.ParseURL(r.URL)
	if err != nil {
		return r.wrap(ErrBadURL, err)
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return r.wrap(ErrBadURL, fmt.Errorf("scheme %q", u.Scheme))
	}

	r.frames = make(chan *msgs.Frame, r.Buffer)
	r.closed = make(chan struct{})
	r.failed = make(chan struct{})
	r.waitDone = make(chan struct{})

	c := &gortsplib.Client{
		Scheme:       u.Scheme,
		Host:         u.Host,
		ReadTimeout:  r.ReadTimeout,
		WriteTimeout: r.ReadTimeout,
		Transport:    &transport,
		OnPacketsLost: func(lost uint64) {
			r.statsMu.Lock()
			r.stats.PacketsLost += lost
			r.statsMu.Unlock()
		},
		// Non-fatal protocol noise (bad RTCP, unknown payload types) is not
		// a frame problem; the counters above cover what affects frames.
		OnDecodeError: func(error) {},
	}
	if err := c.Start2(); err != nil {
		return r.classify(err)
	}
	// The handshake blocks on the network; a cancelled ctx closes the
	// client under it, so a camera actor that stops while connecting to a
	// silent host leaves no connection behind.
	stop, watched := make(chan struct{}), make(chan struct{})
	var aborted atomic.Bool
	go func() {
		defer close(watched)
		select {
		case <-ctx.Done():
			aborted.Store(true)
			c.Close()
		case <-stop:
		}
	}()
	err = r.handshake(c, u)
	close(stop)
	<-watched
	switch {
	case aborted.Load():
		r.closeTrack()
		return fmt.Errorf("camera: %s: %w", r.redacted, ctx.Err())
	case err != nil:
		c.Close()
		r.closeTrack()
		return err
	}
	r.started.Store(true)
	go func() {
		defer close(r.waitDone)
		err := c.Wait()
		select {
		case <-r.closed:
		default:
			r.failErr = r.classify(err)
			close(r.failed)
		}
	}()
	return nil
}

// handshake describes the stream, picks its video track, sets it up and
// plays it. On error the caller closes the client and the track.
func (r *RTSP) handshake(c *gortsplib.Client, u *base.URL) error {
	desc, _, err := c.Describe(u)
	if err != nil {
		return r.classify(err)
	}
	medi, forma := pickVideo(desc)
	if medi == nil {
		return fmt.Errorf("%w (stream has: %s) at %s", ErrNoVideoTrack, describeMedias(desc), r.redacted)
	}
	track, err := newTrackDecoder(forma)
	if err != nil {
		return fmt.Errorf("camera: %s at %s: %w", forma.Codec(), r.redacted, err)
	}
	r.track = track
	r.media = medi
	r.clockRate = int64(forma.ClockRate())
	r.stats.Codec = track.codec.String()
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return r.classify(err)
	}
	r.client = c
	c.OnPacketRTP(medi, forma, r.onPacket)
	if _, err := c.Play(nil); err != nil {
		return r.classify(err)
	}
	return nil
}

// closeTrack frees the decoder of a handshake that did not finish.
func (r *RTSP) closeTrack() {
	r.client = nil
	if r.track != nil {
		r.track.close()
		r.track = nil
	}
}

// onPacket runs on gortsplib's reader goroutine for every RTP packet.
func (r *RTSP) onPacket(pkt *rtp.Packet) {
	r.decMu.Lock()
	defer r.decMu.Unlock()
	if r.decClosed {
		return
	}
	t0 := time.Now()
	img, res := r.track.push(pkt)
	switch res {
	case pushDepacketizeError:
		r.count(func(s *RTSPStats) { s.DepacketizeErrors++ })
		return
	case pushDecodeError:
		r.count(func(s *RTSPStats) { s.DecodeErrors++ })
		return
	case pushSkipped:
		r.count(func(s *RTSPStats) { s.SkippedUntilKeyframe++ })
		return
	case pushNone:
		return
	}
	now := time.Now()
	f := &msgs.Frame{
		Camera:     r.Camera,
		Seq:        r.seq,
		Stamp:      r.stamp(pkt, t0),
		Width:      img.Width,
		Height:     img.Height,
		Pix:        img.Pix,
		Intrinsics: r.intrinsics(),
	}
	r.seq++
	dropped := r.enqueue(f)
	r.statsMu.Lock()
	r.stats.FramesDecoded++
	r.stats.FramesDropped += dropped
	r.stats.Width, r.stats.Height = img.Width, img.Height
	r.stats.LastDecode = now.Sub(t0)
	r.stats.DecodeTotal += now.Sub(t0)
	r.stats.LastFrame = now
	r.statsMu.Unlock()
}

func (r *RTSP) count(f func(*RTSPStats)) {
	r.statsMu.Lock()
	f(&r.stats)
	r.statsMu.Unlock()
}

func (r *RTSP) intrinsics() *msgs.Intrinsics {
	if r.Intrinsics == nil {
		return nil
	}
	k := *r.Intrinsics
	return &k
}

// stamp maps the packet's RTP time to wall time: through the camera's RTCP
// sender reports when it sends them, else from the receive time of the first
// packet plus the RTP time elapsed since, so the camera's own frame spacing
// survives network jitter.
func (r *RTSP) stamp(pkt *rtp.Packet, recv time.Time) time.Time {
	if ntp, ok := r.client.PacketNTP(r.media, pkt); ok {
		r.count(func(s *RTSPStats) { s.CameraClock = true })
		return ntp
	}
	pts, ok := r.client.PacketPTS2(r.media, pkt)
	if !ok {
		return recv
	}
	if !r.haveBase {
		r.haveBase, r.baseTime, r.basePTS = true, recv, pts
	}
	d := pts - r.basePTS
	// Split to avoid overflowing d*1e9 on long streams.
	ns := d/r.clockRate*int64(time.Second) + d%r.clockRate*int64(time.Second)/r.clockRate
	return r.baseTime.Add(time.Duration(ns))
}

// enqueue queues f, dropping the oldest queued frames while the queue is
// full. It returns the number of frames dropped.
func (r *RTSP) enqueue(f *msgs.Frame) uint64 {
	var dropped uint64
	for {
		select {
		case r.frames <- f:
			return dropped
		default:
		}
		select {
		case <-r.frames:
			dropped++
		default:
		}
	}
}

// Read returns the next decoded frame. Frames already queued are returned
// even after the connection failed; then the failure is returned.
func (r *RTSP) Read(ctx context.Context) (*msgs.Frame, error) {
	if !r.started.Load() {
		return nil, ErrNotStarted
	}
	select {
	case <-r.closed:
		return nil, ErrClosed
	default:
	}
	select {
	case f := <-r.frames:
		return f, nil
	default:
	}
	select {
	case f := <-r.frames:
		return f, nil
	case <-r.closed:
		return nil, ErrClosed
	case <-r.failed:
		select {
		case f := <-r.frames:
			return f, nil
		default:
		}
		return nil, r.failErr
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops the client and frees the decoder. It is safe to call more
// than once and from any goroutine.
func (r *RTSP) Close() error {
	r.once.Do(func() {
		if r.closed == nil {
			return
		}
		close(r.closed)
		// The client goes first: its reader goroutine runs onPacket, which
		// must not touch a freed decoder.
		if r.client != nil {
			r.client.Close()
			<-r.waitDone
		}
		r.decMu.Lock()
		r.decClosed = true
		if r.track != nil {
			r.track.close()
		}
		r.decMu.Unlock()
	})
	return nil
}

// wrap builds an error of kind sentinel about this source whose text carries
// no credentials.
func (r *RTSP) wrap(sentinel, cause error) error {
	return &rtspError{
		msg:  sentinel.Error() + ": " + r.redacted + ": " + msgs.RedactText(cause.Error(), r.URL),
		kind: sentinel,
		err:  cause,
	}
}

// classify turns a gortsplib or network error into one of the sentinels.
func (r *RTSP) classify(err error) error {
	var bad liberrors.ErrClientBadStatusCode
	var nerr net.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ECONNREFUSED):
		return r.wrap(ErrConnectionRefused, err)
	case errors.As(err, &bad) && bad.Code == base.StatusUnauthorized:
		return r.wrap(ErrUnauthorized, err)
	case errors.As(err, &bad) && bad.Code == base.StatusNotFound:
		return r.wrap(ErrNotFound, err)
	case errors.As(err, &nerr) && nerr.Timeout(),
		errors.Is(err, context.DeadlineExceeded),
		errors.As(err, new(liberrors.ErrClientTCPTimeout)),
		errors.As(err, new(liberrors.ErrClientUDPTimeout)),
		errors.As(err, new(liberrors.ErrClientRequestTimedOut)):
		return r.wrap(ErrTimeout, err)
	}
	return &rtspError{
		msg: "camera: " + r.redacted + ": " + msgs.RedactText(err.Error(), r.URL),
		err: err,
	}
}

// rtspError carries a credential-free message and unwraps to both its kind
// (a sentinel) and the original cause.
type rtspError struct {
	msg  string
	kind error
	err  error
}

func (e *rtspError) Error() string { return e.msg }

func (e *rtspError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.err}
	}
	return []error{e.kind, e.err}
}

// pickVideo returns the first video media and format the source can decode.
func pickVideo(desc *description.Session) (*description.Media, format.Format) {
	for _, m := range desc.Medias {
		if m.Type != description.MediaTypeVideo {
			continue
		}
		for _, f := range m.Formats {
			switch f.(type) {
			case *format.H264, *format.H265, *format.MJPEG:
				return m, f
			}
		}
	}
	return nil, nil
}

// describeMedias lists what a stream offers, for error messages.
func describeMedias(desc *description.Session) string {
	var parts []string
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			parts = append(parts, string(m.Type)+" "+f.Codec())
		}
	}
	if len(parts) == 0 {
		return "no tracks"
	}
	return strings.Join(parts, ", ")
}
