package perception

/*
#define _GNU_SOURCE
#include <link.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// px_find_library copies into out the path of the first loaded object whose
// name contains want; it returns 1 when found.
struct px_find { const char *want; char *out; int n; int found; };
static int px_find_cb(struct dl_phdr_info *info, size_t size, void *data) {
	struct px_find *f = data;
	if (info->dlpi_name && strstr(info->dlpi_name, f->want)) {
		strncpy(f->out, info->dlpi_name, f->n - 1);
		f->out[f->n - 1] = 0;
		f->found = 1;
		return 1;
	}
	return 0;
}
static int px_find_library(char *want, char *out, int n) {
	struct px_find f = {want, out, n, 0};
	dl_iterate_phdr(px_find_cb, &f);
	free(want);
	return f.found;
}

// From gotch's libtch (compiled into its object): torch::manual_seed.
// gotch v0.7.0 declares it but has no Go wrapper.
void at_manual_seed(int64_t seed);
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

var (
	// ErrMallopt is returned when glibc refuses a malloc setting.
	ErrMallopt = errors.New("perception: mallopt failed")
)

// Malloc settings applied by TuneMalloc.
const (
	// mmapThreshold keeps allocations up to 32 MiB (a 1x64x192x640 float32
	// activation is 31 MiB) in the heap instead of fresh mmaps; 32 MiB is
	// glibc's maximum on 64-bit.
	mmapThreshold = 32 << 20
	// trimThreshold stops free() from handing heap memory back to the OS
	// until 1 GiB sits unused at the top of the heap.
	trimThreshold = 1 << 30
)

// TuneMalloc makes glibc malloc keep freed tensor memory for reuse. By
// default every large tensor is a fresh mmap that is unmapped on free, so
// each op pays for page faults and zeroing: forward+backward ran 2-5x slower
// and erratically. Call it once at start-up, before the first tensor.
func TuneMalloc() error {
	if C.mallopt(C.M_MMAP_THRESHOLD, mmapThreshold) != 1 {
		return fmt.Errorf("%w: M_MMAP_THRESHOLD=%d", ErrMallopt, mmapThreshold)
	}
	if C.mallopt(C.M_TRIM_THRESHOLD, trimThreshold) != 1 {
		return fmt.Errorf("%w: M_TRIM_THRESHOLD=%d", ErrMallopt, trimThreshold)
	}
	return nil
}

// ManualSeed seeds libtorch's random generator (torch::manual_seed): the
// weights a NewModel after it draws are then the same on every run, so a
// training run, or a learning test, can be repeated exactly (with the same
// thread count). The generator is the process's: seed right before the
// model is made, on the Worker that makes it.
func ManualSeed(seed int64) {
	C.at_manual_seed(C.int64_t(seed))
}

// TorchVersion says which libtorch the process runs on: its version where
// the library says it (Debian's libtorch_cpu.so.1.13 names it; a PyTorch
// installation's torch/version.py beside its lib folder), and the
// library's path, which is the one thing always known.
func TorchVersion() string {
	path := torchLibrary()
	if path == "" {
		return "(libtorch_cpu not loaded)"
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	base := filepath.Base(path)
	if v, ok := strings.CutPrefix(base, "libtorch_cpu.so."); ok && v != "" {
		return v + " (" + path + ")"
	}
	// torch/lib/libtorch_cpu.so: torch/version.py has __version__ = '2.11.0+cu130'.
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(path)), "version.py")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "__version__ = "); ok {
				return strings.Trim(v, "'\" ") + " (" + path + ")"
			}
		}
	}
	return "(version unknown) " + path
}

// torchLibrary returns the path of the loaded libtorch_cpu, "" when none.
func torchLibrary() string {
	var buf [4096]C.char
	if C.px_find_library(C.CString("libtorch_cpu"), &buf[0], C.int(len(buf))) == 0 {
		return ""
	}
	return C.GoString(&buf[0])
}
