package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parallax-robotics/parallax/actors"
	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/launch"
	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/perception"
)

// ErrFlag marks a bad bench flag value (the message names it).
var ErrFlag = errors.New("bench: bad flag")

// Config is what one `parallax bench` run measures.
type Config struct {
	Device      string        // auto, cpu, cuda[:N]
	Sizes       [][2]int      // depth inference sizes (width, height)
	ModelSize   string        // perception.SizeDefault or SizeSmall
	Batches     []int         // adaptation batch sizes
	Mode        learner.Mode  // adaptation mode
	Duration    time.Duration // per measured phase
	Warmup      int           // untimed iterations before each phase
	E2E         time.Duration // node run time, 0: skip
	E2EFPS      float64       // synthetic camera rate in the node run
	Threads     int           // intra-op threads of each torch worker
	Phases      map[string]bool
	E2EMaxSteps float64 // learner.steps_per_s of the node run
	PacedFPS    float64 // depth frame rate of the paced phase
	Python      string  // interpreter of the python phase ("": python.Torch)
	Cameras     int     // the growth phase's most cameras (1 to Cameras)
}

// Report is the JSON `parallax bench --json` prints.
type Report struct {
	Device     string            `json:"device"`
	CUDA       bool              `json:"cuda"`
	ModelSize  string            `json:"model_size"`
	Threads    int               `json:"threads"`
	CPUs       int               `json:"cpus"`
	Depth      []DepthResult     `json:"depth,omitempty"`
	Adapt      []AdaptResult     `json:"adapt,omitempty"`
	Concurrent *ConcurrentResult `json:"concurrent,omitempty"`
	Paced      *ConcurrentResult `json:"paced,omitempty"`
	E2E        *NodeResult       `json:"e2e,omitempty"`
	Python     []PythonResult    `json:"python,omitempty"`
	Growth     []GrowthResult    `json:"growth,omitempty"`
	Notes      []string          `json:"notes,omitempty"`
	Started    time.Time         `json:"started"`
	Elapsed    float64           `json:"elapsed_s"`
	Config     map[string]any    `json:"config"`
}

type DepthResult struct {
	Width     int     `json:"width"`
	Height    int     `json:"height"`
	Batch     int     `json:"batch"`
	Frames    int     `json:"frames"`
	FPS       float64 `json:"frames_per_s"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	ModelInit float64 `json:"model_init_s"`
}

type AdaptResult struct {
	Width     int     `json:"width"`
	Height    int     `json:"height"`
	Batch     int     `json:"batch"`
	Mode      string  `json:"mode"`
	Steps     int     `json:"steps"`
	StepsPerS float64 `json:"steps_per_s"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	Skipped   int64   `json:"skipped_steps"`
	LastLoss  float64 `json:"last_loss"`
}

type ConcurrentResult struct {
	Width      int     `json:"width"`
	Height     int     `json:"height"`
	Batch      int     `json:"batch"`
	Mode       string  `json:"mode"`
	Seconds    float64 `json:"seconds"`
	DepthFPS   float64 `json:"depth_frames_per_s"`
	DepthP50ms float64 `json:"depth_p50_ms"`
	DepthP99ms float64 `json:"depth_p99_ms"`
	StepsPerS  float64 `json:"adapt_steps_per_s"`
	// PacedFPS is the rate depth frames were asked for (0: flat out);
	// Missed counts frame slots that passed while the previous frame was
	// still being estimated (a camera would have dropped those frames).
	PacedFPS float64 `json:"paced_fps,omitempty"`
	Missed   int     `json:"missed_frames,omitempty"`
}

type NodeResult struct {
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	CameraFPS    float64 `json:"camera_fps"`
	Seconds      float64 `json:"seconds"`
	FramesIn     uint64  `json:"frames_in"`
	Processed    uint64  `json:"frames_processed"`
	Published    uint64  `json:"published"`
	InPerS       float64 `json:"in_per_s"`
	ProcessedPS  float64 `json:"processed_per_s"`
	PublishedPS  float64 `json:"published_per_s"`
	LatencyP50ms float64 `json:"latency_p50_ms"`
	LatencyP99ms float64 `json:"latency_p99_ms"`
	Latencies    int     `json:"latency_samples"`
	LearnerSteps uint64  `json:"learner_steps"`
	StepsPerS    float64 `json:"learner_steps_per_s"`
	Dropped      uint64  `json:"dropped"`
}

