package actors

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/nats-io/nats.go"
	"github.com/sugarme/gotch"
	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/rectify"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
	"github.com/parallax-robotics/parallax/perception"
)

// stopTimeout bounds Stop: every actor, goroutine and connection is given
// this long in total.
const stopTimeout = 2 * time.Second

// Node is the perception node of one launch file: cameras, stereo sync,
// perception and publishing as a protoactor supervision tree (see the
// package documentation), plus the NATS connection (or embedded server)
// and the torch worker.
type Node struct {
	// Launch is the configuration. It is required; Start validates it.
	Launch *launch.Launch
	// Name is the NATS client name. It defaults to "parallax".
	Name string
	// Backoff is the camera reconnection schedule. Its fields default as
	// documented on Backoff.
	Backoff Backoff
	// Threads is the torch worker's intra-op thread count. It defaults to
	// 2, or 1 on a machine with at most 2 CPUs: there the camera goroutines
	// (decoding, rendering) take a core, and an OpenMP team of 2 that loses
	// a thread to them stalls at every barrier (measured on 2 shared cores:
	// 13 stereo frames processed in 8 s with 2 threads, 118 with 1).
	Threads int
	// MaxPayload is the embedded NATS server's max_payload in bytes (unused
	// with an external server). It defaults to 0: the server's 1 MiB.
	MaxPayload int32
	// Sinks are the node's outputs besides NATS, which is always the
	// first: an MCAP recorder (record.Recorder), a viewer, a test's
	// collector. Start opens them, Stop closes them. It defaults to none.
	Sinks []Sink
	// LearnerThreads is the online learner's torch worker's intra-op
	// thread count (its own worker beside perception's, at a lower
	// scheduling priority). It defaults to 1: on 2 cores inference keeps
	// the other.
	LearnerThreads int
	// GroundTruth, when set, returns the frame f as rendered with ground
	// truth (Truth set), or nil when unknown: <ns>.learner.stats then
	// carries the live depth error. The demo looks frames up in its
	// synthetic world by stamp. It defaults to using f itself when it
	// carries Truth (synth:// cameras).
	GroundTruth func(f *msgs.Frame) *msgs.Frame

	mu      sync.Mutex
	started bool
	stopped bool
	c       counters
	nc      *nats.Conn
	emb     *EmbeddedNATS
	natsURL string
	worker  *perception.Worker
	model   *perception.Model
	modelOf string
	modelAt string                 // the checkpoint file loaded, "" for random init
	ckpt    *perception.Checkpoint // the checkpoint the node started from
	est     *perception.Estimator
	depths  []depthMethod // per stream group (groups), depth.go
	learn   *learnerState
	rig     *msgs.Rig
	feeds   map[string]*camera.Feed
	rects   map[string]*rectify.Rectifier // calibrated cameras (rectify.go)
	gates   map[string]*lockstep          // lockstep replay cameras
	sinks   []*sinkLink                   // NATS first, then Sinks; open ones only
	system  *actor.ActorSystem
	root    *actor.PID
	links   []*cameraLink
}

