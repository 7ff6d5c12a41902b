package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/parallax-robotics/parallax/actors"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/record"
)

// runRecord records a live launch (-f) or a running node's topics (--nats).
func runRecord(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("record", "(LAUNCH.yaml | --nats URL --ns NS) -o drive.mcap [flags]", stderr,
		"parallax record robot.yaml -o drive.mcap --duration 5m",
		"parallax record --nats nats://127.0.0.1:4222 --ns parallax -o topics.mcap",
		"parallax record robot.yaml -o drive.mcap --split-duration 5m --no-outputs")
	file := fs.String("f", "", "the launch file, instead of the argument: run its node and record its cameras and outputs")
	natsURL := fs.String("nats", "", "instead, record every message under --ns from the NATS server at this URL")
	ns := fs.String("ns", "parallax", "the namespace to record with --nats")
	out := fs.String("out", "drive.mcap", "the recording (with a split: drive-0001.mcap, drive-0002.mcap, ...)")
	fs.short("o", "out")
	splitMB := fs.Float64("split-size", 0, "start a new file after this many MB (0: no split)")
	splitDur := fs.Duration("split-duration", 0, "start a new file after this much recorded time (0: no split)")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	noOutputs := fs.Bool("no-outputs", false, "with a launch file, record the camera inputs only")
	maxPending := fs.Float64("max-pending", 256, "with --nats, MB of messages that may wait for the disk; beyond it NATS drops them (counted)")
	auth := addNATSAuth(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *file == "" && fs.NArg() == 1 {
		*file = fs.Arg(0)
	} else if err := wantArgs(fs, 0, ""); err != nil {
		fmt.Fprintln(stderr, "(info and recover are subcommands: parallax record info FILE)")
		return err
	}
	if (*file == "") == (*natsURL == "") {
		fmt.Fprintln(stderr, "parallax record: give exactly one of a launch file and --nats URL")
		return errUsage
	}
	if *splitMB < 0 || *splitDur < 0 {
		fmt.Fprintln(stderr, "parallax record: --split-size and --split-duration must not be negative")
		return errUsage
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	split := int64(*splitMB * 1e6)
	if *file != "" {
		return recordLaunch(ctx, *file, &record.Recorder{Path: *out, SplitSize: split, SplitDuration: *splitDur, NoOutputs: *noOutputs}, stdout, stderr)
	}
	w := &record.Writer{Path: *out, SplitSize: split, SplitDuration: *splitDur,
		Metadata: map[string]string{msgs.MetadataKeyNamespace: *ns, "source": msgs.RedactURL(*natsURL)}}
	if !(*maxPending >= 1) {
		fmt.Fprintln(stderr, "parallax record: --max-pending must be at least 1 MB")
		return errUsage
	}
	nc, err := auth.connect(*natsURL, "parallax record")
	if err != nil {
		return fmt.Errorf("record: connecting to %w", err)
	}
	defer nc.Close()
	return recordNATS(ctx, nc, *ns, w, int(*maxPending*1e6), stdout)
}

// progress prints the recorder's progress line.
func recordProgress(stdout io.Writer, start time.Time, st record.WriterStats, prevBytes int64, dt time.Duration, extra string) {
	rate := 0.0
	if dt > 0 {
		rate = float64(st.Bytes-prevBytes) / 1e6 / dt.Seconds()
	}
	file := ""
	if n := len(st.Files); n > 0 {
		file = st.Files[n-1]
	}
	fmt.Fprintf(stdout, "t=%6.1fs  recorded %7.1fs  %8d msgs  %8.1f MB  %6.2f MB/s  %s%s\n",
		time.Since(start).Seconds(), st.Last.Sub(st.First).Seconds(), st.Messages, float64(st.Bytes)/1e6, rate, file, extra)
}

func recordLaunch(ctx context.Context, file string, rec *record.Recorder, stdout, stderr io.Writer) error {
	l, err := launch.Load(file)
	if err != nil {
		return err
	}
	if err := l.CheckFiles(); err != nil {
		return err
	}
	// A launch that serves its own synthetic camera (the demo's) serves it
	// here too, so the recording holds the frames as decoded from RTSP.
	sc, err := serveLaunch(l, "", stderr)
	if err != nil {
		return err
	}
	defer sc.Close()
	n := &actors.Node{Launch: l, Sinks: []actors.Sink{rec}}
	if err := n.Start(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "parallax record: %s: %d camera(s) into %s; Ctrl-C stops\n", file, len(l.Cameras), rec.Path)
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var prev int64
	last := start
	line := func() {
		s := rec.Stats()
		st := n.Stats()
		ss, _ := n.SinkStats(rec.Name())
		recordProgress(stdout, start, s.WriterStats, prev, time.Since(last),
			fmt.Sprintf("  frames %d  dropped %d", st.FramesIn, ss.Dropped))
		prev, last = s.Bytes, time.Now()
	}
	for {
		select {
		case <-ctx.Done():
			err := n.Stop()
			line()
			s := rec.Stats()
			if s.Err != nil {
				fmt.Fprintf(stdout, "parallax record: %d messages could not be recorded, the first: %v\n", s.Errors, s.Err)
			}
			fmt.Fprintf(stdout, "parallax record: wrote %v\n", s.Files)
			return err
		case <-tick.C:
			line()
		}
	}
}

// recordNATS records every message under ns from a NATS server: topics are
// the subjects, schemas from the topics table (msgs.ParseSubject), log times
// the receive times. Subjects outside the table are skipped and counted.
// recordNATS records every message under ns.> that nc receives. Messages
// wait for the disk in the client's queue, bounded to maxPending bytes
// (and 65536 messages): a disk slower than the node makes NATS drop the
// newest beyond that, counted and shown, rather than memory growing until
// the robot runs out.
func recordNATS(ctx context.Context, nc *nats.Conn, ns string, w *record.Writer, maxPending int, stdout io.Writer) error {
	if err := msgs.ValidateNamespace(ns); err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Close()
	url := nc.ConnectedUrlRedacted()
	var skipped, failed atomic.Uint64
	var firstErr atomic.Value
	sub, err := nc.Subscribe(ns+".>", func(m *nats.Msg) {
		s, err := msgs.ParseSubject(m.Subject)
		if err != nil {
			skipped.Add(1)
			return
		}
		desc := s.Kind.NewMessage().ProtoReflect().Descriptor()
		if err := w.WriteRaw(m.Subject, desc, time.Now(), m.Data); err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err)
		}
	})
	if err != nil {
		return fmt.Errorf("record: subscribing to %s.>: %w", ns, err)
	}
	if err := sub.SetPendingLimits(65536, maxPending); err != nil {
		return err
	}
	lastDropped := 0
	dropped := func() int {
		if n, err := sub.Dropped(); err == nil { // an error once unsubscribed: keep the last count
			lastDropped = n
		}
		return lastDropped
	}
	fmt.Fprintf(stdout, "parallax record: %s.> on %s into %s; Ctrl-C stops\n", ns, msgs.RedactURL(url), w.Path)
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var prev int64
	last := start
	line := func() {
		st := w.Stats()
		recordProgress(stdout, start, st, prev, time.Since(last), fmt.Sprintf("  skipped %d  dropped %d", skipped.Load(), dropped()))
		prev, last = st.Bytes, time.Now()
	}
	for {
		select {
		case <-ctx.Done():
			sub.Unsubscribe()
			nc.Flush()
			line()
			err := w.Close()
			if e, ok := firstErr.Load().(error); ok {
				fmt.Fprintf(stdout, "parallax record: %d messages could not be recorded, the first: %v\n", failed.Load(), e)
			}
			fmt.Fprintf(stdout, "parallax record: wrote %v\n", w.Stats().Files)
			return err
		case <-tick.C:
			line()
		}
	}
}

