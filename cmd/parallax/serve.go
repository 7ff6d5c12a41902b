package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parallax-robotics/parallax/camera/cameratest"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
)

// syntheticCamera is the built-in synthetic camera served over RTSP: the
// demo's camera and a stand-in for a real one.
type syntheticCamera struct {
	World  *synth.World
	Server *cameratest.Server
	// Paths are the served paths: "left" and "right" for a stereo rig, "mono" otherwise.
	Paths []string
	// Start is the stamp of frame 0 of every view: frame i is stamped
	// Start + i/FPS, which lets a reader find a frame's ground truth.
	Start time.Time
}

// startSyntheticCamera renders world and serves each view on its own path
// of an RTSP server listening on listen. Frame 0 is stamped start (zero:
// now); a start in the past begins with the frame then due, so servers
// given one start serve the same frame grid: two of them pair as one
// synchronised rig, and a restarted one continues the drive.
func startSyntheticCamera(world string, stereo bool, listen string, udp bool, start time.Time, logf func(string, ...any)) (*syntheticCamera, error) {
	cfg, err := synth.ParseURL(world)
	if err != nil {
		return nil, err
	}
	cfg.Stereo = cfg.Stereo || stereo
	w, err := synth.NewWorld(cfg)
	if err != nil {
		return nil, err
	}
	srv := &cameratest.Server{Address: listen, UDP: udp, Logf: logf}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("RTSP server on %s: %w", listen, err)
	}
	sc := &syntheticCamera{World: w, Server: srv, Paths: []string{synth.ViewMono}}
	if cfg.Stereo {
		sc.Paths = []string{synth.ViewLeft, synth.ViewRight}
	}
	// Both views share one start time so their stamps pair exactly, as a
	// hardware-synchronised stereo camera's would.
	if start.IsZero() {
		start = time.Now()
	}
	first := 0
	if late := time.Since(start); late > 0 {
		first = int(math.Ceil(late.Seconds() * cfg.FPS))
	}
	sc.Start = start
	for _, view := range sc.Paths {
		cam := w.Camera(view, true)
		// Like a real sensor, a served camera drops the frames it could
		// not render in time rather than stamping ever older ones.
		cam.MaxLag = synth.DefaultMaxLag
		cam.First = first
		cam.StartTime = start.Add(time.Duration(float64(first) / cfg.FPS * float64(time.Second)))
		if err := cam.Start(context.Background()); err != nil {
			srv.Close()
			return nil, err
		}
		if err := srv.Serve(view, cam, 0); err != nil {
			srv.Close()
			return nil, err
		}
	}
	return sc, nil
}

// Close stops serving.
// Close stops serving; a nil camera (nothing served) is fine.
func (sc *syntheticCamera) Close() {
	if sc != nil {
		sc.Server.Close()
	}
}

func runCameraServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("camera serve", "[flags]", stderr,
		"parallax camera serve --stereo",
		"parallax camera serve --stereo --listen :8554 --world 'synth://?seed=7&width=640&height=192'",
		"parallax camera serve --udp --listen 127.0.0.1:9554")
	stereo := fs.Bool("stereo", false, "serve a stereo pair on /left and /right (else one view on /mono)")
	listen := fs.String("listen", "127.0.0.1:8554", "address to listen on; \":8554\" serves every interface")
	udp := fs.Bool("udp", false, "offer UDP transport besides TCP")
	world := fs.String("world", "synth://", "the synthetic world and rig, as a synth:// URL (keys: "+strings.Join(synth.URLKeys(), ", ")+")")
	startAt := fs.String("start", "", "stamp frame 0 at this time (Unix seconds or RFC 3339) instead of now: servers given one start pair as a synchronised rig, and a restarted one continues its drive")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	start, err := parseStart(*startAt)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	sc, err := startSyntheticCamera(*world, *stereo, *listen, *udp, start, func(f string, a ...any) {
		fmt.Fprintf(stderr, f+"\n", a...)
	})
	if err != nil {
		return err
	}
	defer sc.Close()
	cfg := sc.World.Config()
	fmt.Fprintf(stdout, "serving the synthetic camera (seed %d, %dx%d at %g fps, H.264) until interrupted:\n",
		cfg.Seed, cfg.Width, cfg.Height, cfg.FPS)
	for _, p := range sc.Paths {
		fmt.Fprintf(stdout, "  %s\n", sc.Server.URL(p))
	}
	<-ctx.Done()
	return nil
}

// parseStart reads --start: Unix seconds (fractions allowed) or RFC 3339;
// "" is the zero time (now).
func parseStart(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if sec, err := strconv.ParseFloat(s, 64); err == nil && sec >= 0 && sec < 1<<40 {
		return time.Unix(0, int64(sec*1e9)), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--start %q: want Unix seconds (e.g. 1767225600.5) or RFC 3339 (e.g. 2026-12-03T12:00:00Z)", s)
	}
	return t, nil
}

// serveLaunch serves a launch file's own synthetic camera (its serve
// section, as the demo's has) on listen ("" keeps the launch's address) and
// points the cameras that read the launch's address at the address the
// server got (a listen port of 0 picks a free one). It returns nil, which
// Close accepts, when the launch serves nothing.
func serveLaunch(l *launch.Launch, listen string, stderr io.Writer) (*syntheticCamera, error) {
	if l.Serve == nil {
		return nil, nil
	}
	configured := l.Serve.Listen
	if listen != "" {
		l.Serve.Listen = listen
	}
	sc, err := startSyntheticCamera(l.Serve.World, false, l.Serve.Listen, false, time.Time{}, func(f string, a ...any) {
		fmt.Fprintf(stderr, f+"\n", a...)
	})
	if err != nil {
		return nil, err
	}
	for i := range l.Cameras {
		if l.Cameras[i].URL, err = servedURL(l.Cameras[i].URL, configured, sc.Server.Addr()); err != nil {
			sc.Close()
			return nil, err
		}
	}
	return sc, nil
}

// servedURL points a camera URL that names the configured address of the
// served synthetic camera at the address it actually got.
func servedURL(raw, configured, actual string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("camera URL %s: %w", msgs.RedactURL(raw), err)
	}
	if u.Host == configured {
		u.Host = actual
	}
	return u.String(), nil
}
