package faults

import (
	"io"
	"net"
	"sync"
	"testing"
)

// gate is a TCP relay between the node and the NATS server that the test
// opens and closes. Core NATS delivers a message to the subscriptions the
// server holds when it arrives: when the broker returns, whatever the node's
// reconnect buffer flushes before the watcher has subscribed again is gone
// for the watcher, not for a subscriber that stayed (at-most-once; JetStream
// is the answer for durable delivery). The gate keeps the node out until the
// watcher is back, so the test measures what the buffer kept, not which
// client won the race to the restarted broker.
type gate struct {
	t        testing.TB
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	open  bool
	conns []net.Conn
}

// newGate listens on a free loopback port and relays to upstream while open.
func newGate(t testing.TB, upstream string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{t: t, ln: ln, upstream: upstream, open: true}
	t.Cleanup(func() {
		ln.Close()
		g.close()
	})
	go g.accept()
	return g
}

// addr is the address the node connects to.
func (g *gate) addr() string { return g.ln.Addr().String() }

func (g *gate) accept() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		open := g.open
		g.mu.Unlock()
		if !open {
			c.Close() // the node sees a refused server and retries
			continue
		}
		up, err := net.Dial("tcp", g.upstream)
		if err != nil {
			c.Close()
			continue
		}
		g.mu.Lock()
		g.conns = append(g.conns, c, up)
		g.mu.Unlock()
		go relay(c, up)
		go relay(up, c)
	}
}

// relay copies until either side ends, then ends both: a broker killed
// under the relay is a connection reset for the node, as without it.
func relay(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// close shuts the gate and every relayed connection.
func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = false
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
}

// reopen lets new connections through again.
func (g *gate) reopen() {
	g.mu.Lock()
	g.open = true
	g.mu.Unlock()
}
