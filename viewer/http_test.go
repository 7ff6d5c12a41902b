package viewer_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"image/jpeg"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/parallax-robotics/parallax/internal/certtest"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
	"github.com/parallax-robotics/parallax/viewer"
	"github.com/parallax-robotics/parallax/viewer/viewertest"
)

// get fetches url with an optional bearer token.
func get(t testing.TB, client *http.Client, url, bearer string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape fetches /metrics and parses it with Prometheus' own text parser.
func scrape(t testing.TB, url, bearer string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, nil, url, bearer)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return fams
}

// sum adds a family's samples (counters, gauges; a histogram's count).
func sum(f *dto.MetricFamily) float64 {
	s := 0.0
	for _, m := range f.GetMetric() {
		switch {
		case m.Counter != nil:
			s += m.Counter.GetValue()
		case m.Gauge != nil:
			s += m.Gauge.GetValue()
		case m.Histogram != nil:
			s += float64(m.Histogram.GetSampleCount())
		}
	}
	return s
}

// TestMetrics: /metrics parses with Prometheus' text parser, has every
// family with its type, and its counters move between two scrapes.
func TestMetrics(t *testing.T) {
	var calls float64
	v := open(t, &viewer.Viewer{Counters: func() viewer.NodeCounters {
		calls++
		n := uint64(calls * 10)
		return viewer.NodeCounters{
			Cameras:         map[string]viewer.CameraCounters{"left": {FramesIn: n, Dropped: 1}, "right": {FramesIn: n + 1}},
			FramesProcessed: n, Published: 5 * n, DroppedStale: 2, NATSReconnects: 1,
			Latency: viewer.Histogram{Bounds: []float64{0.01, 0.1}, Counts: []uint64{n / 2, n}, Count: n + 1, Sum: 0.05 * calls},
			Sinks:   map[string]viewer.SinkCounters{"nats": {Written: n}, "viewer": {Written: n, Dropped: 3}},
		}
	}})
	feed(t, v, 20*time.Millisecond)
	c, err := viewertest.Dial(ctxFor(t, 10*time.Second), v.FoxgloveURL(), viewer.Subprotocols[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe(ctxFor(t, time.Second), "test.odom"); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, err := c.Next(context.Background()); err != nil {
				return
			}
		}
	}()
	time.Sleep(1200 * time.Millisecond) // learner stats and diagnostics come every tenth result
	first := scrape(t, v.URL()+"metrics", "")
	time.Sleep(500 * time.Millisecond)
	second := scrape(t, v.URL()+"metrics", "")
	types := map[string]dto.MetricType{
		"parallax_frames_in_total": dto.MetricType_COUNTER, "parallax_frames_out_total": dto.MetricType_COUNTER,
		"parallax_source_frames_dropped_total": dto.MetricType_COUNTER, "parallax_frames_dropped_total": dto.MetricType_COUNTER,
		"parallax_frames_processed_total": dto.MetricType_COUNTER, "parallax_latency_seconds": dto.MetricType_HISTOGRAM,
		"parallax_inference_duration_seconds": dto.MetricType_HISTOGRAM, "parallax_nats_published_total": dto.MetricType_COUNTER,
		"parallax_nats_publish_errors_total": dto.MetricType_COUNTER, "parallax_nats_reconnects_total": dto.MetricType_COUNTER,
		"parallax_camera_reconnects_total": dto.MetricType_COUNTER, "parallax_sink_written_total": dto.MetricType_COUNTER,
		"parallax_sink_dropped_total": dto.MetricType_COUNTER, "parallax_sink_errors_total": dto.MetricType_COUNTER,
		"parallax_learner_steps_total": dto.MetricType_COUNTER, "parallax_learner_steps_per_second": dto.MetricType_GAUGE,
		"parallax_learner_step_seconds": dto.MetricType_GAUGE, "parallax_learner_rollbacks_total": dto.MetricType_COUNTER,
		"parallax_learner_loss": dto.MetricType_GAUGE, "parallax_learner_abs_rel": dto.MetricType_GAUGE,
		"parallax_learner_weights_version": dto.MetricType_GAUGE, "parallax_learner_adapting": dto.MetricType_GAUGE,
		"parallax_diagnostic_level": dto.MetricType_GAUGE, "parallax_healthy": dto.MetricType_GAUGE,
		"parallax_viewer_clients": dto.MetricType_GAUGE, "parallax_viewer_connections_total": dto.MetricType_COUNTER,
		"parallax_viewer_messages_sent_total": dto.MetricType_COUNTER, "parallax_viewer_sent_bytes_total": dto.MetricType_COUNTER,
		"parallax_viewer_dropped_total": dto.MetricType_COUNTER,
	}
	for name, typ := range types {
		f := second[name]
		if f == nil {
			t.Errorf("%s missing", name)
			continue
		}
		if f.GetType() != typ || f.GetHelp() == "" {
			t.Errorf("%s: type %v help %q, want %v", name, f.GetType(), f.GetHelp(), typ)
		}
	}
	for name := range second {
		if _, ok := types[name]; !ok {
			t.Errorf("%s is not in the test's table", name)
		}
	}
	for _, name := range []string{"parallax_frames_in_total", "parallax_frames_out_total", "parallax_inference_duration_seconds",
		"parallax_viewer_messages_sent_total", "parallax_viewer_sent_bytes_total", "parallax_nats_published_total"} {
		if a, b := sum(first[name]), sum(second[name]); !(b > a) {
			t.Errorf("%s did not move: %v then %v", name, a, b)
		}
	}
	if got := sum(second["parallax_viewer_clients"]); got != 1 {
		t.Errorf("%v clients", got)
	}
	h := second["parallax_latency_seconds"].GetMetric()[0].GetHistogram()
	// expfmt gives the +Inf bucket as a third.
	if b := h.GetBucket(); len(b) != 3 || b[1].GetCumulativeCount()+1 != h.GetSampleCount() || b[2].GetCumulativeCount() != h.GetSampleCount() {
		t.Errorf("latency histogram %v", h)
	}
	var left *dto.Metric
	for _, m := range second["parallax_frames_in_total"].GetMetric() {
		if m.GetLabel()[0].GetValue() == "left" {
			left = m
		}
	}
	if left == nil || left.GetLabel()[0].GetName() != "camera" {
		t.Errorf("frames in of the left camera: %v", second["parallax_frames_in_total"])
	}
	if sum(second["parallax_healthy"]) != 1 {
		t.Errorf("not healthy while fed")
	}
}