// Flags are the command line's values for a Config, unchecked.
type Flags struct {
	Device, Sizes, ModelSize, Batches, Mode, Phases string
	Duration                                        time.Duration
	Warmup                                          int
	E2E                                             time.Duration
	E2EFPS, E2ESteps                                float64
	Threads                                         int
	PacedFPS                                        float64
	// ComparePython adds the python phase to Phases; Python is its
	// interpreter ("": found).
	ComparePython bool
	Python        string
	// Cameras is the growth phase's largest number of cameras.
	Cameras int
}

// Config checks the flag values (errors wrap ErrFlag and name the flag)
// and fills a Config.
func (f Flags) Config() (Config, error) {
	device, sizes, modelSize, batches, mode, phases := f.Device, f.Sizes, f.ModelSize, f.Batches, f.Mode, f.Phases
	d, warmup, e2e, e2eFPS, e2eSteps, threads := f.Duration, f.Warmup, f.E2E, f.E2EFPS, f.E2ESteps, f.Threads
	cfg := Config{Device: device, ModelSize: modelSize, Duration: d, Warmup: warmup, E2E: e2e,
		E2EFPS: e2eFPS, E2EMaxSteps: e2eSteps, Threads: threads, Phases: map[string]bool{}, PacedFPS: f.PacedFPS, Python: f.Python, Cameras: f.Cameras}
	if f.Cameras < 1 || f.Cameras > 16 {
		return cfg, fmt.Errorf("%w: --cameras %d: want 1 to 16", ErrFlag, f.Cameras)
	}
	if !(f.PacedFPS > 0 && f.PacedFPS <= 10000) {
		return cfg, fmt.Errorf("%w: --paced-fps %g: want a rate in (0, 10000]", ErrFlag, f.PacedFPS)
	}
	for _, s := range strings.Split(sizes, ",") {
		w, h, ok := parseSize(strings.TrimSpace(s))
		if !ok {
			return cfg, fmt.Errorf("%w: --sizes %q: want WxH with multiples of 32 from 64 to 4096, e.g. 640x192", ErrFlag, s)
		}
		cfg.Sizes = append(cfg.Sizes, [2]int{w, h})
	}
	if modelSize != perception.SizeDefault && modelSize != perception.SizeSmall {
		return cfg, fmt.Errorf("%w: --model-size %q: want %s or %s", ErrFlag, modelSize, perception.SizeDefault, perception.SizeSmall)
	}
	for _, s := range strings.Split(batches, ",") {
		b, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || b < 1 || b > 64 {
			return cfg, fmt.Errorf("%w: --batches %q: want batch sizes from 1 to 64", ErrFlag, s)
		}
		cfg.Batches = append(cfg.Batches, b)
	}
	m, err := learner.ParseMode(mode)
	if err != nil {
		return cfg, fmt.Errorf("%w: --mode: %w", ErrFlag, err)
	}
	cfg.Mode = m
	for _, p := range strings.Split(phases, ",") {
		p = strings.TrimSpace(p)
		switch p {
		case "depth", "adapt", "both", "paced", "e2e", "python", "growth":
			cfg.Phases[p] = true
		default:
			return cfg, fmt.Errorf("%w: --phases: unknown phase %q (depth, adapt, both, paced, e2e, python, growth)", ErrFlag, p)
		}
	}
	if f.ComparePython {
		cfg.Phases["python"] = true
	}
	if d <= 0 {
		return cfg, fmt.Errorf("%w: --duration %v: must be positive", ErrFlag, d)
	}
	if warmup < 0 {
		return cfg, fmt.Errorf("%w: --warmup %d: must be >= 0", ErrFlag, warmup)
	}
	if e2e < 0 || e2eFPS <= 0 || e2eFPS > 1000 || e2eSteps < 0.01 || e2eSteps > 1000 {
		return cfg, fmt.Errorf("%w: --e2e %v, --e2e-fps %g, --e2e-steps %g: want e2e >= 0, fps in (0, 1000], steps in [0.01, 1000]", ErrFlag, e2e, e2eFPS, e2eSteps)
	}
	if threads < 0 {
		return cfg, fmt.Errorf("%w: --threads %d: must be >= 0", ErrFlag, threads)
	}
	if cfg.Threads == 0 {
		cfg.Threads = 2
		if runtime.NumCPU() <= 2 {
			cfg.Threads = 1
		}
	}
	return cfg, nil
}

