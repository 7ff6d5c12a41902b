package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/parallax-robotics/parallax/camera/cameratest"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/msgs"
)

// monoLaunch reads one camera from url, with intrinsics for 320x96.
func monoLaunch(url string, natsPort int) string {
	return fmt.Sprintf(`namespace: faults
cameras:
  - {name: cam, url: %q, intrinsics: {width: 320, height: 96, fx: 185.6, fy: 185.6, cx: 159.5, cy: 47.5}}
model: {width: 320, height: 96, size: small}
device: cpu
nats: %s
learner: {adapt: false}
`, url, embeddedNATS(natsPort))
}

// serveInProcess serves src on path of an RTSP server in this process
// (with mangle on its packets, when set) and returns the path's URL.
func serveInProcess(t *testing.T, path string, src *switchSource, mangle func(string, *rtp.Packet) bool) string {
	t.Helper()
	srv := &cameratest.Server{Mangle: mangle}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := src.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(path, src, 0); err != nil {
		t.Fatal(err)
	}
	return srv.URL(path)
}

// switchSource reads frames of the synthetic world in worlds[0] until
// switchAt, then of worlds[1]: a camera reconfigured mid-stream (worlds of
// one seed at two resolutions see the same scene).
type switchSource struct {
	cams     []*synth.Camera
	switchAt int

	mu sync.Mutex
	n  int
}

func newSwitchSource(t *testing.T, worlds []string, switchAt int) *switchSource {
	t.Helper()
	s := &switchSource{switchAt: switchAt}
	start := time.Now()
	for _, u := range worlds {
		cfg, err := synth.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		w, err := synth.NewWorld(cfg)
		if err != nil {
			t.Fatal(err)
		}
		cam := w.Camera("", true)
		cam.StartTime = start
		s.cams = append(s.cams, cam)
	}
	return s
}

func (s *switchSource) Start(ctx context.Context) error {
	for _, c := range s.cams {
		if err := c.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (s *switchSource) Read(ctx context.Context) (*msgs.Frame, error) {
	s.mu.Lock()
	s.n++
	i := 0
	if s.switchAt > 0 && s.n > s.switchAt {
		i = len(s.cams) - 1
	}
	s.mu.Unlock()
	// Every camera advances, so the one read shows the current time.
	var out *msgs.Frame
	for k, c := range s.cams {
		f, err := c.Read(ctx)
		if err != nil {
			return nil, err
		}
		if k == i {
			out = f
		}
	}
	return out, nil
}

func (s *switchSource) Close() error {
	for _, c := range s.cams {
		c.Close()
	}
	return nil
}

// droppedTotal reads the last "dropped N (total)" of a run status line.
var droppedRE = regexp.MustCompile(`dropped (\d+) \(total\)`)

func droppedTotal(p *proc) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.lines) - 1; i >= 0; i-- {
		if m := droppedRE.FindStringSubmatch(p.lines[i]); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	return -1
}

// TestCorruptStream serves a camera whose RTP packets are mangled (bits
// flipped in the payload, payloads cut short, packets dropped, garbage
// packets): the node must keep publishing depth from the frames that
// decode, count the others as dropped, and keep running.
func TestCorruptStream(t *testing.T) {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(1, 2))
	var mangled int
	mangle := func(_ string, pkt *rtp.Packet) bool {
		mu.Lock()
		defer mu.Unlock()
		switch x := rng.IntN(100); {
		case x < 3 && len(pkt.Payload) > 4:
			for k := 0; k < 4; k++ {
				pkt.Payload[rng.IntN(len(pkt.Payload))] ^= byte(1 + rng.IntN(255))
			}
		case x < 5 && len(pkt.Payload) > 8:
			pkt.Payload = pkt.Payload[:rng.IntN(len(pkt.Payload))]
		case x < 7:
			mangled++
			return false
		case x < 9:
			garbage := make([]byte, 1+rng.IntN(200))
			for k := range garbage {
				garbage[k] = byte(rng.Uint32())
			}
			pkt.Payload = garbage
		default:
			return true
		}
		mangled++
		return true
	}
	url := serveInProcess(t, "corrupt", newSwitchSource(t, []string{testWorld}, 0), mangle)
	natsPort := freePort(t)
	n := node(t, monoLaunch(url, natsPort))
	w := watch(t, fmt.Sprintf("nats://127.0.0.1:%d", natsPort), "faults")
	began := time.Now()
	time.Sleep(8 * time.Second)
	alive(t, n, "on a corrupt stream")
	depth := w.countDepth("cam", began)
	dropped := droppedTotal(n)
	mu.Lock()
	t.Logf("%d packets mangled; %d depth maps in 8 s; %d frames dropped (total)", mangled, depth, dropped)
	mu.Unlock()
	if depth < 10 {
		t.Errorf("%d depth maps in 8 s of a 15 fps camera with 9%% of its packets mangled, want at least 10", depth)
	}
	if dropped <= 0 {
		t.Errorf("no dropped frames counted on a corrupt stream (status line dropped %d)", dropped)
	}
	figures.add(row{fault: "corrupt RTP/H.264 (9% of packets mangled)", attempts: 1, recovers: 1,
		lost: fmt.Sprintf("%d frames dropped and counted; %d depth maps in 8 s", dropped, depth)})
}

// TestResolutionChange serves a camera that switches from 320x96 to 640x192
// mid-stream (new SPS in-band): the node must go on publishing depth
// without a restart.
func TestResolutionChange(t *testing.T) {
	src := newSwitchSource(t, []string{testWorld, "synth://?width=640&height=192&fps=15"}, 60)
	url := serveInProcess(t, "resize", src, nil)
	natsPort := freePort(t)
	n := node(t, monoLaunch(url, natsPort))
	w := watch(t, fmt.Sprintf("nats://127.0.0.1:%d", natsPort), "faults")
	// 60 frames at 15 fps: the switch comes 4 s after the server started.
	if _, ok := w.waitDepth("cam", time.Time{}, 60*time.Second); !ok {
		t.Fatal("no depth before the switch")
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		src.mu.Lock()
		switched := src.n > src.switchAt
		src.mu.Unlock()
		if switched {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the source never switched")
		}
		time.Sleep(50 * time.Millisecond)
	}
	after := time.Now()
	// A few depth maps that started after the change: frames of the new
	// size (those in flight at the switch arrive within half a second).
	var at time.Time
	deadline = time.Now().Add(30 * time.Second)
	for w.countDepth("cam", after.Add(500*time.Millisecond)) < 5 {
		alive(t, n, "after the resolution change")
		if time.Now().After(deadline) {
			t.Fatalf("%d depth maps in the 30 s after the resolution change, want 5", w.countDepth("cam", after.Add(500*time.Millisecond)))
		}
		time.Sleep(20 * time.Millisecond)
	}
	at, _ = w.depthAfter("cam", after.Add(500*time.Millisecond))
	figures.add(row{fault: "resolution change mid-stream (320x96 to 640x192)", attempts: 1, recovers: 1,
		worst: at.Sub(after), lost: "none"})
}
