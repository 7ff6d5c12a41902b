package actors

import (
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
	"github.com/parallax-robotics/parallax/perception"
)

// startAuthServer runs a NATS server that demands the given credentials.
func startAuthServer(t *testing.T, opts server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", -1, true, true
	s, err := server.NewServer(&opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// TestNodeExternalNATS publishes to an external server that requires
// authentication: user and password in the URL, or a token from the launch
// file; wrong credentials are a start-up error without the secret.
func TestNodeExternalNATS(t *testing.T) {
	userSrv := startAuthServer(t, server.Options{Username: "robot", Password: "pw-s3cret"})
	tokenSrv := startAuthServer(t, server.Options{Authorization: "tok-s3cret"})
	hostOf := func(s *server.Server) string { return strings.TrimPrefix(s.ClientURL(), "nats://") }
	for _, tc := range []struct {
		name, nats, sub string
		subOpt          nats.Option
		wantErr         bool
	}{
		{"user and password in the URL", `{url: "nats://robot:pw-s3cret@` + hostOf(userSrv) + `"}`, userSrv.ClientURL(), nats.UserInfo("robot", "pw-s3cret"), false},
		{"token", `{url: "nats://` + hostOf(tokenSrv) + `", token: "tok-s3cret"}`, tokenSrv.ClientURL(), nats.Token("tok-s3cret"), false},
		{"wrong password", `{url: "nats://robot:wrong-s3cret@` + hostOf(userSrv) + `"}`, "", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := parseLaunch(t, `
namespace: ext
cameras: [{name: front, url: "synth://?width=320&height=96&fps=15"}]
model: {width: 320, height: 96, size: small}
device: cpu
nats: `+tc.nats)
			n := &Node{Launch: l}
			err := n.Start()
			if tc.wantErr {
				if err == nil {
					n.Stop()
					t.Fatal("Start succeeded with a wrong password")
				}
				if !errors.Is(err, ErrNATS) || strings.Contains(err.Error(), "wrong-s3cret") {
					t.Fatalf("error %q: want ErrNATS without the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer n.Stop()
			nc, err := nats.Connect(tc.sub, tc.subOpt)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			sub, err := nc.SubscribeSync("ext.front.depth")
			if err != nil {
				t.Fatal(err)
			}
			sub.SetPendingLimits(-1, -1)
			if _, err := sub.NextMsg(30 * time.Second); err != nil {
				t.Fatalf("no depth on the external server: %v", err)
			}
		})
	}
}

// TestNodeCheckpoint starts the node from a saved checkpoint: its
// architecture (here 320x64) decides the depth map size, whatever
// model.width/height say.
func TestNodeCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.ckpt")
	w, err := perception.NewWorker(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Do(func() error {
		m, err := perception.NewModel(perception.DepthPose(320, 64, perception.DepthConfig{Size: "small"}, perception.PoseConfig{Size: "small"}), gotch.CPU)
		if err != nil {
			return err
		}
		defer m.Close()
		return m.Save(path, perception.CheckpointMeta{Steps: 7})
	}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	l := synthLaunch(t, "")
	l.Model.Checkpoint = path
	n := startNode(t, &Node{Launch: l})
	if !strings.Contains(n.ModelInfo(), path) {
		t.Errorf("model info %q does not name the checkpoint", n.ModelInfo())
	}
	c := subscribe(t, n)
	waitFor(t, 30*time.Second, "a depth map", func() bool { return c.count("test.left.depth") > 0 })
	var got int
	for _, m := range c.all("test.left.depth") {
		got = len(m.Data)
	}
	if got < 320*64*4 || got > 320*64*4+200 {
		t.Errorf("depth message %d bytes, want a 320x64 map (%d bytes of data)", got, 320*64*4)
	}
}

// TestNATSSinkHoldsBack publishes through the NATS sink while its server is
// down: large messages are held back (counted, no error), small ones wait
// in the reconnect buffer and arrive once a server is back.
func TestNATSSinkHoldsBack(t *testing.T) {
	opts := server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true}
	srv, err := server.NewServer(&opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	addr := srv.Addr().String()
	nc, err := nats.Connect(srv.ClientURL(), NATSOptions(launch.NATS{}, func(p string) string { return p }, "test")...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var c counters
	s := &natsSink{nc: nc, c: &c}
	srv.Shutdown()
	waitFor(t, 10*time.Second, "the disconnect", func() bool { return nc.Status() != nats.CONNECTED })

	big := &parallaxv1.DiagnosticStatus{Message: strings.Repeat("x", heldBackSize)}
	small := &parallaxv1.DiagnosticStatus{Message: "small"}
	if err := s.publish("t.big", big); err != nil {
		t.Errorf("a held-back message is an error: %v", err)
	}
	if err := s.publish("t.small", small); err != nil {
		t.Errorf("a small message during the outage: %v", err)
	}
	if c.heldBack.Load() != 1 || c.published.Load() != 1 || c.publishErrors.Load() != 0 {
		t.Errorf("held back %d, published %d, errors %d; want 1, 1, 0", c.heldBack.Load(), c.published.Load(), c.publishErrors.Load())
	}

	// A server on the same address: the buffered small message arrives.
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	opts2 := server.Options{Host: host, Port: p, NoSigs: true, NoLog: true}
	srv2, err := server.NewServer(&opts2)
	if err != nil {
		t.Fatal(err)
	}
	go srv2.Start()
	defer srv2.Shutdown()
	if !srv2.ReadyForConnections(10 * time.Second) {
		t.Fatal("second NATS server not ready")
	}
	// Subscribe before the node's client reconnects and flushes: the
	// server is fresh, so nothing was delivered yet.
	sub, err := nats.Connect(srv2.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := make(chan string, 2)
	if _, err := sub.Subscribe("t.>", func(m *nats.Msg) { got <- m.Subject }); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case subj := <-got:
		if subj != "t.small" {
			t.Errorf("got %s after the reconnect, want t.small", subj)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the buffered small message never arrived")
	}
}
