package faults

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sugarme/gotch"

	"github.com/parallax-robotics/parallax/perception"
	"github.com/parallax-robotics/parallax/record"
)

// TestKillDuringCheckpointsAndRecordings records a node that adapts and
// checkpoints every second, and kills it (kill -9) at random moments:
// after each kill the checkpoint must load (the next run starts from it),
// and the recording must open, or `parallax record recover` restore it
// with the messages of its complete chunks.
func TestKillDuringCheckpointsAndRecordings(t *testing.T) {
	camPort := freePort(t)
	cameraServer(t, camPort, time.Now(), "")
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "learner.ckpt")
	r := row{fault: "kill -9 of the node while it checkpoints (1 s) and records"}
	var recovered, complete, messages, midWrite int
	for i := range repeats() {
		natsPort := freePort(t)
		launch := stereoLaunch(camPort, camPort, embeddedNATS(natsPort), fmt.Sprintf(
			"learner: {adapt: true, steps_per_s: 20, compute_share: 0.9, check_every: 1, hand_over_every: 1, checkpoint: %q, checkpoint_every: 1s}", ckpt))
		out := filepath.Join(dir, fmt.Sprintf("drive-%d.mcap", i))
		began := time.Now()
		p := spawn(t, "parallax", "record", writeLaunch(t, launch), "-o", out)
		p.waitLine("parallax record:", 120*time.Second)
		// Kill at a random moment of the checkpoint cycle: once this run
		// has checkpointed, within the next two periods.
		deadline := time.Now().Add(90 * time.Second)
		for !savedSince(ckpt, began) {
			if time.Now().After(deadline) {
				t.Fatalf("run %d: no checkpoint after 90 s of adaptation", i+1)
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Millisecond)
		p.kill()
		r.attempts++

		// Kills that landed inside a checkpoint write leave its temporary.
		if tmps, _ := filepath.Glob(filepath.Join(dir, ".learner.ckpt.tmp*")); len(tmps) > 0 {
			midWrite++
		}
		ok := true
		if err := loadCheckpoint(ckpt); err != nil {
			t.Errorf("kill %d: the checkpoint does not load: %v", i+1, err)
			ok = false
		}
		n, err := openRecording(out)
		switch {
		case err == nil:
			complete++
		default:
			rec := spawn(t, "parallax", "record", "recover", out)
			if done := waitExit(rec, 60*time.Second); done != nil {
				t.Errorf("kill %d: record recover %s: %v (the recording opened with: %v)", i+1, out, done, err)
				ok = false
				break
			}
			if n, err = openRecording(out); err != nil {
				t.Errorf("kill %d: the recovered recording does not open: %v", i+1, err)
				ok = false
				break
			}
			recovered++
		}
		if n == 0 && ok {
			t.Errorf("kill %d: the recording of several seconds kept no message", i+1)
			ok = false
		}
		messages += n
		if ok {
			r.recovers++
		}
	}
	// A temporary a kill left behind is removed by the next save.
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".learner.ckpt.tmp*")); len(tmps) > 1 {
		t.Errorf("%d checkpoint temporaries pile up: %v", len(tmps), tmps)
	}
	r.lost = fmt.Sprintf("no checkpoint (%d kills mid-write); at most 1 s of learning; %d recordings recovered, %d whole, %d messages kept",
		midWrite, recovered, complete, messages)
	figures.add(r)
}

// savedSince reports whether path was written after t.
func savedSince(path string, t time.Time) bool {
	st, err := os.Stat(path)
	return err == nil && st.ModTime().After(t)
}

// loadCheckpoint loads a checkpoint as the node would, on a worker.
func loadCheckpoint(path string) error {
	w, err := perception.NewWorker(1)
	if err != nil {
		return err
	}
	defer w.Close()
	return w.Do(func() error {
		m, _, err := perception.LoadModel(path, gotch.CPU)
		if err != nil {
			return err
		}
		m.Close()
		return nil
	})
}

// openRecording opens an MCAP recording with the project's reader and
// returns how many messages it holds.
func openRecording(path string) (int, error) {
	f, err := record.OpenFile(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	for _, name := range f.Topics() {
		n += f.Topic(name).Len()
	}
	return n, nil
}

// waitExit waits for p to end and returns its error (a timeout too).
func waitExit(p *proc, timeout time.Duration) error {
	select {
	case <-p.done:
		_, err := p.exited()
		return err
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s still running after %v", p.name, timeout)
	}
}