func parseSize(s string) (w, h int, ok bool) {
	a, b, found := strings.Cut(strings.ToLower(s), "x")
	if !found {
		return 0, 0, false
	}
	w, err1 := strconv.Atoi(a)
	h, err2 := strconv.Atoi(b)
	valid := func(v int) bool { return v >= 64 && v <= 4096 && v%32 == 0 }
	if err1 != nil || err2 != nil || !valid(w) || !valid(h) {
		return 0, 0, false
	}
	return w, h, true
}

// Run runs the phases of cfg; progress gets one line per result.
func Run(ctx context.Context, cfg Config, progress func(string)) (*Report, error) {
	dev, err := perception.ParseDevice(cfg.Device)
	if err != nil {
		return nil, err
	}
	rep := &Report{Device: deviceName(cfg.Device, dev.IsCuda(), dev.Value), CUDA: dev.IsCuda(), ModelSize: cfg.ModelSize,
		Threads: cfg.Threads, CPUs: runtime.NumCPU(), Started: time.Now().UTC(),
		Config: map[string]any{"duration_s": cfg.Duration.Seconds(), "warmup": cfg.Warmup, "batches": cfg.Batches,
			"mode": cfg.Mode.String(), "e2e_s": cfg.E2E.Seconds(), "e2e_fps": cfg.E2EFPS, "e2e_steps_per_s": cfg.E2EMaxSteps}}
	progress(fmt.Sprintf("bench: device %s (asked %q), model %s, %d intra-op threads per worker, %d CPUs",
		rep.Device, cfg.Device, cfg.ModelSize, cfg.Threads, rep.CPUs))
	start := time.Now()
	w0, h0 := cfg.Sizes[0][0], cfg.Sizes[0][1]

	if cfg.Phases["depth"] {
		for _, sz := range cfg.Sizes {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			r, err := depth(ctx, cfg, dev.IsCuda(), sz[0], sz[1])
			if err != nil {
				return rep, fmt.Errorf("depth %dx%d: %w", sz[0], sz[1], err)
			}
			rep.Depth = append(rep.Depth, r)
			progress(fmt.Sprintf("depth %4dx%-4d batch 1: %7.1f frames/s  p50 %6.2f ms  p99 %6.2f ms  (%d frames)",
				r.Width, r.Height, r.FPS, r.P50ms, r.P99ms, r.Frames))
		}
	}
	if cfg.Phases["adapt"] {
		for _, b := range cfg.Batches {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			r, err := adapt(ctx, cfg, w0, h0, b)
			if err != nil {
				return rep, fmt.Errorf("adapt %dx%d batch %d: %w", w0, h0, b, err)
			}
			rep.Adapt = append(rep.Adapt, r)
			progress(fmt.Sprintf("adapt %4dx%-4d batch %d %s: %6.1f steps/s  p50 %6.2f ms  p99 %6.2f ms  (%d steps, %d skipped, loss %.4f)",
				r.Width, r.Height, r.Batch, r.Mode, r.StepsPerS, r.P50ms, r.P99ms, r.Steps, r.Skipped, r.LastLoss))
		}
	}
	if cfg.Phases["both"] {
		b := cfg.Batches[len(cfg.Batches)-1]
		r, err := concurrent(ctx, cfg, w0, h0, b, 0)
		if err != nil {
			return rep, fmt.Errorf("depth and adaptation at once: %w", err)
		}
		rep.Concurrent = &r
		progress(fmt.Sprintf("both  %4dx%-4d: depth %7.1f frames/s (p99 %6.2f ms) while adapting (batch %d %s) at %6.1f steps/s",
			r.Width, r.Height, r.DepthFPS, r.DepthP99ms, r.Batch, r.Mode, r.StepsPerS))
	}
	if cfg.Phases["paced"] {
		b := cfg.Batches[len(cfg.Batches)-1]
		r, err := concurrent(ctx, cfg, w0, h0, b, cfg.PacedFPS)
		if err != nil {
			return rep, fmt.Errorf("paced depth and adaptation at once: %w", err)
		}
		rep.Paced = &r
		progress(fmt.Sprintf("paced %4dx%-4d: depth asked at %g frames/s got %7.1f frames/s (p50 %6.2f ms, p99 %6.2f ms, %d slots missed) while adapting (batch %d %s) at %6.1f steps/s",
			r.Width, r.Height, r.PacedFPS, r.DepthFPS, r.DepthP50ms, r.DepthP99ms, r.Missed, r.Batch, r.Mode, r.StepsPerS))
	}
	if cfg.Phases["e2e"] && cfg.E2E > 0 {
		r, err := node(ctx, cfg, w0, h0)
		if err != nil {
			return rep, fmt.Errorf("node on synth://: %w", err)
		}
		rep.E2E = &r
		progress(fmt.Sprintf("node  %4dx%-4d stereo synth:// at %g fps for %.0f s: frames in %.1f/s, stereo pairs estimated %.1f/s, messages published %.1f/s, latency p50 %.1f ms p99 %.1f ms, learner %.1f steps/s",
			r.Width, r.Height, r.CameraFPS, r.Seconds, r.InPerS, r.ProcessedPS, r.PublishedPS, r.LatencyP50ms, r.LatencyP99ms, r.StepsPerS))
	}
	if cfg.Phases["python"] {
		rs, err := comparePython(ctx, cfg, w0, h0)
		rep.Python = rs
		if err != nil {
			return rep, fmt.Errorf("go vs python %dx%d: %w", w0, h0, err)
		}
		for _, r := range rs {
			progress(fmt.Sprintf("python %4dx%-4d %d thread(s): go %6.2f ms/frame  pytorch %s %6.2f ms/frame  go/python %.3f  (outputs agree to %.1e; best of %d rounds, CPU)",
				r.Width, r.Height, r.Threads, r.GoMs, r.Torch, r.PythonMs, r.Ratio, r.MaxAbsDiff, pythonRounds))
		}
	}
	if cfg.Phases["growth"] {
		if rep.CUDA {
			rep.Notes = append(rep.Notes, "growth: the memory columns are the host's resident memory; the GPU's is nvidia-smi's")
		}
		rs, err := growth(ctx, cfg, progress)
		rep.Growth = rs
		if err != nil {
			return rep, fmt.Errorf("growth: %w", err)
		}
	}
	rep.Elapsed = time.Since(start).Seconds()
	return rep, nil
}

