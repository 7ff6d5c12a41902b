package actors

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/sugarme/gotch"

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
