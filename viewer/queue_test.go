package viewer

import (
	"context"
	"testing"
	"time"
)

// TestSendQueue: control messages first, then small ones in order, then
// the newest large message of each channel; what does not fit is dropped
// and counted.
func TestSendQueue(t *testing.T) {
	big := func(key, n int) item { return item{typ: binaryMessage, key: key, data: make([]byte, n)} }
	small := func(n int) item { return item{typ: binaryMessage, data: make([]byte, n)} }
	ctrl := item{typ: textMessage, data: []byte(`{"op":"status"}`)}
	for _, tc := range []struct {
		name    string
		limit   int
		puts    []item
		control int
		order   []int // the keys (0: small) next returns, in order
		sizes   []int // and their sizes
		drops   uint64
	}{
		{"priority", 1 << 20, []item{big(1, 10), small(5), big(2, 20), small(6)}, 1,
			[]int{0, 0, 0, 1, 2}, []int{15, 5, 6, 10, 20}, 0},
		{"latest only", 1 << 20, []item{big(1, 10), big(1, 11), big(2, 20), big(1, 12)}, 0,
			[]int{2, 1}, []int{20, 12}, 2},
		{"large over the buffer", 1000, []item{big(1, 600), big(2, 600), big(3, 2000)}, 0,
			[]int{1}, []int{600}, 2},
		{"one large alone may fill it", 1000, []item{small(100), big(1, 950)}, 0,
			[]int{0, 1}, []int{100, 950}, 0},
		{"small over their share", 256 << 10, append(repeat(small(40<<10), 3), big(1, 10)), 0,
			[]int{0, 1}, []int{40 << 10, 10}, 2},
		{"small count bound", 1 << 30, repeat(small(1), maxSmall+5), 0,
			nil, nil, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newSendQueue(tc.limit)
			for i := 0; i < tc.control; i++ {
				q.putControl(ctrl)
			}
			for _, it := range tc.puts {
				q.put(it)
			}
			for i, k := range tc.order {
				it, ok := q.next()
				if !ok {
					t.Fatalf("message %d: none", i)
				}
				if it.key != k || (i < len(tc.sizes) && it.size() != tc.sizes[i]) {
					t.Errorf("message %d: key %d size %d, want key %d size %d", i, it.key, it.size(), k, tc.sizes[min(i, len(tc.sizes)-1)])
				}
			}
			if q.drops() != tc.drops {
				t.Errorf("%d drops, want %d", q.drops(), tc.drops)
			}
		})
	}
}

func repeat(it item, n int) []item {
	out := make([]item, n)
	for i := range out {
		out[i] = it
	}
	return out
}

// TestSendQueueControlOverflow: a client that lets control messages pile
// up is closed, not given unbounded memory.
func TestSendQueueControlOverflow(t *testing.T) {
	q := newSendQueue(1 << 20)
	for i := 0; i < maxControl+1; i++ {
		q.putControl(item{typ: textMessage, data: []byte("x")})
	}
	if _, _, closed := q.take(context.Background(), nil); !closed {
		t.Error("an overflowing queue does not close")
	}
}

// TestSendQueueTake: take wakes on a put and returns on the tick or the
// context.
func TestSendQueueTake(t *testing.T) {
	q := newSendQueue(1 << 20)
	tick := make(chan time.Time)
	go func() {
		time.Sleep(20 * time.Millisecond)
		q.put(item{data: []byte("a")})
	}()
	it, ok, closed := q.take(context.Background(), tick)
	if !ok || closed || string(it.data) != "a" {
		t.Fatalf("take: %q %v %v", it.data, ok, closed)
	}
	go func() { tick <- time.Now() }()
	if _, ok, closed := q.take(context.Background(), tick); ok || closed {
		t.Errorf("tick: %v %v", ok, closed)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, closed := q.take(ctx, tick); !closed {
		t.Error("a done context does not close")
	}
}
