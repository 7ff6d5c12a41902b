package faults

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/parallax-robotics/parallax/msgs/parallaxv1"
)

var (
	long     = flag.Bool("faults.long", false, "the full suite (make faults): more attempts of every fault")
	attempts = flag.Int("faults.attempts", 0, "attempts of each repeated fault (0: 2, or 10 with -faults.long)")
	report   = flag.String("faults.report", "", "also write the figures table (Markdown) to this file")
)

// bin is the parallax binary under test, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "parallax-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "parallax")
	build := exec.Command("go", "build", "-o", bin, "github.com/parallax-robotics/parallax/cmd/parallax")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "faults: building the parallax binary:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	figures.print(os.Stdout)
	if *report != "" {
		f, err := os.Create(*report)
		if err == nil {
			figures.print(f)
			err = f.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "faults: writing the report:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// repeats is how often a repeated fault is injected.
func repeats() int {
	switch {
	case *attempts > 0:
		return *attempts
	case *long:
		return 10
	}
	return 2
}

// figures collects one row per fault for the closing table.
var figures = &table{}

type table struct {
	mu   sync.Mutex
	rows []row
}

type row struct {
	fault              string
	attempts, recovers int
	worst              time.Duration
	lost               string
}

func (t *table) add(r row) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows = append(t.rows, r)
}

func (t *table) print(w io.Writer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.rows) == 0 {
		return
	}
	sort.SliceStable(t.rows, func(i, j int) bool { return t.rows[i].fault < t.rows[j].fault })
	fmt.Fprintln(w, "| fault | attempts | recoveries | worst recovery | lost |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range t.rows {
		worst := "–"
		if r.worst > 0 {
			worst = fmt.Sprintf("%.2f s", r.worst.Seconds())
		}
		fmt.Fprintf(w, "| %s | %d | %d | %s | %s |\n", r.fault, r.attempts, r.recovers, worst, r.lost)
	}
}

// proc is a child process: the parallax binary or a peer (nats-server). Its
// output goes to a log file in the test's folder (shown when the test
// fails) and is scanned for lines a test waits for.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	log  string

	mu    sync.Mutex
	lines []string
	cond  *sync.Cond
	done  chan struct{}
	err   error
}

// spawn runs name with args (bin when name is "parallax").
func spawn(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	path := name
	if name == "parallax" {
		path = bin
	}
	p := &proc{t: t, name: name + " " + strings.Join(args, " "), done: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = append(os.Environ(), "GODEBUG=")
	// Its own process group: a kill reaches nothing else.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logf, err := os.CreateTemp(t.TempDir(), "proc-*.log")
	if err != nil {
		t.Fatal(err)
	}
	p.log = logf.Name()
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.cond.Broadcast()
			p.mu.Unlock()
		}
		logf.Close()
	}()
	go func() {
		err := p.cmd.Wait()
		pw.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("output of %s:\n%s", p.name, tail(string(b), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// waitLine waits for an output line containing sub and returns it.
func (p *proc) waitLine(sub string, timeout time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { p.mu.Lock(); p.cond.Broadcast(); p.mu.Unlock() })
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; ; {
		for ; i < len(p.lines); i++ {
			if strings.Contains(p.lines[i], sub) {
				return p.lines[i]
			}
		}
		select {
		case <-p.done:
			p.t.Fatalf("%s exited (%v) before printing %q", p.name, p.err, sub)
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: no line with %q after %v", p.name, sub, timeout)
		}
		p.cond.Wait()
	}
}

// exited reports whether the process has ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.err
	default:
		return false, nil
	}
}

// kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (p *proc) kill() {
	if ok, _ := p.exited(); ok {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// interrupt sends SIGINT (Ctrl-C) and waits up to timeout for the exit.
func (p *proc) interrupt(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
		_, err := p.exited()
		return err
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s did not stop within %v of SIGINT", p.name, timeout)
	}
}

// freePort returns a loopback port nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// cameraServer runs `parallax camera serve` for a stereo synthetic camera
// on port with frame 0 at start, and waits until it serves.
func cameraServer(t testing.TB, port int, start time.Time, world string) *proc {
	t.Helper()
	p := startServe(t, port, start, world)
	p.waitLine("rtsp://", 30*time.Second)
	return p
}

func startServe(t testing.TB, port int, start time.Time, world string) *proc {
	if world == "" {
		world = testWorld
	}
	return spawn(t, "parallax", "camera", "serve", "--stereo", "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--world", world, "--start", strconv.FormatFloat(float64(start.UnixNano())/1e9, 'f', 6, 64))
}

// testWorld is small and slow enough to leave the CPU to the node.
const testWorld = "synth://?width=320&height=96&fps=15"

