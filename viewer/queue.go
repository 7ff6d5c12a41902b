package viewer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Limits of a client's send queue besides Viewer.SendBuffer.
const (
	// maxControl bounds the queued control messages (serverInfo,
	// advertise, status) of one client: a client that piles up more (it
	// sends requests and reads no answers) is disconnected.
	maxControl = 256
	// maxSmall bounds the queued small messages (odometry, diagnostics,
	// stats, Time) of one client; the oldest goes first.
	maxSmall = 1024
	// smallShare is the part of the send buffer small messages may fill:
	// they never wait behind images, and images never push them out.
	smallShare = 4
)

// item is one message queued for a client: a header of its own (a
// MessageData's opcode, subscription id and timestamp) and a payload
// shared, read-only, with every other client that gets it.
type item struct {
	typ  websocket.MessageType
	key  int // latest-only slot (a channel id) of a large message; 0 otherwise
	hlen int
	hdr  [13]byte
	data []byte
}

func (it *item) size() int { return it.hlen + len(it.data) }

// sendQueue is what the node has for one client and the client has not
// taken yet. put never blocks: the node's sink goroutine calls it for
// every client. Control messages go first, then the small ones in order,
// then the large ones, of which only the newest of each channel waits
// (latest-only): a slow client gets fewer images, never old ones, and never
// holds up the node or another client.
type sendQueue struct {
	mu       sync.Mutex
	limit    int // bytes of small and large messages together
	control  []item
	small    []item
	smallB   int
	order    []int        // large: keys waiting, oldest first
	large    map[int]item // large: the newest per key
	largeB   int
	dropped  uint64         // messages this client never got
	total    *atomic.Uint64 // every client's drops, when set
	overflow bool           // too many control messages: close the client
	signal   chan struct{}
}

func newSendQueue(limit int) *sendQueue {
	return &sendQueue{limit: limit, large: map[int]item{}, signal: make(chan struct{}, 1)}
}

func (q *sendQueue) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// putControl queues a control message; they are never dropped.
func (q *sendQueue) putControl(it item) {
	q.mu.Lock()
	if len(q.control) >= maxControl {
		q.overflow = true
	} else {
		q.control = append(q.control, it)
	}
	q.mu.Unlock()
	q.wake()
}

// put queues a data message and reports whether it was kept. A large
// message (key > 0) replaces the one of its channel still waiting (that
// one counts as dropped); any message that does not fit in the send buffer
// is dropped. Small messages have a share of the buffer of their own, so
// images never crowd them out; their oldest go first.
func (q *sendQueue) put(it item) bool {
	n := it.size()
	q.mu.Lock()
	defer q.wake()
	defer q.mu.Unlock()
	if it.key == 0 {
		budget := max(q.limit/smallShare, 64<<10)
		for len(q.small) > 0 && (len(q.small) >= maxSmall || q.smallB+n > budget) {
			q.smallB -= q.small[0].size()
			q.small[0] = item{}
			q.small = q.small[1:]
			q.drop()
		}
		if n > budget {
			q.drop()
			return false
		}
		q.small = append(q.small, it)
		q.smallB += n
		return true
	}
	if old, ok := q.large[it.key]; ok {
		q.largeB -= old.size()
		delete(q.large, it.key)
		q.drop()
		for i, k := range q.order {
			if k == it.key {
				q.order = append(q.order[:i], q.order[i+1:]...)
				break
			}
		}
	}
	if q.largeB+q.smallB+n > q.limit && q.largeB > 0 || n > q.limit {
		q.drop()
		return false
	}
	q.large[it.key] = it
	q.order = append(q.order, it.key)
	q.largeB += n
	return true
}

// next pops the next message without waiting.
func (q *sendQueue) next() (item, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case len(q.control) > 0:
		it := q.control[0]
		q.control[0] = item{}
		q.control = q.control[1:]
		return it, true
	case len(q.small) > 0:
		it := q.small[0]
		q.small[0] = item{}
		q.small = q.small[1:]
		q.smallB -= it.size()
		return it, true
	case len(q.order) > 0:
		k := q.order[0]
		q.order = q.order[1:]
		it := q.large[k]
		delete(q.large, k)
		q.largeB -= it.size()
		return it, true
	}
	return item{}, false
}

// take waits for a message until tick fires; ok is false when none came,
// and closed when ctx is done or the queue overflowed.
func (q *sendQueue) take(ctx context.Context, tick <-chan time.Time) (it item, ok, closed bool) {
	if q.overflowed() {
		return item{}, false, true
	}
	if it, ok := q.next(); ok {
		return it, true, false
	}
	select {
	case <-ctx.Done():
		return item{}, false, true
	case <-tick:
		return item{}, false, false
	case <-q.signal:
	}
	if q.overflowed() {
		return item{}, false, true
	}
	it, ok = q.next()
	return it, ok, false
}

func (q *sendQueue) overflowed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.overflow
}

// drop counts one message the client will never get (q.mu held).
func (q *sendQueue) drop() {
	q.dropped++
	if q.total != nil {
		q.total.Add(1)
	}
}

// pendingControl returns how many control messages wait.
func (q *sendQueue) pendingControl() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.control)
}

// drops returns how many messages the client never got.
func (q *sendQueue) drops() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
