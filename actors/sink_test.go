package actors

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/actors/sinktest"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// TestSinkQueue: frames and results are latest-wins per camera (what is
// replaced is handed back, to be counted and released), small outputs are
// never coalesced and come first, and a Queued sink's FIFO drops its
// oldest when full.
func TestSinkQueue(t *testing.T) {
	res := func(cam string, seq uint64) envelope {
		return envelope{out: msgs.Output{Result: &msgs.Result{Frames: []*msgs.Frame{{Camera: cam}}, Seq: seq}}}
	}
	diag := func(name string) envelope {
		return envelope{out: msgs.Output{Diagnostics: &parallaxv1.Diagnostics{Status: []*parallaxv1.DiagnosticStatus{{Name: name}}}}}
	}
	q := newSinkQueue(0)
	if d := q.put(res("left", 1)); len(d) != 0 {
		t.Fatalf("dropped %v", d)
	}
	q.put(res("front", 1))
	if d := q.put(res("left", 2)); len(d) != 1 || d[0].out.Result.Seq != 1 {
		t.Fatalf("the newer left result should replace the older: dropped %v", d)
	}
	q.put(diag("a"))
	q.put(diag("b"))
	var order []string
	for {
		e, ok := q.next()
		if !ok {
			break
		}
		switch o := e.out; {
		case o.Diagnostics != nil:
			order = append(order, "diag/"+o.Diagnostics.Status[0].Name)
		case o.Result != nil:
			order = append(order, o.Result.Ref().Camera+"/"+string(rune('0'+o.Result.Seq)))
		}
	}
	if got := order; len(got) != 4 || got[0] != "diag/a" || got[1] != "diag/b" || got[2] != "left/2" || got[3] != "front/1" {
		t.Fatalf("order %v, want the diagnostics in order first, then left/2 and front/1", got)
	}
	f := newSinkQueue(2)
	f.put(res("left", 1))
	f.put(res("left", 2))
	if d := f.put(res("left", 3)); len(d) != 1 || d[0].out.Result.Seq != 1 {
		t.Fatalf("a full FIFO should drop its oldest: %v", d)
	}
	for _, want := range []uint64{2, 3} {
		if e, ok := f.next(); !ok || e.out.Result.Seq != want {
			t.Fatalf("FIFO gave %v, want seq %d", e, want)
		}
	}
	// A pending completion runs once every holder released it.
	var ran atomic.Int32
	p := &pending{f: func() { ran.Add(1) }}
	p.n.Store(2)
	p.release()
	if ran.Load() != 0 {
		t.Fatal("ran before the second release")
	}
	p.release()
	if ran.Load() != 1 {
		t.Fatal("did not run after the second release")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := newSinkQueue(0).take(ctx); ok {
		t.Fatal("take on a cancelled context returned an envelope")
	}
}

// TestSinkSeesWhatNATSPublishes: a test sink beside NATS gets the same
// results the NATS subscriber decodes: every depth map published is, byte
// for byte, the depth of the result the sink got for that frame, with the
// rig the node described.
func TestSinkSeesWhatNATSPublishes(t *testing.T) {
	col := &sinktest.Collector{Queue: 256}
	n := startNode(t, &Node{Launch: synthLaunch(t, "learner: {adapt: false}"), Sinks: []Sink{col}})
	c := subscribe(t, n)
	waitFor(t, 60*time.Second, "10 depth maps on NATS", func() bool { return c.count("test.left.depth") >= 10 })
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	rig := col.Rig()
	if rig == nil || rig.Namespace != "test" || rig.Left != "left" || rig.Right != "right" || rig.Baselines["right"] != 0.54 {
		t.Fatalf("rig %+v", rig)
	}
	byStamp := map[int64][]byte{}
	for _, r := range col.Results() {
		byStamp[r.Ref().Stamp.UnixNano()] = msgs.AppendFloat32s(nil, r.Depth.Depth)
	}
	msgsSeen := c.all("test.left.depth")
	for _, m := range msgsSeen {
		var img foxglove.RawImage
		if err := proto.Unmarshal(m.Data, &img); err != nil {
			t.Fatal(err)
		}
		stamp, err := msgs.Time(img.Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		want, ok := byStamp[stamp.UnixNano()]
		if !ok {
			t.Fatalf("NATS published depth at %v that the sink never got", stamp)
		}
		if !bytes.Equal(img.Data, want) {
			t.Fatalf("depth at %v differs between NATS and the sink", stamp)
		}
	}
	if col.Frames("left") == 0 || col.Frames("right") == 0 || len(col.Diagnostics()) == 0 {
		t.Errorf("the sink got %d left and %d right frames, %d diagnostics", col.Frames("left"), col.Frames("right"), len(col.Diagnostics()))
	}
	st, _ := n.SinkStats(col.Name())
	t.Logf("%d depth maps on NATS, %d results in the sink, sink stats %+v", len(msgsSeen), col.Len(), st)
	if st.Dropped != 0 || st.Errors != 0 || st.Written == 0 {
		t.Errorf("a queued, fast sink wrote %d, dropped %d, failed %d", st.Written, st.Dropped, st.Errors)
	}
}

// slowSink takes 400 ms for every output.
type slowSink struct{ sinktest.Collector }

func (s *slowSink) Write(o msgs.Output) error {
	time.Sleep(400 * time.Millisecond)
	return s.Collector.Write(o)
}

// TestSlowSinkNeverBlocks: a sink far slower than the camera neither slows
// the node's publishing nor queues up: it drops what it cannot take (newest
// wins) while NATS gets every result.
func TestSlowSinkNeverBlocks(t *testing.T) {
	slow := &slowSink{sinktest.Collector{ID: "slow"}}
	n := startNode(t, &Node{Launch: synthLaunch(t, "learner: {adapt: false}"), Sinks: []Sink{slow}})
	c := subscribe(t, n)
	waitFor(t, 60*time.Second, "the first depth map", func() bool { return c.count("test.left.depth") >= 1 })
	s0, d0 := n.Stats(), c.count("test.left.depth")
	time.Sleep(6 * time.Second)
	s1, d1 := n.Stats(), c.count("test.left.depth")
	st, _ := n.SinkStats("slow")
	processed := s1.FramesProcessed - s0.FramesProcessed
	t.Logf("6 s: %d processed, %d depth maps on NATS; the slow sink wrote %d, dropped %d", processed, d1-d0, st.Written, st.Dropped)
	if processed < 12 {
		t.Fatalf("only %d frame sets processed in 6 s", processed)
	}
	if uint64(d1-d0)+2 < processed {
		t.Errorf("NATS got %d depth maps for %d processed frame sets", d1-d0, processed)
	}
	if st.Dropped == 0 {
		t.Error("the slow sink dropped nothing: it must be queueing")
	}
	if st.Written > 20 {
		t.Errorf("the slow sink wrote %d outputs in 6 s at 400 ms each", st.Written)
	}
}
