package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/codec"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

// runDemo runs the node on its embedded default, the shipped
// launch/demo.yaml: the synthetic stereo camera served over real RTSP
// (H.264), read back by the RTSP sources, and published on an embedded NATS
// server. Depth and odometry join when the networks land; today the demo
// runs and measures the camera half of the pipeline.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "[flags]", stderr)
	duration := fs.Duration("duration", 0, "stop after this long (0: run until interrupted)")
	natsListen := fs.String("nats-listen", "", "address of the embedded NATS server, port 0 for a free one (default from launch/demo.yaml: 127.0.0.1:4222)")
	rtspListen := fs.String("rtsp-listen", "", "address of the synthetic camera's RTSP server, port 0 for a free one (default from launch/demo.yaml: 127.0.0.1:8554)")
	imageRate := fs.Float64("image-rate", -1, "JPEG previews per second and camera on <ns>.<camera>.image, 0 for none (default from launch/demo.yaml)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "parallax demo: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	l, err := launch.Demo()
	if err != nil {
		return err
	}
	configured := l.Serve.Listen
	if *natsListen != "" {
		l.NATS.Embedded.Listen = *natsListen
	}
	if *rtspListen != "" {
		l.Serve.Listen = *rtspListen
	}
	rate := 0.0
	if l.Topics.Image {
		rate = l.Topics.ImageRate
	}
	if *imageRate >= 0 {
		rate = *imageRate
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	ns0, err := startEmbeddedNATS(l.NATS.Embedded.Listen)
	if err != nil {
		return err
	}
	defer ns0.Shutdown()
	nc, err := nats.Connect(ns0.ClientURL(), nats.Name("parallax demo"))
	if err != nil {
		return fmt.Errorf("connecting to the embedded NATS server: %w", err)
	}
	defer nc.Close()

	sc, err := startSyntheticCamera(l.Serve.World, false, l.Serve.Listen, false, func(f string, a ...any) {
		fmt.Fprintf(stderr, f+"\n", a...)
	})
	if err != nil {
		return err
	}
	defer sc.Close()

	fmt.Fprintf(stdout, "parallax demo: NATS on %s, synthetic camera on rtsp://%s/{%s}\n",
		ns0.ClientURL(), sc.Server.Addr(), strings.Join(sc.Paths, ","))
	fmt.Fprintf(stdout, "subscribe to %s.> (e.g. nats sub '%s.>'); Ctrl-C stops\n", l.Namespace, l.Namespace)

	st := &demoStats{}
	var wg sync.WaitGroup
	errc := make(chan error, len(l.Cameras))
	for _, cam := range l.Cameras {
		url, err := servedURL(cam.URL, configured, sc.Server.Addr())
		if err != nil {
			return err
		}
		baseline := 0.0
		if l.Stereo != nil && cam.Name == l.Stereo.Right {
			baseline = l.Stereo.Baseline
		}
		p := &cameraPublisher{
			nc: nc, ns: l.Namespace, name: cam.Name, baseline: baseline, imageRate: rate, stats: st,
			src: &camera.RTSP{URL: url, Camera: cam.Name, Transport: cam.Transport, Intrinsics: cam.Intrinsics},
		}
		if err := p.src.Start(); err != nil {
			return err
		}
		defer p.src.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.run(ctx); err != nil {
				errc <- fmt.Errorf("camera %s: %w", p.name, err)
			}
		}()
		st.sources = append(st.sources, p.src)
	}

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			fmt.Fprintln(stdout, st.line(time.Since(start)))
			fmt.Fprintf(stdout, "parallax demo: stopped after %.1fs\n", time.Since(start).Seconds())
			return nil
		case err := <-errc:
			return err
		case <-tick.C:
			fmt.Fprintln(stdout, st.line(time.Since(start)))
		}
	}
}

// servedURL points a camera URL that names the configured address of the
// served synthetic camera at the address it actually got (a listen port of
// 0 picks a free one).
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

// cameraPublisher reads one camera and publishes its calibration for every
// frame and a JPEG preview at a limited rate.
type cameraPublisher struct {
	nc        *nats.Conn
	ns, name  string
	baseline  float64
	imageRate float64
	src       *camera.RTSP
	stats     *demoStats
}

func (p *cameraPublisher) run(ctx context.Context) error {
	infoSubj, err := msgs.NewSubject(p.ns, p.name, msgs.KindCameraInfo)
	if err != nil {
		return err
	}
	imgSubj, err := msgs.NewSubject(p.ns, p.name, msgs.KindImage)
	if err != nil {
		return err
	}
	var lastImage time.Time
	for {
		f, err := p.src.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		p.stats.frame(time.Since(f.Stamp))
		if f.Intrinsics != nil {
			cal, err := msgs.CameraCalibration(f.Stamp, p.name, *f.Intrinsics, p.baseline)
			if err != nil {
				return err
			}
			if err := p.publish(infoSubj.String(), cal); err != nil {
				return err
			}
		}
		if p.imageRate > 0 && time.Since(lastImage) >= time.Duration(float64(time.Second)/p.imageRate) {
			lastImage = time.Now()
			jpg, err := codec.EncodeJPEG(&codec.RGB{Width: f.Width, Height: f.Height, Pix: f.Pix}, 80)
			if err != nil {
				return err
			}
			img := &foxglove.CompressedImage{Timestamp: msgs.Timestamp(f.Stamp), FrameId: p.name, Data: jpg, Format: "jpeg"}
			if err := p.publish(imgSubj.String(), img); err != nil {
				return err
			}
		}
	}
}

func (p *cameraPublisher) publish(subject string, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	if err := p.nc.Publish(subject, b); err != nil {
		if errors.Is(err, nats.ErrMaxPayload) {
			return fmt.Errorf("%s: %d-byte message exceeds the server's max_payload %d: %w", subject, len(b), p.nc.MaxPayload(), err)
		}
		return err
	}
	p.stats.published()
	return nil
}

// demoStats gathers what the status line prints, over the last second.
type demoStats struct {
	mu        sync.Mutex
	frames    int
	msgs      int
	latencies []time.Duration
	sources   []*camera.RTSP
}

func (s *demoStats) frame(latency time.Duration) {
	s.mu.Lock()
	s.frames++
	s.latencies = append(s.latencies, latency)
	s.mu.Unlock()
}

func (s *demoStats) published() {
	s.mu.Lock()
	s.msgs++
	s.mu.Unlock()
}

// line formats the counters of the last period and resets them.
func (s *demoStats) line(elapsed time.Duration) string {
	s.mu.Lock()
	frames, n, lat := s.frames, s.msgs, s.latencies
	s.frames, s.msgs, s.latencies = 0, 0, nil
	s.mu.Unlock()
	var dropped uint64
	synced := true
	for _, src := range s.sources {
		st := src.Stats()
		dropped += st.FramesDropped + st.DecodeErrors
		synced = synced && st.CameraClock
	}
	// Until the camera's first RTCP sender report, stamps are receive
	// times and a latency would measure nothing.
	p50, p99 := "(waiting for the camera clock)", ""
	if synced && len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		p50 = fmt.Sprintf("p50 %.1fms", ms(lat[len(lat)/2]))
		p99 = fmt.Sprintf(" p99 %.1fms", ms(lat[len(lat)*99/100]))
	}
	return fmt.Sprintf("t=%5.1fs  frames in %3d  published %3d  dropped %d (total)  latency %s%s",
		elapsed.Seconds(), frames, n, dropped, p50, p99)
}
