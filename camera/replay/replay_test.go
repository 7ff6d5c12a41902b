package replay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/parallax-robotics/parallax/camera"
	"github.com/parallax-robotics/parallax/camera/replay"
	"github.com/parallax-robotics/parallax/camera/synth"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/record"
)

// recordSynth records n frames of a synthetic stereo world into path, as
// the recorder does, and returns the world.
func recordSynth(t testing.TB, path string, n int, cfg synth.Config) *synth.World {
	t.Helper()
	w, err := synth.NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{msgs.MetadataKeyNamespace: "drive", msgs.MetadataKeyCameras: "left,right"}
	if cfg.Stereo {
		meta[msgs.MetadataKeyLeft], meta[msgs.MetadataKeyRight] = "left", "right"
		meta[msgs.MetadataKeyBaseline] = strconv.FormatFloat(w.Config().Baseline, 'g', -1, 64)
	}
	rw := &record.Writer{Path: path, ChunkSize: 256 << 10, Metadata: meta}
	if err := rw.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		l, r := w.Render(i)
		l.Camera = "left"
		frames := []*msgs.Frame{l}
		if r != nil {
			r.Camera = "right"
			frames = append(frames, r)
		}
		for j, f := range frames {
			b := 0.0
			if j == 1 {
				b = w.Config().Baseline
			}
			rec, err := msgs.FrameMessages("drive", f, b, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range rec {
				if err := rw.Write(m.Topic, f.Stamp, m.Message); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := rw.Close(); err != nil {
		t.Fatal(err)
	}
	return w
}

func sameFrame(t *testing.T, got, want *msgs.Frame) {
	t.Helper()
	if got.Width != want.Width || got.Height != want.Height || !bytes.Equal(got.Pix, want.Pix) {
		t.Fatalf("%s frame %d: pixels differ", got.Camera, got.Seq)
	}
	if !got.Stamp.Equal(want.Stamp) {
		t.Fatalf("stamp %v, want %v", got.Stamp, want.Stamp)
	}
	if got.Intrinsics == nil || *got.Intrinsics != *want.Intrinsics {
		t.Fatalf("intrinsics %+v, want %+v", got.Intrinsics, want.Intrinsics)
	}
	if got.Truth == nil || len(got.Truth.Depth) != len(want.Truth.Depth) {
		t.Fatal("ground truth depth lost")
	}
	for i := range got.Truth.Depth {
		if got.Truth.Depth[i] != want.Truth.Depth[i] {
			t.Fatalf("truth depth %d: %g, want %g", i, got.Truth.Depth[i], want.Truth.Depth[i])
		}
	}
	for i := range 3 {
		if d := got.Truth.Pose.T[i] - want.Truth.Pose.T[i]; d > 1e-9 || d < -1e-9 {
			t.Fatalf("truth pose %v, want %v", got.Truth.Pose.T, want.Truth.Pose.T)
		}
	}
}

func TestRecordingRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drive.mcap")
	cfg := synth.Config{Width: 64, Height: 32, Stereo: true, Seed: 3}
	w := recordSynth(t, path, 12, cfg)
	rec, err := replay.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	if got := fmt.Sprint(rec.Cameras()); got != "[left right]" {
		t.Fatalf("cameras %s", got)
	}
	if l, r, ok := rec.Stereo(); !ok || l != "left" || r != "right" {
		t.Fatalf("stereo %q %q %v", l, r, ok)
	}
	if rec.Baseline() != w.Config().Baseline || rec.Namespace() != "drive" {
		t.Fatalf("baseline %g ns %q", rec.Baseline(), rec.Namespace())
	}
	for _, name := range []string{"left", "right"} {
		fr, err := rec.Frames(name)
		if err != nil {
			t.Fatal(err)
		}
		if fr.Len() != 12 {
			t.Fatalf("%s: %d frames", name, fr.Len())
		}
		// Out of order: random access through the index.
		for _, i := range []int{7, 0, 11, 3} {
			got, err := fr.Frame(i)
			if err != nil {
				t.Fatal(err)
			}
			l, r := w.Render(i)
			want := l
			if name == "right" {
				want = r
			}
			sameFrame(t, got, want)
		}
	}
	if _, err := rec.Frames("front"); !errors.Is(err, replay.ErrNoCamera) {
		t.Fatalf("unknown camera: %v", err)
	}
	fr, _ := rec.Frames("left")
	if _, err := fr.Frame(12); !errors.Is(err, replay.ErrRange) {
		t.Fatalf("frame past the end: %v", err)
	}
	// The right camera's camera_info carries the baseline.
	d, err := replay.OpenDrive("mcap://" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Len() != 12 || !d.Stereo() || d.Baseline() != w.Config().Baseline {
		t.Fatalf("drive: len %d stereo %v baseline %g", d.Len(), d.Stereo(), d.Baseline())
	}
	l, r, err := d.Frame(5)
	if err != nil {
		t.Fatal(err)
	}
	wl, wr := w.Render(5)
	sameFrame(t, l, wl)
	sameFrame(t, r, wr)
}

func TestPlayer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "drive.mcap")
	recordSynth(t, path, 10, synth.Config{Width: 32, Height: 16, FPS: 10})
	rec, err := replay.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	fr, err := rec.Pick("front", "mono", replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		loop      bool
		from, to  time.Duration
		n         int   // frames before EOF (-1: read 25 frames, looping)
		firstSeq0 int64 // the first frame's recorded index
	}{
		{"all", false, 0, 0, 10, 0},
		{"window", false, 300 * time.Millisecond, 600 * time.Millisecond, 4, 3},
		{"loop", true, 500 * time.Millisecond, 0, -1, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &replay.Player{Stream: fr, Camera: "front", Loop: tc.loop, From: tc.from, To: tc.to}
			if err := p.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var prev time.Time
			want := tc.n
			if want < 0 {
				want = 25
			}
			for k := 0; k < want; k++ {
				f, err := p.Read(ctx)
				if err != nil {
					t.Fatalf("frame %d: %v", k, err)
				}
				if f.Camera != "front" || f.Seq != uint64(k) {
					t.Fatalf("frame %d: camera %q seq %d", k, f.Camera, f.Seq)
				}
				if k == 0 && !f.Stamp.Equal(fr.Stamp(int(tc.firstSeq0))) {
					t.Fatalf("first stamp %v, want frame %d's %v", f.Stamp, tc.firstSeq0, fr.Stamp(int(tc.firstSeq0)))
				}
				if k > 0 && !f.Stamp.After(prev) {
					t.Fatalf("frame %d: stamp %v not after %v", k, f.Stamp, prev)
				}
				prev = f.Stamp
			}
			if tc.n >= 0 {
				if _, err := p.Read(ctx); !errors.Is(err, camera.ErrEOF) {
					t.Fatalf("after the last frame: %v, want ErrEOF", err)
				}
			}
		})
	}
	// Paced and held, on synctest's fake clock: each frame is released
	// exactly when due (its stamp's offset divided by the rate), a held
	// player blocks after its end until Close.
	synctest.Test(t, func(t *testing.T) {
		p := &replay.Player{Stream: fr, Rate: 4}
		if err := p.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 4; k++ {
			f, err := p.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			due := p.Epoch.Add(f.Stamp.Sub(fr.Stamp(0)) / 4)
			if now := time.Now(); !now.Equal(due) {
				t.Fatalf("frame %d released %v off its time", k, now.Sub(due))
			}
		}
		h := &replay.Player{Stream: fr, Hold: true, From: 750 * time.Millisecond}
		if err := h.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := h.Read(ctx); err != nil {
				t.Fatal(err)
			}
		}
		go func() { time.Sleep(time.Hour); h.Close() }()
		if _, err := h.Read(ctx); !errors.Is(err, camera.ErrClosed) {
			t.Fatalf("held read after Close: %v", err)
		}
	})
	bad := &replay.Player{Stream: fr, From: 2 * time.Second}
	if err := bad.Start(context.Background()); !errors.Is(err, replay.ErrEmpty) {
		t.Fatalf("window past the end: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		path string
		o    replay.Options
		err  string
	}{
		{"mcap://drives/a.mcap", "drives/a.mcap", replay.Options{Rate: 1}, ""},
		{"mcap:///data/a.mcap?rate=0&loop=1&start=2s&end=1m&camera=left", "/data/a.mcap",
			replay.Options{Rate: 0, Loop: true, Start: 2 * time.Second, End: time.Minute, Camera: "left"}, ""},
		{"kitti:///k/2011_09_26_drive_0001_sync?rate=2.5", "/k/2011_09_26_drive_0001_sync", replay.Options{Rate: 2.5}, ""},
		{"mcap://a.mcap?rate=-1", "", replay.Options{}, "rate"},
		{"mcap://a.mcap?speed=2", "", replay.Options{}, "unknown key"},
		{"mcap://a.mcap?start=5s&end=2s", "", replay.Options{}, "not after"},
		{"mcap://a.mcap?start=abc", "", replay.Options{}, "duration"},
		{"mcap://", "", replay.Options{}, "names no file"},
		{"rtsp://h/x", "", replay.Options{}, "want mcap"},
		{"mcap://u:secret@h/x", "", replay.Options{}, "credentials"},
	} {
		path, o, err := replay.ParseURL(tc.url)
		if tc.err != "" {
			if !errors.Is(err, replay.ErrURL) || !bytes.Contains([]byte(err.Error()), []byte(tc.err)) {
				t.Errorf("%s: error %v, want ErrURL with %q", tc.url, err, tc.err)
			}
			if err != nil && bytes.Contains([]byte(err.Error()), []byte("secret")) {
				t.Errorf("%s: error shows the password: %v", tc.url, err)
			}
			continue
		}
		if err != nil || path != tc.path || o != tc.o {
			t.Errorf("%s: %q %+v %v, want %q %+v", tc.url, path, o, err, tc.path, tc.o)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "drive.mcap")
	recordSynth(t, path, 4, synth.Config{Width: 32, Height: 16})
	full, _ := os.ReadFile(path)
	cut := filepath.Join(dir, "cut.mcap")
	os.WriteFile(cut, full[:len(full)-100], 0o644)
	if _, err := replay.Open(cut); !errors.Is(err, replay.ErrNoIndex) {
		t.Errorf("truncated: %v, want ErrNoIndex", err)
	}
	// Recover makes it playable again.
	if _, err := record.Recover(cut, ""); err != nil {
		t.Fatal(err)
	}
	rec, err := replay.Open(cut)
	if err != nil {
		t.Fatalf("after recover: %v", err)
	}
	rec.Close()
	text := filepath.Join(dir, "x.mcap")
	os.WriteFile(text, []byte("not an mcap file at all, sorry"), 0o644)
	if _, err := replay.Open(text); !errors.Is(err, replay.ErrCorrupt) {
		t.Errorf("text file: %v", err)
	}
	if _, err := replay.Open(filepath.Join(dir, "missing.mcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// A recording with no camera topic.
	other := filepath.Join(dir, "odom.mcap")
	w := &record.Writer{Path: other}
	w.Start()
	w.Write("drive.odom", time.Unix(1, 0), msgs.Odometry(time.Unix(1, 0), "odom", "left", 0, msgs.Identity()))
	w.Close()
	if _, err := replay.Open(other); !errors.Is(err, replay.ErrNoCamera) {
		t.Errorf("no camera: %v", err)
	}
}

// FuzzOpen opens arbitrary bytes as a recording and reads every frame:
// errors, never panics.
func FuzzOpen(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.mcap")
	recordSynth(f, path, 2, synth.Config{Width: 8, Height: 8, Stereo: true})
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "f.mcap")
		os.WriteFile(p, b, 0o644)
		rec, err := replay.Open(p)
		if err != nil {
			return
		}
		defer rec.Close()
		for _, c := range rec.Cameras() {
			fr, _ := rec.Frames(c)
			for i := 0; i < fr.Len() && i < 8; i++ {
				fr.Frame(i)
			}
		}
	})
}

// BenchmarkReplay plays a 640x480 stereo recording as fast as possible
// (Rate 0): decompression, CRC, protobuf and RGB copy per frame.
func BenchmarkReplay(b *testing.B) {
	path := filepath.Join(b.TempDir(), "drive.mcap")
	recordSynth(b, path, 20, synth.Config{Width: 640, Height: 480, Stereo: true})
	rec, err := replay.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer rec.Close()
	fr, _ := rec.Frames("left")
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for n < b.N {
		p := &replay.Player{Stream: fr}
		if err := p.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		for ; n < b.N; n++ {
			if _, err := p.Read(context.Background()); err != nil {
				break
			}
		}
		p.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}
