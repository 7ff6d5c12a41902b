package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
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
	"github.com/parallax-robotics/parallax/viewer"
	"github.com/parallax-robotics/parallax/viewer/viewertest"
)

// pemPair is a certificate and its key, written as PEM files.
type pemPair struct {
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	certF    string
	keyF     string
	keyPEM   []byte
	tlsPair  tls.Certificate
	certPool *x509.CertPool // for a CA: a pool holding it
}

// newPair makes a P-256 certificate for 127.0.0.1 signed by ca (self-signed
// when ca is nil, as a CA).
func newPair(t *testing.T, dir, name string, ca *pemPair, usage x509.ExtKeyUsage) *pemPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	parent, signer := tmpl, key
	if ca == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := &pemPair{cert: cert, key: key, certF: filepath.Join(dir, name+".crt"), keyF: filepath.Join(dir, name+".key")}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p.keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(p.certF, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.keyF, p.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if p.tlsPair, err = tls.X509KeyPair(certPEM, p.keyPEM); err != nil {
		t.Fatal(err)
	}
	p.certPool = x509.NewCertPool()
	p.certPool.AddCert(cert)
	return p
}

// keyLines are the base64 lines of a PEM key: any of them in an output
// is the key leaking, whole or in part.
func keyLines(p *pemPair) []string {
	var out []string
	for _, l := range strings.Split(string(p.keyPEM), "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

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
	ca := newPair(t, dir, "ca", nil, 0)
	natsSrv := newPair(t, dir, "nats-server", ca, x509.ExtKeyUsageServerAuth)
	client := newPair(t, dir, "robot", ca, x509.ExtKeyUsageClientAuth)
	viewerPair := newPair(t, dir, "viewer", ca, x509.ExtKeyUsageServerAuth)

	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true, MaxPayload: 8 << 20,
		Authorization: natsToken, TLS: true, TLSVerify: true, TLSTimeout: 2,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{natsSrv.tlsPair}, ClientCAs: ca.certPool,
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
`, camPass, cam.Addr(), natsURL, natsToken, client.certF, client.keyF, ca.certF, viewerToken, viewerPair.certF, viewerPair.keyF)
	launchFile := filepath.Join(dir, "sec.yaml")
	if err := os.WriteFile(launchFile, []byte(launchYAML), 0o600); err != nil {
		t.Fatal(err)
	}

	// Everything the node publishes, as a subscriber with the same rights.
	nc, err := nats.Connect(natsURL, nats.Token(natsToken), nats.ClientCert(client.certF, client.keyF), nats.RootCAs(ca.certF))
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
			"--token", natsToken, "--tls-cert", client.certF, "--tls-key", client.keyF, "--tls-ca", ca.certF}, recOut, recErr)
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
	roots.AddCert(ca.cert)
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
	for what, p := range map[string]*pemPair{"the NATS TLS key": client, "the viewer's TLS key": viewerPair} {
		for _, l := range keyLines(p) {
			secrets[what] = append(secrets[what], []byte(l))
		}
		// The key's scalar, raw, for binary outputs.
		raw, err := p.key.Bytes()
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
