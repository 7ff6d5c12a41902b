package perception

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sugarme/gotch"
)

var (
	// ErrDevice is returned for a device string ParseDevice does not know.
	ErrDevice = errors.New("perception: bad device")
	// ErrNoCUDA is returned when a CUDA device is asked for and libtorch
	// sees none (a CPU-only libtorch, no GPU, or a GPU index out of range).
	ErrNoCUDA = errors.New("perception: CUDA device not available")
)

// cudaDeviceCount reports how many GPUs libtorch sees; a variable so tests
// can pretend to have GPUs.
var cudaDeviceCount = func() int {
	if !gotch.CUDA.IsAvailable() {
		return 0
	}
	return int(gotch.CUDA.DeviceCount())
}

// ParseDevice turns a device name into a gotch device: "auto" (CUDA device 0
// when libtorch sees a GPU, else the CPU), "cpu", "cuda" (device 0) or
// "cuda:N". Case and surrounding spaces are ignored.
func ParseDevice(s string) (gotch.Device, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	switch {
	case name == "auto":
		if cudaDeviceCount() > 0 {
			return gotch.CudaBuilder(0), nil
		}
		return gotch.CPU, nil
	case name == "cpu":
		return gotch.CPU, nil
	case name == "cuda" || strings.HasPrefix(name, "cuda:"):
		idx := 0
		if rest, ok := strings.CutPrefix(name, "cuda:"); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 0 {
				return gotch.Device{}, fmt.Errorf("%w %q: the GPU index must be a number >= 0 (cuda:0)", ErrDevice, s)
			}
			idx = n
		}
		count := cudaDeviceCount()
		if count == 0 {
			return gotch.Device{}, fmt.Errorf("%w: %q asked for, but libtorch sees no GPU (use auto or cpu)", ErrNoCUDA, s)
		}
		if idx >= count {
			return gotch.Device{}, fmt.Errorf("%w: %q asked for, but libtorch sees %d GPU(s) (cuda:0..cuda:%d)", ErrNoCUDA, s, count, count-1)
		}
		return gotch.CudaBuilder(uint(idx)), nil
	default:
		return gotch.Device{}, fmt.Errorf("%w %q: want auto, cpu, cuda or cuda:N", ErrDevice, s)
	}
}
