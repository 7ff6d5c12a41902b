package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/parallax-robotics/parallax/learner"
)

// progress draws the training progress on stderr: on a terminal one line
// redrawn in place (a bar, step, loss, steps/s, ETA), otherwise (a log file,
// a pipe, CI) a plain line every 10 seconds and at the end, no carriage
// returns.
type progress struct {
	w          io.Writer
	tty        bool
	start      time.Time
	first      int64 // step at start (resumed runs)
	total      int64
	step       int64
	loss       float64 // exponential moving average
	lastPrint  time.Time
	drawn      bool
	printed    int64 // step of the last line printed
	printEvery time.Duration
	prefix     string // of the plain lines: the command's name
}

func newProgress(w io.Writer, first, total int64) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	now := time.Now()
	return &progress{w: w, tty: tty, start: now, first: first, total: total, step: first, loss: -1, lastPrint: now, printEvery: 10 * time.Second, prefix: "train"}
}

func (p *progress) elapsed() time.Duration { return time.Since(p.start) }

// update records a finished step and redraws when due.
func (p *progress) update(step int64, loss float64) {
	p.step = step
	if p.loss < 0 {
		p.loss = loss
	} else {
		p.loss = 0.9*p.loss + 0.1*loss
	}
	now := time.Now()
	switch {
	case p.tty && now.Sub(p.lastPrint) >= 200*time.Millisecond, step >= p.total:
	case !p.tty && now.Sub(p.lastPrint) >= p.printEvery:
	default:
		return
	}
	p.lastPrint = now
	p.draw()
}

func (p *progress) line() string {
	done := p.step - p.first
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(done) / el
	}
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-p.step)/rate) * time.Second).Round(time.Second).String()
	}
	return fmt.Sprintf("step %d/%d  loss %.4f  %.2f steps/s  ETA %s", p.step, p.total, p.loss, rate, eta)
}

func (p *progress) draw() {
	p.printed = p.step
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %s\n", p.prefix, p.line())
		return
	}
	const width = 24
	n := 0
	if p.total > 0 {
		n = int(int64(width) * p.step / p.total)
	}
	if n > width {
		n = width
	}
	fmt.Fprintf(p.w, "\r[%s%s] %s\x1b[K", strings.Repeat("=", n), strings.Repeat(" ", width-n), p.line())
	p.drawn = true
}

// pause ends the redrawn line before other output.
func (p *progress) pause() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// finish draws the final state.
func (p *progress) finish() {
	if p.step > p.first && p.printed != p.step {
		p.draw()
	}
	p.pause()
}

// fitLoop is the step loop parallax train and parallax pretrain share
// around a learner.Fit: the progress bar, the notice of a skipped step,
// a checkpoint every saveEvery steps, a learning-curve row every
// evalEvery steps (with the mean training loss since the last), and a
// checkpoint when interrupted, so --resume continues.
type fitLoop struct {
	name      string // the command: the prefix of its lines
	out       string // the checkpoint's path, for the messages
	steps     int64  // the step to reach
	saveEvery int64  // 0: only at the end
	evalEvery int64  // 0: no curve
	save      func() error
	evaluate  func(loss float64) error // nil: no curve
	fit       *learner.Fit
}

// run trains to l.steps (from fit.Trainer's step) and saves.
func (l *fitLoop) run(ctx context.Context, stderr io.Writer) error {
	tr := l.fit.Trainer
	bar := newProgress(stderr, tr.Steps(), l.steps)
	bar.prefix = l.name
	var lossSum float64
	var lossN int
	l.fit.Steps = l.steps
	l.fit.OnStep = func(st learner.StepStats) error {
		if st.Skipped {
			fmt.Fprintf(stderr, "\n%s: step %d skipped: non-finite loss or gradient (%d so far)\n", l.name, tr.Steps()+1, tr.SkippedSteps())
			return nil
		}
		lossSum += st.Loss
		lossN++
		bar.update(tr.Steps(), st.Loss)
		if l.saveEvery > 0 && tr.Steps()%l.saveEvery == 0 && tr.Steps() < l.steps {
			if err := l.save(); err != nil {
				return err
			}
		}
		if l.evaluate != nil && l.evalEvery > 0 && tr.Steps()%l.evalEvery == 0 {
			bar.pause()
			// An evaluation cut short by ^C ends the run below, saved.
			if err := l.evaluate(lossSum / float64(lossN)); err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			lossSum, lossN = 0, 0
		}
		return nil
	}
	// Fit's Steps 0 means no limit; here it means no step at all (the
	// initial weights as a baseline), as does a resumed run already there.
	var runErr error
	if l.steps > tr.Steps() {
		runErr = l.fit.Run(ctx)
	}
	bar.finish()
	if runErr != nil {
		if ctx.Err() == nil || !errors.Is(runErr, ctx.Err()) {
			return runErr
		}
		if err := l.save(); err != nil {
			return fmt.Errorf("interrupted at step %d, and saving failed: %w", tr.Steps(), err)
		}
		fmt.Fprintf(stderr, "%s: interrupted at step %d; saved %s (continue with --resume)\n", l.name, tr.Steps(), l.out)
		return nil
	}
	if err := l.save(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: %d steps (%d skipped) in %s; saved %s\n", l.name, tr.Steps(), tr.SkippedSteps(), bar.elapsed().Round(time.Second), l.out)
	return nil
}
