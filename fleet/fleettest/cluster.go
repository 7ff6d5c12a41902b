// Package fleettest runs a real NATS JetStream cluster of embedded servers
// inside a test (each with its own store under t.TempDir), whose servers can
// be stopped and restarted on the same ports and stores: the broker outages
// and lost servers the fleet must survive.
package fleettest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a JetStream cluster of embedded servers on 127.0.0.1.
type Cluster struct {
	opts    []*server.Options
	servers []*server.Server
}

// Start runs an n-server cluster (n 1 to 5; 1 is a plain JetStream
// server) and waits until JetStream answers; the servers stop when the
// test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{}
	ports := freePorts(t, 2*n)
	var routes []*url.URL
	for i := 0; i < n; i++ {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", ports[n+i])})
	}
	for i := 0; i < n; i++ {
		o := &server.Options{ServerName: fmt.Sprintf("s%d", i), Host: "127.0.0.1", Port: ports[i], NoSigs: true, NoLog: true,
			JetStream: true, StoreDir: t.TempDir(), MaxPayload: 8 << 20}
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: "fleet", Host: "127.0.0.1", Port: ports[n+i]}
			o.Routes = routes
		}
		c.opts = append(c.opts, o)
		c.servers = append(c.servers, nil)
	}
	for i := range c.opts {
		c.start(t, i)
	}
	t.Cleanup(c.Shutdown)
	c.WaitReady(t)
	return c
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var out []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

func (c *Cluster) start(t testing.TB, i int) {
	t.Helper()
	s, err := server.NewServer(c.opts[i])
	if err != nil {
		t.Fatalf("fleettest: server %d: %v", i, err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatalf("fleettest: server %d not ready", i)
	}
	c.servers[i] = s
}

// URL is every server's client URL, comma-separated (what a launch file's
// nats.url takes for a cluster).
func (c *Cluster) URL() string {
	var u []string
	for _, o := range c.opts {
		u = append(u, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return strings.Join(u, ",")
}

// ServerURL is server i's client URL.
func (c *Cluster) ServerURL(i int) string { return fmt.Sprintf("nats://127.0.0.1:%d", c.opts[i].Port) }

// Stop shuts server i down (its store stays for Restart).
func (c *Cluster) Stop(i int) {
	if s := c.servers[i]; s != nil {
		s.Shutdown()
		s.WaitForShutdown()
		c.servers[i] = nil
	}
}

// Restart starts server i again on its port and store, and waits until
// JetStream answers through it.
func (c *Cluster) Restart(t testing.TB, i int) {
	t.Helper()
	c.Stop(i)
	c.start(t, i)
	c.WaitReady(t)
}

// Shutdown stops every server.
func (c *Cluster) Shutdown() {
	for i := range c.servers {
		c.Stop(i)
	}
}

// WaitReady waits (up to 30 s) until every running server answers
// JetStream API calls (the cluster has a meta leader).
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i, s := range c.servers {
		if s == nil {
			continue
		}
		for {
			err := ping(c.ServerURL(i))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("fleettest: JetStream on server %d not ready: %v", i, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func ping(u string) error {
	nc, err := nats.Connect(u, nats.Timeout(time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}
