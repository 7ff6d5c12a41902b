package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/internal/memtest"
	"github.com/parallax-robotics/parallax/msgs"
	"github.com/parallax-robotics/parallax/msgs/foxglove"
	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

// natsServer runs an embedded NATS server on a free port until the test ends.
func natsServer(t *testing.T, opts *server.Options) string {
	t.Helper()
	if opts == nil {
		opts = &server.Options{}
	}
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", -1, true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded NATS server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s.ClientURL()
}

// startSub runs `parallax sub args...` and returns its output lines as they
// come, once it has subscribed, and its result.
func startSub(t *testing.T, args ...string) (<-chan string, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	var errb bytes.Buffer
	go func() {
		err := dispatch(ctx, append([]string{"sub"}, args...), pw, &errb)
		pw.Close()
		done <- err
	}()
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	t.Cleanup(cancel)
	select {
	case l, ok := <-lines:
		if !ok || !strings.HasPrefix(l, "subscribed to ") {
			t.Fatalf("parallax sub: first line %q (stderr %s, err %v)", l, errb.String(), <-done)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("parallax sub did not subscribe in 10 s")
	}
	return lines, done
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// knownDepth is a 6x2 depth map whose sorted values are 1 1.5 2.5 3 3.5 4 5 6
// 7 8 9 9.75: min 1, median (4+5)/2 = 4.5, max 9.75.
var knownDepth = []float32{3, 1, 4, 1.5, 9, 2.5, 6, 5, 3.5, 8, 9.75, 7}

func TestSubSummaries(t *testing.T) {
	stamp := time.Unix(1700000000, 0)
	depth, err := msgs.DepthImage(stamp, "left", 6, 2, knownDepth)
	if err != nil {
		t.Fatal(err)
	}
	pose := msgs.Identity()
	pose.T = [3]float64{1.25, -0.5, 3.75}
	calib, err := msgs.CameraCalibration(stamp, "left", msgs.Intrinsics{Width: 320, Height: 96, Fx: 200, Fy: 210, Cx: 160, Cy: 48}, 0.54)
	if err != nil {
		t.Fatal(err)
	}
	diag := &parallaxv1.Diagnostics{Timestamp: msgs.Timestamp(stamp), Status: []*parallaxv1.DiagnosticStatus{
		{Level: parallaxv1.DiagnosticStatus_OK, Name: "parallax/camera/left", Message: "streaming"},
		{Level: parallaxv1.DiagnosticStatus_WARN, Name: "parallax/perception", Message: "dropping frames"},
	}}
	stats := &parallaxv1.LearnerStats{Steps: 42, Losses: msgs.LossTerms(map[string]float64{"photometric": 0.125})}
	tests := []struct {
		subject string
		data    []byte
		want    string
	}{
		{"robot1.left.depth", mustMarshal(t, depth), "robot1.left.depth depth 6x2 left min 1.000 median 4.500 max 9.750 m"},
		{"robot1.odom", mustMarshal(t, msgs.Odometry(stamp, "odom", "left", 7, pose)),
			"robot1.odom odom seq 7 position (1.250, -0.500, 3.750) frame odom child left"},
		{"robot1.left.camera_info", mustMarshal(t, calib),
			"robot1.left.camera_info camera_info 320x96 fx 200.00 fy 210.00 cx 159.50 cy 47.50 baseline 0.5400 m"},
		{"robot1.left.image", mustMarshal(t, &foxglove.CompressedImage{Format: "jpeg", Data: []byte{0xff, 0xd8, 0xff, 0xd9}}),
			"robot1.left.image image jpeg 4 bytes"},
		{"robot1.diagnostics", mustMarshal(t, diag),
			`robot1.diagnostics diagnostics parallax/camera/left OK "streaming"; parallax/perception WARN "dropping frames"`},
		{"robot1.learner.stats", mustMarshal(t, stats), "robot1.learner.stats learner steps 42 losses photometric 0.125"},
		{"robot1.unknown", []byte{1, 2, 3}, "robot1.unknown 3 bytes (not a parallax subject): 01 02 03"},
		{"robot1.left.depth", []byte{0xff, 0xff}, "robot1.left.depth 2 bytes: cannot decode as foxglove.RawImage"},
	}
	url := natsServer(t, nil)
	lines, done := startSub(t, "robot1.>", "--nats", url, "--count", strconv.Itoa(len(tests)))
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, tc := range tests {
		if err := nc.Publish(tc.subject, tc.data); err != nil {
			t.Fatal(err)
		}
	}
	nc.Flush()
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < len(tests) {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended after %d lines: %q", len(got), got)
			}
			if !strings.HasPrefix(l, "rate ") {
				got = append(got, l)
			}
		case <-timeout:
			t.Fatalf("got %d summaries in 10 s: %q", len(got), got)
		}
	}
	for i, tc := range tests {
		if !strings.HasPrefix(got[i], tc.want) {
			t.Errorf("%s:\n got %q\nwant %q...", tc.subject, got[i], tc.want)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("sub --count: %v", err)
	}
	var rates []string
	for l := range lines {
		rates = append(rates, l)
	}
	// The count ends the run with a rate line per subject seen since the last
	// one: both depth messages (the valid and the broken one) are counted.
	if !containsMatch(rates, `^rate robot1\.left\.depth: [\d.]+ msg/s, \d+ bytes/s, \d+ bytes/msg \(2 msgs in \d\.\d\d s\)$`) {
		t.Errorf("no rate line for robot1.left.depth: %q", rates)
	}
}

func containsMatch(lines []string, re string) bool {
	r := regexp.MustCompile(re)
	for _, l := range lines {
		if r.MatchString(l) {
			return true
		}
	}
	return false
}

func TestSubErrors(t *testing.T) {
	dead := "nats://" + freeAddr(t)
	withPass := "nats://alice:s3cret@" + freeAddr(t)
	url := natsServer(t, &server.Options{Username: "alice", Password: "right"})
	tests := []struct {
		name    string
		args    []string
		want    error
		wantMsg string
	}{
		{"unreachable", []string{"x.>", "--nats", dead}, errSubConnect, "cannot reach the NATS server at " + dead},
		{"password redacted", []string{"x.>", "--nats", withPass}, errSubConnect, "nats://alice:xxxxx@"},
		{"wrong password", []string{"x.>", "--nats", strings.Replace(url, "nats://", "nats://alice:wrong@", 1)}, errSubConnect, "Authorization"},
		{"two subjects", []string{"a.>", "b.>", "--nats", dead}, errUsage, ""},
		{"old spelling", []string{"x.>", "--url", dead}, errSubConnect, "cannot reach the NATS server at " + dead},
		{"negative count", []string{"x.>", "--count", "-1"}, nil, "--count -1 is negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := dispatch(context.Background(), append([]string{"sub"}, tc.args...), &out, &errb)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
			if strings.Contains(err.Error()+out.String()+errb.String(), "s3cret") {
				t.Errorf("password printed: %v", err)
			}
		})
	}
}

