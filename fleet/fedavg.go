package fleet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sugarme/gotch/ts"

	"github.com/parallax-robotics/parallax/perception"
)

// Federated option: instead of samples, a robot publishes a weight delta —
// its adapted weights minus the fleet version it started from — on
// DeltasPrefix.<robot>; no frame leaves the robot. The trainer averages the
// deltas made on the family's current version, weighted by the samples
// each robot trained on (FedAvg, McMahan et al. 2017), into the next
// version: base + Σ n_i Δ_i / Σ n_i.

// DeltasStream is the JetStream stream of the robots' weight deltas.
const DeltasStream = "FLEET_DELTAS"

// DeltasPrefix is the deltas' subject prefix: DeltasPrefix.<robot>.
const DeltasPrefix = "fleet.deltas"

// DeltaSubject is robot's delta subject.
func DeltaSubject(robot string) string { return DeltasPrefix + "." + robot }

// ErrDelta is returned for a weight delta that is malformed, of another
// architecture, or made on another base version.
var ErrDelta = errors.New("fleet: bad weight delta")

// Delta checkpoint metadata keys (perception.CheckpointMeta.Values).
const (
	deltaRobot   = "delta_robot"
	deltaBase    = "delta_base"
	deltaSamples = "delta_samples"
)

// Delta is a parsed weight delta.
type Delta struct {
	// Robot made it, from Base (a version digest), training on Samples
	// samples.
	Robot, Base string
	Samples     int64
	// Checkpoint holds the differences as weights.
	Checkpoint *perception.Checkpoint
}

// WeightedSum sets dst's variables to (dst if add) + Σ coef_i src_i,
// variable by variable, in place. Every model must have dst's
// architecture; nothing is written when one does not. Run it on the
// models' Worker.
func WeightedSum(dst *perception.Model, add bool, srcs []*perception.Model, coef []float64) error {
	if dst == nil || len(srcs) == 0 || len(srcs) != len(coef) {
		return fmt.Errorf("%w: weighted sum of %d models with %d coefficients", ErrDelta, len(srcs), len(coef))
	}
	for i, s := range srcs {
		if s == nil {
			return fmt.Errorf("%w: model %d is nil", ErrDelta, i)
		}
		if d := perception.ArchDiff(s.Config(), dst.Config()); d != "" {
			return fmt.Errorf("%w: model %d: %s", ErrDelta, i, d)
		}
		if math.IsNaN(coef[i]) || math.IsInf(coef[i], 0) {
			return fmt.Errorf("%w: coefficient %d is %v", ErrDelta, i, coef[i])
		}
	}
	dv := dst.NamedVariables()
	from := make([][]ts.NamedTensor, len(srcs))
	for i, s := range srcs {
		if from[i] = s.NamedVariables(); len(from[i]) != len(dv) {
			return fmt.Errorf("%w: model %d has %d variables, the destination %d", ErrDelta, i, len(from[i]), len(dv))
		}
		for j := range dv {
			if from[i][j].Name != dv[j].Name {
				return fmt.Errorf("%w: variable %s in model %d, %s in the destination", ErrDelta, from[i][j].Name, i, dv[j].Name)
			}
		}
	}
	sc := perception.NewScope("fleet: weighted sum")
	defer sc.Free()
	return perception.NoGrad(func() error {
		for j, d := range dv {
			// acc is dst's own tensor until the first term lands in a
			// fresh one: dst is only written once the sum is complete.
			acc, owned := d.Tensor, false
			for i := range srcs {
				term, err := from[i][j].Tensor.MulScalar(sc.Scalar(coef[i]), false)
				if err != nil {
					return err
				}
				if i == 0 && !add {
					acc, owned = term, true
					continue
				}
				if !owned {
					c, err := perception.Clone(acc)
					if err != nil {
						term.MustDrop()
						return err
					}
					acc, owned = c, true
				}
				err = acc.Add_(term)
				term.MustDrop()
				if err != nil {
					return err
				}
			}
			err := perception.Assign(d.Tensor, acc)
			acc.MustDrop()
			if err != nil {
				return fmt.Errorf("fleet: %s: %w", d.Name, err)
			}
		}
		return nil
	})
}

