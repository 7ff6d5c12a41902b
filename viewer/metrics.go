package viewer

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// NodeCounters are the node's own counters, which the outputs a sink gets
// do not carry: Viewer.Counters returns them for /metrics. Counts are since
// the node started.
type NodeCounters struct {
	// Cameras holds each camera's counters by name.
	Cameras map[string]CameraCounters
	// FramesProcessed counts the frame sets perception estimated.
	FramesProcessed uint64
	// Published and PublishErrors count NATS messages sent and refused.
	Published, PublishErrors uint64
	// DroppedUnpaired counts stereo frames without a partner, DroppedStale
	// frame sets replaced by newer ones before perception took them.
	DroppedUnpaired, DroppedStale uint64
	// CameraReconnects counts camera reconnection attempts; NATSReconnects
	// the NATS connection's reconnections.
	CameraReconnects, NATSReconnects uint64
	// Latency is the capture-to-depth-published latency distribution.
	Latency Histogram
	// Sinks holds each sink's counters by name ("nats", "viewer", ...).
	Sinks map[string]SinkCounters
}

// CameraCounters are one camera's counters.
type CameraCounters struct {
	// FramesIn counts the frames the camera delivered; Dropped those its
	// source dropped or could not decode.
	FramesIn, Dropped uint64
}

// SinkCounters are what the node handed one sink: Written and Errors
// count its writes, Dropped the outputs it never got (it was busy).
type SinkCounters struct {
	Written, Errors, Dropped uint64
}

// Histogram is a cumulative distribution as Prometheus exposes it:
// Counts[i] observations at most Bounds[i] seconds, Count and Sum of all.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// inferenceBuckets bound the inference durations, in seconds.
var inferenceBuckets = []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5}

// histogram accumulates a Histogram (metricsState's lock held).
type histogram struct {
	bounds []float64
	counts []uint64 // per bucket, not cumulative
	count  uint64
	sum    float64
}

func (h *histogram) observe(x float64) {
	if h.counts == nil {
		h.counts = make([]uint64, len(h.bounds))
	}
	if i := sort.SearchFloat64s(h.bounds, x); i < len(h.bounds) {
		h.counts[i]++
	}
	h.count++
	h.sum += x
}

func (h *histogram) snapshot() Histogram {
	out := Histogram{Bounds: h.bounds, Counts: make([]uint64, len(h.bounds)), Count: h.count, Sum: h.sum}
	var cum uint64
	for i := range h.bounds {
		if h.counts != nil {
			cum += h.counts[i]
		}
		out.Counts[i] = cum
	}
	return out
}

// metricsState is what the viewer sees itself, for /metrics and /healthz.
type metricsState struct {
	mu         sync.Mutex
	rig        *msgs.Rig
	refs       []string
	results    map[string]uint64    // per reference camera, counting skipped ones (Seq)
	lastSeq    map[string]uint64    // per reference camera
	lastResult map[string]time.Time // per reference camera
	inference  histogram
	status     map[string]*parallaxv1.DiagnosticStatus
	lastDiag   time.Time
	stats      *parallaxv1.LearnerStats
}

func (m *metricsState) open(rig *msgs.Rig, refs []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rig, m.refs = rig, refs
	m.results, m.lastSeq, m.lastResult = map[string]uint64{}, map[string]uint64{}, map[string]time.Time{}
	m.inference = histogram{bounds: inferenceBuckets}
	m.status = map[string]*parallaxv1.DiagnosticStatus{}
}

// result counts a result: its group's results since the last one seen
// (Seq counts them, so results the viewer skipped while busy count too).
func (m *metricsState) result(r *msgs.Result) {
	cam := r.Ref().Camera
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.results == nil {
		return
	}
	last, seen := m.lastSeq[cam]
	switch {
	case !seen:
		m.results[cam] += r.Seq + 1
	case r.Seq > last:
		m.results[cam] += r.Seq - last
	default: // perception restarted its count
		m.results[cam]++
	}
	m.lastSeq[cam] = r.Seq
	m.lastResult[cam] = time.Now()
	m.inference.observe(r.Inference.Seconds())
}