// runRecordInfo describes recordings, like `mcap info`.
func runRecordInfo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("record info", "FILE...", stderr,
		"parallax record info drive.mcap",
		"parallax record info drive-0001.mcap drive-0002.mcap")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "parallax record info: name a recording")
		return errUsage
	}
	for i, p := range fs.Args() {
		s, err := record.Info(p)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		s.Format(stdout)
	}
	return nil
}

// runRecordRecover rebuilds the index of a truncated recording.
func runRecordRecover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("record recover", "FILE [-o OUT]", stderr,
		"parallax record recover drive.mcap",
		"parallax record recover cut.mcap -o fixed.mcap")
	out := fs.String("out", "", "write the recovered recording here (default: replace FILE, atomically)")
	fs.short("o", "out")
	path, err := oneArg(fs, args, "the recording")
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("record recover: %w", err)
	}
	rep, err := record.Recover(path, *out)
	if err != nil {
		return err
	}
	if rep.WasComplete {
		fmt.Fprintf(stdout, "parallax record recover: %s is complete (indexed): nothing to do\n", path)
		return nil
	}
	fmt.Fprintf(stdout, "parallax record recover: %s: kept %d messages from %d complete chunks, dropped the last %d bytes (%s); wrote %s\n",
		path, rep.Messages, rep.Chunks, rep.LostBytes, rep.Problem, rep.Output)
	return nil
}
