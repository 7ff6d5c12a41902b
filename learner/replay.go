package learner

import (
	"fmt"
	"math/rand/v2"
)

// Replay is the bounded replay buffer of online adaptation (CoMoDA,
// Kuznietsov et al. 2021): each optimisation step mixes the fresh training
// tuple with tuples drawn from here, so the networks keep what they learned
// a minute ago instead of chasing the last few frames.
//
// Half of the capacity is a FIFO of the most recent tuples, half a
// reservoir: a uniform sample of every tuple ever added (Vitter's algorithm
// R), so a long drive keeps a share of its old scenes however long it
// lasts. A buffer that is only recent forgot the old world after a few
// minutes in a new one (see RECIPES: naive adaptation with a 16-sample
// buffer). Memory is bounded by the capacity: a tuple holds up to four
// frames (target, previous, next, right), shared with nothing else once
// the node has published them.
//
// Replay is not safe for concurrent use; the Adapter owns one.
type Replay struct {
	recent    []Sample // ring, oldest at head once full
	head      int
	reservoir []Sample
	seen      uint64 // tuples offered to the reservoir
	capRecent int
	capRes    int
	rng       *rand.Rand
}

// NewReplay makes a buffer holding at most capacity tuples (at least 2:
// one recent, one reservoir), drawing with a generator seeded by seed.
func NewReplay(capacity int, seed uint64) (*Replay, error) {
	if capacity < 2 {
		return nil, fmt.Errorf("%w: replay capacity %d (want at least 2)", ErrAdaptConfig, capacity)
	}
	r := &Replay{capRecent: (capacity + 1) / 2, capRes: capacity / 2,
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	return r, nil
}

// Add stores s. When the recent half is full, its oldest tuple moves on to
// the reservoir, which keeps it with probability capacity/seen.
func (r *Replay) Add(s Sample) {
	if len(r.recent) < r.capRecent {
		r.recent = append(r.recent, s)
		return
	}
	old := r.recent[r.head]
	r.recent[r.head] = s
	r.head = (r.head + 1) % r.capRecent
	r.seen++
	if len(r.reservoir) < r.capRes {
		r.reservoir = append(r.reservoir, old)
		return
	}
	if j := r.rng.Uint64N(r.seen); j < uint64(r.capRes) {
		r.reservoir[j] = old
	}
}

// Len returns the number of tuples held.
func (r *Replay) Len() int { return len(r.recent) + len(r.reservoir) }

// Cap returns the capacity.
func (r *Replay) Cap() int { return r.capRecent + r.capRes }

// Draw returns up to k distinct tuples chosen uniformly from the buffer
// (fewer when it holds fewer). The slice is new; the tuples are shared.
func (r *Replay) Draw(k int) []Sample {
	n := r.Len()
	if k > n {
		k = n
	}
	if k <= 0 {
		return nil
	}
	out := make([]Sample, 0, k)
	for _, i := range r.rng.Perm(n)[:k] {
		if i < len(r.recent) {
			out = append(out, r.recent[i])
		} else {
			out = append(out, r.reservoir[i-len(r.recent)])
		}
	}
	return out
}

// Clear drops every tuple (the frames become garbage).
func (r *Replay) Clear() {
	clear(r.recent)
	clear(r.reservoir)
	r.recent, r.reservoir, r.head, r.seen = r.recent[:0], r.reservoir[:0], 0, 0
}

// holdOut is the drift guard's ring of recent tuples that are never trained
// on: the validation set.
type holdOut struct {
	ring []Sample
	next int
	size int
}

func (h *holdOut) add(s Sample) {
	if len(h.ring) < h.size {
		h.ring = append(h.ring, s)
		return
	}
	h.ring[h.next] = s
	h.next = (h.next + 1) % h.size
}

// all returns a copy of the held-out tuples, oldest first.
func (h *holdOut) all() []Sample {
	out := make([]Sample, 0, len(h.ring))
	if len(h.ring) < h.size {
		return append(out, h.ring...)
	}
	out = append(out, h.ring[h.next:]...)
	return append(out, h.ring[:h.next]...)
}
