package fleet_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/fleet"
	"github.com/parallax-robotics/parallax/fleet/fleettest"
	"github.com/parallax-robotics/parallax/learner"
	"github.com/parallax-robotics/parallax/msgs"
)

// testDrive is a cached synthetic drive.
func testDrive(t testing.TB, url string) camera.Drive {
	t.Helper()
	cfg, err := synth.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	d, err := synth.NewDrive(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := camera.CacheDrive(d, 256)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var stereoNeeds = learner.Monodepth2{Mode: learner.ModeBoth}.Needs()

func driveSample(t testing.TB, d camera.Drive, i int) learner.Sample {
	t.Helper()
	s, err := learner.NewSample(d, stereoNeeds, i)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSampleRoundTrip: a stereo tuple (target, previous, next, right)
// survives PNG encoding bit for bit, with its intrinsics, baseline and
// pose; JPEG is smaller and close.
func TestSampleRoundTrip(t *testing.T) {
	d := testDrive(t, "synth://?seed=3&stereo=1&width=128&height=64")
	s := driveSample(t, d, 5)
	h := fleet.SampleHeader{Robot: "robot7", Seq: 3, Boot: 42, Family: "street"}
	png, err := fleet.EncodeSample(h, s, fleet.EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gh, g, err := fleet.DecodeSample(png)
	if err != nil {
		t.Fatal(err)
	}
	if gh.Robot != "robot7" || gh.Seq != 3 || gh.Boot != 42 || gh.Family != "street" || gh.Codec != fleet.CodecPNG || len(gh.Frames) != 4 {
		t.Errorf("header %+v", gh)
	}
	for _, p := range []struct {
		role string
		a, b *msgs.Frame
	}{{"target", s.Target, g.Target}, {"prev", s.Prev, g.Prev}, {"next", s.Next, g.Next}, {"right", s.Right, g.Right}} {
		if p.b == nil || !bytes.Equal(p.a.Pix, p.b.Pix) || p.a.Width != p.b.Width || p.a.Height != p.b.Height {
			t.Errorf("%s frame differs after PNG", p.role)
			continue
		}
		if *p.a.Intrinsics != *p.b.Intrinsics || p.a.Seq != p.b.Seq || !p.a.Stamp.Equal(p.b.Stamp) {
			t.Errorf("%s frame: intrinsics %+v seq %d stamp %v, want %+v %d %v", p.role, p.b.Intrinsics, p.b.Seq, p.b.Stamp,
				p.a.Intrinsics, p.a.Seq, p.a.Stamp)
		}
		if p.b.Truth == nil || p.b.Truth.Pose != p.a.Truth.Pose {
			t.Errorf("%s frame: pose lost", p.role)
		}
	}
	if g.Baseline != s.Baseline || !(g.Baseline > 0) {
		t.Errorf("baseline %v, want %v", g.Baseline, s.Baseline)
	}
	jpg, err := fleet.EncodeSample(h, s, fleet.EncodeOptions{Codec: fleet.CodecJPEG})
	if err != nil {
		t.Fatal(err)
	}
	_, gj, err := fleet.DecodeSample(jpg)
	if err != nil {
		t.Fatal(err)
	}
	var diff float64
	for i, v := range s.Target.Pix {
		diff += absf(float64(v) - float64(gj.Target.Pix[i]))
	}
	diff /= float64(len(s.Target.Pix))
	raw := 4 * len(s.Target.Pix)
	t.Logf("128x64 stereo tuple: raw %d B, PNG %d B, JPEG q90 %d B (mean error %.2f grey levels)", raw, len(png), len(jpg), diff)
	if !(len(jpg) < len(png) && len(png) < raw) || diff > 4 {
		t.Errorf("sizes raw %d PNG %d JPEG %d, JPEG error %.2f: want JPEG < PNG < raw and an error under 4", raw, len(png), len(jpg), diff)
	}
}

func absf(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// TestSampleBadInput: malformed samples are refused with ErrSample and a
// message naming the problem, never a panic.
func TestSampleBadInput(t *testing.T) {
	d := testDrive(t, "synth://?seed=3&stereo=1&width=64&height=32")
	s := driveSample(t, d, 5)
	good, err := fleet.EncodeSample(fleet.SampleHeader{Robot: "r1"}, s, fleet.EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hlen := int(binary.BigEndian.Uint32(good[8:]))
	hdr := string(good[12 : 12+hlen])
	withHeader := func(h string) []byte {
		out := append([]byte("PLXSMP1\n"), binary.BigEndian.AppendUint32(nil, uint32(len(h)))...)
		out = append(out, h...)
		return append(out, good[12+hlen:]...)
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "magic"},
		{"a checkpoint", []byte("PLXCKPT\x00\x01\x00\x00\x00"), "magic"},
		{"truncated header", good[:20], "header of"},
		{"truncated frames", good[:len(good)-10], "the message holds"},
		{"extra bytes", append(append([]byte(nil), good...), 0), "the message holds"},
		{"bad json", withHeader(strings.Replace(hdr, `"robot"`, `"robot`, 1)), "header"},
		{"unknown field", withHeader(strings.Replace(hdr, `"robot"`, `"robbot"`, 1)), "unknown field"},
		{"bad robot", withHeader(strings.Replace(hdr, `"r1"`, `"R 1"`, 1)), "robot name"},
		{"bad codec", withHeader(strings.Replace(hdr, `"png"`, `"gif"`, 1)), "codec"},
		{"bad role", withHeader(strings.Replace(hdr, `"prev"`, `"left"`, 1)), "role"},
		{"two targets", withHeader(strings.Replace(hdr, `"prev"`, `"target"`, 1)), "second target"},
		{"no intrinsics", withHeader(strings.Replace(hdr, `"intrinsics":{`, `"intrinsics":null,"x":{`, 1)), "unknown field"},
		{"wrong size", withHeader(strings.Replace(hdr, `"width":64`, `"width":65`, 1)), "the header says 65x32"},
		{"zero fx", withHeader(replaceFx(hdr)), "fx"},
	} {
		_, _, err := fleet.DecodeSample(c.data)
		if !errors.Is(err, fleet.ErrSample) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrSample mentioning %q", c.name, err, c.want)
		}
	}
	noK := s
	tgt := *s.Target
	tgt.Intrinsics = nil
	noK.Target = &tgt
	if _, err := fleet.EncodeSample(fleet.SampleHeader{Robot: "r1"}, noK, fleet.EncodeOptions{}); !errors.Is(err, fleet.ErrSample) || !strings.Contains(err.Error(), "intrinsics") {
		t.Errorf("encoding a target without intrinsics: %v", err)
	}
	short := s
	prev := *s.Prev
	prev.Pix = prev.Pix[:10]
	short.Prev = &prev
	if _, err := fleet.EncodeSample(fleet.SampleHeader{Robot: "r1"}, short, fleet.EncodeOptions{}); !errors.Is(err, fleet.ErrSample) || !strings.Contains(err.Error(), "prev frame") {
		t.Errorf("encoding a short prev frame: %v", err)
	}
}

func replaceFx(h string) string {
	i := strings.Index(h, `"Fx":`)
	j := i + strings.Index(h[i:], ",")
	return h[:i] + `"Fx":0` + h[j:]
}

// TestUploaderBudget: a robot offering picks far faster than its budget
// uploads them to FLEET_SAMPLES on its own subject, every acknowledged one
// arrives intact, the bytes per second stay under the budget (plus the
// bucket's one-second burst and one sample), and the excess is dropped,
// not queued. A sample that cannot be encoded fails with a clear error.
func TestUploaderBudget(t *testing.T) {
	c := fleettest.Start(t, 1)
	nc := connect(t, c.URL())
	ctx := ctxT(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fleet.EnsureSamples(ctx, js, fleet.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	d := testDrive(t, "synth://?seed=3&stereo=1&width=128&height=64")
	const budget = 96 << 10
	u, err := fleet.NewUploader(nc, fleet.UploadConfig{Robot: "robot7", Family: "street", Budget: budget})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var first, last time.Time
	var acked, maxSize int
	u.OnSent = func(_ fleet.SampleHeader, size int) {
		mu.Lock()
		defer mu.Unlock()
		if first.IsZero() {
			first = time.Now()
		}
		last = time.Now()
		acked += size
		maxSize = max(maxSize, size)
	}
	bad := driveSample(t, d, 2)
	tgt := *bad.Target
	tgt.Intrinsics = nil
	bad.Target = &tgt
	u.Offer(bad)
	start := time.Now()
	for i := 1; time.Since(start) < 4*time.Second; i = i%60 + 1 {
		u.Offer(driveSample(t, d, i))
		time.Sleep(5 * time.Millisecond)
	}
	u.Close()
	st := u.Stats()
	mu.Lock()
	span := last.Sub(first).Seconds()
	t.Logf("offered %d, sent %d (%d B in %.2f s: %.0f B/s, budget %d B/s), dropped %d, failed %d (%s)", st.Offered, st.Sent, acked, span,
		float64(acked)/span, budget, st.Dropped, st.Failed, st.LastError)
	if st.Sent < 5 || st.Dropped == 0 {
		t.Errorf("sent %d, dropped %d: want several sent and the excess dropped", st.Sent, st.Dropped)
	}
	// The token bucket's bound: a full second of burst, then the budget,
	// and the last sample may overdraw; a quarter second of slack for the
	// acks' latency (the span is measured between acks).
	if limit := budget*(span+0.25) + budget + float64(maxSize); float64(acked) > limit {
		t.Errorf("%d B acknowledged in %.2f s: over the budget's %0.f B", acked, span, limit)
	}
	if rate := float64(acked) / span; rate < 0.3*budget {
		t.Errorf("%.0f B/s: the budget of %d B/s was hardly used", rate, budget)
	}
	mu.Unlock()
	if st.Failed != 1 || !strings.Contains(st.LastError, "intrinsics") {
		t.Errorf("failed %d (%q): want the sample without intrinsics refused", st.Failed, st.LastError)
	}
	cons, err := js.OrderedConsumer(ctx, fleet.SamplesStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var got int64
	for got < st.Sent {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("after %d of %d samples: %v", got, st.Sent, err)
		}
		if m.Subject() != "fleet.samples.robot7" {
			t.Errorf("subject %s", m.Subject())
		}
		h, s, err := fleet.DecodeSample(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		got++
		if h.Robot != "robot7" || h.Family != "street" || h.Seq == 0 || s.Right == nil || s.Target.Intrinsics == nil {
			t.Errorf("sample %d: header %+v", got, h)
		}
	}
	if info, err := js.Stream(ctx, fleet.SamplesStream); err != nil {
		t.Fatal(err)
	} else if n := info.CachedInfo().State.Msgs; n != uint64(st.Sent) {
		t.Errorf("stream holds %d samples, %d acknowledged", n, st.Sent)
	}
}
