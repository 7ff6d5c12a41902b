package actors

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/cameratest"
)

// crash makes a crashingCamera panic, so its supervisor restarts it.
type crash struct{}

// crashingCamera is a camera actor that panics on crash: the restart a
// supervisor gives an actor that failed, with the producer making a fresh
// cameraActor while the old one gets Restarting.
type crashingCamera struct{ *cameraActor }

func (c crashingCamera) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(crash); ok {
		panic("test: camera actor crashed")
	}
	c.cameraActor.Receive(ctx)
}

// frameCounter counts the frames a camera actor forwards.
type frameCounter struct{ frames chan struct{} }

func (f *frameCounter) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *frameMsg, *FrameSet:
		select {
		case f.frames <- struct{}{}:
		default:
		}
	}
}

// waitConns waits until the server has want connections and sessions
// open: a closed reader is seen when the server's conn goroutine notices.
func waitConns(t *testing.T, srv *cameratest.Server, want int, when string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Conns() != want || srv.Sessions() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the camera server has %d connections and %d sessions open, want %d",
				when, srv.Conns(), srv.Sessions(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func spawnCamera(t *testing.T, sys *actor.ActorSystem, url string) (*actor.PID, chan struct{}) {
	t.Helper()
	frames := make(chan struct{}, 1)
	next := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &frameCounter{frames: frames} }))
	diag := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	link := &cameraLink{name: "left"}
	c := &counters{}
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		a := &cameraActor{link: link, hardwareID: url, next: next, alone: true, out: &fanout{}, diag: diag, c: c,
			backoff: Backoff{Min: 50 * time.Millisecond, Max: 200 * time.Millisecond},
			open:    func() (camera.Source, error) { return &camera.RTSP{URL: url, Camera: "left"}, nil }}
		a.backoff.fill()
		return crashingCamera{a}
	}))
	return pid, frames
}

func waitFrame(t *testing.T, frames chan struct{}, what string) {
	t.Helper()
	// Drain what came before, then wait for a new frame.
	select {
	case <-frames:
	default:
	}
	select {
	case <-frames:
	case <-time.After(20 * time.Second):
		t.Fatalf("no frame %s", what)
	}
}

// TestCameraActorClosesConnection: a camera actor restarted by its
// supervisor closes the old RTSP connection before the new one streams,
// and a stopped one leaves none open on the camera.
func TestCameraActorClosesConnection(t *testing.T) {
	srv := serveSynth(t, "127.0.0.1:0", time.Now())
	t.Cleanup(srv.Close)
	sys := actor.NewActorSystem(quietLogger())
	t.Cleanup(sys.Shutdown)
	pid, frames := spawnCamera(t, sys, srv.URL("left"))
	waitFrame(t, frames, "before the restarts")
	waitConns(t, srv, 1, "streaming")
	for i := range 3 {
		sys.Root.Send(pid, crash{})
		// The first frame after the restart can still be the old
		// connection's, queued in the mailbox; the second is the new one's.
		waitFrame(t, frames, "after a restart")
		waitFrame(t, frames, "after a restart")
		waitConns(t, srv, 1, fmt.Sprintf("after restart %d", i+1))
	}
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	waitConns(t, srv, 0, "after the actor stopped")
}

// TestCameraActorStopWhileConnecting stops a camera actor whose camera
// accepted the TCP connection and never answered: the connection must be
// closed (the handshake is abandoned), not left for the camera to time out.
func TestCameraActorStopWhileConnecting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	sys := actor.NewActorSystem(quietLogger())
	t.Cleanup(sys.Shutdown)
	pid, _ := spawnCamera(t, sys, "rtsp://"+ln.Addr().String()+"/left")
	var conn net.Conn
	select {
	case conn = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("the camera actor did not connect")
	}
	defer conn.Close()
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := conn.Read(buf) // the DESCRIBE request, then EOF
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the stopped camera actor left its connection open")
		}
		break
	}
	select {
	case c := <-accepted:
		c.Close()
		t.Error("the stopped camera actor connected again")
	case <-time.After(300 * time.Millisecond):
	}
}
