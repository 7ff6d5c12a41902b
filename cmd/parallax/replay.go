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
	"github.com/parallax-robotics/parallax/assets"
	"github.com/parallax-robotics/parallax/camera/kitti"
	"github.com/parallax-robotics/parallax/camera/replay"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/record"
)

// runReplay runs the node on a recorded drive.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("replay", "SOURCE [flags]   (SOURCE: mcap://FILE, kitti://FOLDER or FILE.mcap)", stderr,
		"parallax replay drive.mcap --rate 0",
		"parallax replay mcap://drive.mcap --rate 1 --loop --start 10s --end 1m",
		"parallax replay kitti:///data/2011_09_26/2011_09_26_drive_0001_sync --model stereo.ckpt -o replayed.mcap")
	source := fs.String("source", "", "the drive, instead of the argument")
	rate := fs.Float64("rate", 1, "speed: 1 real time, 2 twice as fast, 0 as fast as the node processes frames (every frame, in lockstep)")
	loop := fs.Bool("loop", false, "replay forever")
	start := fs.Duration("start", 0, "start this far into the drive")
	end := fs.Duration("end", 0, "stop this far into the drive (0: at its end)")
	model := fs.String("model", "", "checkpoint to serve; 'random' for an untrained model of --width x --height (default: the model the recording was made with, else the built-in demo checkpoint)")
	width := fs.Int("width", 320, "model input width with --model random")
	height := fs.Int("height", 96, "model input height with --model random")
	adapt := fs.Bool("adapt", false, "adapt the networks online while replaying (off: replays are deterministic)")
	ns := fs.String("ns", "replay", "NATS namespace of the outputs")
	natsURL := fs.String("nats", "", "publish to this NATS server (default: an embedded one on --listen)")
	listen := fs.String("listen", "127.0.0.1:4222", "the embedded NATS server's address")
	recordTo := fs.String("out", "", "also record the replay's inputs and outputs into this MCAP file")
	fs.short("o", "out")
	fs.deprecate("record", "out")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *source != "" && fs.NArg() == 0 {
		fs.positional = []string{*source}
	}
	if err := wantArgs(fs, 1, "the drive: mcap://FILE, kitti://FOLDER or FILE.mcap"); err != nil {
		return err
	}
	drive := fs.Arg(0)
	o := replayOptions{rate: *rate, loop: *loop, start: *start, end: *end,
		width: *width, height: *height, adapt: *adapt, ns: *ns, nats: *natsURL, listen: *listen}
	var why string
	var err error
	if o.model, why, err = replayModel(drive, *model); err != nil {
		return err
	}
	l, frames, err := replayLaunch(drive, o)
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
	fmt.Fprintf(stdout, "parallax replay: %s: %d camera(s), %d frames, rate %g, NATS on %s (subscribe to %s.>), model: %s; Ctrl-C stops\n",
		drive, len(l.Cameras), frames, *rate, n.NATSURL(), *ns, why)
	return replayLoop(ctx, n, frames, !*loop, stdout)
}

// replayModel picks the weights a replay serves: the one asked for, else
// the checkpoint the recording carries (the recording node's starting
// model), else the built-in demo checkpoint; an untrained network only on
// request (--model random), since noise from random weights looks like a
// broken replay. It returns the file ("" for random) and what it is.
func replayModel(drive, asked string) (path, why string, err error) {
	switch asked {
	case "random":
		return "", "random initialisation (--model random)", nil
	case "":
	default:
		return asked, asked, nil
	}
	if !strings.Contains(drive, "://") || strings.HasPrefix(drive, "mcap://") {
		p, _, err := replay.ParseURL(mcapURL(drive))
		if err != nil {
			return "", "", err
		}
		rec, err := replay.Open(p)
		if err != nil {
			return "", "", err
		}
		data, ok, err := rec.Model()
		rec.Close()
		if err != nil {
			return "", "", err
		}
		if ok {
			path, err := assets.CachedFile(cacheDir(), "recorded", ".ckpt", data)
			if err != nil {
				return "", "", err
			}
			return path, "the one the recording was made with (" + path + ")", nil
		}
	}
	path, err = demoCheckpoint()
	if err != nil {
		return "", "", err
	}
	return path, "the built-in demo checkpoint (the recording carries none; --model CKPT picks another)", nil
}

// mcapURL makes a bare file name an mcap:// URL.
func mcapURL(source string) string {
	if !strings.Contains(source, "://") {
		return "mcap://" + source
	}
	return source
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
	source = mcapURL(source)
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