// startDemo runs `parallax demo` on free ports and returns its NATS URL.
func startDemo(t *testing.T) string {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var errb bytes.Buffer
	go func() {
		done <- dispatch(ctx, []string{"demo", "--viewer-listen", "off", "--duration", "60s", "--listen", "127.0.0.1:0",
			"--rtsp-listen", "127.0.0.1:0", "--image-rate", "5"}, pw, &errb)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v (stderr %s)", err, errb.String())
		}
	})
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		if m := regexp.MustCompile(`NATS on (nats://\S+),`).FindStringSubmatch(lines.Text()); m != nil {
			go io.Copy(io.Discard, pr)
			return m[1]
		}
	}
	t.Fatalf("the demo printed no NATS URL (stderr %s)", errb.String())
	return ""
}

// pythonWithProtobuf returns Debian's python3 (where `make deps` installs
// python3-protobuf) or the first python3 on PATH that imports protobuf.
func pythonWithProtobuf(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Fatal("protoc not found: run `make deps` (Debian package protobuf-compiler)")
	}
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import google.protobuf").Run() == nil {
			return py
		}
	}
	t.Fatal("no python3 with the protobuf module: run `make deps` (Debian packages python3 and python3-protobuf)")
	return ""
}

// runPython runs the Python example subscriber for count messages of subject
// while publish (if not nil) is called every 50 ms, and returns its summaries.
func runPython(t *testing.T, py, url, subject string, count int, publish func()) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "../../examples/python/subscriber.py", "--url", url,
		"--count", strconv.Itoa(count), subject)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("python subscriber: %v\nstdout %s\nstderr %s", err, out.String(), errb.String())
			}
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if strings.HasPrefix(l, subject) {
					lines = append(lines, l)
				}
			}
			if len(lines) != count {
				t.Fatalf("python subscriber printed %d summaries, want %d:\n%s", len(lines), count, out.String())
			}
			return lines
		case <-tick.C:
			if publish != nil {
				publish()
			}
		}
	}
}