// writeLaunch writes a launch file into the test's folder and returns its path.
func writeLaunch(t testing.TB, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "launch.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// stereoLaunch reads left from leftPort and right from rightPort, with an
// embedded NATS server on natsPort (or the external server natsURL).
func stereoLaunch(leftPort, rightPort int, nats, extra string) string {
	return fmt.Sprintf(`namespace: faults
cameras:
  - {name: left, url: "rtsp://127.0.0.1:%d/left", role: left, intrinsics: &k {width: 320, height: 96, fx: 185.6, fy: 185.6, cx: 159.5, cy: 47.5}}
  - {name: right, url: "rtsp://127.0.0.1:%d/right", role: right, intrinsics: *k}
stereo: {left: left, right: right, baseline: 0.54}
model: {width: 320, height: 96, size: small}
device: cpu
nats: %s
%s`, leftPort, rightPort, nats, extra)
}

func embeddedNATS(port int) string {
	return fmt.Sprintf(`{embedded: {listen: "127.0.0.1:%d"}}`, port)
}

// watcher subscribes to a node's namespace and keeps the arrival times of
// depth maps and every diagnostics change.
type watcher struct {
	t  testing.TB
	nc *nats.Conn

	mu      sync.Mutex
	depth   map[string][]time.Time // camera -> arrivals
	odom    map[uint64]bool        // odometry seqs received
	diag    []string               // "name: message" of each change
	levels  []parallaxv1.DiagnosticStatus_Level
	process map[string]int64 // the latest process status
}

// watch connects to url (retrying while the node starts) and subscribes.
func watch(t testing.TB, url, ns string) *watcher {
	t.Helper()
	w := &watcher{t: t, depth: map[string][]time.Time{}, odom: map[uint64]bool{}}
	var err error
	deadline := time.Now().Add(60 * time.Second)
	for {
		w.nc, err = nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(w.nc.Close)
	sub, err := w.nc.Subscribe(ns+".>", func(m *nats.Msg) {
		now := time.Now()
		rest := strings.TrimPrefix(m.Subject, ns+".")
		switch {
		case strings.HasSuffix(rest, ".depth"):
			w.mu.Lock()
			cam := strings.TrimSuffix(rest, ".depth")
			w.depth[cam] = append(w.depth[cam], now)
			w.mu.Unlock()
		case rest == "odom":
			var o parallaxv1.Odometry
			if proto.Unmarshal(m.Data, &o) == nil {
				w.mu.Lock()
				w.odom[o.Seq] = true
				w.mu.Unlock()
			}
		case rest == "diagnostics":
			var d parallaxv1.Diagnostics
			if proto.Unmarshal(m.Data, &d) != nil {
				return
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			for _, st := range d.Status {
				if st.Name == "process" {
					w.process = map[string]int64{}
					for _, kv := range st.Values {
						v, _ := strconv.ParseInt(kv.Value, 10, 64)
						w.process[kv.Key] = v
					}
				}
			}
			if len(d.Status) == 1 { // a change, not the periodic summary
				w.diag = append(w.diag, d.Status[0].Name+": "+d.Status[0].Message)
				w.levels = append(w.levels, d.Status[0].Level)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	sub.SetPendingLimits(-1, -1)
	return w
}

// resubscribed waits until the watcher is connected again and the server
// has its subscription (a flush is a round trip after the SUB it resent).
func (w *watcher) resubscribed(timeout time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for !w.nc.IsConnected() || w.nc.FlushTimeout(time.Second) != nil {
		if time.Now().After(deadline) {
			w.t.Fatalf("the watcher did not reconnect within %v", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// depthAfter returns the arrival of the first depth map of cam after t0.
func (w *watcher) depthAfter(cam string, t0 time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.depth[cam]
	i := sort.Search(len(d), func(i int) bool { return d[i].After(t0) })
	if i == len(d) {
		return time.Time{}, false
	}
	return d[i], true
}

// waitDepth waits up to timeout for a depth map of cam after t0 and
// returns its arrival.
func (w *watcher) waitDepth(cam string, t0 time.Time, timeout time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(timeout)
	for {
		if at, ok := w.depthAfter(cam, t0); ok {
			return at, true
		}
		if time.Now().After(deadline) {
			return time.Time{}, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// odomGaps counts the odometry seqs missing between the first and the
// last received, and returns it with the number received.
func (w *watcher) odomGaps() (missing, got int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	lo, hi := uint64(1<<63), uint64(0)
	for s := range w.odom {
		lo, hi = min(lo, s), max(hi, s)
	}
	if len(w.odom) == 0 {
		return 0, 0
	}
	return int(hi-lo+1) - len(w.odom), len(w.odom)
}

// countDepth is how many depth maps of cam arrived after t0.
func (w *watcher) countDepth(cam string, t0 time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.depth[cam]
	return len(d) - sort.Search(len(d), func(i int) bool { return d[i].After(t0) })
}

// waitDiag waits for a diagnostics change containing sub, at or after the
// from-th change, and returns its index.
func (w *watcher) waitDiag(sub string, from int, timeout time.Duration) int {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		for i := from; i < len(w.diag); i++ {
			if strings.Contains(w.diag[i], sub) {
				w.mu.Unlock()
				return i
			}
		}
		n := len(w.diag)
		all := strings.Join(w.diag, "\n")
		w.mu.Unlock()
		if time.Now().After(deadline) {
			w.t.Fatalf("no diagnostics change with %q after %v (%d changes):\n%s", sub, timeout, n, all)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// change returns the i-th diagnostics change and its level.
func (w *watcher) change(i int) (string, parallaxv1.DiagnosticStatus_Level) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.diag[i], w.levels[i]
}

// changes is the number of diagnostics changes seen so far.
func (w *watcher) changes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.diag)
}

// processStat is a value of the node's latest process status (goroutines,
// rss_bytes, open_files, ...), waiting for the first one.
func (w *watcher) processStat(key string) int64 {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		v, ok := w.process[key]
		w.mu.Unlock()
		if ok {
			return v
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no process status with %s on diagnostics", key)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
