package viewer

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parallax-robotics/parallax/msgs"
)

// The viewer's errors.
var (
	// ErrInsecure: the viewer would listen beyond loopback without TLS or
	// without a token.
	ErrInsecure = errors.New("viewer: listening beyond loopback needs TLS (a certificate and key) and a token")
	// ErrConfig: a configuration value is out of range.
	ErrConfig = errors.New("viewer: invalid configuration")
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("viewer: already started")
	// ErrClosed: the viewer was closed.
	ErrClosed = errors.New("viewer: closed")
)

// Subprotocols are the WebSocket subprotocols of Foxglove's protocol the
// viewer accepts, in its order of preference: the SDK's name and the
// original one (the same protocol). It answers with the one the client
// offered.
var Subprotocols = []string{"foxglove.sdk.v1", "foxglove.websocket.v1"}

// Defaults of the Viewer's fields.
const (
	DefaultListen        = "127.0.0.1:8765"
	DefaultName          = "parallax"
	DefaultCloudStep     = 4
	DefaultImageRate     = 10
	DefaultSendBuffer    = 4 << 20
	DefaultPathLength    = 2000
	DefaultHealthTimeout = 3 * time.Second
)

// Viewer is the node's live view: one HTTP listener that serves Foxglove's
// WebSocket protocol (on /, for Foxglove Studio and any client of the
// protocol), a built-in web page (/ in a browser, with its own feed on
// /feed), Prometheus metrics (/metrics), a health check (/healthz) and a
// Foxglove layout for the node's rig (/layout.json). It is a sink of the
// node (actors.Sink by its methods: Name, Open, Write, Close): the node
// hands it every output, and it never blocks the node, whatever its
// clients do. The package documentation has the details.
type Viewer struct {
	// Listen is the address, host:port (port 0: any free one). Beyond
	// loopback, TLSCert, TLSKey and Token are required. It defaults to
	// "127.0.0.1:8765".
	Listen string
	// TLSCert and TLSKey are PEM files of the server's certificate and key:
	// with both the viewer serves https and wss only. They default to "".
	TLSCert, TLSKey string
	// Token, when set, is required of every request but /healthz, as
	// ?token=TOKEN in the URL or an "Authorization: Bearer TOKEN" header.
	// It defaults to "": none (loopback only).
	Token string
	// ServerName is the server's name in Foxglove's serverInfo and on the
	// page. It defaults to "parallax".
	ServerName string
	// DepthMin and DepthMax fix the colour range of the depth images, in
	// metres; with either 0 the range follows each map (its 2nd and 98th
	// percentiles, smoothed). They default to 0: automatic.
	DepthMin, DepthMax float64
	// CloudStep is the point cloud's subsampling: every CloudStep-th pixel
	// in x and y. It defaults to 4.
	CloudStep int
	// ImageRate is how many camera previews a second and camera the viewer
	// encodes (JPEG), when anyone looks. It defaults to 10.
	ImageRate float64
	// SendBuffer bounds, in bytes, what waits for one client: beyond it
	// messages are dropped (counted, and reported to that client as a
	// status warning). It defaults to 4 MiB.
	SendBuffer int
	// PathLength is how many poses the trajectory keeps; a longer drive is
	// thinned evenly. It defaults to 2000.
	PathLength int
	// HealthTimeout is how old the last diagnostics and each camera's last
	// result may be for /healthz to answer 200. It defaults to 3 s.
	HealthTimeout time.Duration
	// Counters, when set, returns the node's own counters for /metrics:
	// what the outputs a sink gets do not carry (frames in per camera,
	// publish counts, the latency distribution, reconnections). The node's
	// runner fills it (cmd/parallax: from actors.Node). It defaults to nil:
	// only what the viewer sees itself is exported.
	Counters func() NodeCounters
	// Logger receives connection and error logs. It defaults to
	// slog.Default().
	Logger *slog.Logger

	mu      sync.Mutex
	started bool
	closed  bool
	ln      net.Listener
	srv     *http.Server
	served  chan struct{}
	scheme  string
	session string

	state atomic.Pointer[rigState] // set by Open

	cmu     sync.Mutex
	clients map[*client]struct{}
	nextID  atomic.Uint64

	stats viewerStats
	mt    metricsState
	page  pageState
}

// rigState is what Open builds for one rig: the channels, and per camera
// what the writes keep (Write runs on one goroutine; the HTTP handlers
// read only the channels and the snapshots under their own locks).
type rigState struct {
	rig  *msgs.Rig
	ch   *channels
	refs []string
	cams map[string]*cameraState

	info, advertise []byte // the serverInfo and advertise messages
	layout          []byte

	// Write's own state.
	imageEvery time.Duration
	tfStatic   time.Time
	path       pathState
	pathSent   time.Time
}

