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
