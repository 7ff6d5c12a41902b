package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
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