// Start builds everything and starts streaming. On error nothing is left
// running.
func (n *Node) Start() (err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started {
		return ErrStarted
	}
	l := n.Launch
	if l == nil {
		return ErrNoLaunch
	}
	if err := l.Validate(); err != nil {
		return err
	}
	if n.Name == "" {
		n.Name = "parallax"
	}
	if n.Threads <= 0 {
		n.Threads = 2
		if runtime.NumCPU() <= 2 {
			n.Threads = 1
		}
	}
	n.Backoff.fill()
	defer func() {
		if err != nil {
			n.release()
		}
	}()

	baselines, err := n.openCameras(l)
	if err != nil {
		return err
	}
	n.depths = nil
	for _, g := range groups(l) {
		m, err := groupDepth(l, g, baselines)
		if err != nil {
			return err
		}
		n.depths = append(n.depths, m)
	}
	dev, err := perception.ParseDevice(l.Device)
	if err != nil {
		return err
	}
	if n.worker, err = perception.NewWorker(n.Threads); err != nil {
		return err
	}
	if err := n.loadModel(l, dev); err != nil {
		return err
	}
	n.est = perception.NewEstimator(n.model, n.worker)
	if err := n.startLearner(l, baselines); err != nil {
		return err
	}
	var emb *EmbeddedNATS
	if n.nc, emb, err = connectNATS(l, n.Name, n.MaxPayload); err != nil {
		return err
	}
	n.emb = emb
	n.natsURL = l.NATS.URL
	if emb != nil {
		n.natsURL = emb.ClientURL()
	}
	if err := n.checkPayload(l); err != nil {
		return err
	}
	if err := n.openSinks(l, baselines); err != nil {
		return err
	}

	// Before the actors, so the learner hooks its statuses up at start.
	n.startFleet(l)
	n.system = actor.NewActorSystem(quietLogger())
	n.links = nil
	for _, c := range l.Cameras {
		n.links = append(n.links, &cameraLink{name: c.Name, cameraClock: n.feeds[c.Name].CameraClock})
	}
	tree := &nodeActor{n: n, l: l}
	props := actor.PropsFromProducer(func() actor.Actor { return tree },
		actor.WithSupervisor(actor.NewOneForOneStrategy(10, 10*time.Second, decide)))
	if n.root, err = n.system.Root.SpawnNamed(props, "node"); err != nil {
		return fmt.Errorf("actors: spawning the node: %w", err)
	}
	n.started = true
	return nil
}

// quietLogger silences protoactor: its default logger prints coloured
// lines to stdout, mixing with the command's output. The node reports
// through Stats and diagnostics instead.
func quietLogger() actor.ConfigOption {
	return actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	})
}

// decide is the supervision decider of the node's children. Each child
// keeps nothing another actor depends on and stops its goroutines in
// Restarting, so restarting the one that panicked is always safe; the
// strategy gives up on a child after 10 restarts within 10 s.
func decide(reason any) actor.Directive {
	switch reason.(type) {
	case error:
		return actor.RestartDirective
	default: // a panic with a non-error value: the same remedy
		return actor.RestartDirective
	}
}

// openCameras prepares every camera through its scheme's driver
// (camera.Open: a missing recording or a bad URL fails the start here),
// rectifies the calibrated ones (openRectifiers: a bad calibration fails
// the start too) and returns the stereo baselines: the launch file's
// stereo.baseline, else what the right camera's calibration or source
// knows.
func (n *Node) openCameras(l *launch.Launch) (map[string]float64, error) {
	n.feeds, n.gates = map[string]*camera.Feed{}, map[string]*lockstep{}
	var err error
	if n.rects, err = openRectifiers(l); err != nil {
		return nil, err
	}
	baselines := map[string]float64{}
	shared := camera.NewShared()
	for _, c := range l.Cameras {
		spec := camera.Spec{Name: c.Name, URL: c.URL, Role: c.Role, Transport: c.Transport,
			Intrinsics: c.Intrinsics, Dir: l.Dir, Shared: shared}
		if c.Calibration != "" {
			spec.Calibration = l.Resolve(c.Calibration)
		}
		f, err := camera.Open(spec)
		if err != nil {
			return nil, fmt.Errorf("actors: camera %s: %s: %w", c.Name, msgs.RedactURL(c.URL), err)
		}
		if r := n.rects[c.Name]; r != nil {
			f = rectify.Feed(f, r)
		}
		n.feeds[c.Name] = f
		if f.Baseline > 0 {
			baselines[c.Name] = f.Baseline
		}
		if f.Lockstep {
			n.gates[c.Name] = newLockstep()
		}
	}
	if st := l.Stereo; st != nil && st.Baseline > 0 {
		baselines[st.Right] = st.Baseline
	}
	return baselines, nil
}