func (m *metricsState) diagnostics(d *parallaxv1.Diagnostics) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.status == nil {
		return
	}
	for _, s := range d.GetStatus() {
		m.status[s.GetName()] = s
	}
	m.lastDiag = time.Now()
}

func (m *metricsState) learner(s *parallaxv1.LearnerStats) {
	m.mu.Lock()
	m.stats = s
	m.mu.Unlock()
}

// statusOf returns the latest status of part (e.g. "camera/left"), which
// the node may have prefixed with its own name ("robot/camera/left").
func (m *metricsState) statusOf(part string) *parallaxv1.DiagnosticStatus {
	if s, ok := m.status[part]; ok {
		return s
	}
	for name, s := range m.status {
		if strings.HasSuffix(name, "/"+part) {
			return s
		}
	}
	return nil
}

// health checks that every camera streams and every reference camera's
// inference runs: each camera's latest diagnostics OK, perception OK and
// a result within timeout, and diagnostics themselves fresh. It returns
// one line per check and whether all passed.
func (m *metricsState) health(timeout time.Duration) (lines []string, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rig == nil {
		return []string{"node: not started"}, false
	}
	ok = true
	check := func(pass bool, format string, args ...any) {
		mark := "ok  "
		if !pass {
			mark, ok = "FAIL", false
		}
		lines = append(lines, mark+" "+fmt.Sprintf(format, args...))
	}
	age := time.Since(m.lastDiag)
	check(!m.lastDiag.IsZero() && age <= timeout, "diagnostics: last %s ago", ageText(m.lastDiag))
	part := func(name string) {
		s := m.statusOf(name)
		if s == nil {
			check(false, "%s: no status yet", name)
			return
		}
		check(s.GetLevel() == parallaxv1.DiagnosticStatus_OK, "%s: %s %s", name, s.GetLevel(), s.GetMessage())
	}
	for _, c := range m.rig.Cameras {
		part("camera/" + c)
	}
	for _, c := range m.refs {
		part("perception/" + c)
		at := m.lastResult[c]
		check(!at.IsZero() && time.Since(at) <= timeout, "results/%s: last %s ago", c, ageText(at))
	}
	return lines, ok
}

func ageText(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return time.Since(t).Round(time.Millisecond).String()
}

func (v *Viewer) serveHealth(w http.ResponseWriter, r *http.Request) {
	lines, ok := v.mt.health(v.HealthTimeout)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, map[bool]string{true: "healthy", false: "unhealthy"}[ok])
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// promWriter writes Prometheus' text exposition format (version 0.0.4).
type promWriter struct {
	b bytes.Buffer
}

// family writes a metric family's HELP and TYPE lines.
func (p *promWriter) family(name, typ, help string) {
	fmt.Fprintf(&p.b, "# HELP %s %s\n# TYPE %s %s\n", name, strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help), name, typ)
}

// sample writes one sample; labels are name, value pairs.
func (p *promWriter) sample(name string, value float64, labels ...string) {
	p.b.WriteString(name)
	if len(labels) > 0 {
		p.b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				p.b.WriteByte(',')
			}
			p.b.WriteString(labels[i])
			p.b.WriteString(`="`)
			p.b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(labels[i+1]))
			p.b.WriteByte('"')
		}
		p.b.WriteByte('}')
	}
	p.b.WriteByte(' ')
	p.b.WriteString(promFloat(value))
	p.b.WriteByte('\n')
}

