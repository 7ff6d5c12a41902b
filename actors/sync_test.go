package actors

import (
	"testing"
	"time"

	"github.com/parallax-robotics/parallax/msgs"
)

// TestSyncPairs feeds stamped left/right frames to the pairing logic and
// checks the pairs and the count of unpaired frames.
func TestSyncPairs(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	type in struct {
		cam string
		at  int // ms
	}
	for _, tc := range []struct {
		name     string
		frames   []in
		pairs    [][2]int // left, right stamps in ms
		unpaired uint64
	}{
		{"exact", []in{{"left", 0}, {"right", 0}, {"right", 66}, {"left", 66}}, [][2]int{{0, 0}, {66, 66}}, 0},
		{"within tolerance", []in{{"left", 0}, {"right", 9}}, [][2]int{{0, 9}}, 0},
		{"outside tolerance", []in{{"left", 0}, {"right", 11}}, nil, 0},
		{"closest wins", []in{{"right", 0}, {"right", 8}, {"left", 7}}, [][2]int{{7, 8}}, 1},
		{"lost right frame", []in{{"left", 0}, {"left", 66}, {"right", 66}}, [][2]int{{66, 66}}, 1},
		{"older own frames die", []in{{"left", 0}, {"left", 33}, {"right", 33}, {"right", 66}, {"left", 66}}, [][2]int{{33, 33}, {66, 66}}, 1},
		{"full queue", []in{{"left", 0}, {"left", 33}, {"left", 66}, {"left", 99}, {"left", 132}, {"left", 165}}, nil, 2},
		{"unknown camera", []in{{"front", 0}, {"left", 0}, {"right", 0}}, [][2]int{{0, 0}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c counters
			a := &syncActor{left: "left", right: "right", tolerance: 10 * time.Millisecond, c: &c, queue: map[string][]*msgs.Frame{}}
			var got [][2]int
			for _, f := range tc.frames {
				if set := a.add(&msgs.Frame{Camera: f.cam, Stamp: ms(f.at)}); set != nil {
					if set.Frames[0].Camera != "left" || set.Frames[1].Camera != "right" {
						t.Fatalf("pair %s,%s", set.Frames[0].Camera, set.Frames[1].Camera)
					}
					got = append(got, [2]int{int(set.Frames[0].Stamp.Sub(t0).Milliseconds()), int(set.Frames[1].Stamp.Sub(t0).Milliseconds())})
				}
			}
			if len(got) != len(tc.pairs) {
				t.Fatalf("pairs %v, want %v", got, tc.pairs)
			}
			for i := range got {
				if got[i] != tc.pairs[i] {
					t.Fatalf("pairs %v, want %v", got, tc.pairs)
				}
			}
			if u := c.unpaired.Load(); u != tc.unpaired {
				t.Errorf("unpaired %d, want %d", u, tc.unpaired)
			}
		})
	}
}

// TestSyncDegrades checks the monocular fallback: left frames go on alone
// once the right camera has been silent for longer than monoAfter (stamp
// time), and the first right frame back restores pairing.
func TestSyncDegrades(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var c counters
	a := &syncActor{left: "left", right: "right", tolerance: 10 * time.Millisecond, monoAfter: 100 * time.Millisecond,
		c: &c, queue: map[string][]*msgs.Frame{}}
	feed := func(cam string, ms int) *FrameSet {
		f := &msgs.Frame{Camera: cam, Stamp: t0.Add(time.Duration(ms) * time.Millisecond)}
		if set := a.degrade(nil, f); set != nil {
			return set
		}
		return a.add(f)
	}
	if set := feed("left", 0); set != nil {
		t.Fatalf("a lone left frame published at once: %v", set.Frames)
	}
	if set := feed("right", 0); set == nil || len(set.Frames) != 2 {
		t.Fatalf("no pair at 0 ms")
	}
	// The right camera dies after 0 ms: left frames queue until 100 ms of
	// silence, then go alone.
	var mono []int
	for ms := 33; ms <= 330; ms += 33 {
		if set := feed("left", ms); set != nil {
			if len(set.Frames) != 1 || set.Frames[0].Camera != "left" {
				t.Fatalf("at %d ms: set %v, want the left frame alone", ms, set.Frames)
			}
			mono = append(mono, ms)
		}
	}
	if len(mono) == 0 || mono[0] != 132 || mono[len(mono)-1] != 330 || len(mono) != 7 {
		t.Errorf("monocular sets at %v ms, want every left frame from 132 ms on", mono)
	}
	if u := c.unpaired.Load(); u != 3 {
		t.Errorf("unpaired %d, want the 3 left frames queued before degrading", u)
	}
	// A frame the dead stream drains from before the gap is stale: still
	// monocular.
	feed("right", 33)
	if set := feed("left", 363); set == nil || len(set.Frames) != 1 {
		t.Fatalf("a stale right frame ended the monocular spell: %v", set)
	}
	// The right camera is back: pairing resumes with the next left frame.
	if set := feed("right", 396); set != nil {
		t.Fatalf("a right frame alone published: %v", set.Frames)
	}
	if set := feed("left", 396); set == nil || len(set.Frames) != 2 {
		t.Fatalf("pairing did not resume: %v", set)
	}
	if a.mono {
		t.Error("still monocular after the right camera returned")
	}

	// monoAfter 0 never degrades.
	a = &syncActor{left: "left", right: "right", tolerance: 10 * time.Millisecond, c: &c, queue: map[string][]*msgs.Frame{}}
	for ms := 0; ms < 5000; ms += 33 {
		if set := feed("left", ms); set != nil {
			t.Fatalf("monoAfter 0 published %v at %d ms", set.Frames, ms)
		}
	}
}