func deviceName(asked string, cuda bool, idx int) string {
	if cuda {
		return fmt.Sprintf("cuda:%d", idx)
	}
	return "cpu"
}

// frames renders n stereo frame pairs of a synthetic world at w x h.
func frames(w, h, n int) (left, right []*msgs.Frame, err error) {
	d, err := synth.NewDrive(synth.Config{Seed: 3, Width: w, Height: h, Stereo: true})
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i < n; i++ {
		l, r, err := d.Frame(i)
		if err != nil {
			return nil, nil, err
		}
		left, right = append(left, l), append(right, r)
	}
	return left, right, nil
}

// newModel makes a worker and an untrained model on it (weights do not
// change the speed).
func newModel(cfg Config, w, h int) (*perception.Worker, *perception.Model, error) {
	dev, err := perception.ParseDevice(cfg.Device)
	if err != nil {
		return nil, nil, err
	}
	wk, err := perception.NewWorker(cfg.Threads)
	if err != nil {
		return nil, nil, err
	}
	var m *perception.Model
	err = wk.Do(func() (err error) {
		m, err = perception.NewModel(perception.DepthPose(w, h, perception.DepthConfig{Size: cfg.ModelSize}, perception.PoseConfig{Size: cfg.ModelSize}), dev)
		return err
	})
	if err != nil {
		wk.Close()
		return nil, nil, err
	}
	return wk, m, nil
}