// EncodeDelta is the weight delta adapted − base as a checkpoint (base's
// architecture; the metadata names the robot, the base version's digest
// and the samples adapted on). Run it on the models' Worker.
func EncodeDelta(adapted, base *perception.Model, robot, baseDigest string, samples int64) ([]byte, error) {
	if err := CheckRobot(robot); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDelta, err)
	}
	if !digestRe.MatchString(baseDigest) || samples < 1 {
		return nil, fmt.Errorf("%w: base %q, %d samples (want a version digest and at least 1)", ErrDelta, baseDigest, samples)
	}
	d, err := perception.NewModel(base.Config(), base.Device())
	if err != nil {
		return nil, err
	}
	defer d.Close()
	if err := WeightedSum(d, false, []*perception.Model{adapted, base}, []float64{1, -1}); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "parallax-delta-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "delta.ckpt")
	if err := d.Save(path, perception.CheckpointMeta{Values: map[string]string{
		"writer": "parallax fleet delta", deltaRobot: robot, deltaBase: baseDigest, deltaSamples: strconv.FormatInt(samples, 10)}}); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

// ParseDelta parses a weight delta made by EncodeDelta.
func ParseDelta(data []byte) (Delta, error) {
	c, err := perception.ParseCheckpoint(data)
	if err != nil {
		return Delta{}, fmt.Errorf("%w: %v", ErrDelta, err)
	}
	v := c.Header.Meta.Values
	d := Delta{Robot: v[deltaRobot], Base: v[deltaBase], Checkpoint: c}
	d.Samples, err = strconv.ParseInt(v[deltaSamples], 10, 64)
	switch {
	case CheckRobot(d.Robot) != nil:
		return d, fmt.Errorf("%w: robot %q", ErrDelta, d.Robot)
	case !digestRe.MatchString(d.Base):
		return d, fmt.Errorf("%w: base version %q", ErrDelta, d.Base)
	case err != nil || d.Samples < 1:
		return d, fmt.Errorf("%w: samples %q (want a count of at least 1)", ErrDelta, v[deltaSamples])
	}
	return d, nil
}

// EnsureDeltas creates the deltas stream (or updates its limits).
func EnsureDeltas(ctx context.Context, js jetstream.JetStream, c StreamConfig) (jetstream.Stream, error) {
	c = c.fill()
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: DeltasStream, Description: "parallax fleet weight deltas (fleet.deltas.<robot>)",
		Subjects: []string{DeltasPrefix + ".>"}, Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld,
		MaxAge: c.MaxAge, MaxBytes: c.MaxBytes, MaxMsgsPerSubject: 16, MaxMsgSize: 64 << 20,
		Replicas: c.Replicas, Duplicates: 2 * time.Minute, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: deltas stream %s: %w", DeltasStream, err)
	}
	return s, nil
}

// PublishDelta publishes a robot's delta and waits for JetStream's ack.
func PublishDelta(ctx context.Context, nc *nats.Conn, robot string, delta []byte) error {
	if err := CheckRobot(robot); err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if _, err := js.Publish(ctx, DeltaSubject(robot), delta, jetstream.WithMsgID(Digest(delta))); err != nil {
		return fmt.Errorf("fleet: publishing %s's delta: %w", robot, err)
	}
	return nil
}

// FedReport is the outcome of a federated round.
type FedReport struct {
	// Deltas averaged, Stale ones (made on another version: acked and
	// dropped), Bad ones (terminated); Samples behind the averaged ones.
	Deltas, Stale, Bad int
	Samples            int64
	// Candidate and Current are the held-out errors, as in RoundReport
	// (NaN without held-out samples: the nodes' own guarded hand-over
	// then is the only check).
	Candidate, Current float64
	// Promoted is the version made, nil when none.
	Promoted *Version
	// LastBad says why the last bad delta was refused.
	LastBad string
}

