package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/parallax-robotics/parallax/actors"
	"github.com/parallax-robotics/parallax/assets"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/msgs"
)

// runDemo runs the full node on its embedded default, the shipped
// launch/demo.yaml: the synthetic stereo camera served over real RTSP
// (H.264), read back by the node's camera actors, depth and odometry
// estimated and published on an embedded NATS server. The networks start
// from assets/demo.ckpt, trained on another synthetic world, and adapt
// online (--adapt=false serves them frozen). The status line adds the
// learner's steps and the depth error against the synthetic world's ground
// truth, which falls as the networks adapt.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "[flags]", stderr,
		"parallax demo",
		"parallax demo --duration 30s --adapt=false",
		"parallax demo --listen 127.0.0.1:0 --rtsp-listen 127.0.0.1:0 --model stereo.ckpt",
		"parallax demo --pretrain -o assets/demo.ckpt --pretrain-steps 1500")
	duration := fs.Duration("duration", 0, "stop after this long (0: run until interrupted)")
	nf := addNodeFlags(fs, "launch/demo.yaml's", "the built-in assets/demo.ckpt")
	fs.deprecate("nats-listen", "listen")
	fs.deprecate("checkpoint", "model")
	rtspListen := fs.String("rtsp-listen", "", "address of the synthetic camera's RTSP server, port 0 for a free one (default from launch/demo.yaml: 127.0.0.1:8554)")
	imageRate := fs.Float64("image-rate", -1, "JPEG previews per second and camera on <ns>.<camera>.image, 0 for none (default from launch/demo.yaml)")
	nice := fs.Int("learner-nice", 0, "nice value of the learner's thread, 0 to 19: higher leaves more of a contended CPU to inference (default from launch/demo.yaml: 10)")
	adapt := fs.Bool("adapt", true, "adapt the networks online to the demo's world (false: serve the starting checkpoint frozen)")
	var pretrain pretrainFlag
	fs.Var(&pretrain, "pretrain", "instead of running the demo, train its starting checkpoint from scratch on "+pretrainWorld+" and write it to --out (make demo-checkpoint)")
	out := fs.String("out", "", "the checkpoint --pretrain writes")
	fs.short("o", "out")
	pretrainSteps := fs.Int("pretrain-steps", 1500, "optimisation steps of --pretrain")
	viewerListen, logFormat := viewerFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if pretrain.path != "" && *out == "" {
		fmt.Fprintln(stderr, "parallax demo: --pretrain FILE is deprecated and will go: use --pretrain -o FILE")
		*out = pretrain.path
	}
	if pretrain.on && *out == "" && fs.NArg() == 1 {
		fmt.Fprintln(stderr, "parallax demo: --pretrain FILE is deprecated and will go: use --pretrain -o FILE")
		*out, fs.positional = fs.Arg(0), nil
	}
	if err := wantArgs(fs, 0, ""); err != nil {
		return err
	}
	log, err := newLogger(*logFormat, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "parallax demo: %v\n", err)
		return errUsage
	}
	if pretrain.on {
		if *out == "" {
			fmt.Fprintln(stderr, "parallax demo: --pretrain needs -o FILE, the checkpoint to write")
			return errUsage
		}
		return pretrainDemo(ctx, *out, pretrainConfig{Steps: *pretrainSteps}, func(line string) {
			fmt.Fprintf(stdout, "parallax demo --pretrain: %s\n", line)
		})
	}
	l, err := launch.Demo()
	if err != nil {
		return err
	}
	l.Learner.Adapt = *adapt
	set := fs.set()
	if set["learner-nice"] {
		if *nice < 0 || *nice > 19 {
			fmt.Fprintf(stderr, "parallax demo: --learner-nice %d: want 0 to 19\n", *nice)
			return errUsage
		}
		l.Learner.Nice = *nice
	}
	if err := nf.apply(l, set); err != nil {
		return err
	}
	if l.Model.Checkpoint == "" {
		// The built-in starting checkpoint, cached as a file (the node loads
		// files) in the user's cache folder, else the temp folder.
		if l.Model.Checkpoint, err = demoCheckpoint(); err != nil {
			return err
		}
	}
	if err := applyViewerListen(l, *viewerListen); err != nil {
		return err
	}
	if *imageRate >= 0 {
		l.Topics.Image = *imageRate > 0
		if *imageRate > 0 {
			l.Topics.ImageRate = *imageRate
		}
	}

	sc, err := serveLaunch(l, *rtspListen, stderr)
	if err != nil {
		return err
	}
	defer sc.Close()
	ev := &depthEval{world: sc.World, start: sc.Start, minDepth: l.Model.MinDepth, maxDepth: l.Model.MaxDepth}
	n := &actors.Node{Launch: l, Name: "parallax demo", Sinks: []actors.Sink{ev}, GroundTruth: ev.truth}
	v := addViewer(l, n, log)
	// Set before Start: the publisher and the learner call it from their
	// goroutines as soon as the node runs.
	ev.clock = func(camera string) bool {
		st, ok := n.RTSPStats(camera)
		return ok && st.CameraClock
	}
	if err := n.Start(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "parallax demo: NATS on %s, synthetic camera on rtsp://%s/{%s}, model %s\n",
		n.NATSURL(), sc.Server.Addr(), strings.Join(sc.Paths, ","), n.ModelInfo())
	fmt.Fprint(stdout, v.line())
	logStarted(log, "parallax demo", l, n, v)
	fmt.Fprintf(stdout, "subscribe to %s.> (e.g. nats sub '%s.>'); Ctrl-C stops\n", l.Namespace, l.Namespace)
	return statusLoop(ctx, n, *duration, stdout, func() string { return ev.line() + "  " + adaptLine(n) }, "parallax demo")
}