func closeModel(wk *perception.Worker, m *perception.Model) {
	_ = wk.Do(func() error { m.Close(); return nil })
	wk.Close()
}

// loop calls f until d has passed (after warmup untimed calls) and returns
// the timed calls' durations.
func loop(ctx context.Context, warmup int, d time.Duration, f func() error) ([]time.Duration, time.Duration, error) {
	for i := 0; i < warmup; i++ {
		if err := f(); err != nil {
			return nil, 0, err
		}
	}
	var lat []time.Duration
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		t := time.Now()
		if err := f(); err != nil {
			return nil, 0, err
		}
		lat = append(lat, time.Since(t))
	}
	return lat, time.Since(start), ctx.Err()
}

func depth(ctx context.Context, cfg Config, cuda bool, w, h int) (DepthResult, error) {
	frames, _, err := frames(w, h, 4)
	if err != nil {
		return DepthResult{}, err
	}
	t0 := time.Now()
	wk, m, err := newModel(cfg, w, h)
	if err != nil {
		return DepthResult{}, err
	}
	defer closeModel(wk, m)
	init := time.Since(t0)
	est := perception.NewEstimator(m, wk)
	i := 0
	lat, el, err := loop(ctx, cfg.Warmup, cfg.Duration, func() error {
		i++
		_, err := est.Depth(frames[i%len(frames)])
		return err
	})
	if err != nil {
		return DepthResult{}, err
	}
	return DepthResult{Width: w, Height: h, Batch: 1, Frames: len(lat), FPS: float64(len(lat)) / el.Seconds(),
		P50ms: pct(lat, 50), P99ms: pct(lat, 99), ModelInit: init.Seconds()}, nil
}

// newFit makes a worker, an untrained model (weights do not change the
// speed) and its trainer for the configured objective, and the Fit that
// steps it on a cached synthetic drive whose frames are rendered now, not
// while the steps are timed. close frees them.
func newFit(cfg Config, w, h, b int) (fit *learner.Fit, close func(), err error) {
	n := 3*b + 2
	d, err := synth.NewDrive(synth.Config{Seed: 5, Width: w, Height: h, Stereo: true})
	if err != nil {
		return nil, nil, err
	}
	cd, err := camera.CacheDrive(d, n)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i < n; i++ {
		if _, _, err := cd.Frame(i); err != nil {
			return nil, nil, err
		}
	}
	wk, m, err := newModel(cfg, w, h)
	if err != nil {
		return nil, nil, err
	}
	var tr *learner.Trainer
	err = wk.Do(func() (err error) {
		tr, err = learner.NewTrainer(m, learner.TrainConfig{Objective: learner.Monodepth2{Mode: cfg.Mode}})
		return err
	})
	if err != nil {
		closeModel(wk, m)
		return nil, nil, err
	}
	close = func() {
		_ = wk.Do(func() error { tr.Close(); return nil })
		closeModel(wk, m)
	}
	return &learner.Fit{Trainer: tr, Worker: wk, Drive: cd, Frames: n, Batch: b, Seed: 1}, close, nil
}

// steps runs fit for warmup untimed steps, then for d, and returns the
// timed steps' durations (learner.StepStats.Duration), the time taken and
// the last step's statistics.
func steps(ctx context.Context, fit *learner.Fit, warmup int, d time.Duration) (lat []time.Duration, el time.Duration, last learner.StepStats, err error) {
	if warmup > 0 {
		fit.Steps, fit.Duration, fit.OnStep = fit.Trainer.Steps()+int64(warmup), 0, nil
		if err := fit.Run(ctx); err != nil {
			return nil, 0, last, err
		}
	}
	fit.Steps, fit.Duration = 0, d
	fit.OnStep = func(st learner.StepStats) error {
		lat = append(lat, st.Duration)
		last = st
		return nil
	}
	start := time.Now()
	err = fit.Run(ctx)
	return lat, time.Since(start), last, err
}