// FedRound pulls the robots' weight deltas (durable consumer
// "<Durable>-fedavg" on the deltas stream, explicit acks) until min deltas
// made on the family's current version are in, averages them weighted by
// their samples onto the current version, and promotes the result when it
// is not worse than the current one on the held-out samples (if any).
func (t *Trainer) FedRound(ctx context.Context, minDeltas int) (FedReport, error) {
	rep := FedReport{Candidate: math.NaN(), Current: math.NaN()}
	if minDeltas < 1 {
		return rep, fmt.Errorf("fleet: federated round of %d deltas (want at least 1)", minDeltas)
	}
	if err := t.follow(ctx); err != nil {
		return rep, err
	}
	if t.cur == "" {
		return rep, fmt.Errorf("%w: federated averaging needs a current version of %s to average onto", ErrNoCurrent, t.cfg.Family)
	}
	if t.deltas == nil {
		s, err := EnsureDeltas(ctx, t.js, t.cfg.Stream)
		if err != nil {
			return rep, err
		}
		t.deltas, err = s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: t.cfg.Durable + "-fedavg",
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, Replicas: t.cfg.Stream.Replicas})
		if err != nil {
			return rep, fmt.Errorf("fleet: deltas consumer: %w", err)
		}
	}
	var models []*perception.Model
	var n []float64
	defer t.w.Do(func() error {
		for _, m := range models {
			m.Close()
		}
		return nil
	})
	for len(models) < minDeltas {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		batch, err := t.deltas.Fetch(minDeltas-len(models), jetstream.FetchMaxWait(t.cfg.FetchWait))
		if err != nil {
			return rep, fmt.Errorf("fleet: fetching deltas: %w", err)
		}
		for msg := range batch.Messages() {
			d, err := ParseDelta(msg.Data())
			if err == nil && msg.Subject() != DeltaSubject(d.Robot) {
				err = fmt.Errorf("%w: robot %q published on %s", ErrDelta, d.Robot, msg.Subject())
			}
			if err != nil {
				msg.Term()
				rep.Bad++
				rep.LastBad = err.Error()
				continue
			}
			if d.Base != t.cur {
				rep.Stale++
				msg.Ack()
				continue
			}
			var m *perception.Model
			err = t.w.Do(func() error {
				var err error
				if m, err = perception.NewModel(t.m.Config(), t.m.Device()); err != nil {
					return err
				}
				if err := m.LoadCheckpoint(d.Checkpoint); err != nil {
					m.Close()
					return err
				}
				return nil
			})
			if err != nil {
				msg.Term()
				rep.Bad++
				rep.LastBad = fmt.Sprintf("%s's delta: %v", d.Robot, err)
				continue
			}
			if err := msg.DoubleAck(ctx); err != nil {
				t.w.Do(func() error { m.Close(); return nil })
				return rep, fmt.Errorf("fleet: acking a delta: %w", err)
			}
			models = append(models, m)
			n = append(n, float64(d.Samples))
			rep.Samples += d.Samples
		}
	}
	for i := range n {
		n[i] /= float64(rep.Samples)
	}
	rep.Deltas = len(models)
	err := t.w.Do(func() error {
		if err := t.m.CopyFrom(t.ref); err != nil {
			return err
		}
		return WeightedSum(t.m, true, models, n)
	})
	if err != nil {
		return rep, fmt.Errorf("fleet: federated averaging: %w", err)
	}
	if len(t.hold) > 0 {
		if rep.Candidate, err = t.validate(t.tr); err != nil {
			return rep, err
		}
		if rep.Current, err = t.validate(t.refTr); err != nil {
			return rep, err
		}
		if !(rep.Candidate <= rep.Current) {
			return rep, t.w.Do(func() error { return t.m.CopyFrom(t.ref) })
		}
	}
	v, err := t.promote(ctx, rep.Candidate)
	if err != nil {
		return rep, err
	}
	rep.Promoted = &v
	return rep, nil
}
