package faults

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	soak       = flag.Duration("faults.soak", 0, "run TestSoak for this long (make soak DURATION=1h); 0: TestSoak does not run")
	soakReport = flag.String("faults.soakreport", "", "also write the soak's table and samples (Markdown) to this file")
)

// sample is one reading of the soak: the demo node's process status (from
// its diagnostics), its status line, and the recorder's process.
type sample struct {
	at                       time.Duration
	rss, goroutines, files   int64
	p99, absRel              float64 // ms; the depth error against the ground truth
	steps                    int64
	recRSS, recFiles         int64
	depthMaps, recordingSize int64
}

// statusLine picks the demo's figures out of its once-a-second line.
var (
	reP99    = regexp.MustCompile(`p99 +([0-9.]+)ms`)
	reAbsRel = regexp.MustCompile(`  abs_rel ([0-9.]+)`)
	reSteps  = regexp.MustCompile(`adapt (\d+) steps`)
)

// TestSoak runs the demo (adaptation on, its embedded NATS server and
// synthetic stereo camera over RTSP) with `parallax record --nats` recording
// everything it publishes, for -faults.soak, sampling the node's RSS,
// goroutines and open files, latency p99, depth error and learner steps, and
// the recorder's RSS and open files. After a warm-up (a tenth of the run,
// at least 30 s) memory, goroutines and files must stay flat, the node must
// keep publishing and learning, and the recording must read back.
func TestSoak(t *testing.T) {
	if *soak <= 0 {
		t.Skip("the soak runs under make soak DURATION=1h (-faults.soak)")
	}
	natsPort := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
	demo := spawn(t, "parallax", "demo", "--listen", fmt.Sprintf("127.0.0.1:%d", natsPort), "--rtsp-listen", "127.0.0.1:0",
		"--viewer-listen", "off", "--duration", (*soak + time.Minute).String())
	demo.waitLine("parallax demo: NATS on", 120*time.Second)
	w := watch(t, url, "parallax")
	dir := t.TempDir()
	out := filepath.Join(dir, "soak.mcap")
	rec := spawn(t, "parallax", "record", "--nats", url, "--ns", "parallax", "-o", out, "--split-duration", "10m")
	rec.waitLine("record", 60*time.Second)
	if _, ok := w.waitDepth("left", time.Time{}, 120*time.Second); !ok {
		t.Fatal("no depth from the demo")
	}

	interval := max(*soak/60, 10*time.Second)
	warmup := max(*soak/10, 30*time.Second)
	start := time.Now()
	var samples []sample
	for elapsed := time.Duration(0); elapsed < *soak; elapsed = time.Since(start) {
		time.Sleep(min(interval, *soak-elapsed))
		alive(t, demo, "during the soak")
		if done, err := rec.exited(); done {
			t.Fatalf("the recorder exited during the soak: %v", err)
		}
		s := sample{at: time.Since(start).Round(time.Second),
			rss: w.processStat("rss_bytes"), goroutines: w.processStat("goroutines"), files: w.processStat("open_files"),
			depthMaps: int64(w.countDepth("left", start))}
		line := demo.lastLine("t=")
		s.p99 = matchFloat(reP99, line)
		s.absRel = matchFloat(reAbsRel, line)
		s.steps = int64(matchFloat(reSteps, line))
		s.recRSS, s.recFiles = procMemFiles(rec.cmd.Process.Pid)
		s.recordingSize = dirSize(dir)
		samples = append(samples, s)
		t.Logf("%v: node RSS %.0f MB, goroutines %d, files %d, p99 %.0f ms, abs_rel %.3f, steps %d; recorder RSS %.0f MB, files %d; %d depth maps, recorded %.0f MB",
			s.at, mb(s.rss), s.goroutines, s.files, s.p99, s.absRel, s.steps, mb(s.recRSS), s.recFiles, s.depthMaps, mb(s.recordingSize))
	}
	if err := rec.interrupt(30 * time.Second); err != nil {
		t.Errorf("the recorder: %v", err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "soak*.mcap"))
	recorded := 0
	for _, f := range files {
		n, err := openRecording(f)
		if err != nil {
			t.Errorf("recording %s: %v", filepath.Base(f), err)
		}
		recorded += n
	}

	// Start: the median of the first three samples after the warm-up; end:
	// of the last three. Medians, so one reading in a learner step's peak
	// does not decide.
	var steady []sample
	for _, s := range samples {
		if s.at >= warmup {
			steady = append(steady, s)
		}
	}
	if len(steady) < 4 {
		t.Fatalf("only %d samples after the %v warm-up: make the soak longer", len(steady), warmup)
	}
	first, last := steady[:3], steady[len(steady)-3:]
	type figure struct {
		name       string
		start, end float64
		format     string
	}
	med := func(ss []sample, f func(sample) float64) float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = f(s)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	both := func(name, format string, f func(sample) float64) figure {
		return figure{name, med(first, f), med(last, f), format}
	}
	table := []figure{
		both("node RSS (MB)", "%.0f", func(s sample) float64 { return mb(s.rss) }),
		both("node goroutines", "%.0f", func(s sample) float64 { return float64(s.goroutines) }),
		both("node open files", "%.0f", func(s sample) float64 { return float64(s.files) }),
		both("latency p99 (ms)", "%.0f", func(s sample) float64 { return s.p99 }),
		both("depth abs_rel", "%.3f", func(s sample) float64 { return s.absRel }),
		both("learner steps", "%.0f", func(s sample) float64 { return float64(s.steps) }),
		both("recorder RSS (MB)", "%.0f", func(s sample) float64 { return mb(s.recRSS) }),
		both("recorder open files", "%.0f", func(s sample) float64 { return float64(s.recFiles) }),
		both("depth maps received", "%.0f", func(s sample) float64 { return float64(s.depthMaps) }),
	}
	var md strings.Builder
	fmt.Fprintf(&md, "Soak of %v (warm-up %v, a sample every %v; start and end are medians of 3 samples):\n\n", *soak, warmup, interval)
	fmt.Fprintln(&md, "| figure | start | end |")
	fmt.Fprintln(&md, "|---|---|---|")
	for _, f := range table {
		fmt.Fprintf(&md, "| %s | "+f.format+" | "+f.format+" |\n", f.name, f.start, f.end)
	}
	fmt.Fprintf(&md, "\n%d messages recorded in %d file(s).\n\nSamples:\n\n", recorded, len(files))
	fmt.Fprintln(&md, "| t | RSS MB | goroutines | files | p99 ms | abs_rel | steps | recorder RSS MB |")
	fmt.Fprintln(&md, "|---|---|---|---|---|---|---|---|")
	for _, s := range samples {
		fmt.Fprintf(&md, "| %v | %.0f | %d | %d | %.0f | %.3f | %d | %.0f |\n", s.at, mb(s.rss), s.goroutines, s.files, s.p99, s.absRel, s.steps, mb(s.recRSS))
	}
	t.Log("\n" + md.String())
	if *soakReport != "" {
		if err := os.WriteFile(*soakReport, []byte(md.String()), 0o644); err != nil {
			t.Error(err)
		}
	}

	s0, s1 := table[0], table[6]
	if s0.end > s0.start+64 {
		t.Errorf("the node's RSS grew from %.0f to %.0f MB", s0.start, s0.end)
	}
	if s1.end > s1.start+64 {
		t.Errorf("the recorder's RSS grew from %.0f to %.0f MB", s1.start, s1.end)
	}
	if g := table[1]; g.end > g.start+10 {
		t.Errorf("goroutines grew from %.0f to %.0f", g.start, g.end)
	}
	if f := table[2]; f.end > f.start+5 {
		t.Errorf("open files grew from %.0f to %.0f", f.start, f.end)
	}
	if f := table[7]; f.end > f.start+5 {
		t.Errorf("the recorder's open files grew from %.0f to %.0f", f.start, f.end)
	}
	if d := table[8]; d.end <= d.start {
		t.Error("the node stopped publishing depth")
	}
	if st := table[5]; st.end <= st.start {
		t.Error("the learner stopped stepping")
	}
	if recorded == 0 {
		t.Error("nothing recorded")
	}
}

func matchFloat(re *regexp.Regexp, s string) float64 {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// procMemFiles reads another process's RSS (bytes) and open files.
func procMemFiles(pid int) (rss, files int64) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid)); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			rss = pages * int64(os.Getpagesize())
		}
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		files = int64(len(ents))
	}
	return rss, files
}

// dirSize is the bytes of the files in dir.
func dirSize(dir string) int64 {
	var n int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// lastLine is the latest output line of p containing sub ("" if none).
func (p *proc) lastLine(sub string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.lines) - 1; i >= 0; i-- {
		if strings.Contains(p.lines[i], sub) {
			return p.lines[i]
		}
	}
	return ""
}
