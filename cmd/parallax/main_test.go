package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"image/png"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// lockedBuffer is a bytes.Buffer safe to read while a command writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serve runs `parallax camera serve` in the background until the test ends
// and returns its address once it serves its streams. The port accepting
// connections is not enough: the paths are announced after the first frame
// is encoded, and a client that asks before then gets a 404.
func serve(t *testing.T, args ...string) string {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out, errb lockedBuffer
	go func() {
		done <- dispatch(ctx, append([]string{"camera", "serve", "--listen", addr}, args...), &out, &errb)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("camera serve: %v (stderr %s)", err, errb.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(out.String(), "until interrupted:") {
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("camera serve did not announce its streams on %s (stderr %s)", addr, errb.String())
	return ""
}

func TestCameraServeReadByFFprobe(t *testing.T) {
	addr := serve(t, "--stereo", "--world", "synth://?width=320&height=96&seed=3")
	for _, view := range []string{"left", "right"} {
		out, err := exec.Command("ffprobe", "-v", "error", "-rtsp_transport", "tcp",
			"-show_entries", "stream=codec_name,width,height", "-of", "compact",
			"rtsp://"+addr+"/"+view).CombinedOutput()
		if err != nil {
			t.Fatalf("ffprobe %s: %v\n%s", view, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != "stream|codec_name=h264|width=320|height=96" {
			t.Errorf("ffprobe %s: got %q", view, got)
		}
	}
}

func TestCameraProbe(t *testing.T) {
	addr := serve(t, "--world", "synth://?width=160&height=48&fps=20")
	snap := filepath.Join(t.TempDir(), "snap.png")
	var out, errb bytes.Buffer
	err := dispatch(context.Background(), []string{"camera", "probe", "rtsp://" + addr + "/mono",
		"--duration", "2s", "-o", snap}, &out, &errb)
	if err != nil {
		t.Fatalf("probe: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	text := out.String()
	for _, want := range []string{"codec     H264", "size      160x48", "decode    p50"} {
		if !strings.Contains(text, want) {
			t.Errorf("probe output lacks %q:\n%s", want, text)
		}
	}
	// The camera clock runs at the world's 20 fps; allow for scheduling.
	m := regexp.MustCompile(`([0-9.]+) by camera clock`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no fps in probe output:\n%s", text)
	}
	if fps, _ := strconv.ParseFloat(m[1], 64); fps < 17 || fps > 23 {
		t.Errorf("measured %v fps by camera clock, want about 20", fps)
	}
	f, err := os.Open(snap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 160 || b.Dy() != 48 {
		t.Errorf("snapshot is %v, want 160x48", b)
	}
}

func TestCameraProbeErrors(t *testing.T) {
	dead := freeAddr(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"refused", []string{"rtsp://user:secret@" + dead + "/cam", "--timeout", "3s"}, "refused"},
		{"bad scheme", []string{"http://" + dead + "/cam"}, "rtsp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := dispatch(context.Background(), append([]string{"camera", "probe"}, tc.args...), &out, &errb)
			if err == nil {
				t.Fatalf("probe succeeded:\n%s", out.String())
			}
			msg := err.Error() + out.String() + errb.String()
			if !strings.Contains(strings.ToLower(msg), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(msg, "secret") {
				t.Errorf("the password leaked: %q", msg)
			}
		})
	}
	var out, errb bytes.Buffer
	if err := dispatch(context.Background(), []string{"camera", "probe"}, &out, &errb); !errors.Is(err, errUsage) {
		t.Errorf("probe without URL: %v, want a usage error", err)
	}
}

// TestDemoPublishes runs the demo and checks, as a subscriber would, that
// depth maps, odometry, calibrations and JPEG previews arrive and decode,
// and that it stops within 2 s.
func TestDemoPublishes(t *testing.T) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var errb bytes.Buffer
	go func() {
		done <- dispatch(ctx, []string{"demo", "--viewer-listen", "off", "--duration", "20s", "--listen", "127.0.0.1:0",
			"--rtsp-listen", "127.0.0.1:0", "--image-rate", "5"}, pw, &errb)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	var url string
	for lines.Scan() {
		if m := regexp.MustCompile(`NATS on (nats://\S+),`).FindStringSubmatch(lines.Text()); m != nil {
			url = m[1]
			break
		}
	}
	if url == "" {
		t.Fatalf("the demo printed no NATS URL (stderr %s)", errb.String())
	}
	go io.Copy(io.Discard, pr)

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("parallax.>")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	deadline := time.Now().Add(15 * time.Second)
	sub.SetPendingLimits(-1, -1) // depth maps are large
	for time.Now().Before(deadline) && (seen["parallax.left.image"] < 2 || seen["parallax.right.camera_info"] < 10 ||
		seen["parallax.left.depth"] < 5 || seen["parallax.odom"] < 5) {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		seen[m.Subject]++
		s, err := msgs.ParseSubject(m.Subject)
		if err != nil {
			t.Fatalf("unexpected subject %q: %v", m.Subject, err)
		}
		switch s.Kind {
		case msgs.KindDepth:
			var img foxglove.RawImage
			if err := proto.Unmarshal(m.Data, &img); err != nil {
				t.Fatal(err)
			}
			w, h, d, err := msgs.DepthFromImage(&img)
			if err != nil || w != 320 || h != 96 || len(img.Data) != 320*96*4 {
				t.Fatalf("%s: %dx%d, %d bytes: %v", m.Subject, w, h, len(img.Data), err)
			}
			for i, v := range d {
				if !(v >= 0.1 && v <= 100) {
					t.Fatalf("%s: depth[%d] = %v outside 0.1..100 m", m.Subject, i, v)
				}
			}
		case msgs.KindOdom:
			var o parallaxv1.Odometry
			if err := proto.Unmarshal(m.Data, &o); err != nil {
				t.Fatal(err)
			}
			if _, err := msgs.OdometryPose(&o); err != nil || o.FrameId != "odom" || o.ChildFrameId != "left" {
				t.Fatalf("%s: %v in %q/%q: %v", m.Subject, o.Pose, o.FrameId, o.ChildFrameId, err)
			}
		case msgs.KindCameraInfo:
			var c foxglove.CameraCalibration
			if err := proto.Unmarshal(m.Data, &c); err != nil {
				t.Fatal(err)
			}
			k, err := msgs.IntrinsicsFromCalibration(&c)
			if err != nil {
				t.Fatal(err)
			}
			if k.Width != 320 || k.Height != 96 || k.Fx <= 0 {
				t.Errorf("%s: intrinsics %+v", m.Subject, k)
			}
			if base, _ := msgs.StereoBaseline(&c); s.Camera == "right" && (base < 0.5 || base > 0.6) {
				t.Errorf("right camera baseline %v, want 0.54", base)
			}
		case msgs.KindImage:
			var c foxglove.CompressedImage
			if err := proto.Unmarshal(m.Data, &c); err != nil {
				t.Fatal(err)
			}
			img, err := jpeg.Decode(bytes.NewReader(c.Data))
			if err != nil {
				t.Fatalf("%s: %v", m.Subject, err)
			}
			if b := img.Bounds(); c.Format != "jpeg" || b.Dx() != 320 || b.Dy() != 96 {
				t.Errorf("%s: %s image %v", m.Subject, c.Format, b)
			}
		}
	}
	for _, subj := range []string{"parallax.left.camera_info", "parallax.right.camera_info", "parallax.left.image",
		"parallax.right.image", "parallax.left.depth", "parallax.odom", "parallax.pose", "parallax.tf", "parallax.diagnostics"} {
		if seen[subj] == 0 {
			t.Errorf("nothing on %s (seen %v)", subj, seen)
		}
	}
	stopAt := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo: %v", err)
	}
	if d := time.Since(stopAt); d > 2*time.Second {
		t.Errorf("the demo took %v to stop, want under 2 s", d)
	}
}

// TestParseStart reads camera serve's --start in both spellings and names
// the flag on bad input.
func TestParseStart(t *testing.T) {
	for in, want := range map[string]time.Time{
		"":                     {},
		"1767225600.5":         time.Unix(1767225600, 5e8),
		"2026-12-03T12:00:00Z": time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC),
	} {
		got, err := parseStart(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseStart(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"yesterday", "-5", "1e300"} {
		if _, err := parseStart(in); err == nil || !strings.Contains(err.Error(), "--start") {
			t.Errorf("parseStart(%q) = %v, want an error naming --start", in, err)
		}
	}
}