// openSinks opens NATS and the user's sinks for the node's rig; the ones
// open when an error stops it are closed by release.
func (n *Node) openSinks(l *launch.Launch, baselines map[string]float64) error {
	ns, err := msgs.NewNamespace(l.Namespace)
	if err != nil {
		return err
	}
	n.rig = &msgs.Rig{Namespace: ns, Baselines: baselines, Model: n.modelAt, Calibrations: rawCalibrations(n.rects),
		OpticalFlow: l.Topics.Flow(), SceneFlow: l.Topics.SceneFlow}
	for _, c := range l.Cameras {
		n.rig.Cameras = append(n.rig.Cameras, c.Name)
	}
	if st := l.Stereo; st != nil {
		n.rig.Left, n.rig.Right = st.Left, st.Right
	}
	all := append([]Sink{&natsSink{nc: n.nc, topics: l.Topics, c: &n.c, clock: n.CameraClock}}, n.Sinks...)
	for _, s := range all {
		if err := s.Open(n.rig); err != nil {
			return fmt.Errorf("actors: sink %s: %w", s.Name(), err)
		}
		n.sinks = append(n.sinks, newSinkLink(s))
	}
	return nil
}

// onResult is the perception stage's hook for each result: the learner
// sees it (for the live depth error), and the returned function, run once
// every sink is done with it, lets the lockstep replays of its cameras
// read their next frame.
func (n *Node) onResult(r *msgs.Result) func() {
	if n.learn != nil {
		n.learn.observe(r)
	}
	var gates []*lockstep
	for _, f := range r.Frames {
		if g := n.gates[f.Camera]; g != nil {
			gates = append(gates, g)
		}
	}
	if len(gates) == 0 {
		return nil
	}
	return func() {
		for _, g := range gates {
			g.release()
		}
	}
}

func (n *Node) loadModel(l *launch.Launch, d gotch.Device) error {
	path, resumed, err := learnerStartModel(l)
	if err != nil {
		return err
	}
	return n.worker.Do(func() error {
		var err error
		if path != "" {
			n.model, n.ckpt, err = perception.LoadModel(path, d)
			n.modelOf, n.modelAt = "checkpoint "+path, path
			if resumed && err == nil {
				n.modelOf = fmt.Sprintf("learner checkpoint %s (step %d)", path, n.ckpt.Header.Meta.Steps)
			}
			if err == nil && l.Topics.Flow() && n.model.Net(perception.NetFlow) == nil {
				names := n.model.Config().Names()
				n.model.Close()
				n.model = nil
				return fmt.Errorf("topics.optical_flow and topics.scene_flow need a flow network (%q): checkpoint %s has %v (train one with the unflow objective)", perception.NetFlow, path, names)
			}
			return err
		}
		cfg := perception.DepthPose(l.Model.Width, l.Model.Height,
			perception.DepthConfig{Size: l.Model.Size, MinDepth: l.Model.MinDepth, MaxDepth: l.Model.MaxDepth},
			perception.PoseConfig{Size: l.Model.Size})
		if l.Topics.Flow() {
			// A random-init model gets a random flow network: it publishes
			// near-zero flow until it is trained, as depth starts untrained.
			cfg.Nets[perception.NetFlow] = perception.FlowConfig{Size: l.Model.Size}
		}
		n.model, err = perception.NewModel(cfg, d)
		n.modelOf = "random init"
		if err != nil || l.Model.EncoderInit == "" {
			return err
		}
		enc := l.Resolve(l.Model.EncoderInit)
		c, err := perception.ReadCheckpoint(enc)
		if err == nil {
			_, err = n.model.LoadEncoder(c, perception.NetDepth)
		}
		if err != nil {
			n.model.Close()
			n.model = nil
			return fmt.Errorf("model.encoder_init %s: %w", enc, err)
		}
		n.modelOf = "random init, encoder from " + enc
		return nil
	})
}

