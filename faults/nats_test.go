package faults

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"testing"
	"time"
)

// natsServer runs Debian's nats-server on port and waits until it serves.
func natsServer(t *testing.T, port int) *proc {
	t.Helper()
	if _, err := exec.LookPath("nats-server"); err != nil {
		t.Fatal("nats-server is not installed (make deps installs Debian's): ", err)
	}
	p := spawn(t, "nats-server", "-a", "127.0.0.1", "-p", fmt.Sprint(port))
	p.waitLine("Server is ready", 30*time.Second)
	return p
}

// TestNATSRestarts kills the external NATS server (kill -9) under a running
// node and starts it again: the node (behind a gate that lets it back only
// once the watcher has subscribed again) must reconnect and publish again,
// deliver the odometry of the outage from its reconnect buffer (it holds
// back only the large messages, which would be stale), keep its memory
// bounded however long the outage, and its goroutines flat.
func TestNATSRestarts(t *testing.T) {
	camPort, natsPort := freePort(t), freePort(t)
	cameraServer(t, camPort, time.Now(), "")
	broker := natsServer(t, natsPort)
	url := fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
	g := newGate(t, fmt.Sprintf("127.0.0.1:%d", natsPort))
	n := node(t, stereoLaunch(camPort, camPort, fmt.Sprintf("{url: %q}", "nats://"+g.addr()), "learner: {adapt: false}"))
	w := watch(t, url, "faults")
	if _, ok := w.waitDepth("left", time.Time{}, 60*time.Second); !ok {
		t.Fatal("no depth before the first fault")
	}
	time.Sleep(2 * time.Second)
	goroutines, rss := w.processStat("goroutines"), w.processStat("rss_bytes")

	outages := make([]time.Duration, repeats())
	for i := range outages {
		outages[i] = time.Duration(500+rand.IntN(2500)) * time.Millisecond
	}
	if *long {
		// Depth maps held in the buffer would fill it in seconds (15 of
		// 120 kB a second); held back, the buffer outlasts this outage.
		outages = append(outages, 30*time.Second)
	}
	r := row{fault: "external NATS server killed (-9) and restarted"}
	var peakRSS int64
	for i, down := range outages {
		broker.kill()
		g.close()
		time.Sleep(down)
		alive(t, n, "while NATS was down")
		broker = natsServer(t, natsPort)
		back := time.Now()
		w.resubscribed(10 * time.Second)
		g.reopen()
		r.attempts++
		at, ok := w.waitDepth("left", back, 30*time.Second)
		if !ok {
			t.Errorf("attempt %d (down %v): no depth within 30 s of the server's return", i+1, down)
			continue
		}
		r.recovers++
		rec := at.Sub(back)
		r.worst = max(r.worst, rec)
		time.Sleep(1500 * time.Millisecond) // a fresh process status
		peakRSS = max(peakRSS, w.processStat("rss_bytes"))
		t.Logf("attempt %d: down %v, depth again %v after the server's return", i+1, down.Round(time.Millisecond), rec.Round(time.Millisecond))
	}
	time.Sleep(3 * time.Second)
	g2, rss2 := w.processStat("goroutines"), w.processStat("rss_bytes")
	t.Logf("goroutines %d -> %d, RSS %.0f -> %.0f MB (peak %.0f MB)", goroutines, g2, mb(rss), mb(rss2), mb(peakRSS))
	if g2 > goroutines+20 {
		t.Errorf("goroutines grew from %d to %d over %d NATS restarts", goroutines, g2, r.attempts)
	}
	// The reconnect buffer (8 MB) and the allocator's slack; buffered depth
	// maps would add 1.8 MB/s of outage.
	if peakRSS > rss+32<<20 {
		t.Errorf("RSS rose from %.0f to %.0f MB over the outages: buffering is not bounded", mb(rss), mb(peakRSS))
	}
	missing, got := w.odomGaps()
	if missing > got/50 {
		t.Errorf("%d of %d odometry messages lost over the outages; the reconnect buffer should deliver them", missing, missing+got)
	}
	r.lost = fmt.Sprintf("odometry %d of %d; depth of the outage held back by design (RSS %.0f→%.0f MB, goroutines %d→%d)",
		missing, missing+got, mb(rss), mb(peakRSS), goroutines, g2)
	figures.add(r)
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