// depthEval measures the node's depth against the synthetic world's
// ground truth: a sink of the node that keeps the latest result (Write runs
// on the sink's goroutine), scored once a second for the status line.
// Frames arrive over RTSP; once the stream's stamps are on the camera's
// clock (its first RTCP sender report) a frame's stamp is exactly Start +
// i/FPS, which gives the frame index i and so World.Render(i)'s true depth.
type depthEval struct {
	world              *synth.World
	start              time.Time
	minDepth, maxDepth float64
	clock              func(camera string) bool

	mu     sync.Mutex
	latest *msgs.Result
}

func (e *depthEval) Name() string         { return "demo-eval" }
func (e *depthEval) Open(*msgs.Rig) error { return nil }
func (e *depthEval) Close() error         { return nil }
func (e *depthEval) Write(o msgs.Output) error {
	if o.Result != nil {
		e.mu.Lock()
		e.latest = o.Result
		e.mu.Unlock()
	}
	return nil
}

// line returns "abs_rel X" for the latest depth map, or "abs_rel -" while
// the frame's ground truth cannot be identified.
func (e *depthEval) line() string {
	e.mu.Lock()
	r := e.latest
	e.latest = nil
	e.mu.Unlock()
	if r == nil {
		return "abs_rel -"
	}
	v, ok := e.absRel(r)
	if !ok {
		return "abs_rel -"
	}
	return fmt.Sprintf("abs_rel %.3f", v)
}

// truth returns the demo world's rendering, with ground truth, of the
// frame f (identified by its stamp on the camera clock), or nil; it is also
// the node's GroundTruth hook, so <ns>.learner.stats carries the live depth
// error.
func (e *depthEval) truth(f *msgs.Frame) *msgs.Frame {
	if e.clock == nil || !e.clock(f.Camera) {
		return nil
	}
	fps := e.world.Config().FPS
	fi := f.Stamp.Sub(e.start).Seconds() * fps
	i := int(math.Round(fi))
	if i < 0 || math.Abs(fi-float64(i))*1000/fps > 1 { // more than 1 ms off the frame grid
		return nil
	}
	view := synth.ViewMono
	if e.world.Config().Stereo {
		view = synth.ViewLeft
	}
	g, err := e.world.RenderView(view, i)
	if err != nil || g.Truth == nil {
		return nil
	}
	return g
}

// absRel is Monodepth2's metric abs_rel (learner.DepthMetrics, no median
// scaling: the demo's networks are stereo-trained) of a result against its
// frame's ground truth, compared at the depth map's resolution through the
// estimator's centre crop (learner.GroundTruthDepth).
func (e *depthEval) absRel(r *msgs.Result) (float64, bool) {
	f := e.truth(r.Ref())
	if f == nil {
		return 0, false
	}
	gt, err := learner.GroundTruthDepth(f, r.Depth.Width, r.Depth.Height)
	if err != nil {
		return 0, false
	}
	m, err := learner.DepthMetrics(r.Depth.Depth, gt, learner.EvalOptions{MinDepth: e.minDepth, MaxDepth: e.maxDepth})
	if err != nil {
		return 0, false
	}
	return m.AbsRel, true
}

// demoCheckpoint is the built-in assets/demo.ckpt as a file (the node loads
// files), in cacheDir.
func demoCheckpoint() (string, error) { return assets.DemoCheckpointFile(cacheDir()) }

// cacheDir is where files the binary carries are written for the node to
// load: the user's cache folder, else the temp folder.
func cacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "parallax")
}

// pretrainFlag is --pretrain: a switch, which also takes a file for the
// old spelling --pretrain=FILE.
type pretrainFlag struct {
	on   bool
	path string
}

func (p *pretrainFlag) String() string {
	if p == nil || !p.on {
		return "false"
	}
	return "true"
}

func (p *pretrainFlag) Set(s string) error {
	switch s {
	case "true", "1":
		p.on = true
	case "false", "0":
		p.on = false
	default:
		p.on, p.path = true, s
	}
	return nil
}

func (p *pretrainFlag) IsBoolFlag() bool { return true }
