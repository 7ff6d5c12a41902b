package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/parallax-robotics/parallax/internal/procmem"
	"github.com/parallax-robotics/parallax/perception"
)

// GrowthResult is one cell of the cost-growth table: depth inference of
// Cameras reference frames in one forward (a rig of that many stereo
// pairs: the depth network sees each pair's reference view), or one
// adaptation step of Batch tuples, at one size, with the process's memory.
type GrowthResult struct {
	Kind    string `json:"kind"` // "depth" or "adapt"
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Cameras int    `json:"cameras,omitempty"`
	Batch   int    `json:"batch,omitempty"`
	Calls   int    `json:"calls"`
	// MsPerCall is the median time of one forward (depth) or step (adapt).
	MsPerCall float64 `json:"ms_per_call"`
	// MsPerFrame is MsPerCall over the frames (cameras or tuples) it did.
	MsPerFrame float64 `json:"ms_per_frame"`
	// BaseRSSMiB is the resident memory before the model was made;
	// PeakRSSMiB the most it reached while the cell ran (Linux's VmHWM
	// after resetting it through /proc/self/clear_refs), 0 where the
	// system does not say.
	BaseRSSMiB float64 `json:"base_rss_mib"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

// growth measures how depth time and memory grow with the size and the
// number of cameras (1 to cfg.Cameras), and adaptation with the size and
// the batch (cfg.Batches), each cell on a fresh model.
func growth(ctx context.Context, cfg Config, progress func(string)) ([]GrowthResult, error) {
	var out []GrowthResult
	for _, sz := range cfg.Sizes {
		w, h := sz[0], sz[1]
		for n := 1; n <= cfg.Cameras; n++ {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			r, err := growthDepth(ctx, cfg, w, h, n)
			if err != nil {
				return out, fmt.Errorf("depth %dx%d, %d cameras: %w", w, h, n, err)
			}
			out = append(out, r)
			progress(fmt.Sprintf("growth depth %4dx%-4d %d camera(s): %8.2f ms a forward, %8.2f ms a frame, RSS %6.0f -> peak %6.0f MiB",
				w, h, n, r.MsPerCall, r.MsPerFrame, r.BaseRSSMiB, r.PeakRSSMiB))
		}
		for _, b := range cfg.Batches {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			r, err := growthAdapt(ctx, cfg, w, h, b)
			if err != nil {
				return out, fmt.Errorf("adapt %dx%d batch %d: %w", w, h, b, err)
			}
			out = append(out, r)
			progress(fmt.Sprintf("growth adapt %4dx%-4d batch %d:     %8.2f ms a step,    %8.2f ms a tuple, RSS %6.0f -> peak %6.0f MiB",
				w, h, b, r.MsPerCall, r.MsPerFrame, r.BaseRSSMiB, r.PeakRSSMiB))
		}
	}
	return out, nil
}

func growthDepth(ctx context.Context, cfg Config, w, h, n int) (GrowthResult, error) {
	left, _, err := frames(w, h, n)
	if err != nil {
		return GrowthResult{}, err
	}
	base := resetPeakRSS()
	wk, m, err := newModel(cfg, w, h)
	if err != nil {
		return GrowthResult{}, err
	}
	defer closeModel(wk, m)
	est := perception.NewEstimator(m, wk)
	lat, _, err := loop(ctx, cfg.Warmup, cfg.Duration, func() error {
		_, err := est.Depth(left...)
		return err
	})
	if err != nil {
		return GrowthResult{}, err
	}
	ms := pct(lat, 50)
	return GrowthResult{Kind: "depth", Width: w, Height: h, Cameras: n, Calls: len(lat), MsPerCall: ms,
		MsPerFrame: ms / float64(n), BaseRSSMiB: base, PeakRSSMiB: peakRSS()}, nil
}

func growthAdapt(ctx context.Context, cfg Config, w, h, b int) (GrowthResult, error) {
	base := resetPeakRSS()
	fit, close, err := newFit(cfg, w, h, b)
	if err != nil {
		return GrowthResult{}, err
	}
	defer close()
	lat, _, _, err := steps(ctx, fit, cfg.Warmup, cfg.Duration)
	if err != nil {
		return GrowthResult{}, err
	}
	if len(lat) == 0 {
		return GrowthResult{}, fmt.Errorf("no step finished in %v", cfg.Duration)
	}
	ms := pct(lat, 50)
	return GrowthResult{Kind: "adapt", Width: w, Height: h, Batch: b, Calls: len(lat), MsPerCall: ms,
		MsPerFrame: ms / float64(b), BaseRSSMiB: base, PeakRSSMiB: peakRSS()}, nil
}

// resetPeakRSS resets the process's peak resident memory to the current
// one and returns the current one in MiB; 0 where the system does not
// offer it.
func resetPeakRSS() float64 {
	_ = procmem.ResetPeak()
	time.Sleep(10 * time.Millisecond) // the kernel's counters are per-thread batched
	b, _ := procmem.Resident()
	return float64(b) / (1 << 20)
}

// peakRSS is the peak resident memory since the last reset, MiB (0 where
// the system does not say).
func peakRSS() float64 {
	b, _ := procmem.Peak()
	return float64(b) / (1 << 20)
}
