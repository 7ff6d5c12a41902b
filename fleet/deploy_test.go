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
		if !o.JetStream || o.Cluster.Name != "parallax-fleet" || len(o.Routes) != 3 {
			t.Errorf("server-%d.conf: jetstream %v cluster %q routes %d", i, o.JetStream, o.Cluster.Name, len(o.Routes))
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
