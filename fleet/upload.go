package fleet

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallax-robotics/parallax/learner"
)

// SamplesStream is the JetStream stream of the fleet's training samples.
const SamplesStream = "FLEET_SAMPLES"

// SamplesPrefix is the subject prefix of the samples: a robot publishes on
// SamplesPrefix + "." + its name (fleet.samples.robot7), what the robot's
// account may publish (deploy/nats/accounts.conf).
const SamplesPrefix = "fleet.samples"

// SampleSubject is robot's sample subject.
func SampleSubject(robot string) string { return SamplesPrefix + "." + robot }

// DefaultBudget is the default upload budget in bytes a second (512 KiB/s,
// about 4 Mbit/s: what a robot on LTE can spare).
const DefaultBudget = 512 << 10

// StreamConfig are the samples stream's retention limits, used when
// EnsureSamples creates or updates it.
type StreamConfig struct {
	// Replicas is how many servers keep the stream (3 on a 3-server
	// cluster survives losing one). It defaults to 1.
	Replicas int
	// MaxAge drops samples older than this. It defaults to 7 days.
	MaxAge time.Duration
	// MaxBytes bounds the stream; the oldest samples go first. It
	// defaults to 10 GiB.
	MaxBytes int64
	// MaxPerRobot bounds the samples kept per robot subject, so one robot
	// cannot crowd out the others. It defaults to 100000.
	MaxPerRobot int64
}

func (c StreamConfig) fill() StreamConfig {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxAge == 0 {
		c.MaxAge = 7 * 24 * time.Hour
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 10 << 30
	}
	if c.MaxPerRobot == 0 {
		c.MaxPerRobot = 100000
	}
	return c
}

// EnsureSamples creates the samples stream, or updates its limits, and
// returns it. Trainers and operators run it; a robot's account may not.
func EnsureSamples(ctx context.Context, js jetstream.JetStream, c StreamConfig) (jetstream.Stream, error) {
	c = c.fill()
	if c.Replicas < 1 || c.Replicas > 5 || c.MaxAge < 0 || c.MaxBytes < 0 || c.MaxPerRobot < 0 {
		return nil, fmt.Errorf("fleet: samples stream limits %+v (replicas 1 to 5, the rest positive)", c)
	}
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              SamplesStream,
		Description:       "parallax fleet training samples (fleet.samples.<robot>)",
		Subjects:          []string{SamplesPrefix + ".>"},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxAge:            c.MaxAge,
		MaxBytes:          c.MaxBytes,
		MaxMsgsPerSubject: c.MaxPerRobot,
		MaxMsgSize:        MaxSampleBytes,
		Replicas:          c.Replicas,
		Duplicates:        2 * time.Minute,
		Storage:           jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: samples stream %s: %w", SamplesStream, err)
	}
	return s, nil
}

// UploadConfig configures an Uploader.
type UploadConfig struct {
	// Robot names the robot: its subject is SampleSubject(Robot). It is
	// required.
	Robot string
	// Family is the model family the samples are for (recorded in each).
	Family string
	// Budget is the upload budget in bytes a second (a token bucket: at
	// most Budget bytes in any second past the first, on average). It
	// defaults to DefaultBudget.
	Budget float64
	// Encode says how frames are compressed (PNG by default).
	Encode EncodeOptions
	// Queue is how many picked samples may wait for the budget; past it
	// new picks are dropped (the learner never waits on the uplink). It
	// defaults to 4.
	Queue int
	// Retry is how long a sample's publish is retried (same message ID:
	// JetStream stores it once) before it counts as failed: a cluster
	// electing a new stream leader answers nothing for a few seconds. It
	// defaults to 30 s.
	Retry time.Duration
}

// UploadStats are an Uploader's counters.
type UploadStats struct {
	// Offered picks, Sent (acknowledged by JetStream: stored on a quorum of
	// the stream's replicas), Dropped (queue full: over the budget),
	// Failed (not acknowledged within Retry, or not encodable).
	Offered, Sent, Dropped, Failed int64
	// Bytes is the size of the acknowledged samples.
	Bytes int64
	// LastError is the last failure, "" when none.
	LastError string
}

// Uploader publishes a robot's picked training samples to the samples
// stream within a bandwidth budget. Offer never blocks: picks wait in a
// short queue for the token bucket and are dropped past it. Encoding and
// publishing run on the Uploader's goroutine.
type Uploader struct {
	cfg  UploadConfig
	js   jetstream.JetStream
	q    chan learner.Sample
	boot int64
	stop context.CancelFunc
	done chan struct{}

	mu  sync.Mutex
	st  UploadStats
	seq uint64
	// OnSent, when set before the first Offer, is called on the
	// Uploader's goroutine with each acknowledged sample's header and size.
	OnSent func(h SampleHeader, size int)
}

