package actors

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/record"
)

// TestSecretsNeverLeak runs a node that uses every secret a launch file
// can hold — a camera password in its RTSP URL (first a wrong one, so the
// camera's errors are reported too), a NATS user and password — and greps
// everything the node produced for them: every message it published
// (diagnostics included), its recording, the launch file as the node
// prints it, and the errors it returned.
func TestSecretsNeverLeak(t *testing.T) {
	const camPass, natsPass = "cam-s3cr3t-pw", "nats-s3cr3t-pw"
	srv := serveSynthAuth(t, "127.0.0.1:0", time.Now(), "robot", camPass)
	t.Cleanup(srv.Close)
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true, Username: "robot", Password: natsPass, MaxPayload: 4 << 20}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(ns.Shutdown)
	natsURL := fmt.Sprintf("nats://robot:%s@%s", natsPass, ns.Addr())

	// The right camera has a wrong password: its failures are reported on
	// diagnostics, and must name the camera without the password.
	l := parseLaunch(t, fmt.Sprintf(`
namespace: sec
cameras:
  - {name: left, url: "rtsp://robot:%[1]s@%[2]s/left", role: left, intrinsics: &k {width: 320, height: 96, fx: 185.6, fy: 185.6, cx: 159.5, cy: 47.5}}
  - {name: right, url: "rtsp://robot:wrong-%[1]s@%[2]s/right", role: right, intrinsics: *k}
stereo: {left: left, right: right, baseline: 0.54}
model: {width: 320, height: 96, size: small}
device: cpu
learner: {adapt: false}
nats: {url: %[3]q}
`, camPass, srv.Addr(), natsURL))
	rec := &record.Recorder{Path: filepath.Join(t.TempDir(), "sec.mcap")}
	n := startNode(t, &Node{Launch: l, Sinks: []Sink{rec}})
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var all bytes.Buffer
	sub, err := nc.Subscribe("sec.>", func(m *nats.Msg) {
		all.WriteString(m.Subject)
		all.Write(m.Data)
	})
	if err != nil {
		t.Fatal(err)
	}
	sub.SetPendingLimits(-1, -1)
	waitFor(t, 30*time.Second, "diagnostics of the failing camera", func() bool {
		nc.Flush()
		return strings.Contains(all.String(), "camera/right")
	})
	time.Sleep(1500 * time.Millisecond) // a few more failures and status rounds
	sub.Unsubscribe()
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(rec.Path)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string][]byte{
		"published messages":  all.Bytes(),
		"the recording":       file,
		"the launch as shown": []byte(l.String()),
		"the NATS URL shown":  []byte(msgs.RedactURL(n.NATSURL())),
	}
	for what, b := range outputs {
		for _, secret := range []string{camPass, natsPass} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s contain the secret %q", what, secret)
			}
		}
	}
	if !strings.Contains(all.String(), "rtsp://robot:xxxxx@") {
		t.Errorf("the diagnostics do not name the camera (redacted): %q", all.String())
	}
}
