package actors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"runtime"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/nats-io/nats.go"
	"github.com/sugarme/gotch"
	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/synth"
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
	// OnDepth, when set, is called by the publisher actor after each depth
	// result is published (for measurements such as the demo's error
	// against ground truth). It must return quickly and must not modify r.
	// It defaults to nil.
	OnDepth func(r *DepthResult)
	// Recorder, when set, records the camera frames and the node's outputs
	// into MCAP (see Recorder); Stop closes the file. Start wraps OnDepth
	// to hand it the results. It defaults to nil.
	Recorder *Recorder
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
	ckpt    *perception.Checkpoint // the checkpoint the node started from
	est     *perception.Estimator
	learn   *learnerState
	onDepth func(*DepthResult)
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

	opens, baselines, err := n.sources(l)
	if err != nil {
		return err
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

	ns, err := msgs.NewNamespace(l.Namespace)
	if err != nil {
		return err
	}
	n.system = actor.NewActorSystem(quietLogger())
	n.links = nil
	for _, c := range l.Cameras {
		n.links = append(n.links, &cameraLink{name: c.Name, synth: scheme(c.URL) == "synth"})
	}
	tree := &nodeActor{n: n, l: l, ns: ns, opens: opens, baselines: baselines, est: n.est}
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

// sources returns, per camera name, a function that opens a new source
// for it (each reconnection opens a fresh one), and the stereo baselines.
func (n *Node) sources(l *launch.Launch) (map[string]func() (camera.Source, error), map[string]float64, error) {
	opens := map[string]func() (camera.Source, error){}
	baselines := map[string]float64{}
	worlds := map[string]*synth.World{}
	gates := map[string]*lockstep{}
	// Synthetic cameras share one epoch: a stereo pair's stamps pair
	// exactly, and a restarted source continues on the same frame grid.
	epoch := time.Now()
	for _, c := range l.Cameras {
		u, err := url.Parse(c.URL)
		if err != nil {
			return nil, nil, fmt.Errorf("actors: camera %s: %w", c.Name, err)
		}
		switch u.Scheme {
		case "rtsp", "rtsps":
			opens[c.Name] = func() (camera.Source, error) {
				return &camera.RTSP{URL: c.URL, Camera: c.Name, Transport: c.Transport, Intrinsics: c.Intrinsics}, nil
			}
		case "synth":
			w := worlds[c.URL]
			if w == nil {
				cfg, err := synth.ParseURL(c.URL)
				if err != nil {
					return nil, nil, fmt.Errorf("actors: camera %s: %w", c.Name, err)
				}
				if w, err = synth.NewWorld(cfg); err != nil {
					return nil, nil, fmt.Errorf("actors: camera %s: %w", c.Name, err)
				}
				worlds[c.URL] = w
			}
			view := synth.ViewMono
			if w.Config().Stereo {
				view = synth.ViewLeft
				if c.Role == launch.RoleRight {
					view = synth.ViewRight
					baselines[c.Name] = w.Config().Baseline
				}
			}
			fps, name := w.Config().FPS, c.Name
			opens[c.Name] = func() (camera.Source, error) {
				// The source stamps frame First at StartTime: start at the
				// next frame of the epoch's grid, in the future, so frames
				// are stamped when they are due, not in a burst.
				first := int(math.Ceil(time.Since(epoch).Seconds() * fps))
				cam := w.Camera(view, true)
				cam.First = first
				cam.StartTime = epoch.Add(time.Duration(float64(first) / fps * float64(time.Second)))
				return &renamed{Source: cam, name: name}, nil
			}
		case "mcap", "kitti":
			open, b, gate, err := replaySource(l, c, epoch)
			if err != nil {
				return nil, nil, err
			}
			opens[c.Name] = open
			if b > 0 {
				baselines[c.Name] = b
			}
			if gate != nil {
				gates[c.Name] = gate
			}
		default:
			return nil, nil, fmt.Errorf("%w: camera %s: %s (the node reads rtsp://, rtsps://, synth://, mcap:// and kitti://)",
				ErrUnsupportedSource, c.Name, msgs.RedactURL(c.URL))
		}
	}
	if st := l.Stereo; st != nil && st.Baseline > 0 {
		baselines[st.Right] = st.Baseline
	}
	if err := n.hookReplayAndRecorder(l, opens, baselines, gates); err != nil {
		return nil, nil, err
	}
	return opens, baselines, nil
}

func scheme(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Scheme
	}
	return ""
}

// renamed gives a source's frames the launch file's camera name.
type renamed struct {
	camera.Source
	name string
}

func (r *renamed) Read(ctx context.Context) (*msgs.Frame, error) {
	f, err := r.Source.Read(ctx)
	if f != nil {
		f.Camera = r.name
	}
	return f, err
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
			n.modelOf = "checkpoint " + path
			if resumed && err == nil {
				n.modelOf = fmt.Sprintf("learner checkpoint %s (step %d)", path, n.ckpt.Header.Meta.Steps)
			}
			return err
		}
		n.model, err = perception.NewModel(perception.ModelConfig{
			Width: l.Model.Width, Height: l.Model.Height,
			Depth: perception.DepthConfig{Size: l.Model.Size, MinDepth: l.Model.MinDepth, MaxDepth: l.Model.MaxDepth},
			Pose:  perception.PoseConfig{Size: l.Model.Size},
		}, d)
		n.modelOf = "random init"
		return err
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
	user, learn := n.OnDepth, n.learn
	n.onDepth = func(r *DepthResult) {
		learn.observe(r)
		if user != nil {
			user(r)
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
	if n.Recorder != nil {
		n.Recorder.close()
	}
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
		Published: n.c.published.Load(), PublishErrors: n.c.publishErrors.Load(),
		DroppedUnpaired: n.c.unpaired.Load(), DroppedStale: n.c.stale.Load(),
		Reconnects: n.c.reconnects.Load(),
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

// CameraClock reports whether every camera's stamps come from the camera's
// own clock (synth:// always; RTSP once an RTCP sender report arrived), so
// that latencies measure capture to publish.
func (n *Node) CameraClock() bool {
	for _, lk := range n.links {
		if lk.synth {
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

// NATSURL is the URL of the NATS server the node publishes to (the embedded
// one's client URL, or the launch file's, credentials included).
func (n *Node) NATSURL() string { return n.natsURL }

// ModelInfo says where the weights came from.
func (n *Node) ModelInfo() string { return n.modelOf }