// TestHealth: /healthz is 503 until the node runs, 200 while every camera
// streams and results come, 503 when a camera fails or results stop.
func TestHealth(t *testing.T) {
	v := &viewer.Viewer{Listen: "127.0.0.1:0", HealthTimeout: 300 * time.Millisecond, Logger: quiet(t)}
	if err := v.Start(); err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	url := v.URL() + "healthz"
	expect := func(step string, want int, says string) {
		t.Helper()
		code, body := get(t, nil, url, "")
		if code != want || !strings.Contains(body, says) {
			t.Errorf("%s: %d %q, want %d with %q", step, code, body, want, says)
		}
	}
	expect("before Open", 503, "node: not started")
	if err := v.Open(viewertest.Rig()); err != nil {
		t.Fatal(err)
	}
	expect("no diagnostics yet", 503, "camera/left: no status yet")
	write := func(o msgs.Output) {
		if err := v.Write(o); err != nil {
			t.Fatal(err)
		}
	}
	write(msgs.Output{Diagnostics: viewertest.Diagnostics(parallaxv1.DiagnosticStatus_OK)})
	expect("no result yet", 503, "FAIL results/left: last never ago")
	write(msgs.Output{Result: viewertest.Result(0, time.Now())})
	expect("streaming", 200, "ok   perception/left: OK estimating")
	write(msgs.Output{Diagnostics: viewertest.Diagnostics(parallaxv1.DiagnosticStatus_ERROR)})
	expect("camera failed", 503, "FAIL camera/left: ERROR")
	write(msgs.Output{Diagnostics: viewertest.Diagnostics(parallaxv1.DiagnosticStatus_OK)})
	expect("camera back", 200, "healthy")
	time.Sleep(400 * time.Millisecond)
	expect("results stopped", 503, "FAIL results/left")
}