// TestPythonSubscriber checks the example Python subscriber's numbers on a
// depth map with known values and on odometry with a known position.
func TestPythonSubscriber(t *testing.T) {
	py := pythonWithProtobuf(t)
	url := natsServer(t, nil)
	img, err := msgs.DepthImage(time.Now(), "left", 6, 2, knownDepth)
	if err != nil {
		t.Fatal(err)
	}
	pose := msgs.Identity()
	pose.T = [3]float64{1.25, -0.5, 3.75}
	tests := []struct {
		subject string
		data    []byte
		want    string
	}{
		{"robot1.left.depth", mustMarshal(t, img),
			"robot1.left.depth depth width 6 height 2 encoding 32FC1 min 1.000 median 4.500 max 9.750"},
		{"robot1.odom", mustMarshal(t, msgs.Odometry(time.Now(), "odom", "left", 9, pose)),
			"robot1.odom odom seq 9 position 1.250 -0.500 3.750"},
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, tc := range tests {
		t.Run(tc.subject, func(t *testing.T) {
			lines := runPython(t, py, url, tc.subject, 2, func() { nc.Publish(tc.subject, tc.data) })
			for _, l := range lines {
				if l != tc.want {
					t.Errorf("got  %q\nwant %q", l, tc.want)
				}
			}
		})
	}
}

func TestSubRaw(t *testing.T) {
	url := natsServer(t, nil)
	lines, done := startSub(t, "robot1.>", "--nats", url, "--count", "1", "--raw")
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Publish("robot1.odom", []byte{0x0a, 0x00, 0xff})
	nc.Flush()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l := <-lines; l != "robot1.odom 3 bytes: 0a 00 ff" {
		t.Errorf("got %q", l)
	}
}

// TestSubDemo reads the real demo's camera_info with `parallax sub` and with
// the Python example, and checks both against the message decoded here.
func TestSubDemo(t *testing.T) {
	py := pythonWithProtobuf(t)
	url := startDemo(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("parallax.left.camera_info")
	if err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(15 * time.Second)
	if err != nil {
		t.Fatalf("no camera_info from the demo: %v", err)
	}
	var calib foxglove.CameraCalibration
	if err := proto.Unmarshal(m.Data, &calib); err != nil {
		t.Fatal(err)
	}
	k := calib.GetK()
	if len(k) != 9 || k[0] <= 0 || k[8] != 1 {
		t.Fatalf("demo camera_info K = %v", k)
	}

	t.Run("parallax sub", func(t *testing.T) {
		lines, done := startSub(t, "parallax.left.camera_info", "--url", url, "--count", "2")
		want := fmt.Sprintf("parallax.left.camera_info camera_info %dx%d fx %.2f fy %.2f cx %.2f cy %.2f baseline ",
			calib.GetWidth(), calib.GetHeight(), k[0], k[4], k[2], k[5])
		n := 0
		for l := range lines {
			if strings.HasPrefix(l, "rate ") {
				continue
			}
			n++
			if !strings.HasPrefix(l, want) {
				t.Errorf("got  %q\nwant %q...", l, want)
			}
		}
		if err := <-done; err != nil || n != 2 {
			t.Fatalf("sub: %v, %d summaries", err, n)
		}
	})
	t.Run("python", func(t *testing.T) {
		lines := runPython(t, py, url, "parallax.left.camera_info", 1, nil)
		f := strings.Fields(lines[0])
		if len(f) != 13 || f[3] != "K" {
			t.Fatalf("python line %q: want subject, camera_info, WxH, K and 9 numbers", lines[0])
		}
		for i, s := range f[4:] {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.Abs(v-k[i]) > 0.0005+1e-9*math.Abs(k[i]) {
				t.Errorf("python K[%d] = %s, want %.3f", i, s, k[i])
			}
		}
		if want := fmt.Sprintf("%dx%d", calib.GetWidth(), calib.GetHeight()); f[2] != want {
			t.Errorf("python size %s, want %s", f[2], want)
		}
	})
}

// TestSubMemoryFlat sends thousands of depth maps over 50 subjects through
// `parallax sub` and checks that its memory and goroutines stay flat (the
// per-subject rate table is emptied every second).
func TestSubMemoryFlat(t *testing.T) {
	url := natsServer(t, nil)
	lines, _ := startSub(t, "robot1.>", "--url", url)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	d := make([]float32, 160*48)
	for i := range d {
		d[i] = 1 + float32(i%97)
	}
	img, err := msgs.DepthImage(time.Now(), "left", 160, 48, d)
	if err != nil {
		t.Fatal(err)
	}
	data := mustMarshal(t, img)
	// send publishes n depth maps in batches of 100, each once sub has
	// printed the one before: a steady stream, not a backlog in the client's
	// (unlimited) pending queue, which would measure the burst instead.
	send := func(n int) {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for i := 0; i < n; i += 100 {
			for j := i; j < i+100; j++ {
				if err := nc.Publish(fmt.Sprintf("robot1.cam%d.depth", j%50), data); err != nil {
					t.Fatal(err)
				}
			}
			nc.Flush()
			for got := 0; got < 100; {
				select {
				case l := <-lines:
					if strings.Contains(l, " depth 160x48 left min 1.000 median ") {
						got++
					}
				case <-timeout:
					t.Fatalf("sub printed %d of batch %d in 60 s", got, i/100)
				}
			}
		}
	}
	send(2000)
	rss0, gr0 := memtest.SettledRSS(t), runtime.NumGoroutine()
	send(8000)
	rss1, gr1 := memtest.SettledRSS(t), runtime.NumGoroutine()
	t.Logf("RSS %.1f -> %.1f MiB, goroutines %d -> %d over 8000 depth maps of %d bytes",
		float64(rss0)/(1<<20), float64(rss1)/(1<<20), gr0, gr1, len(data))
	if growth := rss1 - rss0; growth > 16<<20 {
		t.Errorf("RSS grew by %.1f MiB over 8000 messages after warm-up", float64(growth)/(1<<20))
	}
	if gr1 > gr0+2 {
		t.Errorf("goroutines grew from %d to %d", gr0, gr1)
	}
}

// TestSubToken: sub and record --nats authenticate the ways a launch file
// can (here a token), and the token never appears in what they print.
func TestSubToken(t *testing.T) {
	const token = "t0ken-s3cret"
	url := natsServer(t, &server.Options{Authorization: token})
	var out, errb bytes.Buffer
	err := dispatch(context.Background(), []string{"sub", "x.>", "--nats", url, "--duration", "300ms"}, &out, &errb)
	if !errors.Is(err, errSubConnect) || !strings.Contains(err.Error(), "Authorization") {
		t.Fatalf("without the token: %v", err)
	}
	out.Reset()
	errb.Reset()
	if err := dispatch(context.Background(), []string{"sub", "x.>", "--nats", url, "--token", token, "--duration", "300ms"}, &out, &errb); err != nil {
		t.Fatalf("with --token: %v (%s)", err, errb.String())
	}
	path := filepath.Join(t.TempDir(), "t.mcap")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var rout, rerr bytes.Buffer
	if err := dispatch(ctx, []string{"record", "--nats", url, "--token", token, "--ns", "x", "-o", path}, &rout, &rerr); err != nil {
		t.Fatalf("record --nats --token: %v (%s)", err, rerr.String())
	}
	for _, s := range []string{out.String(), errb.String(), rout.String(), rerr.String()} {
		if strings.Contains(s, token) {
			t.Fatalf("the token was printed: %s", s)
		}
	}
	if !strings.Contains(rout.String(), "dropped 0") {
		t.Errorf("record --nats shows no drop count:\n%s", rout.String())
	}
}