// Name is the sink's name: "viewer".
func (v *Viewer) Name() string { return "viewer" }

// defaults fills the zero fields and checks the others.
func (v *Viewer) defaults() error {
	if v.Listen == "" {
		v.Listen = DefaultListen
	}
	if v.ServerName == "" {
		v.ServerName = DefaultName
	}
	if v.CloudStep <= 0 {
		v.CloudStep = DefaultCloudStep
	}
	if v.ImageRate <= 0 {
		v.ImageRate = DefaultImageRate
	}
	if v.SendBuffer <= 0 {
		v.SendBuffer = DefaultSendBuffer
	}
	if v.PathLength <= 0 {
		v.PathLength = DefaultPathLength
	}
	if v.HealthTimeout <= 0 {
		v.HealthTimeout = DefaultHealthTimeout
	}
	if v.Logger == nil {
		v.Logger = slog.Default()
	}
	if v.DepthMin < 0 || v.DepthMax < 0 || (v.DepthMin > 0 && v.DepthMax > 0 && v.DepthMin >= v.DepthMax) {
		return fmt.Errorf("%w: depth range %v to %v m: want 0 < min < max, or 0 for automatic", ErrConfig, v.DepthMin, v.DepthMax)
	}
	if v.PathLength < 2 {
		v.PathLength = 2
	}
	if (v.TLSCert == "") != (v.TLSKey == "") {
		return fmt.Errorf("%w: TLS needs both a certificate and a key", ErrConfig)
	}
	if !Loopback(v.Listen) && (v.TLSCert == "" || v.Token == "") {
		return fmt.Errorf("%w: %s is not a loopback address", ErrInsecure, v.Listen)
	}
	return nil
}

// Loopback reports whether a listen address (host:port) accepts only
// connections from this machine: 127.0.0.0/8, ::1 or localhost. An empty
// host listens on every interface.
func Loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Start listens and serves. Open calls it when it was not called before;
// call it yourself to serve (and answer /healthz with 503) before the node
// starts. An address in use, a missing certificate or an insecure
// configuration fail here.
func (v *Viewer) Start() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.closed:
		return ErrClosed
	case v.started:
		return ErrStarted
	}
	if err := v.defaults(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", v.Listen)
	if err != nil {
		return fmt.Errorf("viewer: %w", err)
	}
	v.scheme = "http"
	if v.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(v.TLSCert, v.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("viewer: TLS certificate: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		v.scheme = "https"
	}
	v.ln = ln
	v.session = fmt.Sprint(time.Now().UnixNano())
	v.clients = map[*client]struct{}{}
	v.srv = &http.Server{Handler: v.routes(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(v.Logger.Handler(), slog.LevelDebug)}
	v.served = make(chan struct{})
	go func() {
		defer close(v.served)
		if err := v.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			v.Logger.Error("viewer: serving stopped", "err", err)
		}
	}()
	v.started = true
	v.Logger.Info("viewer listening", "url", v.url(), "foxglove", v.wsURL(), "tls", v.TLSCert != "", "token", v.Token != "")
	return nil
}

// Addr returns the address the viewer listens on, nil before Start.
func (v *Viewer) Addr() net.Addr {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ln == nil {
		return nil
	}
	return v.ln.Addr()
}

// URL returns the page's URL (http://host:port/ or https://), "" before
// Start. It does not carry the token.
func (v *Viewer) URL() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.url()
}

// FoxgloveURL returns the address to give Foxglove Studio ("Open
// connection", Foxglove WebSocket): ws://host:port or wss://, "" before
// Start. With a token, append ?token=TOKEN.
func (v *Viewer) FoxgloveURL() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.wsURL()
}

func (v *Viewer) url() string {
	if v.ln == nil {
		return ""
	}
	return v.scheme + "://" + v.ln.Addr().String() + "/"
}

func (v *Viewer) wsURL() string {
	if v.ln == nil {
		return ""
	}
	return strings.Replace(v.scheme, "http", "ws", 1) + "://" + v.ln.Addr().String()
}

