package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/parallax-robotics/parallax/camera/cameratest"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/internal/certtest"
	"github.com/parallax-robotics/parallax/viewer"
	"github.com/parallax-robotics/parallax/viewer/viewertest"
)

// TestSecretsNeverLeak runs `parallax run` with every kind of secret a
// launch file holds — a camera password (and a second camera with a wrong
// one, so its failures are logged and reported), a NATS token and a TLS
// client key for a server that requires both, and a viewer token with the
// viewer's own TLS key — alongside `parallax record --nats` given the same
// token and key, and greps everything they produced: the logs (JSON, and
// everything printed), the diagnostics and every other message on NATS, the
// recording, and what the viewer serves (its page, /metrics, /layout.json
// and every Foxglove WebSocket message).
func TestSecretsNeverLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the node for about 15 s")
	}
	const camPass, natsToken, viewerToken = "cam-s3cr3t-pw-7781", "nats-t0ken-s3cr3t-4412", "viewer-t0ken-s3cr3t-9035"
	dir := t.TempDir()
	ca := certtest.New(t, dir, "ca", nil, 0)
	natsSrv := certtest.New(t, dir, "nats-server", ca, x509.ExtKeyUsageServerAuth)
	client := certtest.New(t, dir, "robot", ca, x509.ExtKeyUsageClientAuth)
	viewerPair := certtest.New(t, dir, "viewer", ca, x509.ExtKeyUsageServerAuth)

	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true, MaxPayload: 8 << 20,
		Authorization: natsToken, TLS: true, TLSVerify: true, TLSTimeout: 2,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{natsSrv.TLS}, ClientCAs: ca.Pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(ns.Shutdown)
	natsURL := ns.ClientURL()

	cfg, err := synth.ParseURL("synth://?width=320&height=96&fps=15&seed=5")
	if err != nil {
		t.Fatal(err)
	}
	w, err := synth.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cam := &cameratest.Server{User: "robot", Pass: camPass}
	if err := cam.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cam.Close)
	src := w.Camera(synth.ViewMono, true)
	if err := src.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := cam.Serve("front", src, 0); err != nil {
		t.Fatal(err)
	}

	launchYAML := fmt.Sprintf(`namespace: sec
cameras:
  - {name: front, url: "rtsp://robot:%[1]s@%[2]s/front", intrinsics: &k {width: 320, height: 96, fx: 185.6, fy: 185.6, cx: 159.5, cy: 47.5}}
  - {name: back, url: "rtsp://robot:wrong-%[1]s@%[2]s/front", intrinsics: *k}
model: {width: 320, height: 96, size: small}
device: cpu
learner: {adapt: false}
nats: {url: %[3]q, token: %[4]q, tls: {cert: %[5]q, key: %[6]q, ca: %[7]q}}
viewer: {listen: "127.0.0.1:0", token: %[8]q, tls: {cert: %[9]q, key: %[10]q}}
`, camPass, cam.Addr(), natsURL, natsToken, client.CertFile, client.KeyFile, ca.CertFile, viewerToken, viewerPair.CertFile, viewerPair.KeyFile)
	launchFile := filepath.Join(dir, "sec.yaml")
	if err := os.WriteFile(launchFile, []byte(launchYAML), 0o600); err != nil {
		t.Fatal(err)
	}

	// Everything the node publishes, as a subscriber with the same rights.
	nc, err := nats.Connect(natsURL, nats.Token(natsToken), nats.ClientCert(client.CertFile, client.KeyFile), nats.RootCAs(ca.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var pubMu sync.Mutex
	var published bytes.Buffer
	sub, err := nc.Subscribe("sec.>", func(m *nats.Msg) {
		pubMu.Lock()
		published.WriteString(m.Subject)
		published.Write(m.Data)
		pubMu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	sub.SetPendingLimits(-1, -1)

	pr, pw := io.Pipe()
	runOut := &lockedBuffer{}
	runErr := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runDone := make(chan error, 1)
	go func() {
		runDone <- dispatch(ctx, []string{"run", "-f", launchFile, "--duration", "16s", "--log-format", "json"}, io.MultiWriter(pw, runOut), runErr)
		pw.Close()
	}()
	rec := filepath.Join(dir, "sec.mcap")
	recOut, recErr := &lockedBuffer{}, &lockedBuffer{}
	recDone := make(chan error, 1)
	go func() {
		recDone <- dispatch(ctx, []string{"record", "--nats", natsURL, "--ns", "sec", "--out", rec, "--duration", "10s",
			"--token", natsToken, "--tls-cert", client.CertFile, "--tls-key", client.KeyFile, "--tls-ca", ca.CertFile}, recOut, recErr)
	}()

	// The viewer's address from the line run prints.
	var base string
	lines := regexp.MustCompile(`viewer on (https://\S+/)`)
	buf := make([]byte, 4096)
	var seen bytes.Buffer
	deadline := time.Now().Add(90 * time.Second)
	for base == "" && time.Now().Before(deadline) {
		n, err := pr.Read(buf)
		seen.Write(buf[:n])
		if m := lines.FindStringSubmatch(seen.String()); m != nil {
			base = strings.TrimSuffix(m[1], "?token=…")
		}
		if err != nil {
			break
		}
	}
	if base == "" {
		t.Fatalf("run printed no viewer URL:\n%s\nstderr:\n%s", seen.String(), runErr.String())
	}
	go io.Copy(io.Discard, pr)

	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	var served bytes.Buffer
	get := func(path string) {
		t.Helper()
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+viewerToken)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		// /healthz says 503: the back camera is failing.
		if resp.StatusCode != http.StatusOK && path != "healthz" {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		fmt.Fprintf(&served, "%s %v\n", path, resp.Header)
		served.Write(b)
	}
	// Wait for the front camera's depth on NATS, so every part has run.
	waitUntil := time.Now().Add(60 * time.Second)
	for {
		pubMu.Lock()
		ok := bytes.Contains(published.Bytes(), []byte("sec.front.depth")) && bytes.Contains(published.Bytes(), []byte("camera/back"))
		pubMu.Unlock()
		if ok {
			break
		}
		if time.Now().After(waitUntil) {
			t.Fatalf("no depth of the front camera and no diagnostics of the back one within 60 s\nstderr:\n%s", runErr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, p := range []string{"", "metrics", "layout.json", "healthz"} {
		get(p)
	}
	wsURL := strings.Replace(base, "https://", "wss://", 1) + "?token=" + viewerToken
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	c, err := viewertest.Dial(wctx, wsURL, viewer.Subprotocols[0], &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatalf("Foxglove WebSocket: %v", err)
	}
	var topics []string
	for topic := range c.Channels {
		topics = append(topics, topic)
	}
	fmt.Fprintf(&served, "%v %v\n", c.ServerInfo, c.Channels)
	if err := c.Subscribe(wctx, topics...); err != nil {
		t.Fatal(err)
	}
	messages := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		m, err := c.Next(wctx)
		if err != nil {
			t.Fatalf("Foxglove WebSocket after %d messages: %v", messages, err)
		}
		messages++
		fmt.Fprintf(&served, "%s %v", m.Op, m.JSON)
		served.Write(m.Payload)
	}
	c.Close()

	if err := <-recDone; err != nil {
		t.Fatalf("record: %v\n%s", err, recErr.String())
	}
	if err := <-runDone; err != nil {
		t.Fatalf("run: %v\n%s", err, runErr.String())
	}
	sub.Unsubscribe()
	// A start the server refuses (a wrong token) is logged and returned as
	// an error: neither may show the token tried.
	badFile := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badFile, []byte(strings.Replace(launchYAML, "token: \""+natsToken, "token: \"wrong-"+natsToken, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	badOut, badErr := &lockedBuffer{}, &lockedBuffer{}
	refused := dispatch(ctx, []string{"run", "-f", badFile, "--duration", "5s", "--log-format", "json"}, badOut, badErr)
	if refused == nil || !strings.Contains(strings.ToLower(refused.Error()), "authorization") {
		t.Fatalf("run with a wrong NATS token: %v, want an authorization error", refused)
	}
	recording, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	pubMu.Lock()
	outputs := map[string][]byte{
		"run's output":                    []byte(runOut.String()),
		"run's log (stderr)":              []byte(runErr.String()),
		"record's output and log":         []byte(recOut.String() + recErr.String()),
		"the messages on NATS":            bytes.Clone(published.Bytes()),
		"the recording":                   recording,
		"the viewer's pages and stream":   served.Bytes(),
		"a refused start's error and log": []byte(refused.Error() + badOut.String() + badErr.String()),
	}
	pubMu.Unlock()
	secrets := map[string][][]byte{
		"the camera password": {[]byte(camPass)},
		"the NATS token":      {[]byte(natsToken)},
		"the viewer token":    {[]byte(viewerToken)},
	}
	for what, p := range map[string]*certtest.Cert{"the NATS TLS key": client, "the viewer's TLS key": viewerPair} {
		for _, l := range p.KeyLines() {
			secrets[what] = append(secrets[what], []byte(l))
		}
		// The key's scalar, raw, for binary outputs.
		raw, err := p.Key.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		secrets[what] = append(secrets[what], raw)
	}
	for where, b := range outputs {
		if len(b) == 0 && where != "record's output and log" {
			t.Errorf("%s: empty, nothing was checked", where)
		}
		for what, forms := range secrets {
			for _, s := range forms {
				if bytes.Contains(b, s) {
					t.Errorf("%s contain %s (%q)", where, what, s)
				}
			}
		}
	}
	// What was checked is the real thing: the diagnostics name the failing
	// camera (redacted) and the log reports it, the recording holds the
	// node's depth, the viewer streamed.
	if !bytes.Contains(outputs["the messages on NATS"], []byte("rtsp://robot:xxxxx@")) {
		t.Error("the diagnostics do not name the failing camera (redacted)")
	}
	if !bytes.Contains(recording, []byte("sec.front.depth")) {
		t.Error("the recording holds no depth map")
	}
	if messages < 10 {
		t.Errorf("the viewer sent %d messages in 3 s", messages)
	}
	t.Logf("checked %d bytes of logs, %d of NATS messages, %d of recording, %d from the viewer (%d WebSocket messages)",
		len(outputs["run's log (stderr)"])+len(outputs["run's output"])+len(outputs["record's output and log"]),
		len(outputs["the messages on NATS"]), len(recording), len(outputs["the viewer's pages and stream"]), messages)
}
