package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// The bounds of parallax sub's queue of messages it has not printed yet.
const (
	subPendingMsgs  = 100_000
	subPendingBytes = 1 << 30
)

// errSubConnect is returned when the NATS server cannot be reached.
var errSubConnect = errors.New("sub: cannot reach the NATS server")

// runSub subscribes to a subject (wildcards allowed) and prints one summary
// line per message and, every second, one rate line per subject.
func runSub(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sub", "[SUBJECT] [flags]", stderr,
		"parallax sub 'parallax.>'",
		"parallax sub parallax.left.depth --nats nats://127.0.0.1:4222 --count 10",
		"parallax sub --ns robot7 --duration 5s --raw")
	url := fs.String("nats", nats.DefaultURL, "NATS server URL; user:pass@ or token@ in it are used and redacted in output")
	fs.deprecate("url", "nats")
	ns := fs.String("ns", "parallax", "without a SUBJECT, subscribe to every subject of this namespace (NS.>)")
	count := fs.Int("count", 0, "stop after this many messages (0: no limit)")
	duration := fs.Duration("duration", 0, "stop after this long (0: run until interrupted)")
	raw := fs.Bool("raw", false, "print the payload's first bytes instead of decoding it")
	auth := addNATSAuth(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.positional = []string{*ns + ".>"}
	}
	if err := wantArgs(fs, 1, "the subject"); err != nil {
		return err
	}
	subject := fs.Arg(0)
	if *count < 0 {
		return fmt.Errorf("sub: --count %d is negative", *count)
	}
	nc, err := auth.connect(*url, "parallax sub")
	if err != nil {
		return fmt.Errorf("%w at %w", errSubConnect, err)
	}
	defer nc.Close()
	// The callback hands messages to this loop; the client's own queue in
	// front of it (bounded below) absorbs a burst.
	ch := make(chan *nats.Msg)
	stopped := make(chan struct{})
	defer close(stopped)
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		select {
		case ch <- m:
		case <-stopped:
		}
	})
	if err != nil {
		return fmt.Errorf("sub: subscribe %q: %w", subject, err)
	}
	// Depth maps are hundreds of KB: the client's default 64 MB would drop
	// them a few seconds into a slow terminal. The queue is still bounded,
	// so a stdout slower than the stream costs messages (counted, said at
	// each rate line) rather than all of memory.
	if err := sub.SetPendingLimits(subPendingMsgs, subPendingBytes); err != nil {
		return fmt.Errorf("sub: %w", err)
	}
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("sub: subscribe %q: %w", subject, err)
	}
	fmt.Fprintf(stdout, "subscribed to %s on %s\n", subject, msgs.RedactURL(nc.ConnectedUrl()))
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	type rate struct{ n, bytes int }
	rates := map[string]*rate{}
	// Rates are counted since the last print, and divided by the time since
	// then, so the partial second before exit is not shown as a full one.
	since := time.Now()
	printRates := func() {
		now := time.Now()
		dt := now.Sub(since).Seconds()
		since = now
		names := make([]string, 0, len(rates))
		for s := range rates {
			names = append(names, s)
		}
		sort.Strings(names)
		for _, s := range names {
			r := rates[s]
			fmt.Fprintf(stdout, "rate %s: %.1f msg/s, %.0f bytes/s, %d bytes/msg (%d msgs in %.2f s)\n",
				s, float64(r.n)/dt, float64(r.bytes)/dt, r.bytes/max(r.n, 1), r.n, dt)
		}
		clear(rates)
	}
	var dropped int
	printDrops := func() {
		if n, err := sub.Dropped(); err == nil && n > dropped {
			fmt.Fprintf(stdout, "dropped %d messages (%d in all): this output is slower than the stream\n", n-dropped, n)
			dropped = n
		}
	}
	seen := 0
	for {
		select {
		case <-ctx.Done():
			printRates()
			printDrops()
			return nil
		case <-tick.C:
			printRates()
			printDrops()
		case m := <-ch:
			r := rates[m.Subject]
			if r == nil {
				r = &rate{}
				rates[m.Subject] = r
			}
			r.n++
			r.bytes += len(m.Data)
			if *raw {
				fmt.Fprintf(stdout, "%s %d bytes: % x\n", m.Subject, len(m.Data), m.Data[:min(len(m.Data), 32)])
			} else {
				fmt.Fprintf(stdout, "%s %s\n", m.Subject, summarize(m.Subject, m.Data))
			}
			seen++
			if *count > 0 && seen >= *count {
				printRates()
				return nil
			}
		}
	}
}