// startLearner builds the online learner's state for the first stream
// group (the one carrying odometry) and hooks its live depth error into the
// publisher's OnDepth.
func (n *Node) startLearner(l *launch.Launch, baselines map[string]float64) error {
	if n.LearnerThreads <= 0 {
		n.LearnerThreads = 1
	}
	g := groups(l)[0]
	stereo := len(g) == 2
	base := 0.0
	if stereo {
		base = baselines[g[1]]
	}
	var err error
	n.learn, err = newLearnerState(l, n.model, n.ckpt, n.worker, n.est, n.LearnerThreads, stereo, base)
	if err != nil {
		return err
	}
	n.learn.truth = n.GroundTruth
	if n.learn.truth == nil {
		n.learn.truth = func(f *msgs.Frame) *msgs.Frame {
			if f.Truth != nil {
				return f
			}
			return nil
		}
	}
	return nil
}

// LearnerStats returns the latest <ns>.learner.stats message, nil before
// the first (about a second after Start).
func (n *Node) LearnerStats() *parallaxv1.LearnerStats {
	if n.learn == nil {
		return nil
	}
	return n.learn.last()
}

// Adapting reports whether the node adapts its networks online.
func (n *Node) Adapting() bool { return n.learn != nil && n.learn.adapt != nil }

// checkPayload fails when a depth map of the model's size would not fit in
// one NATS message, naming the subject and what to change: better at
// start-up than a node that runs and silently publishes no depth.
func (n *Node) checkPayload(l *launch.Launch) error {
	if !l.Topics.Depth {
		return nil
	}
	cfg := n.model.Config()
	max := n.nc.MaxPayload()
	for _, c := range l.Cameras {
		img, err := msgs.DepthImage(time.Now(), c.Name, cfg.Width, cfg.Height, make([]float32, cfg.Width*cfg.Height))
		if err != nil {
			return err
		}
		size := int64(proto.Size(img))
		if size > max {
			subj, _ := msgs.NewSubject(l.Namespace, c.Name, msgs.KindDepth)
			return fmt.Errorf("%w: %s would carry %d-byte depth maps (model %dx%d float32) but the NATS server at %s accepts at most %d bytes: lower model.width/model.height in the launch file, or raise the server's max_payload to at least %d (NATS advises at most 8 MB)",
				ErrMaxPayload, subj, size, cfg.Width, cfg.Height, msgs.RedactURL(n.natsURL), max, size)
		}
	}
	return nil
}

// Stop stops every actor, the camera streams, the worker and NATS, within
// about 2 seconds. It is safe to call more than once.
func (n *Node) Stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.started || n.stopped {
		return nil
	}
	n.stopped = true
	var err error
	if n.root != nil {
		f := n.system.Root.StopFuture(n.root)
		done := make(chan error, 1)
		go func() { done <- f.Wait() }()
		select {
		case e := <-done:
			if e != nil {
				err = fmt.Errorf("actors: stopping the actors: %w", e)
			}
		case <-time.After(stopTimeout):
			err = fmt.Errorf("actors: the actors did not stop within %v", stopTimeout)
		}
	}
	if n.learn != nil && err == nil {
		// The actors are stopped: nothing trains or swaps any more.
		if e := n.learn.save("shutdown"); e != nil {
			err = e
		}
	}
	n.release()
	return err
}