func adapt(ctx context.Context, cfg Config, w, h, b int) (AdaptResult, error) {
	fit, close, err := newFit(cfg, w, h, b)
	if err != nil {
		return AdaptResult{}, err
	}
	defer close()
	lat, el, last, err := steps(ctx, fit, cfg.Warmup, cfg.Duration)
	if err != nil {
		return AdaptResult{}, err
	}
	return AdaptResult{Width: w, Height: h, Batch: b, Mode: cfg.Mode.String(), Steps: len(lat),
		StepsPerS: float64(len(lat)) / el.Seconds(), P50ms: pct(lat, 50), P99ms: pct(lat, 99),
		Skipped: fit.Trainer.SkippedSteps(), LastLoss: last.Loss}, nil
}

// concurrent runs inference and training at once on two workers with
// their own models, as the live node does (perception and learner). With
// fps > 0 depth is paced like a camera at that rate (one frame per slot of
// 1/fps s; a frame still running when its next slot comes makes the
// slots it overran missed, as a camera's dropped frames) while adaptation
// runs flat out: the situation of a node on a real camera. With fps 0 both
// run flat out.
func concurrent(ctx context.Context, cfg Config, w, h, b int, fps float64) (ConcurrentResult, error) {
	frames, _, err := frames(w, h, 4)
	if err != nil {
		return ConcurrentResult{}, err
	}
	iw, im, err := newModel(cfg, w, h)
	if err != nil {
		return ConcurrentResult{}, err
	}
	defer closeModel(iw, im)
	fit, close, err := newFit(cfg, w, h, b)
	if err != nil {
		return ConcurrentResult{}, err
	}
	defer close()
	est := perception.NewEstimator(im, iw)
	var (
		wg         sync.WaitGroup
		depthLat   []time.Duration
		stepLat    []time.Duration
		dEl, sEl   time.Duration
		dErr, sErr error
	)
	i := 0
	depth := func() error {
		i++
		_, err := est.Depth(frames[i%len(frames)])
		return err
	}
	var pc *paced
	if fps > 0 {
		pc = &paced{fps: fps, f: depth}
		depth = func() error { return pc.call(ctx) }
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		depthLat, dEl, dErr = loop(ctx, cfg.Warmup, cfg.Duration, depth)
	}()
	go func() {
		defer wg.Done()
		stepLat, sEl, _, sErr = steps(ctx, fit, cfg.Warmup, cfg.Duration)
	}()
	wg.Wait()
	if err := errors.Join(dErr, sErr); err != nil {
		return ConcurrentResult{}, err
	}
	missed := 0
	if pc != nil {
		// Latency of the estimates alone (loop's times hold the waits for
		// the slots too), warm-up calls left out.
		depthLat = pc.lat[min(cfg.Warmup, len(pc.lat)):]
		for _, m := range pc.missed[min(cfg.Warmup, len(pc.missed)):] {
			missed += m
		}
	}
	return ConcurrentResult{Width: w, Height: h, Batch: b, Mode: cfg.Mode.String(), Seconds: cfg.Duration.Seconds(),
		DepthFPS: float64(len(depthLat)) / dEl.Seconds(), DepthP50ms: pct(depthLat, 50), DepthP99ms: pct(depthLat, 99),
		StepsPerS: float64(len(stepLat)) / sEl.Seconds(), PacedFPS: fps, Missed: missed}, nil
}

// paced runs f at most fps times a second, each call in the next slot of
// a 1/fps s clock, as frames come from a camera. A call that starts after
// its slot has passed records the slots it lost as missed and takes the
// next one. lat holds the duration of each f call (without the wait).
type paced struct {
	fps    float64
	f      func() error
	next   time.Time
	lat    []time.Duration
	missed []int
}

