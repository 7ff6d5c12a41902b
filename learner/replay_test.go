package learner

import (
	"errors"
	"math"
	"testing"

	"github.com/parallax-robotics/parallax/msgs"
)

func tagged(i int) Sample { return Sample{Target: &msgs.Frame{Seq: uint64(i)}} }

// TestReplayBounded: the buffer never holds more than its capacity, draws
// distinct tuples, and after a long stream still holds old tuples (the
// reservoir) as well as the newest (the recent half).
func TestReplayBounded(t *testing.T) {
	for _, capacity := range []int{2, 3, 16, 33} {
		r, err := NewReplay(capacity, 7)
		if err != nil {
			t.Fatal(err)
		}
		const n = 5000
		for i := 0; i < n; i++ {
			r.Add(tagged(i))
			if r.Len() > capacity {
				t.Fatalf("capacity %d: %d tuples held", capacity, r.Len())
			}
		}
		if r.Len() != capacity || r.Cap() != capacity {
			t.Fatalf("capacity %d: len %d cap %d", capacity, r.Len(), r.Cap())
		}
		d := r.Draw(capacity + 5)
		if len(d) != capacity {
			t.Fatalf("capacity %d: drew %d", capacity, len(d))
		}
		seen := map[uint64]bool{}
		old, newest := 0, false
		for _, s := range d {
			seq := s.Target.Seq
			if seen[seq] {
				t.Fatalf("capacity %d: tuple %d drawn twice", capacity, seq)
			}
			seen[seq] = true
			if seq < n/2 {
				old++
			}
			if seq == n-1 {
				newest = true
			}
		}
		if !newest {
			t.Errorf("capacity %d: the newest tuple is not held", capacity)
		}
		if capacity >= 16 && old == 0 {
			t.Errorf("capacity %d: nothing from the first half of the stream is kept: the buffer forgets the old world", capacity)
		}
		r.Clear()
		if r.Len() != 0 || len(r.Draw(3)) != 0 {
			t.Errorf("capacity %d: not empty after Clear", capacity)
		}
	}
}

// TestReplayReservoirUniform: the reservoir keeps a roughly uniform sample
// of the stream (Vitter's R), so old and middle tuples both survive.
func TestReplayReservoirUniform(t *testing.T) {
	const capacity, n, trials = 20, 1000, 200
	var buckets [4]int
	for trial := 0; trial < trials; trial++ {
		r, _ := NewReplay(capacity, uint64(trial+1))
		for i := 0; i < n; i++ {
			r.Add(tagged(i))
		}
		for _, s := range r.reservoir {
			buckets[int(s.Target.Seq)*4/n]++
		}
	}
	total := buckets[0] + buckets[1] + buckets[2] + buckets[3]
	for i, b := range buckets {
		share := float64(b) / float64(total)
		if share < 0.18 || share > 0.32 {
			t.Errorf("quarter %d of the stream holds %.2f of the reservoir, want about 0.25 (%v)", i, share, buckets)
		}
	}
}

func TestReplayErrors(t *testing.T) {
	for _, c := range []int{-1, 0, 1} {
		if _, err := NewReplay(c, 1); !errors.Is(err, ErrAdaptConfig) {
			t.Errorf("NewReplay(%d): %v", c, err)
		}
	}
	r, _ := NewReplay(4, 1)
	if d := r.Draw(2); d != nil {
		t.Errorf("empty buffer drew %d", len(d))
	}
	if d := r.Draw(-1); d != nil {
		t.Errorf("Draw(-1) drew %d", len(d))
	}
}

func TestHoldOutRing(t *testing.T) {
	h := holdOut{size: 3}
	for i := 0; i < 5; i++ {
		h.add(tagged(i))
	}
	got := h.all()
	if len(got) != 3 || got[0].Target.Seq != 2 || got[2].Target.Seq != 4 {
		var seqs []uint64
		for _, s := range got {
			seqs = append(seqs, s.Target.Seq)
		}
		t.Errorf("held out %v, want [2 3 4]", seqs)
	}
}

func TestPixelChangeAndBlocks(t *testing.T) {
	a := &msgs.Frame{Width: 2, Height: 1, Pix: []byte{0, 0, 0, 10, 10, 10}}
	b := &msgs.Frame{Width: 2, Height: 1, Pix: []byte{0, 0, 0, 10, 10, 10}}
	if v, err := pixelChange(a, b); err != nil || v != 0 {
		t.Errorf("identical frames: %v, %v", v, err)
	}
	c := &msgs.Frame{Width: 2, Height: 1, Pix: []byte{7, 0, 0, 10, 10, 10}}
	if v, err := pixelChange(a, c); err != nil || math.Abs(v-7.0/6) > 1e-12 {
		t.Errorf("grey 7/3 apart on one pixel of a 2-pixel block: %v, %v (want 7/6)", v, err)
	}
	// Zero-mean noise within a block averages out: +5 and -5 grey.
	n1 := &msgs.Frame{Width: 2, Height: 1, Pix: []byte{5, 5, 5, 5, 5, 5}}
	n2 := &msgs.Frame{Width: 2, Height: 1, Pix: []byte{10, 10, 10, 0, 0, 0}}
	if v, err := pixelChange(n1, n2); err != nil || v != 0 {
		t.Errorf("zero-mean change within a block: %v, %v", v, err)
	}
	if _, err := pixelChange(a, &msgs.Frame{Width: 1, Height: 1, Pix: []byte{1, 2, 3}}); !errors.Is(err, ErrAdaptSample) {
		t.Errorf("different sizes: %v", err)
	}
	for name, want := range map[string]bool{
		"depth.enc2.conv0.weight": false, "depth.disp1.bias": true,
		"depth.dec1.upconv0.weight": true, "pose.conv3.bias": false,
	} {
		if got := partialTrained(name); got != want {
			t.Errorf("partialTrained(%s) = %v, want %v", name, got, want)
		}
	}
}
