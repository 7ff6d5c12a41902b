package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/codec"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
)

// runDemo runs the node on its embedded default: the synthetic stereo camera
// served over real RTSP (H.264), read back by the RTSP sources, and published
// on an embedded NATS server. Depth and odometry join when the networks land;
// today the demo runs and measures the camera half of the pipeline.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "[flags]", stderr)
	duration := fs.Duration("duration", 0, "stop after this long (0: run until interrupted)")
	natsListen := fs.String("nats-listen", "127.0.0.1:4222", "address of the embedded NATS server (port 0 picks a free one)")
	rtspListen := fs.String("rtsp-listen", "127.0.0.1:8554", "address of the synthetic camera's RTSP server (port 0 picks a free one)")
	world := fs.String("world", "synth://?stereo=1", "the synthetic world and rig, as a synth:// URL")
	ns := fs.String("namespace", "parallax", "NATS subject namespace")
	imageRate := fs.Float64("image-rate", 2, "JPEG previews per second and camera on <ns>.<camera>.image (0: none)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "parallax demo: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if err := msgs.ValidateNamespace(*ns); err != nil {
		return err
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}

	ns0, err := startEmbeddedNATS(*natsListen)
	if err != nil {
		return err
	}
	defer ns0.Shutdown()
	nc, err := nats.Connect(ns0.ClientURL(), nats.Name("parallax demo"))
	if err != nil {
		return fmt.Errorf("connecting to the embedded NATS server: %w", err)
	}
	defer nc.Close()

	sc, err := startSyntheticCamera(*world, true, *rtspListen, false, func(f string, a ...any) {
		fmt.Fprintf(stderr, f+"\n", a...)
	})
	if err != nil {
		return err
	}
	defer sc.Close()

	fmt.Fprintf(stdout, "parallax demo: NATS on %s, synthetic camera on rtsp://%s/{%s}\n",
		ns0.ClientURL(), sc.Server.Addr(), strings.Join(sc.Paths, ","))
	fmt.Fprintf(stdout, "subscribe to %s.> (e.g. nats sub '%s.>'); Ctrl-C stops\n", *ns, *ns)

	k := sc.World.Intrinsics()
	st := &demoStats{}
	var wg sync.WaitGroup
	errc := make(chan error, len(sc.Paths))
	for _, view := range sc.Paths {
		baseline := 0.0
		if view == synth.ViewRight {
			baseline = sc.World.Config().Baseline
		}
		p := &cameraPublisher{
			nc: nc, ns: *ns, name: view, baseline: baseline, imageRate: *imageRate, stats: st,
			src: &camera.RTSP{URL: sc.Server.URL(view), Camera: view, Intrinsics: &k},
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
	for _, src := range s.sources {
		st := src.Stats()
		dropped += st.FramesDropped + st.DecodeErrors
	}
	p50, p99 := "-", "-"
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		p50 = fmt.Sprintf("%.1fms", ms(lat[len(lat)/2]))
		p99 = fmt.Sprintf("%.1fms", ms(lat[len(lat)*99/100]))
	}
	return fmt.Sprintf("t=%5.1fs  frames in %3d  published %3d  dropped %d (total)  latency p50 %s p99 %s",
		elapsed.Seconds(), frames, n, dropped, p50, p99)
}
