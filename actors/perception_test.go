package actors

import (
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/actors/sinktest"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
)

// feedEvery is the frame interval of the fast feeds: 200 fps, several
// times what the model manages on 2 cores, yet leaving the cores to
// libtorch (a busier feeder starves its OpenMP team).
const feedEvery = 5 * time.Millisecond

// newEstimator makes the small model at the test size on its own worker.
func newEstimator(t testing.TB) *perception.Estimator {
	t.Helper()
	w, err := perception.NewWorker(2)
	if err != nil {
		t.Fatal(err)
	}
	var m *perception.Model
	if err := w.Do(func() (err error) {
		m, err = perception.NewModel(perception.DepthPose(testW, testH, perception.DepthConfig{Size: "small"}, perception.PoseConfig{Size: "small"}), gotch.CPU)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Do(func() error { m.Close(); return nil })
		w.Close()
	})
	est := perception.NewEstimator(m, w)
	// Warm up: libtorch's first pass allocates and picks kernels (~1 s).
	f := renderFrames(t, 1)[0]
	if _, err := est.Depth(f); err != nil {
		t.Fatal(err)
	}
	if _, err := est.Pose(f, f); err != nil {
		t.Fatal(err)
	}
	return est
}

// renderFrames renders n left frames of the test world.
func renderFrames(t testing.TB, n int) []*msgs.Frame {
	t.Helper()
	cfg, err := synth.ParseURL(testWorld)
	if err != nil {
		t.Fatal(err)
	}
	w, err := synth.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*msgs.Frame, n)
	for i := range out {
		out[i], _ = w.Render(i)
		out[i].Camera = "left"
	}
	return out
}

// TestPerceptionLatestFrameWins feeds the perception actor far faster than
// the model runs: stale frames must be dropped (counted), and the latency
// from sending a frame to its result must not grow, as it would with a
// queue.
func TestPerceptionLatestFrameWins(t *testing.T) {
	est := newEstimator(t)
	frames := renderFrames(t, 16)
	sys := actor.NewActorSystem(quietLogger())
	defer sys.Shutdown()
	diag := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if d, ok := ctx.Message().(*diagMsg); ok {
			t.Logf("diagnostic: %v", d.status)
		}
	}))
	link := newSinkLink(&sinktest.Collector{Queue: 1000})
	var c counters
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &perceptionActor{name: "left", est: est, odom: true, out: &fanout{sinks: []*sinkLink{link}},
			diag: diag, result: noHook, c: &c}
	}))

	// Feed until 8 results (the shared cores make inference time vary
	// from 10 ms to over 500 ms) or 30 s.
	sent := 0
	for begin := time.Now(); c.processed.Load() < 8 && time.Since(begin) < 30*time.Second; sent++ {
		f := *frames[sent%len(frames)]
		f.Stamp = time.Now()
		f.Seq = uint64(sent)
		sys.Root.Send(pid, &FrameSet{Frames: []*msgs.Frame{&f}})
		time.Sleep(feedEvery)
	}
	sys.Root.StopFuture(pid).Wait() // waits for the inference in flight
	var lat []uint64
	var inference time.Duration
	for _, r := range queuedResults(link) {
		lat = append(lat, r.Ref().Seq)
		inference += r.Inference
	}
	if len(lat) < 3 {
		t.Fatalf("%d results for %d frames", len(lat), sent)
	}
	stale := c.stale.Load()
	t.Logf("sent %d frames, %d results, %d stale drops, mean inference %v", sent, len(lat), stale, inference/time.Duration(len(lat)))
	if stale == 0 {
		t.Errorf("no stale frames dropped although %d frames were fed and only %d processed", sent, len(lat))
	}
	if uint64(len(lat))+stale > uint64(sent) || uint64(len(lat))+stale+1 < uint64(sent) {
		t.Errorf("processed %d + dropped %d != sent %d (at most one in flight)", len(lat), stale, sent)
	}
}

// TestPerceptionLatencyFlat checks from the result stamps themselves that
// the latency of the frames processed does not grow when the feed outruns
// the model: with a queue, the last results would be seconds old.
func TestPerceptionLatencyFlat(t *testing.T) {
	est := newEstimator(t)
	frames := renderFrames(t, 8)
	sys := actor.NewActorSystem(quietLogger())
	defer sys.Shutdown()
	type arrival struct {
		lat time.Duration
		inf time.Duration
	}
	// A sink that notes when each result arrives.
	var mu sync.Mutex
	var all []arrival
	col := &sinktest.Collector{Queue: 1000, OnResult: func(r *msgs.Result) {
		mu.Lock()
		all = append(all, arrival{time.Since(r.Ref().Stamp), r.Inference})
		mu.Unlock()
	}}
	link := newSinkLink(col)
	col.Open(&msgs.Rig{})
	diag := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	sinkPID := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &sinkActor{link: link, diag: diag} }))
	var c counters
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &perceptionActor{name: "left", est: est, odom: true, out: &fanout{sinks: []*sinkLink{link}},
			diag: diag, result: noHook, c: &c}
	}))
	begin := time.Now()
	for i := 0; c.processed.Load() < 12 && time.Since(begin) < 30*time.Second; i++ {
		f := *frames[i%len(frames)]
		f.Stamp = time.Now()
		sys.Root.Send(pid, &FrameSet{Frames: []*msgs.Frame{&f}})
		time.Sleep(feedEvery)
	}
	sys.Root.StopFuture(pid).Wait()
	sys.Root.StopFuture(sinkPID).Wait() // writes what is queued
	mu.Lock()
	defer mu.Unlock()
	if len(all) < 6 {
		t.Fatalf("only %d results", len(all))
	}
	// A frame waits at most for the inference in progress, then its own:
	// what its latency has beyond those two inferences is hand-over, and
	// a queue would make that excess grow by an inference per result. The
	// bounds are relative to the inferences measured in this run, so a
	// loaded machine (slower inferences) does not fail a node that drops
	// stale frames as it should.
	excess := make([]time.Duration, 0, len(all))
	var maxInf time.Duration
	for i, a := range all {
		maxInf = max(maxInf, a.inf)
		if i > 0 {
			excess = append(excess, a.lat-a.inf-all[i-1].inf)
		}
	}
	third := len(excess) / 3
	early, late := excess[:third], excess[len(excess)-third:]
	e, l := Percentile(early, 50), Percentile(late, 50)
	t.Logf("%d results; median latency beyond two inferences: first third %v, last third %v; slowest inference %v; %d stale",
		len(all), e, l, maxInf, c.stale.Load())
	if bound := 300 * time.Millisecond; l > bound {
		t.Errorf("latency beyond two inferences grew to %v in the last third (bound %v): frames are queueing", l, bound)
	}
	var lastLat time.Duration
	for _, a := range all[len(all)-third:] {
		lastLat = max(lastLat, a.lat)
	}
	if bound := 3*maxInf + 200*time.Millisecond; lastLat > bound {
		t.Errorf("latest latency %v above %v: frames are queueing", lastLat, bound)
	}
}

// noHook is a perception actor's node hook when there is no node.
func noHook(*msgs.Result) func() { return nil }

// queuedResults empties a sink's queue of its results.
func queuedResults(l *sinkLink) []*msgs.Result {
	var out []*msgs.Result
	for {
		e, ok := l.q.next()
		if !ok {
			return out
		}
		if e.out.Result != nil {
			out = append(out, e.out.Result)
		}
	}
}