// summarize decodes data by its subject's kind and returns a one-line
// summary; subjects outside the contract are shown as bytes.
func summarize(subject string, data []byte) string {
	s, err := msgs.ParseSubject(subject)
	if err != nil {
		return fmt.Sprintf("%d bytes (not a parallax subject): % x", len(data), data[:min(len(data), 32)])
	}
	m := s.Kind.NewMessage()
	if err := proto.Unmarshal(data, m); err != nil {
		return fmt.Sprintf("%d bytes: cannot decode as %s: %v", len(data), s.Kind.MessageName(), err)
	}
	switch v := m.(type) {
	case *foxglove.RawImage:
		if s.Kind != msgs.KindDepth {
			break
		}
		w, h, d, err := msgs.DepthFromImage(v)
		if err != nil {
			return fmt.Sprintf("%d bytes: bad depth: %v", len(data), err)
		}
		lo, med, hi := depthStats(d)
		return fmt.Sprintf("depth %dx%d %s min %.3f median %.3f max %.3f m (%d bytes)", w, h, v.GetFrameId(), lo, med, hi, len(data))
	case *parallaxv1.Odometry:
		p := v.GetPose().GetPosition()
		return fmt.Sprintf("odom seq %d position (%.3f, %.3f, %.3f) frame %s child %s", v.GetSeq(), p.GetX(), p.GetY(), p.GetZ(), v.GetFrameId(), v.GetChildFrameId())
	case *foxglove.CameraCalibration:
		k := v.GetK()
		label := s.Kind.String() // camera_info, or calibration: the raw camera
		if len(k) != 9 {
			return fmt.Sprintf("%s %dx%d: K has %d values, want 9", label, v.GetWidth(), v.GetHeight(), len(k))
		}
		b, err := msgs.StereoBaseline(v)
		base := fmt.Sprintf("%.4f m", b)
		if err != nil {
			base = "none"
		}
		out := fmt.Sprintf("%s %dx%d fx %.2f fy %.2f cx %.2f cy %.2f baseline %s", label, v.GetWidth(), v.GetHeight(), k[0], k[4], k[2], k[5], base)
		if s.Kind == msgs.KindCalibration {
			out += fmt.Sprintf(" %s D %.4g", v.GetDistortionModel(), v.GetD())
		}
		return out
	case *foxglove.CompressedImage:
		return fmt.Sprintf("image %s %d bytes", v.GetFormat(), len(v.GetData()))
	case *parallaxv1.Diagnostics:
		parts := make([]string, 0, len(v.GetStatus()))
		for _, st := range v.GetStatus() {
			parts = append(parts, fmt.Sprintf("%s %s %q", st.GetName(), st.GetLevel(), st.GetMessage()))
		}
		return "diagnostics " + strings.Join(parts, "; ")
	case *parallaxv1.LearnerStats:
		parts := make([]string, 0, len(v.GetLosses()))
		for _, l := range v.GetLosses() {
			parts = append(parts, fmt.Sprintf("%s %.4g", l.GetName(), l.GetValue()))
		}
		return fmt.Sprintf("learner steps %d losses %s", v.GetSteps(), strings.Join(parts, " "))
	case *foxglove.PoseInFrame:
		p := v.GetPose().GetPosition()
		return fmt.Sprintf("pose position (%.3f, %.3f, %.3f) frame %s", p.GetX(), p.GetY(), p.GetZ(), v.GetFrameId())
	case *foxglove.FrameTransform:
		t := v.GetTranslation()
		return fmt.Sprintf("tf %s -> %s translation (%.3f, %.3f, %.3f)", v.GetParentFrameId(), v.GetChildFrameId(), t.GetX(), t.GetY(), t.GetZ())
	}
	return fmt.Sprintf("%s %d bytes", s.Kind.MessageName(), len(data))
}

// depthStats returns the min, median and max of the finite values (NaN and
// Inf mark pixels without depth).
func depthStats(d []float32) (lo, med, hi float64) {
	v := make([]float64, 0, len(d))
	for _, x := range d {
		if f := float64(x); !math.IsNaN(f) && !math.IsInf(f, 0) {
			v = append(v, f)
		}
	}
	if len(v) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	sort.Float64s(v)
	n := len(v)
	med = v[n/2]
	if n%2 == 0 {
		med = (v[n/2-1] + v[n/2]) / 2
	}
	return v[0], med, v[n-1]
}