// TestToken: with a token every endpoint but /healthz wants it, as ?token=
// or a bearer header, for HTTP and both WebSockets.
func TestToken(t *testing.T) {
	const token = "s3cret-t0ken"
	v := open(t, &viewer.Viewer{Token: token})
	feed(t, v, 50*time.Millisecond)
	base := v.URL()
	for _, tc := range []struct {
		path, bearer string
		want         int
	}{
		{"", "", 401}, {"metrics", "", 401}, {"layout.json", "", 401}, {"static/app.js", "", 401},
		{"metrics?token=wrong", "", 401}, {"metrics", "wrong", 401},
		{"?token=" + token, "", 200}, {"metrics?token=" + token, "", 200}, {"metrics", token, 200},
		{"static/app.js?token=" + token, "", 200},
	} {
		if code, _ := get(t, nil, base+tc.path, tc.bearer); code != tc.want {
			t.Errorf("GET /%s (bearer %q): %d, want %d", tc.path, tc.bearer, code, tc.want)
		}
	}
	if code, _ := get(t, nil, base+"healthz", ""); code == 401 {
		t.Error("/healthz wants the token")
	}
	ctx := ctxFor(t, 10*time.Second)
	if _, err := viewertest.Dial(ctx, v.FoxgloveURL(), viewer.Subprotocols[0], nil); err == nil {
		t.Error("Foxglove client connected without the token")
	}
	c, err := viewertest.Dial(ctx, v.FoxgloveURL()+"/?token="+token, viewer.Subprotocols[0], nil)
	if err != nil {
		t.Fatalf("with ?token=: %v", err)
	}
	c.Close()
	hdr := http.Header{"Authorization": {"Bearer " + token}}
	c, err = viewertest.Dial(ctx, v.FoxgloveURL(), viewer.Subprotocols[1], &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		t.Fatalf("with a bearer header: %v", err)
	}
	c.Close()
	feedURL := strings.Replace(base, "http", "ws", 1) + "feed"
	if conn, _, err := websocket.Dial(ctx, feedURL, nil); err == nil {
		conn.CloseNow()
		t.Error("page feed without the token")
	}
	conn, _, err := websocket.Dial(ctx, feedURL+"?token="+token, nil)
	if err != nil {
		t.Fatalf("page feed with the token: %v", err)
	}
	conn.CloseNow()
}

// TestInsecureRefused: beyond loopback the viewer does not listen without
// TLS and a token.
func TestInsecureRefused(t *testing.T) {
	cert, key, _ := serverCert(t)
	for _, tc := range []struct {
		name                     string
		listen, cert, key, token string
		insecure                 bool
	}{
		{"every interface", ":0", "", "", "", true},
		{"all IPv4", "0.0.0.0:0", "", "", "x", true},
		{"an address, TLS only", "192.0.2.1:0", cert, key, "", true},
		// Passes the check, then cannot bind to an address this machine
		// does not have.
		{"an address, TLS and token", "192.0.2.1:0", cert, key, "x", false},
		{"loopback", "127.0.0.1:0", "", "", "", false},
		{"localhost", "localhost:0", "", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := &viewer.Viewer{Listen: tc.listen, TLSCert: tc.cert, TLSKey: tc.key, Token: tc.token, Logger: quiet(t)}
			err := v.Start()
			if err == nil {
				v.Close()
			}
			if errors.Is(err, viewer.ErrInsecure) != tc.insecure {
				t.Errorf("Start: %v, want insecure %v", err, tc.insecure)
			}
		})
	}
	if v := (&viewer.Viewer{TLSCert: cert}); v.Start() == nil || !errors.Is(v.Start(), viewer.ErrConfig) {
		t.Error("a certificate without a key started")
	}
}

// serverCert issues a CA and a server certificate for 127.0.0.1 signed by
// it, and returns the server's certificate and key files and the CA pool.
func serverCert(t testing.TB) (cert, key string, roots *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	ca := certtest.New(t, dir, "ca", nil, 0)
	srv := certtest.New(t, dir, "viewer", ca, x509.ExtKeyUsageServerAuth)
	return srv.CertFile, srv.KeyFile, ca.Pool
}

