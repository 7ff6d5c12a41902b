package actors

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
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

	"github.com/parallax-robotics/parallax/internal/certtest"
	"github.com/parallax-robotics/parallax/launch"
)

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
	ca := certtest.New(t, dir, "ca", nil, 0)
	srvCert := certtest.New(t, dir, "server", ca, x509.ExtKeyUsageServerAuth)
	client := certtest.New(t, dir, "client", ca, x509.ExtKeyUsageClientAuth)
	otherCA := certtest.New(t, dir, "other-ca", nil, 0)
	otherClient := certtest.New(t, dir, "other-client", otherCA, x509.ExtKeyUsageClientAuth)

	s := startAuthServer(t, server.Options{
		TLS: true, TLSVerify: true, TLSTimeout: 2,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{srvCert.TLS}, ClientCAs: ca.Pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
	})
	url := s.ClientURL() // tls://127.0.0.1:PORT
	tlsYAML := func(c *certtest.Cert, caF string) string {
		return `{url: "` + url + `", tls: {cert: "` + c.CertFile + `", key: "` + c.KeyFile + `", ca: "` + caF + `"}}`
	}

	t.Run("mutual TLS", func(t *testing.T) {
		expectDepth(t, securityLaunch(t, tlsYAML(client, ca.CertFile)), url,
			nats.ClientCert(client.CertFile, client.KeyFile), nats.RootCAs(ca.CertFile))
	})
	for _, tc := range []struct {
		name string
		l    *launch.Launch
		want []string
	}{
		// The server's certificate is not signed by this CA: the node must
		// say so rather than hang or retry forever.
		{"wrong CA", securityLaunch(t, tlsYAML(client, otherCA.CertFile)), []string{"certificate", "unknown authority"}},
		// The server does not trust the client's issuer: Go's client sends
		// no certificate the server's CA list does not name, so both cases
		// read "certificate required": from the server's TLS 1.3 alert, or,
		// when the client's CONNECT races the alert and meets a closed
		// connection, from tlsRefusalHint.
		{"client cert from another CA", securityLaunch(t, tlsYAML(otherClient, ca.CertFile)), []string{url, "certificate required"}},
		{"no client cert", securityLaunch(t, `{url: "`+url+`", tls: {ca: "`+ca.CertFile+`"}}`), []string{url, "certificate required"}},
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
