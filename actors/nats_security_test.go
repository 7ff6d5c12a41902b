package actors

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/parallax-robotics/parallax/launch"
)

// testCert is a certificate and its key, parsed and as PEM files.
type testCert struct {
	cert  *x509.Certificate
	key   *ecdsa.PrivateKey
	keyF  string
	certF string
}

// newCert issues a certificate signed by parent (self-signed when parent is
// nil) and writes it and its key to dir as name.pem and name-key.pem.
func newCert(t *testing.T, dir, name string, parent *testCert, isCA bool, usage x509.ExtKeyUsage) *testCert {
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
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	signer, signKey := tmpl, key
	if parent != nil {
		signer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCert{cert: c, key: key, certF: filepath.Join(dir, name+".pem"), keyF: filepath.Join(dir, name+"-key.pem")}
	writePEM(t, tc.certF, "CERTIFICATE", der)
	writePEM(t, tc.keyF, "EC PRIVATE KEY", kder)
	return tc
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// securityLaunch is a one-camera launch file publishing to an external
// server with the given nats: section.
func securityLaunch(t *testing.T, natsYAML string) *launch.Launch {
	return parseLaunch(t, `
namespace: sec
cameras: [{name: front, url: "synth://?width=320&height=96&fps=15"}]
model: {width: 320, height: 96, size: small}
device: cpu
nats: `+natsYAML)
}

// expectDepth starts the node and reads one depth map through the secured
// server with the subscriber's own options.
func expectDepth(t *testing.T, l *launch.Launch, url string, subOpts ...nats.Option) {
	t.Helper()
	n := &Node{Launch: l}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	nc, err := nats.Connect(url, subOpts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("sec.front.depth")
	if err != nil {
		t.Fatal(err)
	}
	sub.SetPendingLimits(-1, -1)
	if _, err := sub.NextMsg(30 * time.Second); err != nil {
		t.Fatalf("no depth through the secured server: %v", err)
	}
}

// expectStartError starts the node, which must fail quickly with ErrNATS
// and an error containing every one of want.
func expectStartError(t *testing.T, l *launch.Launch, want ...string) {
	t.Helper()
	n := &Node{Launch: l}
	start := time.Now()
	err := n.Start()
	if err == nil {
		n.Stop()
		t.Fatal("Start succeeded")
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Start took %v to fail", d)
	}
	t.Logf("start-up error: %v", err)
	if !errors.Is(err, ErrNATS) {
		t.Errorf("error %q is not ErrNATS", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// TestNodeNATSTLS publishes through a server that requires mutual TLS: the
// launch file's tls: {cert, key, ca} files authenticate the node and verify
// the server; a CA that did not sign the server is a clear start-up error.
func TestNodeNATSTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newCert(t, dir, "ca", nil, true, 0)
	srvCert := newCert(t, dir, "server", ca, false, x509.ExtKeyUsageServerAuth)
	client := newCert(t, dir, "client", ca, false, x509.ExtKeyUsageClientAuth)
	otherCA := newCert(t, dir, "other-ca", nil, true, 0)
	otherClient := newCert(t, dir, "other-client", otherCA, false, x509.ExtKeyUsageClientAuth)

	pair, err := tls.LoadX509KeyPair(srvCert.certF, srvCert.keyF)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	s := startAuthServer(t, server.Options{
		TLS: true, TLSVerify: true, TLSTimeout: 2,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
	})
	url := s.ClientURL() // tls://127.0.0.1:PORT
	tlsYAML := func(c *testCert, caF string) string {
		return `{url: "` + url + `", tls: {cert: "` + c.certF + `", key: "` + c.keyF + `", ca: "` + caF + `"}}`
	}

	t.Run("mutual TLS", func(t *testing.T) {
		expectDepth(t, securityLaunch(t, tlsYAML(client, ca.certF)), url,
			nats.ClientCert(client.certF, client.keyF), nats.RootCAs(ca.certF))
	})
	for _, tc := range []struct {
		name string
		l    *launch.Launch
		want []string
	}{
		// The server's certificate is not signed by this CA: the node must
		// say so rather than hang or retry forever.
		{"wrong CA", securityLaunch(t, tlsYAML(client, otherCA.certF)), []string{"certificate", "unknown authority"}},
		// The server does not trust the client's issuer: Go's client sends
		// no certificate the server's CA list does not name, so both cases
		// read "certificate required": from the server's TLS 1.3 alert, or,
		// when the client's CONNECT races the alert and meets a closed
		// connection, from tlsRefusalHint.
		{"client cert from another CA", securityLaunch(t, tlsYAML(otherClient, ca.certF)), []string{url, "certificate required"}},
		{"no client cert", securityLaunch(t, `{url: "`+url+`", tls: {ca: "`+ca.certF+`"}}`), []string{url, "certificate required"}},
		{"missing CA file", securityLaunch(t, tlsYAML(client, filepath.Join(dir, "nope.pem"))), []string{"nope.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) { expectStartError(t, tc.l, tc.want...) })
	}
}

// TestNodeNATSNkey publishes through a server that knows the robot's nkey:
// nats.nkey_file holds the seed; another seed is refused, and an unreadable
// or invalid seed file is an error naming the file.
func TestNodeNATSNkey(t *testing.T) {
	dir := t.TempDir()
	seedFile := func(name string) (pub, path string, kp nkeys.KeyPair) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		pub, _ = kp.PublicKey()
		path = filepath.Join(dir, name+".nk")
		if err := os.WriteFile(path, seed, 0o600); err != nil {
			t.Fatal(err)
		}
		return pub, path, kp
	}
	pub, robotSeed, _ := seedFile("robot")
	_, otherSeed, _ := seedFile("other")
	garbage := filepath.Join(dir, "garbage.nk")
	if err := os.WriteFile(garbage, []byte("not a seed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startAuthServer(t, server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
	nkYAML := func(f string) string { return `{url: "` + s.ClientURL() + `", nkey_file: "` + f + `"}` }

	t.Run("seed file", func(t *testing.T) {
		opt, err := nats.NkeyOptionFromSeed(robotSeed)
		if err != nil {
			t.Fatal(err)
		}
		expectDepth(t, securityLaunch(t, nkYAML(robotSeed)), s.ClientURL(), opt)
	})
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"another seed", otherSeed, []string{"Authorization Violation"}},
		{"missing seed file", filepath.Join(dir, "nope.nk"), []string{"nats.nkey_file", "nope.nk"}},
		{"not a seed", garbage, []string{"nats.nkey_file", "garbage.nk"}},
	} {
		t.Run(tc.name, func(t *testing.T) { expectStartError(t, securityLaunch(t, nkYAML(tc.file)), tc.want...) })
	}
}

// TestCheckFilesNkey: a missing nkey seed file is reported with its line
// (the TLS and credentials files are covered by launch's example test).
func TestCheckFilesNkey(t *testing.T) {
	l := securityLaunch(t, "\n  url: nats://127.0.0.1:4222\n  nkey_file: /nonexistent/robot.nk\n")
	err := l.CheckFiles()
	var p *launch.Error
	if !errors.As(err, &p) {
		t.Fatalf("CheckFiles = %v, want a *launch.Error", err)
	}
	if p.Key != "nats.nkey_file" || p.Line != 8 || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("problem %q: key %q line %d, want nats.nkey_file line 8", p, p.Key, p.Line)
	}
}

// TestNodeNATSCredentials publishes through a server in operator (JWT) mode:
// nats.credentials is a .creds file holding the user JWT and seed, checked
// against the account in the server's memory resolver.
func TestNodeNATSCredentials(t *testing.T) {
	dir := t.TempDir()
	op, _ := nkeys.CreateOperator()
	opPub, _ := op.PublicKey()
	acc, _ := nkeys.CreateAccount()
	accPub, _ := acc.PublicKey()
	ac := jwt.NewAccountClaims(accPub)
	accJWT, err := ac.Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	creds := func(name string, signer nkeys.KeyPair) string {
		u, _ := nkeys.CreateUser()
		uPub, _ := u.PublicKey()
		seed, _ := u.Seed()
		uc := jwt.NewUserClaims(uPub)
		uc.IssuerAccount = accPub
		uJWT, err := uc.Encode(signer)
		if err != nil {
			t.Fatal(err)
		}
		b, err := jwt.FormatUserConfig(uJWT, seed)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+".creds")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	robot := creds("robot", acc)
	stranger, _ := nkeys.CreateAccount()
	forged := creds("forged", stranger)

	res := &server.MemAccResolver{}
	if err := res.Store(accPub, accJWT); err != nil {
		t.Fatal(err)
	}
	s := startAuthServer(t, server.Options{TrustedKeys: []string{opPub}, AccountResolver: res})
	yaml := func(f string) string { return `{url: "` + s.ClientURL() + `", credentials: "` + f + `"}` }

	t.Run("creds file", func(t *testing.T) {
		expectDepth(t, securityLaunch(t, yaml(robot)), s.ClientURL(), nats.UserCredentials(robot))
	})
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"user signed by another account", forged, []string{"Authorization Violation"}},
		{"missing creds file", filepath.Join(dir, "nope.creds"), []string{"nope.creds"}},
	} {
		t.Run(tc.name, func(t *testing.T) { expectStartError(t, securityLaunch(t, yaml(tc.file)), tc.want...) })
	}
}

// TestTLSRefusalHint: only a connection nats.go saw closed right after the
// TLS handshake gets the hint; other errors keep their own message.
func TestTLSRefusalHint(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		hint bool
	}{
		{"broken pipe after handshake", fmt.Errorf("%w: connection closed by remote after TLS handshake: %w", nats.ErrTLS, &net.OpError{Op: "write", Err: syscall.EPIPE}), true},
		{"reset after handshake", fmt.Errorf("%w: closed: %w", nats.ErrTLS, syscall.ECONNRESET), true},
		{"EOF after handshake", fmt.Errorf("%w: closed: %w", nats.ErrTLS, io.EOF), true},
		{"TLS alert", fmt.Errorf("%w: remote error: tls: certificate required", nats.ErrTLS), false},
		{"broken pipe, no TLS", fmt.Errorf("write: %w", syscall.EPIPE), false},
		{"refused", nats.ErrNoServers, false},
	} {
		got := tlsRefusalHint(tc.err)
		if (got != "") != tc.hint || (tc.hint && !strings.Contains(got, "certificate required")) {
			t.Errorf("%s: hint %q", tc.name, got)
		}
	}
}
