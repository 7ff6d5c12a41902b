package procmem

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Resident returns the resident set size in bytes, from /proc/self/statm.
func Resident() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("procmem: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("procmem: /proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("procmem: /proc/self/statm: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}

// ResetPeak sets the peak resident set size (Peak) back to the current
// one, by writing 5 to /proc/self/clear_refs (Linux 4.0 on).
func ResetPeak() error {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("procmem: %w", err)
	}
	return nil
}

// Peak returns the most the resident set size reached since the process
// started or the last ResetPeak, in bytes (VmHWM of /proc/self/status).
func Peak() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("procmem: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("procmem: /proc/self/status: VmHWM %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("procmem: /proc/self/status: %w", err)
	}
	return 0, fmt.Errorf("procmem: /proc/self/status has no VmHWM")
}
