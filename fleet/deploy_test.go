package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallax-robotics/parallax/fleet"
)

func setPasswords(t *testing.T) {
	for _, k := range []string{"OPERATOR_PASSWORD", "TRAINER_PASSWORD", "ROBOT7_PASSWORD", "SYS_PASSWORD"} {
		t.Setenv(k, "pw-"+k)
	}
}

// TestDeployConfigs: the cluster's config files in deploy/nats parse, and
// their accounts, loaded into a real server, let robot7 follow a family
// and pull its versions but not push, promote or roll back, while the
// trainer may.
func TestDeployConfigs(t *testing.T) {
	setPasswords(t)
	for i := 1; i <= 3; i++ {
		o, err := server.ProcessConfigFile(filepath.Join("..", "deploy", "nats", fmt.Sprintf("server-%d.conf", i)))
		if err != nil {
			t.Fatalf("server-%d.conf: %v", i, err)
		}
		if !o.JetStream || o.Cluster.Name != "parallax-fleet" || len(o.Routes) != 3 || o.LeafNode.Port != 7422 {
			t.Errorf("server-%d.conf: jetstream %v cluster %q routes %d leaf port %d", i, o.JetStream, o.Cluster.Name, len(o.Routes), o.LeafNode.Port)
		}
	}
	dir := t.TempDir()
	acc, err := os.ReadFile(filepath.Join("..", "deploy", "nats", "accounts.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts.conf"), acc, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(dir, "test.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listen: 127.0.0.1:%d\njetstream {store_dir: %q}\ninclude ./accounts.conf\n", port, filepath.Join(dir, "js"))), 0o644)
	o, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	o.NoLog, o.NoSigs = true, true
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	url := func(user string) string {
		return fmt.Sprintf("nats://%s:pw-%s_PASSWORD@127.0.0.1:%d", user, map[string]string{"trainer": "TRAINER", "robot7": "ROBOT7"}[user], port)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	trainer := connect(t, url("trainer"))
	reg, err := fleet.Open(ctx, trainer, fleet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a := variant(t, 1)
	va, _, err := reg.Push(ctx, "street", a, fleet.Version{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Promote(ctx, "street", va.Digest, "trainer", ""); err != nil {
		t.Fatal(err)
	}

	robot, err := nats.Connect(url("robot7"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer robot.Close()
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 3*time.Second) }
	rctx, rcancel := short()
	rreg, err := fleet.Bind(rctx, robot, fleet.DefaultBucket)
	rcancel()
	if err != nil {
		t.Fatalf("robot binding the registry: %v", err)
	}
	got := make(chan string, 1)
	f := &fleet.Follower{Conn: robot, Family: "street", Poll: 500 * time.Millisecond, Timeout: 2 * time.Second,
		Handle: func(_ context.Context, p fleet.Pointer, _ fleet.Version, _ []byte) error {
			select {
			case got <- p.Digest:
			default:
			}
			return nil
		},
		Status: func(ok bool, msg string) { t.Logf("robot follower: %v %s", ok, msg) }}
	fctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { f.Run(fctx); close(done) }()
	select {
	case d := <-got:
		if d != va.Digest {
			t.Errorf("robot got %s", d)
		}
	case <-time.After(15 * time.Second):
		t.Error("the robot could not follow and pull the family")
	}
	stop()
	<-done
	rctx, rcancel = short()
	_, _, err = rreg.Push(rctx, "street", variant(t, 2), fleet.Version{})
	rcancel()
	if err == nil {
		t.Error("the robot pushed a version")
	}
	vb, _, err := reg.Push(ctx, "street", variant(t, 3), fleet.Version{})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel = short()
	_, err = rreg.Promote(rctx, "street", vb.Digest, "robot7", "")
	rcancel()
	if err == nil || errors.Is(err, fleet.ErrNoVersion) {
		t.Errorf("the robot promoting a stored version: %v, want a permission failure", err)
	}
	if _, err := reg.Promote(ctx, "street", vb.Digest, "trainer", ""); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel = short()
	_, err = rreg.Rollback(rctx, "street", "robot7", "")
	rcancel()
	if err == nil || errors.Is(err, fleet.ErrRollback) {
		t.Errorf("the robot rolling back: %v, want a permission failure", err)
	}
	if p, err := reg.Current(ctx, "street"); err != nil || p.Digest != vb.Digest || p.Revision != 2 {
		t.Errorf("pointer after the robot's attempts: %+v %v", p, err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startConf(t *testing.T, o *server.Options) *server.Server {
	t.Helper()
	o.NoLog, o.NoSigs = true, true
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	return s
}

// TestDeployLeafUpload: a robot's leaf node (deploy/nats/leaf-robot.conf)
// logged in to the cluster as robot7 (accounts.conf) carries the node's
// sample uploads to the cluster's FLEET_SAMPLES stream; a sample published
// as another robot never gets there.
func TestDeployLeafUpload(t *testing.T) {
	setPasswords(t)
	dir := t.TempDir()
	acc, err := os.ReadFile(filepath.Join("..", "deploy", "nats", "accounts.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts.conf"), acc, 0o644); err != nil {
		t.Fatal(err)
	}
	port, leafPort := freePort(t), freePort(t)
	conf := filepath.Join(dir, "hub.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("listen: 127.0.0.1:%d\nleafnodes {listen: 127.0.0.1:%d}\njetstream {store_dir: %q}\ninclude ./accounts.conf\n",
		port, leafPort, filepath.Join(dir, "js"))), 0o644)
	o, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	startConf(t, o)
	t.Setenv("FLEET_LEAF_URL", fmt.Sprintf("nats-leaf://robot7:pw-ROBOT7_PASSWORD@127.0.0.1:%d", leafPort))
	lo, err := server.ProcessConfigFile(filepath.Join("..", "deploy", "nats", "leaf-robot.conf"))
	if err != nil {
		t.Fatal(err)
	}
	lo.Port = freePort(t)
	leaf := startConf(t, lo)
	deadline := time.Now().Add(10 * time.Second)
	for leaf.NumLeafNodes() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the leaf node did not connect to the hub as robot7")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx := ctxT(t)
	trainer := connect(t, fmt.Sprintf("nats://trainer:pw-TRAINER_PASSWORD@127.0.0.1:%d", port))
	js, err := jetstream.New(trainer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.EnsureSamples(ctx, js, fleet.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	robot, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", lo.Port), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer robot.Close()
	d := testDrive(t, "synth://?seed=3&stereo=1&width=64&height=32")
	u, err := fleet.NewUploader(robot, fleet.UploadConfig{Robot: "robot7", Retry: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		u.Offer(driveSample(t, d, i))
	}
	for deadline := time.Now().Add(20 * time.Second); u.Stats().Sent+u.Stats().Failed < 3 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	u.Close()
	if st := u.Stats(); st.Sent != 3 {
		t.Fatalf("robot7 through its leaf node: %+v, want 3 samples acknowledged", st)
	}
	other, err := fleet.EncodeSample(fleet.SampleHeader{Robot: "robot8"}, driveSample(t, d, 4), fleet.EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rjs, err := jetstream.New(robot)
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = rjs.Publish(pctx, fleet.SampleSubject("robot8"), other)
	cancel()
	if err == nil {
		t.Error("robot7 published robot8's sample")
	}
	s, err := js.Stream(ctx, fleet.SamplesStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(fleet.SamplesPrefix+".>"))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 || info.State.Subjects["fleet.samples.robot7"] != 3 {
		t.Errorf("stream holds %d samples (%v), want robot7's 3 only", info.State.Msgs, info.State.Subjects)
	}
}
