package main

import (
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/parallax-robotics/parallax/actors"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/viewer"
)

// viewerFlags adds the flags run and demo share for the viewer and logs:
// --viewer-listen and --log-format.
func viewerFlags(fs *cmdFlags) (listen, logFormat *string) {
	listen = fs.String("viewer-listen", "", "serve the viewer (Foxglove WebSocket, web page, /metrics, /healthz) on this address, port 0 for a free one; off: no viewer (default: the launch file's viewer.listen)")
	logFormat = fs.String("log-format", "text", "format of the logs on stderr: text or json (log/slog)")
	return listen, logFormat
}

// newLogger is the command's structured logger on w, also made slog's
// default.
func newLogger(format string, w io.Writer) (*slog.Logger, error) {
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(w, nil)
	case "json":
		h = slog.NewJSONHandler(w, nil)
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
	l := slog.New(h)
	slog.SetDefault(l)
	return l, nil
}

// applyViewerListen applies --viewer-listen to the launch: "" keeps the
// file's viewer section (or its absence), "off" removes it, an address
// turns the viewer on there. The result is validated again (an address
// beyond loopback needs the file's TLS and token).
func applyViewerListen(l *launch.Launch, listen string) error {
	switch listen {
	case "":
		return nil
	case "off":
		l.Viewer = nil
		return nil
	}
	if l.Viewer == nil {
		l.Viewer = &launch.Viewer{CloudStep: viewer.DefaultCloudStep, ImageRate: viewer.DefaultImageRate}
	}
	l.Viewer.Listen = listen
	return l.Validate()
}

// nodeViewer is the viewer of a launch file, wired to the node.
type nodeViewer struct {
	*viewer.Viewer
	started atomic.Bool // the node has started: its counters can be read
}

// addViewer makes the launch file's viewer (nil without a viewer section)
// and appends it to the node's sinks; the node opens it in Start. Its
// /metrics reads the node's counters once started is set.
func addViewer(l *launch.Launch, n *actors.Node, log *slog.Logger) *nodeViewer {
	c := l.Viewer
	if c == nil {
		return nil
	}
	v := &nodeViewer{Viewer: &viewer.Viewer{Listen: c.Listen, Token: c.Token, DepthMin: c.DepthMin, DepthMax: c.DepthMax,
		CloudStep: c.CloudStep, ImageRate: c.ImageRate, Logger: log}}
	if c.TLS != nil {
		v.TLSCert, v.TLSKey = l.Resolve(c.TLS.Cert), l.Resolve(c.TLS.Key)
	}
	v.Counters = func() viewer.NodeCounters {
		if !v.started.Load() {
			return viewer.NodeCounters{}
		}
		return nodeCounters(n, l)
	}
	n.Sinks = append(n.Sinks, v.Viewer)
	return v
}

// line is what run and demo print about the viewer once the node runs.
func (v *nodeViewer) line() string {
	if v == nil {
		return ""
	}
	v.started.Store(true)
	tok := ""
	if v.Token != "" {
		tok = "?token=…"
	}
	return fmt.Sprintf("viewer on %s%s (Foxglove WebSocket: %s%s; /metrics, /healthz)\n", v.URL(), tok, v.FoxgloveURL(), tok)
}

// logStarted logs the node's start: what runs where.
func logStarted(log *slog.Logger, cmd string, l *launch.Launch, n *actors.Node, v *nodeViewer) {
	attrs := []any{"command", cmd, "namespace", l.Namespace, "cameras", len(l.Cameras), "nats", msgs.RedactURL(n.NATSURL()),
		"model", n.ModelInfo(), "adapt", n.Adapting()}
	if v != nil {
		attrs = append(attrs, "viewer", v.URL())
	}
	log.Info("node started", attrs...)
}

// nodeCounters are the node's counters as the viewer's /metrics exports
// them.
func nodeCounters(n *actors.Node, l *launch.Launch) viewer.NodeCounters {
	s := n.Stats()
	c := viewer.NodeCounters{Cameras: map[string]viewer.CameraCounters{}, FramesProcessed: s.FramesProcessed,
		Published: s.Published, PublishErrors: s.PublishErrors, DroppedUnpaired: s.DroppedUnpaired, DroppedStale: s.DroppedStale,
		CameraReconnects: s.Reconnects, NATSReconnects: s.NATSReconnects, Sinks: map[string]viewer.SinkCounters{}}
	for _, cam := range l.Cameras {
		if cs, ok := n.CameraStats(cam.Name); ok {
			c.Cameras[cam.Name] = viewer.CameraCounters{FramesIn: cs.FramesIn, Dropped: cs.DroppedSource}
		}
	}
	h := n.LatencyHistogram()
	c.Latency = viewer.Histogram{Counts: h.Counts, Count: h.Count, Sum: h.Sum.Seconds()}
	for _, b := range h.Bounds {
		c.Latency.Bounds = append(c.Latency.Bounds, b.Seconds())
	}
	names := []string{"nats"}
	for _, sk := range n.Sinks {
		names = append(names, sk.Name())
	}
	for _, name := range names {
		if st, ok := n.SinkStats(name); ok {
			c.Sinks[name] = viewer.SinkCounters{Written: st.Written, Errors: st.Errors, Dropped: st.Dropped}
		}
	}
	return c
}