func promFloat(x float64) string {
	switch {
	case math.IsInf(x, 1):
		return "+Inf"
	case math.IsInf(x, -1):
		return "-Inf"
	case math.IsNaN(x):
		return "NaN"
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// histogram writes a histogram family's samples.
func (p *promWriter) histogram(name string, h Histogram, labels ...string) {
	for i, b := range h.Bounds {
		p.sample(name+"_bucket", float64(h.Counts[i]), append(labels, "le", promFloat(b))...)
	}
	p.sample(name+"_bucket", float64(h.Count), append(labels, "le", "+Inf")...)
	p.sample(name+"_sum", h.Sum, labels...)
	p.sample(name+"_count", float64(h.Count), labels...)
}

// counterMap writes one labelled sample per key, sorted.
func (p *promWriter) counterMap(name, label string, m map[string]uint64) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.sample(name, float64(m[k]), label, k)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// serveMetrics writes every metric; the package documentation lists them.
func (v *Viewer) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var p promWriter
	if v.Counters != nil {
		writeNodeCounters(&p, v.Counters())
	}
	m := &v.mt
	m.mu.Lock()
	if m.results != nil {
		p.family("parallax_frames_out_total", "counter", "Perception results (depth and pose) of each reference camera, including those the viewer skipped.")
		p.counterMap("parallax_frames_out_total", "camera", m.results)
		p.family("parallax_inference_duration_seconds", "histogram", "Time the networks took per result (results the viewer saw).")
		p.histogram("parallax_inference_duration_seconds", m.inference.snapshot())
		names := make([]string, 0, len(m.status))
		for n := range m.status {
			names = append(names, n)
		}
		sort.Strings(names)
		p.family("parallax_diagnostic_level", "gauge", "Latest diagnostics level of each part: 0 OK, 1 WARN, 2 ERROR, 3 STALE.")
		for _, n := range names {
			p.sample("parallax_diagnostic_level", float64(m.status[n].GetLevel()), "name", n)
		}
	}
	if s := m.stats; s != nil {
		p.family("parallax_learner_steps_total", "counter", "Optimisation steps of the online learner.")
		p.sample("parallax_learner_steps_total", float64(s.GetSteps()))
		p.family("parallax_learner_steps_per_second", "gauge", "Optimisation steps a second over the last 5 s.")
		p.sample("parallax_learner_steps_per_second", s.GetStepsPerSecond())
		p.family("parallax_learner_step_seconds", "gauge", "Mean duration of the optimisation steps of the last stats period (about 1 s).")
		p.sample("parallax_learner_step_seconds", s.GetStepSeconds())
		p.family("parallax_learner_rollbacks_total", "counter", "Drift-guard rollbacks to the last good weights.")
		p.sample("parallax_learner_rollbacks_total", float64(s.GetRollbacks()))
		p.family("parallax_learner_weights_version", "gauge", "Weight hand-overs to perception since start.")
		p.sample("parallax_learner_weights_version", float64(s.GetWeightsVersion()))
		p.family("parallax_learner_adapting", "gauge", "1 while the node adapts its networks online.")
		p.sample("parallax_learner_adapting", b2f(s.GetAdapting()))
		if ls := s.GetLosses(); len(ls) > 0 {
			p.family("parallax_learner_loss", "gauge", "Mean loss terms of the last stats period.")
			for _, l := range ls {
				p.sample("parallax_learner_loss", l.GetValue(), "term", l.GetName())
			}
		}
		if dm := s.GetDepthMetrics(); dm != nil {
			p.family("parallax_learner_abs_rel", "gauge", "Live depth error against ground truth (abs_rel), when the source has it.")
			p.sample("parallax_learner_abs_rel", dm.GetAbsRel())
		}
	}
	m.mu.Unlock()
	_, healthy := v.mt.health(v.HealthTimeout)
	p.family("parallax_healthy", "gauge", "1 when /healthz answers 200: every camera streams and inference runs.")
	p.sample("parallax_healthy", b2f(healthy))

	s := &v.stats
	p.family("parallax_viewer_clients", "gauge", "Clients connected to the viewer now.")
	p.sample("parallax_viewer_clients", float64(s.foxglove.Load()), "kind", "foxglove")
	p.sample("parallax_viewer_clients", float64(s.pages.Load()), "kind", "page")
	p.family("parallax_viewer_connections_total", "counter", "Client connections accepted since start.")
	p.sample("parallax_viewer_connections_total", float64(s.connections.Load()))
	p.family("parallax_viewer_messages_sent_total", "counter", "Messages the viewer sent its clients.")
	p.sample("parallax_viewer_messages_sent_total", float64(s.sent.Load()))
	p.family("parallax_viewer_sent_bytes_total", "counter", "Bytes of the messages the viewer sent its clients.")
	p.sample("parallax_viewer_sent_bytes_total", float64(s.bytes.Load()))
	p.family("parallax_viewer_dropped_total", "counter", "Messages dropped for slow clients (older images replaced by newer ones, a full send buffer).")
	p.sample("parallax_viewer_dropped_total", float64(s.dropped.Load()))

	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(p.b.Bytes())
}

func writeNodeCounters(p *promWriter, c NodeCounters) {
	in, drop := map[string]uint64{}, map[string]uint64{}
	for name, cc := range c.Cameras {
		in[name], drop[name] = cc.FramesIn, cc.Dropped
	}
	p.family("parallax_frames_in_total", "counter", "Frames each camera delivered.")
	p.counterMap("parallax_frames_in_total", "camera", in)
	p.family("parallax_source_frames_dropped_total", "counter", "Frames each camera's source dropped (decoded, never read) or could not decode.")
	p.counterMap("parallax_source_frames_dropped_total", "camera", drop)
	p.family("parallax_frames_dropped_total", "counter", "Frames the node dropped: stereo frames without a partner (unpaired), frame sets replaced by newer ones before inference (stale).")
	p.sample("parallax_frames_dropped_total", float64(c.DroppedUnpaired), "reason", "unpaired")
	p.sample("parallax_frames_dropped_total", float64(c.DroppedStale), "reason", "stale")
	p.family("parallax_frames_processed_total", "counter", "Frame sets perception estimated, all cameras.")
	p.sample("parallax_frames_processed_total", float64(c.FramesProcessed))
	p.family("parallax_latency_seconds", "histogram", "Capture to depth published on NATS (stamps on the camera's clock only).")
	if len(c.Latency.Bounds) == len(c.Latency.Counts) {
		p.histogram("parallax_latency_seconds", c.Latency)
	}
	p.family("parallax_nats_published_total", "counter", "Messages published on NATS.")
	p.sample("parallax_nats_published_total", float64(c.Published))
	p.family("parallax_nats_publish_errors_total", "counter", "Messages NATS refused.")
	p.sample("parallax_nats_publish_errors_total", float64(c.PublishErrors))
	p.family("parallax_nats_reconnects_total", "counter", "Reconnections of the NATS connection.")
	p.sample("parallax_nats_reconnects_total", float64(c.NATSReconnects))
	p.family("parallax_camera_reconnects_total", "counter", "Camera reconnection attempts after a failure.")
	p.sample("parallax_camera_reconnects_total", float64(c.CameraReconnects))
	if len(c.Sinks) > 0 {
		written, errs, dropped := map[string]uint64{}, map[string]uint64{}, map[string]uint64{}
		for name, s := range c.Sinks {
			written[name], errs[name], dropped[name] = s.Written, s.Errors, s.Dropped
		}
		p.family("parallax_sink_written_total", "counter", "Outputs each sink wrote.")
		p.counterMap("parallax_sink_written_total", "sink", written)
		p.family("parallax_sink_errors_total", "counter", "Outputs each sink failed to write.")
		p.counterMap("parallax_sink_errors_total", "sink", errs)
		p.family("parallax_sink_dropped_total", "counter", "Outputs each sink never got (it was busy: latest wins).")
		p.counterMap("parallax_sink_dropped_total", "sink", dropped)
	}
}