// NewUploader starts an Uploader publishing through nc. Close stops it.
func NewUploader(nc *nats.Conn, cfg UploadConfig) (*Uploader, error) {
	if err := CheckRobot(cfg.Robot); err != nil {
		return nil, err
	}
	if cfg.Family != "" {
		if err := CheckFamily(cfg.Family); err != nil {
			return nil, err
		}
	}
	if cfg.Budget == 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.Queue == 0 {
		cfg.Queue = 4
	}
	if cfg.Retry == 0 {
		cfg.Retry = 30 * time.Second
	}
	if !(cfg.Budget >= 1024) || cfg.Queue < 1 || cfg.Retry < 0 {
		return nil, fmt.Errorf("fleet: upload budget %v B/s (want at least 1024), queue %d, retry %s", cfg.Budget, cfg.Queue, cfg.Retry)
	}
	var err error
	if cfg.Encode, err = cfg.Encode.fill(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &Uploader{cfg: cfg, js: js, q: make(chan learner.Sample, cfg.Queue), boot: time.Now().UnixNano(),
		stop: cancel, done: make(chan struct{})}
	go u.run(ctx)
	return u, nil
}

// Offer queues a picked sample for upload; it reports false when the
// sample was dropped (the queue is full: the budget is spent).
func (u *Uploader) Offer(s learner.Sample) bool {
	u.mu.Lock()
	u.st.Offered++
	u.mu.Unlock()
	select {
	case u.q <- s:
		return true
	default:
		u.mu.Lock()
		u.st.Dropped++
		u.mu.Unlock()
		return false
	}
}

// Stats returns the counters.
func (u *Uploader) Stats() UploadStats {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.st
}

// Close stops the Uploader; queued samples not yet published are dropped.
func (u *Uploader) Close() {
	u.stop()
	<-u.done
}

func (u *Uploader) fail(err error) {
	u.mu.Lock()
	u.st.Failed++
	u.st.LastError = err.Error()
	u.mu.Unlock()
}

// run encodes, waits for the token bucket and publishes. The bucket holds
// at most one second of budget; a sample may take it below zero (a sample
// larger than the bucket still goes), and the next waits until it is back
// to zero: over any span the bytes sent are at most Budget a second plus
// one second's burst and one sample.
func (u *Uploader) run(ctx context.Context) {
	defer close(u.done)
	tokens := u.cfg.Budget
	last := time.Now()
	refill := func() {
		now := time.Now()
		tokens = min(u.cfg.Budget, tokens+u.cfg.Budget*now.Sub(last).Seconds())
		last = now
	}
	for {
		var s learner.Sample
		select {
		case <-ctx.Done():
			return
		case s = <-u.q:
		}
		u.mu.Lock()
		u.seq++
		h := SampleHeader{Robot: u.cfg.Robot, Seq: u.seq, Boot: u.boot, Family: u.cfg.Family}
		u.mu.Unlock()
		data, err := EncodeSample(h, s, u.cfg.Encode)
		if err != nil {
			u.fail(err)
			continue
		}
		refill()
		if tokens < 0 {
			wait := time.Duration(-tokens / u.cfg.Budget * float64(time.Second))
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			refill()
		}
		tokens -= float64(len(data))
		if err := u.publish(ctx, h, data); err != nil {
			if ctx.Err() != nil {
				return
			}
			u.fail(err)
			continue
		}
		u.mu.Lock()
		u.st.Sent++
		u.st.Bytes += int64(len(data))
		u.mu.Unlock()
		if u.OnSent != nil {
			u.OnSent(h, len(data))
		}
	}
}

// publish publishes one sample and waits for JetStream's ack, retrying
// with the same message ID (so a publish stored but whose ack was lost is
// stored once) until Retry has passed.
func (u *Uploader) publish(ctx context.Context, h SampleHeader, data []byte) error {
	id := fmt.Sprintf("%s-%d-%d", h.Robot, h.Boot, h.Seq)
	deadline := time.Now().Add(u.cfg.Retry)
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := u.js.Publish(pctx, SampleSubject(u.cfg.Robot), data, jetstream.WithMsgID(id))
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("fleet: publishing sample %s: %w", id, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