// Open prepares the channels of the node's rig, and starts the server
// when Start was not called. Clients already connected get the channels
// advertised.
func (v *Viewer) Open(rig *msgs.Rig) error {
	v.mu.Lock()
	started, closed := v.started, v.closed
	v.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if !started {
		if err := v.defaults(); err != nil {
			return err
		}
	}
	st, err := v.newRigState(rig)
	if err != nil {
		return err
	}
	if !started {
		if err := v.Start(); err != nil {
			return err
		}
	}
	st.info = v.serverInfo(rig)
	v.state.Store(st)
	v.mt.open(rig, st.refs)
	v.cmu.Lock()
	for c := range v.clients {
		if c.kind == kindFoxglove {
			c.q.putControl(item{typ: textMessage, data: st.info})
			c.q.putControl(item{typ: textMessage, data: st.advertise})
		} else {
			c.q.putControl(item{typ: textMessage, data: v.pageHello(st)})
		}
	}
	v.cmu.Unlock()
	return nil
}

func (v *Viewer) newRigState(rig *msgs.Rig) (*rigState, error) {
	if rig == nil || len(rig.Cameras) == 0 {
		return nil, fmt.Errorf("%w: a rig with no cameras", ErrConfig)
	}
	ch, err := newChannels(rig)
	if err != nil {
		return nil, err
	}
	st := &rigState{rig: rig, ch: ch, refs: referenceCameras(rig), cams: map[string]*cameraState{},
		imageEvery: time.Duration(float64(time.Second) / v.ImageRate), path: pathState{max: v.PathLength}}
	ns := string(rig.Namespace)
	topic := func(cam, suffix string) *channel { return ch.byTopic[msgs.RecordingTopic(ns, cam, suffix)] }
	for i, c := range rig.Cameras {
		st.cams[c] = &cameraState{index: i, image: topic(c, msgs.KindImage.String()), info: topic(c, msgs.KindCameraInfo.String()),
			depth: topic(c, msgs.KindDepth.String()), color: topic(c, SuffixDepthColor), mm: topic(c, SuffixDepthMM),
			points: topic(c, SuffixPoints), rng: depthRange{min: v.DepthMin, max: v.DepthMax}}
	}
	if st.advertise, err = advertiseMessage(ch); err != nil {
		return nil, err
	}
	if st.layout, err = Layout(rig); err != nil {
		return nil, err
	}
	return st, nil
}

// Close says goodbye to every client (the channels unadvertised), stops
// the server and releases everything, within about half a second. It is
// safe to call more than once.
func (v *Viewer) Close() error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return nil
	}
	v.closed = true
	srv, served := v.srv, v.served
	v.mu.Unlock()
	if srv == nil {
		return nil
	}
	v.cmu.Lock()
	cs := make([]*client, 0, len(v.clients))
	for c := range v.clients {
		cs = append(cs, c)
	}
	v.cmu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.goodbye(v.state.Load())
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		err = srv.Close()
	}
	<-served
	return err
}

// authorized checks the token of a request: ?token= or a bearer token.
func (v *Viewer) authorized(r *http.Request) bool {
	if v.Token == "" {
		return true
	}
	got := r.URL.Query().Get("token")
	if a := r.Header.Get("Authorization"); got == "" && a != "" {
		if t, ok := strings.CutPrefix(a, "Bearer "); ok {
			got = strings.TrimSpace(t)
		}
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(v.Token)) == 1
}

// routes is the viewer's HTTP API.
func (v *Viewer) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", v.auth(v.serveRoot))
	mux.HandleFunc("GET /feed", v.auth(v.servePageFeed))
	mux.Handle("GET /static/", v.auth(staticHandler().ServeHTTP))
	mux.HandleFunc("GET /metrics", v.auth(v.serveMetrics))
	mux.HandleFunc("GET /healthz", v.serveHealth)
	mux.HandleFunc("GET /layout.json", v.auth(v.serveLayout))
	return mux
}

func (v *Viewer) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !v.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="parallax viewer"`)
			http.Error(w, "viewer: a token is required: add ?token=TOKEN to the URL or send Authorization: Bearer TOKEN", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

// serveRoot answers a WebSocket upgrade with Foxglove's protocol and a
// browser with the page.
func (v *Viewer) serveRoot(w http.ResponseWriter, r *http.Request) {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		v.serveFoxglove(w, r)
		return
	}
	v.servePage(w, r)
}

func (v *Viewer) serveLayout(w http.ResponseWriter, r *http.Request) {
	st := v.state.Load()
	if st == nil {
		http.Error(w, "viewer: the node has not started yet", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="parallax-layout.json"`)
	w.Write(st.layout)
}

// Subscribers returns how many Foxglove subscriptions the topic has now, 0
// for a topic the viewer does not advertise.
func (v *Viewer) Subscribers(topic string) int {
	st := v.state.Load()
	if st == nil {
		return 0
	}
	if ch := st.ch.byTopic[topic]; ch != nil {
		return int(ch.subs.Load())
	}
	return 0
}
