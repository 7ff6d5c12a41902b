package actors

import (
	"context"
	"sync"
)

// latestBox is a one-slot mailbox that overwrites, between an actor's
// Receive and the goroutine that does its slow work: put never blocks and
// replaces a value nobody has taken yet, so the consumer always gets the
// newest one and a slow consumer never builds a queue. Perception uses it
// for frame sets (latest frame wins), the learner for training triplets.
type latestBox[T any] struct {
	mu     sync.Mutex
	v      T
	full   bool
	signal chan struct{} // one token while full
}

func newLatestBox[T any]() *latestBox[T] { return &latestBox[T]{signal: make(chan struct{}, 1)} }

// put stores v and reports whether it replaced an untaken value.
func (b *latestBox[T]) put(v T) (replaced bool) {
	b.mu.Lock()
	replaced = b.full
	b.v, b.full = v, true
	b.mu.Unlock()
	notify(b.signal)
	return replaced
}

// take waits for a value or for ctx (false).
func (b *latestBox[T]) take(ctx context.Context) (T, bool) {
	for {
		select {
		case <-ctx.Done():
			var zero T
			return zero, false
		case <-b.signal:
		}
		b.mu.Lock()
		v, ok := b.v, b.full
		var zero T
		b.v, b.full = zero, false
		b.mu.Unlock()
		if ok {
			return v, true
		}
	}
}

// notify leaves one wake-up token in a one-slot channel.
func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