// TestTLS: with a certificate the viewer serves https and wss only.
func TestTLS(t *testing.T) {
	cert, key, pool := serverCert(t)
	v := open(t, &viewer.Viewer{TLSCert: cert, TLSKey: key, Token: "tk"})
	feed(t, v, 50*time.Millisecond)
	if !strings.HasPrefix(v.URL(), "https://") || !strings.HasPrefix(v.FoxgloveURL(), "wss://") {
		t.Fatalf("URLs %s %s", v.URL(), v.FoxgloveURL())
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if code, body := get(t, client, v.URL()+"metrics", "tk"); code != 200 || !strings.Contains(body, "parallax_viewer_clients") {
		t.Errorf("https /metrics: %d", code)
	}
	plain := strings.Replace(v.URL(), "https://", "http://", 1)
	if resp, err := http.Get(plain + "healthz"); err == nil {
		if resp.StatusCode < 400 {
			t.Errorf("plain http answered %d", resp.StatusCode)
		}
		resp.Body.Close()
	}
	c, err := viewertest.Dial(ctxFor(t, 10*time.Second), v.FoxgloveURL()+"/?token=tk", viewer.Subprotocols[0],
		&websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe(ctxFor(t, time.Second), "test.odom"); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := c.Next(ctxFor(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if m.Channel != nil {
			break
		}
	}
}

// TestPage: the page is self-contained (nothing from another origin), and
// its feed says hello with the rig and sends coloured depth as JPEG and
// the odometry.
func TestPage(t *testing.T) {
	v := open(t, &viewer.Viewer{})
	feed(t, v, 30*time.Millisecond)
	code, html := get(t, nil, v.URL(), "")
	if code != 200 || !strings.Contains(html, `src="static/app.js"`) {
		t.Fatalf("GET /: %d\n%s", code, html)
	}
	external := regexp.MustCompile(`(?i:(https?:)?//[a-z0-9.-]+\.[a-z]{2,})|@import|url\(`)
	for _, f := range []string{"", "static/app.js", "static/style.css"} {
		_, body := get(t, nil, v.URL()+f, "")
		if m := external.FindString(body); m != "" {
			t.Errorf("/%s refers to something outside: %q", f, m)
		}
	}
	ctx := ctxFor(t, 10*time.Second)
	conn, _, err := websocket.Dial(ctx, strings.Replace(v.URL(), "http", "ws", 1)+"feed", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(16 << 20)
	var hello map[string]any
	depth, odom := false, 0
	for !depth || odom < 3 || hello == nil {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if typ == websocket.MessageBinary {
			if data[0] == 1 && data[1] == 0 {
				img, err := jpeg.Decode(bytes.NewReader(data[2:]))
				if err != nil {
					t.Fatal(err)
				}
				if sat, total, hues := viewertest.Colourful(img, img.Bounds()); sat < total/2 || hues < 3 {
					t.Errorf("page depth: %d of %d saturated, %d hues", sat, total, hues)
				}
				depth = true
			}
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		switch m["op"] {
		case "hello":
			hello = m
		case "odom":
			odom++
		}
	}
	if hello["namespace"] != "test" || len(hello["cameras"].([]any)) != 2 || len(hello["reference"].([]any)) != 1 {
		t.Errorf("hello %v", hello)
	}
}

// TestPageScreenshot loads the page in headless Chromium and checks the
// pixels: the depth panel is colour-mapped, the path panel has a path.
// (cmd/parallax's TestViewerDemo does the same against the demo node.)
func TestPageScreenshot(t *testing.T) {
	v := open(t, &viewer.Viewer{})
	feed(t, v, 30*time.Millisecond)
	shot, err := viewertest.Screenshot(ctxFor(t, 90*time.Second), v.URL(), 1280, 900,
		"window.parallax && window.parallax.ready()", 30*time.Second, "#depth-0", "#path")
	if err != nil {
		t.Fatal(err) // make deps installs chromium
	}
	viewertest.CheckScreenshot(t, shot)
}
