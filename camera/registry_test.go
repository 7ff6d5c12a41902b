package camera_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/camera"
	_ "github.com/parallax-robotics/parallax/camera/drivers"
	"github.com/parallax-robotics/parallax/msgs"
)

// TestRegistry: every built-in scheme is registered with what the launch
// loader needs to know, URLs are checked by their own driver, and an
// unknown scheme is an error that lists the known ones.
func TestRegistry(t *testing.T) {
	if got := strings.Join(camera.Schemes(), ","); got != "kitti,mcap,rtsp,rtsps,synth" {
		t.Fatalf("schemes %s", got)
	}
	for _, tc := range []struct {
		url     string
		network bool
		model   camera.ModelSource
		path    camera.PathKind
		drive   bool
	}{
		{"rtsp://h/x", true, camera.ModelNeeded, camera.PathNone, false},
		{"synth://?seed=2", false, camera.ModelOwn, camera.PathNone, true},
		{"mcap://a.mcap", false, camera.ModelOptional, camera.PathFile, true},
		{"kitti://d", false, camera.ModelOptional, camera.PathFolder, true},
	} {
		d, err := camera.Check(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if d.Network != tc.network || d.Model != tc.model || d.Path != tc.path || (d.Drive != nil) != tc.drive {
			t.Errorf("%s: driver %+v", tc.url, d)
		}
	}
	for _, tc := range []struct{ url, want string }{
		{"http://h/x", `scheme "http" is not one of kitti, mcap, rtsp, rtsps, synth`},
		{"nowhere", "has no scheme"},
		{"rtsp://:554/x", "has no host"},
		{"rtsp://h:99999/x", "port"},
		{"synth://?sed=2", `unknown key "sed"`},
		{"mcap://", "names no file"},
	} {
		if _, err := camera.Check(tc.url); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%s): %v, want %q", tc.url, err, tc.want)
		}
	}
	if _, err := camera.Check("gopher://h"); !errors.Is(err, camera.ErrScheme) {
		t.Errorf("unknown scheme: %v, want ErrScheme", err)
	}
	if _, err := camera.OpenDrive("rtsp://h/x", ""); !errors.Is(err, camera.ErrDrive) {
		t.Errorf("OpenDrive of a live stream: %v, want ErrDrive", err)
	}
}

// TestSynthFeedShared: the two cameras of a synth:// stereo pair share one
// world and one epoch grid: the right one knows the baseline, and their
// frames pair exactly by stamp.
func TestSynthFeedShared(t *testing.T) {
	shared := camera.NewShared()
	const u = "synth://?stereo=1&width=64&height=64&fps=50&baseline=0.3"
	var frames []*msgs.Frame
	for _, role := range []string{"left", "right"} {
		f, err := camera.Open(camera.Spec{Name: "cam_" + role, URL: u, Role: role, Shared: shared})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]float64{"left": 0, "right": 0.3}[role]; f.Baseline != want || !f.CameraClock {
			t.Fatalf("%s feed: baseline %g, camera clock %v", role, f.Baseline, f.CameraClock)
		}
		src, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		if err := src.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		fr, err := src.Read(context.Background())
		src.Close()
		if err != nil {
			t.Fatal(err)
		}
		if fr.Camera != "cam_"+role {
			t.Errorf("frame named %q", fr.Camera)
		}
		frames = append(frames, fr)
	}
	if d := frames[1].Stamp.Sub(frames[0].Stamp); d%(20*time.Millisecond) != 0 {
		t.Errorf("stamps %v and %v are not on one 50 fps grid", frames[0].Stamp, frames[1].Stamp)
	}
	if _, err := camera.Open(camera.Spec{Name: "x", URL: u}); err == nil {
		t.Error("a Spec without Shared was accepted")
	}
}

// TestRTSPStartCancelled: cancelling the context of a Start that waits on
// a host that accepts and never answers returns at once with the
// context's error, well before the read timeout.
func TestRTSPStartCancelled(t *testing.T) {
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := mute.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	r := &camera.RTSP{URL: "rtsp://" + mute.Addr().String() + "/cam", ReadTimeout: 30 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Start(ctx) }()
	var conn net.Conn
	select {
	case conn = <-accepted:
		defer conn.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("Start never connected")
	}
	began := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Start: %v, want context.Canceled", err)
		}
		if d := time.Since(began); d > 2*time.Second {
			t.Fatalf("Start returned %v after the cancel", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Start did not return after the cancel")
	}
	r.Close()
	// The client closed its connection: the server's side reads EOF.
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := conn.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the cancelled Start left its connection open")
			}
			return
		}
	}
}