// release frees what Start made, in reverse order.
func (n *Node) release() {
	if n.system != nil {
		n.system.Shutdown()
	}
	for _, s := range n.sinks {
		s.sink.Close() // the links stay: SinkStats still answers after Stop
	}
	n.learn.stopFleet()
	if n.nc != nil {
		// Deliver what is buffered, but never wait long for a broker
		// that went away: Stop has a 2 s budget.
		n.nc.FlushTimeout(300 * time.Millisecond)
		n.nc.Close()
	}
	if n.emb != nil {
		n.emb.Close()
	}
	if n.learn != nil {
		n.learn.close()
	}
	closeRectifiers(n.rects)
	if n.worker != nil {
		// After hand-overs the estimator serves another model than the
		// one loaded; Close is idempotent.
		n.worker.Do(func() error {
			if n.est != nil {
				n.est.Model().Close()
			}
			if n.model != nil {
				n.model.Close()
			}
			return nil
		})
		n.worker.Close()
	}
}

// Stats returns the counters since Start.
func (n *Node) Stats() Stats {
	s := Stats{
		FramesIn: n.c.framesIn.Load(), FramesProcessed: n.c.processed.Load(),
		Published: n.c.published.Load(), PublishErrors: n.c.publishErrors.Load(), HeldBack: n.c.heldBack.Load(),
		DroppedUnpaired: n.c.unpaired.Load(), DroppedStale: n.c.stale.Load(),
		Reconnects: n.c.reconnects.Load(),
	}
	if n.nc != nil {
		s.NATSReconnects = n.nc.Stats().Reconnects
	}
	for _, lk := range n.links {
		s.DroppedSource += lk.closedDrops.Load()
		if r := lk.current.Load(); r != nil {
			st := r.Stats()
			s.DroppedSource += st.FramesDropped + st.DecodeErrors
		}
	}
	return s
}

// Latencies returns the capture-to-depth-published latencies recorded since
// the previous call (at most 4096).
func (n *Node) Latencies() []time.Duration { return n.c.takeLatencies() }

// LatencyHistogram returns the distribution of the capture-to-depth-published
// latencies since Start, counting only those measured on the camera's clock
// (see CameraClock). Unlike Latencies it takes nothing away: any number of
// readers (a status line, /metrics) can use both.
func (n *Node) LatencyHistogram() Histogram { return n.c.hist.snapshot() }

// CameraStats returns the counters of the named camera; false when the node
// has no such camera.
func (n *Node) CameraStats(name string) (CameraStats, bool) {
	for _, lk := range n.links {
		if lk.name != name {
			continue
		}
		st := CameraStats{FramesIn: lk.framesIn.Load(), DroppedSource: lk.closedDrops.Load()}
		if r := lk.current.Load(); r != nil {
			rs := r.Stats()
			st.DroppedSource += rs.FramesDropped + rs.DecodeErrors
		}
		return st, true
	}
	return CameraStats{}, false
}

// CameraClock reports whether every camera's stamps come from the camera's
// own clock (synth:// always; RTSP once an RTCP sender report arrived), so
// that latencies measure capture to publish.
func (n *Node) CameraClock() bool {
	for _, lk := range n.links {
		if lk.cameraClock {
			continue
		}
		r := lk.current.Load()
		if r == nil || !r.Stats().CameraClock {
			return false
		}
	}
	return true
}

// RTSPStats returns the stats of the named camera's current RTSP
// connection; false when it is not an RTSP camera or not connected.
func (n *Node) RTSPStats(name string) (camera.RTSPStats, bool) {
	for _, lk := range n.links {
		if lk.name == name {
			if r := lk.current.Load(); r != nil {
				return r.Stats(), true
			}
		}
	}
	return camera.RTSPStats{}, false
}

// SinkStats returns the counters of the named sink ("nats" or a Sink's
// Name), false when the node has no such sink.
func (n *Node) SinkStats(name string) (SinkStats, bool) {
	for _, s := range n.sinks {
		if s.sink.Name() == name {
			return s.stats(), true
		}
	}
	return SinkStats{}, false
}

// NATSURL is the URL of the NATS server the node publishes to (the embedded
// one's client URL, or the launch file's, credentials included).
func (n *Node) NATSURL() string { return n.natsURL }

// ModelInfo says where the weights came from.
func (n *Node) ModelInfo() string { return n.modelOf }
