package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/parallax-robotics/parallax/actors"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
)

// runRun runs the node of a launch file until interrupted.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "LAUNCH.yaml [flags]", stderr,
		"parallax run launch/robot.example.yaml",
		"parallax run robot.yaml --adapt=false --duration 10m",
		"parallax run robot.yaml --nats nats://10.0.0.2:4222 --ns robot7 --model adapted.ckpt")
	file := fs.String("f", "", "the launch file, instead of the argument (YAML; launch/PARAMETERS.md lists every parameter)")
	duration := fs.Duration("duration", 0, "stop after this long (0: run until interrupted)")
	adapt := fs.Bool("adapt", true, "adapt the networks online; --adapt=false serves a frozen model (default: the launch file's learner.adapt)")
	nf := addNodeFlags(fs, "the launch file's", "the launch file's model.checkpoint")
	viewerListen, logFormat := viewerFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *file != "" && fs.NArg() == 0 {
		fs.positional = []string{*file}
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "parallax run: name the launch file: parallax run robot.yaml (launch/robot.example.yaml is a commented example)")
		return errUsage
	}
	if err := wantArgs(fs, 1, "the launch file"); err != nil {
		return err
	}
	*file = fs.Arg(0)
	log, err := newLogger(*logFormat, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "parallax run: %v\n", err)
		return errUsage
	}
	l, err := launch.Load(*file)
	if err != nil {
		return err
	}
	set := fs.set()
	if set["adapt"] {
		l.Learner.Adapt = *adapt
	}
	if err := nf.apply(l, set); err != nil {
		return err
	}
	if err := applyViewerListen(l, *viewerListen); err != nil {
		return err
	}
	if err := l.CheckFiles(); err != nil {
		return err
	}
	sc, err := serveLaunch(l, "", stderr)
	if err != nil {
		return err
	}
	defer sc.Close()
	n := &actors.Node{Launch: l}
	v := addViewer(l, n, log)
	if err := n.Start(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "parallax run: %s: %d camera(s), NATS on %s, model %s\n",
		*file, len(l.Cameras), msgs.RedactURL(n.NATSURL()), n.ModelInfo())
	fmt.Fprint(stdout, v.line())
	logStarted(log, "parallax run", l, n, v)
	fmt.Fprintf(stdout, "subscribe to %s.> (e.g. nats sub '%s.>'); Ctrl-C stops\n", l.Namespace, l.Namespace)
	return statusLoop(ctx, n, *duration, stdout, func() string { return adaptLine(n) }, "parallax run")
}

// adaptLine is the learner's part of the status line: steps and their
// rate, weight hand-overs, rollbacks, and the live depth error when the
// source has ground truth; "frozen" when the node does not adapt.
func adaptLine(n *actors.Node) string {
	st := n.LearnerStats()
	if !n.Adapting() {
		if st != nil && st.DepthMetrics != nil {
			return fmt.Sprintf("frozen (live abs_rel %.3f)", st.DepthMetrics.AbsRel)
		}
		return "frozen"
	}
	if st == nil {
		return "adapt -"
	}
	s := fmt.Sprintf("adapt %d steps (%.1f/s) v%d", st.Steps, st.StepsPerSecond, st.WeightsVersion)
	if st.Steps == 0 {
		// Before the first step, say what the learner is waiting for: a
		// filling buffer, or gates turning the frames away.
		s += fmt.Sprintf(" (buffer %d/%d, skipped %d static %d anomalous)", st.BufferFill, st.BufferCapacity, st.SkippedStatic, st.SkippedAnomaly)
	}
	if st.Rollbacks > 0 {
		s += fmt.Sprintf(" %d rollbacks", st.Rollbacks)
	}
	if st.DepthMetrics != nil {
		s += fmt.Sprintf(" live abs_rel %.3f", st.DepthMetrics.AbsRel)
	}
	return s
}

// statusLoop prints a status line a second until ctx is done or duration
// has passed, then stops the node. extra, when set, adds to each line.
func statusLoop(ctx context.Context, n *actors.Node, duration time.Duration, stdout io.Writer, extra func() string, name string) error {
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
	var prev actors.Stats
	last := start
	line := func() {
		last = time.Now()
		s := n.Stats()
		lat := n.Latencies()
		// Until every camera's stamps are on its own clock (RTSP: the first
		// RTCP sender report), a latency would measure nothing.
		l := "latency (waiting for the camera clock)"
		switch {
		case !n.CameraClock():
		case len(lat) == 0:
			l = "latency -"
		default:
			l = fmt.Sprintf("latency p50 %5.1fms p99 %5.1fms", ms(actors.Percentile(lat, 50)), ms(actors.Percentile(lat, 99)))
		}
		e := ""
		if extra != nil {
			e = "  " + extra()
		}
		if held := s.HeldBack - prev.HeldBack; held > 0 {
			// NATS is (or was this second) down: say what waits and what not.
			l = fmt.Sprintf("NATS down: %d large held back  %s", held, l)
		}
		fmt.Fprintf(stdout, "t=%5.1fs  frames in %3d  published %3d  dropped %d (total)  %s%s\n",
			time.Since(start).Seconds(), s.FramesIn-prev.FramesIn, s.Published-prev.Published, s.Dropped(), l, e)
		prev = s
	}
	for {
		select {
		case <-ctx.Done():
			if time.Since(last) > 200*time.Millisecond {
				line()
			}
			stopAt := time.Now()
			err := n.Stop()
			fmt.Fprintf(stdout, "%s: stopped after %.1fs (shutdown %.3fs)\n", name, time.Since(start).Seconds(), time.Since(stopAt).Seconds())
			return err
		case <-tick.C:
			line()
		}
	}
}
