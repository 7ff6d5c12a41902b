package learner

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/perception"
)

// ErrStop, returned by Fit.OnStep, ends the loop without an error.
var ErrStop = errors.New("learner: stop")

// ErrDiverged is returned by Fit when most steps were skipped for a
// non-finite loss or gradient.
var ErrDiverged = errors.New("learner: training diverged")

// Fit is the offline training loop: Trainer steps on batches drawn from a
// Drive, whatever the objective. `parallax train`, `demo --pretrain` and
// `bench` all run it; the online Adapter draws its batches from the live
// stream instead, through the same Trainer.Step.
type Fit struct {
	// Trainer is what steps. It is required; its model lives on Worker.
	Trainer *Trainer
	// Worker runs the steps. It is required.
	Worker *perception.Worker
	// Drive is where the samples come from. It is required. Wrap it in
	// camera.CacheDrive when frames cost more to make than to keep.
	Drive camera.Drive
	// Frames limits the sample centres to the first Frames frames (a
	// window of an endless drive). It defaults to 0: the whole drive,
	// which must then be finite.
	Frames int
	// Batch is the number of samples a step. It defaults to 4.
	Batch int
	// Seed seeds the sample order: batch k depends only on Seed and the
	// Trainer's step and skipped counts, so a resumed run draws what the
	// uninterrupted one would have. It defaults to 0.
	Seed uint64
	// Steps stops the loop once the Trainer has taken this many steps in
	// total (a resumed run continues up to it). It defaults to 0: no limit.
	Steps int64
	// Duration stops the loop after this long. It defaults to 0: no limit.
	Duration time.Duration
	// OnStep is called after every step, skipped ones included; ErrStop
	// ends the loop cleanly, another error ends it with that error. It
	// defaults to nil.
	OnStep func(st StepStats) error
}

// Run steps until Steps, Duration, OnStep or ctx stops it. It returns
// ctx's error when cancelled (the caller saves a checkpoint then),
// ErrDiverged when more than 100 steps, and more than were taken, were
// skipped for non-finite values.
func (f *Fit) Run(ctx context.Context) error {
	if f.Trainer == nil || f.Worker == nil || f.Drive == nil {
		return fmt.Errorf("%w: Fit needs a Trainer, its Worker and a Drive", ErrTrainConfig)
	}
	batch := f.Batch
	if batch == 0 {
		batch = 4
	}
	if batch < 0 {
		return fmt.Errorf("%w: batch of %d", ErrTrainConfig, batch)
	}
	needs := f.Trainer.Objective().Needs()
	if needs.Right && !f.Drive.Stereo() {
		return fmt.Errorf("%w: objective %s needs a stereo drive", ErrDrive, f.Trainer.Objective().Name())
	}
	lo, hi := SampleRange(f.Drive, needs)
	if f.Frames > 0 {
		if last := f.Frames - 1 - lo; hi < 0 || hi > last {
			hi = last
		}
	}
	if hi < 0 {
		return fmt.Errorf("%w: an endless drive needs a window of frames (Fit.Frames)", ErrDrive)
	}
	if hi < lo {
		return fmt.Errorf("%w: too few frames for the objective's %s", ErrDrive, needs)
	}
	start := time.Now()
	tr := f.Trainer
	idx := make([]int, batch)
	for f.Steps == 0 || tr.Steps() < f.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if f.Duration > 0 && time.Since(start) >= f.Duration {
			return nil
		}
		rng := rand.New(rand.NewPCG(f.Seed, uint64(tr.Steps())+uint64(tr.SkippedSteps())<<40))
		for i := range idx {
			idx[i] = lo + rng.IntN(hi-lo+1)
		}
		b, err := NewSamples(f.Drive, needs, idx)
		if err != nil {
			return err
		}
		var st StepStats
		if err := f.Worker.Do(func() (err error) { st, err = tr.Step(b); return err }); err != nil {
			return fmt.Errorf("step %d: %w", tr.Steps()+1, err)
		}
		if st.Skipped && tr.SkippedSteps() > 100 && tr.SkippedSteps() > tr.Steps() {
			return fmt.Errorf("%w: %d of %d steps had a non-finite loss or gradient", ErrDiverged, tr.SkippedSteps(), tr.Steps()+tr.SkippedSteps())
		}
		if f.OnStep != nil {
			if err := f.OnStep(st); err != nil {
				if errors.Is(err, ErrStop) {
					return nil
				}
				return err
			}
		}
	}
	return nil
}
