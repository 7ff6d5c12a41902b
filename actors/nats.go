package actors

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
)

// EmbeddedNATS is a NATS server run inside the process, so the node needs no
// broker and other processes on the robot can still subscribe to it.
type EmbeddedNATS struct {
	// Listen is the address, host:port; port 0 picks a free one.
	// It defaults to "127.0.0.1:4222".
	Listen string
	// MaxPayload is the largest message the server accepts, in bytes.
	// It defaults to 0: the server's default, 1 MiB.
	MaxPayload int32

	srv *server.Server
}

// Start runs the server and waits until it accepts connections.
func (e *EmbeddedNATS) Start() error {
	if e.Listen == "" {
		e.Listen = "127.0.0.1:4222"
	}
	host, portStr, err := net.SplitHostPort(e.Listen)
	if err != nil {
		return fmt.Errorf("%w: embedded server: bad listen address %q: %v", ErrNATS, e.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return fmt.Errorf("%w: embedded server: bad port in listen address %q", ErrNATS, e.Listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	} else {
		// The server reports a busy port only through its logger; check
		// first so the user gets a plain answer.
		l, err := net.Listen("tcp", e.Listen)
		if err != nil {
			return fmt.Errorf("%w: embedded server cannot listen on %s (%v); is another NATS server running? choose another address (nats.embedded.listen, --nats-listen)", ErrNATS, e.Listen, err)
		}
		l.Close()
	}
	s, err := server.NewServer(&server.Options{Host: host, Port: port, NoSigs: true, NoLog: true, MaxPayload: e.MaxPayload})
	if err != nil {
		return fmt.Errorf("%w: embedded server: %v", ErrNATS, err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("%w: embedded server on %s did not become ready within 10s", ErrNATS, e.Listen)
	}
	e.srv = s
	return nil
}

// ClientURL is the URL clients connect to (nats://host:port), valid after Start.
func (e *EmbeddedNATS) ClientURL() string {
	if e.srv == nil {
		return ""
	}
	return e.srv.ClientURL()
}

// Server returns the running server, nil before Start.
func (e *EmbeddedNATS) Server() *server.Server { return e.srv }

// Close shuts the server down. It is safe to call more than once.
func (e *EmbeddedNATS) Close() {
	if e.srv != nil {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
	}
}

// natsOptions maps the launch file's NATS section to nats.go options.
func natsOptions(l *launch.Launch, name string) []nats.Option {
	return NATSOptions(l.NATS, l.Resolve, name)
}

// NATSOptions maps a NATS configuration to nats.go options: credentials,
// nkey seed file, token and TLS files (paths through resolve), and the
// reconnect policy of a robot (never give up). User and password go in the
// URL itself (nats://user:pass@host), which nats.go reads. Every program
// that connects (the node, sub, record --nats) uses it, so they accept the
// same authentication.
func NATSOptions(n launch.NATS, resolve func(string) string, name string) []nats.Option {
	opts := []nats.Option{
		nats.Name(name),
		// A robot's broker restarts; never give up on it.
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		// The reconnect buffer holds what is published during an outage.
		// The node holds its large messages back then (heldBackSize), so
		// nats.go's 8 MB holds minutes of odometry and diagnostics.
		nats.ReconnectBufSize(8 << 20),
	}
	if n.Credentials != "" {
		opts = append(opts, nats.UserCredentials(resolve(n.Credentials)))
	}
	if n.NkeyFile != "" {
		if o, err := nats.NkeyOptionFromSeed(resolve(n.NkeyFile)); err == nil {
			opts = append(opts, o)
		} else {
			opts = append(opts, func(*nats.Options) error {
				return fmt.Errorf("nats.nkey_file %s: %w", resolve(n.NkeyFile), err)
			})
		}
	}
	if n.Token != "" {
		opts = append(opts, nats.Token(n.Token))
	}
	if t := n.TLS; t != nil {
		if t.Cert != "" {
			opts = append(opts, nats.ClientCert(resolve(t.Cert), resolve(t.Key)))
		}
		if t.CA != "" {
			opts = append(opts, nats.RootCAs(resolve(t.CA)))
		}
	}
	return opts
}

// connectNATS connects to the launch file's external server, or starts the
// embedded one (returned, for Close) and connects to it.
func connectNATS(l *launch.Launch, name string, maxPayload int32) (*nats.Conn, *EmbeddedNATS, error) {
	url := l.NATS.URL
	var emb *EmbeddedNATS
	if url == "" {
		emb = &EmbeddedNATS{Listen: l.NATS.Embedded.Listen, MaxPayload: maxPayload}
		if err := emb.Start(); err != nil {
			return nil, nil, err
		}
		url = emb.ClientURL()
	}
	nc, err := nats.Connect(url, natsOptions(l, name)...)
	if err != nil {
		if emb != nil {
			emb.Close()
		}
		return nil, nil, fmt.Errorf("%w: connecting to %s: %s%s", ErrNATS, msgs.RedactURL(url), msgs.RedactText(err.Error(), url), tlsRefusalHint(err))
	}
	return nc, emb, nil
}

// tlsRefusalHint explains a connection the server closed right after a
// completed TLS handshake. With TLS 1.3 a server checks the client's
// certificate after the client's side of the handshake is done, so a refused
// certificate reaches the client either as the server's alert ("certificate
// required", "unknown certificate authority") or, when the client writes its
// CONNECT first, as a bare EOF, broken pipe or reset: which one is a race.
// nats.go marks the second case (ErrTLS wrapping the closed connection);
// this names its likely cause so both read alike.
func tlsRefusalHint(err error) string {
	if !errors.Is(err, nats.ErrTLS) {
		return ""
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		return ""
	}
	return " (the server closed the connection right after the TLS handshake: it most likely refused the client certificate, certificate required or signed by a CA it does not trust; check nats.tls.cert and nats.tls.key)"
}
