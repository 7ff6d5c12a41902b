package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parallax-robotics/parallax/actors"
	"github.com/parallax-robotics/parallax/camera/kitti"
	"github.com/parallax-robotics/parallax/camera/replay"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/record"
)

// runReplay runs the node on a recorded drive.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("replay", "[flags] mcap://FILE | kitti://FOLDER | FILE.mcap", stderr)
	rate := fs.Float64("rate", 1, "speed: 1 real time, 2 twice as fast, 0 as fast as the node processes frames (every frame, in lockstep)")
	loop := fs.Bool("loop", false, "replay forever")
	start := fs.Duration("start", 0, "start this far into the drive")
	end := fs.Duration("end", 0, "stop this far into the drive (0: at its end)")
	model := fs.String("model", "", "model checkpoint (default: random initialisation)")
	width := fs.Int("width", 320, "model input width (without --model)")
	height := fs.Int("height", 96, "model input height (without --model)")
	adapt := fs.Bool("adapt", false, "adapt the networks online while replaying (off: replays are deterministic)")
	ns := fs.String("ns", "replay", "NATS namespace of the outputs")
	natsURL := fs.String("nats", "", "publish to this NATS server (default: an embedded one on --listen)")
	listen := fs.String("listen", "127.0.0.1:4222", "the embedded NATS server's address")
	recordTo := fs.String("record", "", "also record the replay's inputs and outputs into this MCAP file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "parallax replay: name one source: mcap://FILE, kitti://FOLDER or FILE.mcap")
		return errUsage
	}
	l, frames, err := replayLaunch(fs.Arg(0), replayOptions{rate: *rate, loop: *loop, start: *start, end: *end,
		model: *model, width: *width, height: *height, adapt: *adapt, ns: *ns, nats: *natsURL, listen: *listen})
	if err != nil {
		return err
	}
	n := &actors.Node{Launch: l}
	if *recordTo != "" {
		n.Sinks = []actors.Sink{&record.Recorder{Path: *recordTo}}
	}
	if err := n.Start(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "parallax replay: %s: %d camera(s), %d frames, rate %g, NATS on %s (subscribe to %s.>); Ctrl-C stops\n",
		fs.Arg(0), len(l.Cameras), frames, *rate, n.NATSURL(), *ns)
	return replayLoop(ctx, n, frames, !*loop, stdout)
}

type replayOptions struct {
	rate          float64
	loop          bool
	start, end    time.Duration
	model         string
	width, height int
	adapt         bool
	ns, nats      string
	listen        string
}

// replayLaunch builds the launch file of a replay: the source's cameras
// (its stereo pair, or its one camera), the model, NATS. It returns the
// number of frames all its cameras play together (within start/end): a
// stereo pair's two cameras may hold different counts (a recording cut
// mid-chunk and recovered), and a finite replay is done when all of them
// were read.
func replayLaunch(source string, o replayOptions) (*launch.Launch, int, error) {
	if !strings.Contains(source, "://") {
		source = "mcap://" + source
	}
	path, uo, err := replay.ParseURL(source)
	if err != nil {
		return nil, 0, err
	}
	u, _ := url.Parse(source)
	q := url.Values{}
	q.Set("rate", strconv.FormatFloat(o.rate, 'g', -1, 64))
	if o.loop {
		q.Set("loop", "1")
	}
	if o.start > 0 {
		q.Set("start", o.start.String())
	}
	if o.end > 0 {
		q.Set("end", o.end.String())
	}
	if uo.Camera != "" {
		q.Set("camera", uo.Camera)
	}
	u.RawQuery = q.Encode()
	camURL := u.String()

	var stereo bool
	var left, right replay.Stream
	switch u.Scheme {
	case "mcap":
		rec, err := replay.Open(path)
		if err != nil {
			return nil, 0, err
		}
		defer rec.Close()
		l, r, ok := rec.Stereo()
		stereo = ok && uo.Camera == ""
		if stereo {
			if right, err = rec.Frames(r); err != nil {
				return nil, 0, err
			}
		}
		name := uo.Camera
		if name == "" {
			name = rec.Cameras()[0]
			if ok {
				name = l
			}
		}
		if left, err = rec.Frames(name); err != nil {
			return nil, 0, err
		}
	default:
		ds, err := kitti.Open(path, "")
		if err != nil {
			return nil, 0, err
		}
		stereo = ds.Stereo() && uo.Camera == ""
		left, _ = ds.View(kitti.Left)
		if stereo {
			right, _ = ds.View(kitti.Right)
		}
	}
	frames := 0
	for _, st := range []replay.Stream{left, right} {
		if st == nil {
			continue
		}
		first, last, err := replay.Window(st, o.start, o.end)
		if err != nil {
			return nil, 0, err
		}
		frames += last - first + 1
	}

	var y strings.Builder
	fmt.Fprintf(&y, "namespace: %s\ncameras:\n", strconv.Quote(o.ns))
	if stereo {
		fmt.Fprintf(&y, "  - {name: left, url: %s, role: left}\n  - {name: right, url: %s, role: right}\n", strconv.Quote(camURL), strconv.Quote(camURL))
	} else {
		fmt.Fprintf(&y, "  - {name: front, url: %s}\n", strconv.Quote(camURL))
	}
	fmt.Fprintf(&y, "model: {width: %d, height: %d, size: small", o.width, o.height)
	if o.model != "" {
		fmt.Fprintf(&y, ", checkpoint: %s", strconv.Quote(o.model))
	}
	fmt.Fprintf(&y, "}\nlearner: {adapt: %v}\n", o.adapt)
	if o.nats != "" {
		fmt.Fprintf(&y, "nats: {url: %s}\n", strconv.Quote(o.nats))
	} else {
		fmt.Fprintf(&y, "nats: {embedded: {listen: %s}}\n", strconv.Quote(o.listen))
	}
	l, err := launch.Parse([]byte(y.String()), "replay")
	if err != nil {
		return nil, 0, err
	}
	return l, frames, nil
}

// replayLoop prints a status line a second until ctx is done or, when
// finite, every frame has been read and the pipeline has gone quiet.
func replayLoop(ctx context.Context, n *actors.Node, frames int, finite bool, stdout io.Writer) error {
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	var prev actors.Stats
	lastChange, lastProcessed := time.Now(), uint64(0)
	stop := func(why string) error {
		err := n.Stop()
		s := n.Stats()
		el := time.Since(start).Seconds()
		fmt.Fprintf(stdout, "parallax replay: %s after %.1fs: %d frames in, %d processed (%.1f/s), %d published, %d dropped\n",
			why, el, s.FramesIn, s.FramesProcessed, float64(s.FramesProcessed)/el, s.Published, s.Dropped())
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return stop("stopped")
		case <-poll.C:
			s := n.Stats()
			if s.FramesProcessed != lastProcessed {
				lastProcessed, lastChange = s.FramesProcessed, time.Now()
			}
			if finite && s.FramesIn >= uint64(frames) && time.Since(lastChange) > 1500*time.Millisecond {
				return stop("done")
			}
		case <-tick.C:
			s := n.Stats()
			fmt.Fprintf(stdout, "t=%5.1fs  frames in %3d  processed %3d  published %3d  dropped %d (total)\n",
				time.Since(start).Seconds(), s.FramesIn-prev.FramesIn, s.FramesProcessed-prev.FramesProcessed,
				s.Published-prev.Published, s.Dropped())
			prev = s
		}
	}
}
