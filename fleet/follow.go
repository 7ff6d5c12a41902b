package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Follower keeps a node on its family's current version: it watches the
// family's key and hands every new current version, pulled and checked, to
// Handle. It never gives up: with the broker away it keeps retrying (the
// node keeps serving what it has), and after a reconnect it reads the
// pointer again, so a version promoted during the outage, or while the
// node was off, arrives when the connection does.
type Follower struct {
	// Conn is the node's NATS connection. It is required.
	Conn *nats.Conn
	// Bucket is the registry's bucket. It defaults to DefaultBucket.
	Bucket string
	// Family is the model family followed. It is required.
	Family string
	// Poll is how often the pointer is also read directly, the safety net
	// under the watch (and how often a missing registry is retried). It
	// defaults to 10 seconds.
	Poll time.Duration
	// Timeout bounds each registry call (a broker that went away answers
	// nothing). It defaults to 5 seconds.
	Timeout time.Duration
	// Handle receives each new current version: its pointer, metadata and
	// the checkpoint bytes (digest-checked). An error makes the Follower
	// try the same version again at the next poll; nil marks it handled
	// (accepted or refused: that is the node's decision). It is required.
	Handle func(ctx context.Context, p Pointer, v Version, ckpt []byte) error
	// Status, when set, is told about the follower's state: ok false with
	// what went wrong (registry unreachable, a pull failed), ok true when
	// it watches again.
	Status func(ok bool, msg string)
}

// Run follows until ctx ends (after an outage the watch's ordered
// consumer resumes by itself, and the poll catches what it missed); it returns ctx's error, or a configuration
// error at once.
func (f *Follower) Run(ctx context.Context) error {
	if f.Conn == nil || f.Handle == nil {
		return errors.New("fleet: follower needs a connection and a handler")
	}
	if err := CheckFamily(f.Family); err != nil {
		return err
	}
	if f.Bucket == "" {
		f.Bucket = DefaultBucket
	}
	if f.Poll <= 0 {
		f.Poll = 10 * time.Second
	}
	if f.Timeout <= 0 {
		f.Timeout = 5 * time.Second
	}
	tick := time.NewTicker(f.Poll)
	defer tick.Stop()
	var (
		reg     *Registry
		w       jetstream.KeyWatcher
		handled string
		bad     string // the last problem reported, so each is said once
	)
	defer func() {
		if w != nil {
			w.Stop()
		}
	}()
	report := func(err error) {
		if msg := err.Error(); msg != bad {
			bad = msg
			if f.Status != nil {
				f.Status(false, msg)
			}
		}
	}
	healthy := func() {
		if bad != "" || handled == "" {
			if bad != "" && f.Status != nil {
				f.Status(true, "following "+f.Family)
			}
			bad = ""
		}
	}
	consider := func(p Pointer) {
		if p.Digest == handled {
			healthy()
			return
		}
		cctx, cancel := context.WithTimeout(ctx, 4*f.Timeout) // a pull moves megabytes
		defer cancel()
		data, v, err := reg.Pull(cctx, f.Family, p.Digest)
		if err != nil {
			report(fmt.Errorf("fleet: pulling %s %s: %w", f.Family, ShortDigest(p.Digest), err))
			return
		}
		if err := f.Handle(ctx, p, v, data); err != nil {
			report(fmt.Errorf("fleet: %s %s: %w", f.Family, ShortDigest(p.Digest), err))
			return
		}
		handled = p.Digest
		healthy()
	}
	check := func() {
		if reg == nil {
			cctx, cancel := context.WithTimeout(ctx, f.Timeout)
			r, err := Bind(cctx, f.Conn, f.Bucket)
			cancel()
			if err != nil {
				report(err)
				return
			}
			reg = r
		}
		if w == nil {
			wctx, err := reg.kv.Watch(ctx, f.Family)
			if err != nil {
				report(fmt.Errorf("fleet: watching %s: %w", f.Family, err))
			} else {
				w = wctx
			}
		}
		cctx, cancel := context.WithTimeout(ctx, f.Timeout)
		p, err := reg.Current(cctx, f.Family)
		cancel()
		switch {
		case err == nil:
			consider(p)
		case errors.Is(err, ErrNoCurrent):
			healthy()
		default:
			report(err)
		}
	}
	check()
	for {
		var updates <-chan jetstream.KeyValueEntry
		if w != nil {
			updates = w.Updates()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			check()
		case e, ok := <-updates:
			switch {
			case !ok:
				w = nil // closed: made again at the next check
			case e == nil: // the initial values are delivered
			case e.Operation() == jetstream.KeyValuePut:
				if p, err := pointerOf(e); err != nil {
					report(err)
				} else {
					consider(p)
				}
			}
		}
	}
}