func (p *paced) call(ctx context.Context) error {
	period := time.Duration(float64(time.Second) / p.fps)
	now := time.Now()
	if p.next.IsZero() {
		p.next = now
	}
	lost := now.Sub(p.next) / period
	if lost > 0 {
		p.next = p.next.Add(lost * period)
	}
	if d := p.next.Sub(now); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	p.next = p.next.Add(period)
	start := time.Now()
	err := p.f()
	p.lat = append(p.lat, time.Since(start))
	p.missed = append(p.missed, int(max(lost, 0)))
	return err
}

// nodeLaunch is the node run's launch file: a synthetic stereo camera read
// directly (no RTSP, so no codec), depth and odometry published on an
// embedded NATS server, online adaptation on.
const nodeLaunch = `namespace: bench
cameras:
  - name: left
    url: "synth://?stereo=1&width=%[1]d&height=%[2]d&fps=%[3]g"
    role: left
  - name: right
    url: "synth://?stereo=1&width=%[1]d&height=%[2]d&fps=%[3]g"
    role: right
stereo:
  left: left
  right: right
model:
  checkpoint: ""
  width: %[1]d
  height: %[2]d
  size: %[4]s
device: %[5]s
topics:
  depth: true
  image: false
  odom: true
nats:
  url: ""
  embedded:
    listen: 127.0.0.1:0
learner:
  adapt: true
  steps_per_s: %[6]g
  mode: %[7]s
`

func node(ctx context.Context, cfg Config, w, h int) (NodeResult, error) {
	l, err := launch.Parse([]byte(fmt.Sprintf(nodeLaunch, w, h, cfg.E2EFPS, cfg.ModelSize, cfg.Device, cfg.E2EMaxSteps, cfg.Mode.String())), "bench.yaml")
	if err != nil {
		return NodeResult{}, err
	}
	n := &actors.Node{Launch: l, Name: "parallax-bench", Threads: cfg.Threads, LearnerThreads: cfg.Threads, MaxPayload: 16 << 20}
	if err := n.Start(); err != nil {
		return NodeResult{}, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = n.Stop()
		}
	}()
	// The first frames pay model and kernel start-up: measure after them.
	warm := time.NewTimer(3 * time.Second)
	select {
	case <-ctx.Done():
		return NodeResult{}, ctx.Err()
	case <-warm.C:
	}
	s0, steps0 := n.Stats(), n.LearnerStats().GetSteps()
	n.Latencies()
	start := time.Now()
	var lat []time.Duration
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for time.Since(start) < cfg.E2E {
		select {
		case <-ctx.Done():
			return NodeResult{}, ctx.Err()
		case <-tick.C:
			lat = append(lat, n.Latencies()...)
		}
	}
	lat = append(lat, n.Latencies()...)
	el := time.Since(start).Seconds()
	s1, steps1 := n.Stats(), n.LearnerStats().GetSteps()
	stopped = true
	if err := n.Stop(); err != nil {
		return NodeResult{}, err
	}
	r := NodeResult{Width: w, Height: h, CameraFPS: cfg.E2EFPS, Seconds: el,
		FramesIn: s1.FramesIn - s0.FramesIn, Processed: s1.FramesProcessed - s0.FramesProcessed,
		Published: s1.Published - s0.Published, Latencies: len(lat),
		LatencyP50ms: pct(lat, 50), LatencyP99ms: pct(lat, 99), LearnerSteps: steps1 - steps0,
		Dropped: (s1.DroppedUnpaired + s1.DroppedStale + s1.DroppedSource) - (s0.DroppedUnpaired + s0.DroppedStale + s0.DroppedSource)}
	r.InPerS = float64(r.FramesIn) / el
	r.ProcessedPS = float64(r.Processed) / el
	r.PublishedPS = float64(r.Published) / el
	r.StepsPerS = float64(r.LearnerSteps) / el
	return r, nil
}

// pct is the p-th percentile of d in milliseconds (0 for none); it sorts d.
func pct(d []time.Duration, p float64) float64 {
	return float64(actors.Percentile(d, p)) / float64(time.Millisecond)
}
