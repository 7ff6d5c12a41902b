//go:build ignore

// Command gotchpatch turns a pristine copy of github.com/sugarme/gotch v0.7.0
// into the copy Parallax builds against Debian's libtorch 1.13.1.
// scripts/gotch.sh runs it on a fresh copy; it is not part of the module build.
//
// Usage: go run gotchpatch.go -dir /path/to/gotch/copy
//
// Every edit checks that the text it replaces is exactly what v0.7.0 ships,
// so a different gotch version fails loudly here instead of building
// something half-patched. The edits (see RECIPES.md in the project notes):
//
//   - libtch/lib.go: cgo directives for Debian's libtorch (headers under
//     /usr/include, libraries in the default path, no CUDA unless TORCH_CUDA=1);
//   - libtch/torch_api_generated.cpp.h: 38 wrappers call ops that libtorch
//     1.13 removed or changed; their bodies now throw std::runtime_error,
//     which gotch's PROTECT macro turns into a Go error;
//   - nn/conv-transpose.go: weights are [in, out/groups, k...] as libtorch
//     expects, not [out, in/groups, k...];
//   - Go wrappers for at_set_num_threads / at_get_num_threads.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// stubbed lists the generated wrappers (without the atg_ prefix) that do not
// compile against libtorch 1.13.1.
var stubbed = []string{
	"_cat", "_cat_out", "_det_lu_based_helper", "_det_lu_based_helper_backward_helper",
	"_linalg_inv_out_helper_", "_linalg_qr_helper", "_s_where", "_segment_reduce_backward",
	"_solve_helper", "_weight_norm_cuda_interface", "_weight_norm_cuda_interface_backward",
	"arange_start_out", "bernoulli_out", "binary_cross_entropy_with_logits_backward",
	"col2im_backward", "col2im_backward_grad_input", "eig", "eig_e", "grid_sampler_3d_backward",
	"im2col_backward", "im2col_backward_grad_input", "kl_div_backward", "l1_loss_backward",
	"l1_loss_backward_grad_input", "l1_loss_out", "lstsq", "lstsq_x", "matrix_rank",
	"matrix_rank_tol", "max_unpool2d_backward", "max_unpool2d_backward_grad_input",
	"max_unpool3d_backward", "max_unpool3d_backward_grad_input", "nansum", "normal",
	"segment_reduce", "solve", "solve_solution",
}

const upstreamLibGo = `package libtch

// #cgo LDFLAGS: -lstdc++ -ltorch -lc10 -ltorch_cpu -L${SRCDIR}/libtorch/lib
// #cgo LDFLAGS: -L/usr/local/cuda/lib64 -lcuda -lcudart -lcublas -lcudnn -lcaffe2_nvrtc -lnvrtc-builtins -lnvrtc -lnvToolsExt -lc10_cuda -ltorch_cuda
// #cgo CFLAGS: -I${SRCDIR} -O3 -Wall -Wno-unused-variable -Wno-deprecated-declarations -Wno-c++11-narrowing -g -Wno-sign-compare -Wno-unused-function
// #cgo CFLAGS: -D_GLIBCXX_USE_CXX11_ABI=0
// #cgo CFLAGS: -I/usr/local/cuda/include
// #cgo CXXFLAGS: -std=c++14 -I${SRCDIR} -g -O3
// #cgo CXXFLAGS: -I${SRCDIR}/libtorch/lib -I${SRCDIR}/libtorch/include -I${SRCDIR}/libtorch/include/torch/csrc/api/include
import "C"
`

const debianLibGo = `package libtch

// Patched by Parallax scripts/gotch.sh for Debian's libtorch 1.13.1
// (package libtorch-dev): headers under /usr/include, libraries in the
// default library path, CPU only.

// #cgo LDFLAGS: -lstdc++ -ltorch -lc10 -ltorch_cpu
// #cgo CFLAGS: -I${SRCDIR} -O3 -Wall -Wno-unused-variable -Wno-deprecated-declarations -Wno-c++11-narrowing -g -Wno-sign-compare -Wno-unused-function
// #cgo CXXFLAGS: -std=c++14 -I${SRCDIR} -I/usr/include/torch/csrc/api/include -g -O3 -Wno-deprecated-declarations
`

// cudaLibGo is appended when TORCH_CUDA=1: a libtorch built with CUDA also
// needs its CUDA half and the CUDA runtime.
const cudaLibGo = `// TORCH_CUDA=1: a libtorch built with CUDA (not Debian's) and its CUDA runtime.
// #cgo LDFLAGS: -L/usr/local/cuda/lib64 -lcuda -lcudart -lcublas -lcudnn -lnvrtc -lc10_cuda -ltorch_cuda
// #cgo CFLAGS: -I/usr/local/cuda/include
// #cgo CXXFLAGS: -I/usr/local/cuda/include
`

const threadsLibtch = `package libtch

// Added by Parallax scripts/gotch.sh: gotch v0.7.0 has the C functions but no
// Go wrappers.

//#include "stdbool.h"
//#include "torch_api.h"
import "C"

// AtGetNumThreads returns libtorch's intra-op thread count as seen from the
// calling OS thread (-1 on error).
func AtGetNumThreads() int32 {
	return int32(C.at_get_num_threads())
}

// AtSetNumThreads sets libtorch's intra-op thread count. Errors land in the
// thread-local error slot (see GetAndResetLastErr).
func AtSetNumThreads(n int32) {
	C.at_set_num_threads(C.int(n))
}
`

const threadsTs = `package ts

// Added by Parallax scripts/gotch.sh.

import (
	"fmt"

	lib "github.com/sugarme/gotch/libtch"
)

// SetNumThreads sets the number of threads libtorch uses inside one op
// (at::set_num_threads). With OpenMP the setting belongs to the calling OS
// thread (and threads that first touch libtorch afterwards), so call it from
// the locked OS thread that runs the torch work.
func SetNumThreads(n int) error {
	if n <= 0 {
		return fmt.Errorf("ts: SetNumThreads(%d): thread count must be positive", n)
	}
	lib.AtSetNumThreads(int32(n))
	return TorchErr()
}

// MustSetNumThreads is SetNumThreads that panics on error.
func MustSetNumThreads(n int) {
	if err := SetNumThreads(n); err != nil {
		panic(err)
	}
}

// GetNumThreads returns the number of threads libtorch uses inside one op
// on the calling OS thread (at::get_num_threads).
func GetNumThreads() int {
	return int(lib.AtGetNumThreads())
}
`

func main() {
	dir := flag.String("dir", "", "gotch copy to patch in place")
	flag.Parse()
	if *dir == "" {
		fail("-dir is required")
	}
	cuda := os.Getenv("TORCH_CUDA") == "1"

	// lib.go: replace the whole file, after checking it is the upstream one.
	libGo := filepath.Join(*dir, "libtch", "lib.go")
	want := debianLibGo
	if cuda {
		want += cudaLibGo
	}
	want += "import \"C\"\n"
	replaceFile(libGo, upstreamLibGo, want)

	patchStubs(filepath.Join(*dir, "libtch", "torch_api_generated.cpp.h"))

	// ConvTranspose weight shape: three constructors, one identical line each.
	replaceN(filepath.Join(*dir, "nn", "conv-transpose.go"),
		"weightSize := []int64{outDim, int64(inDim / cfg.Groups)}",
		"weightSize := []int64{inDim, int64(outDim / cfg.Groups)} // Parallax patch: libtorch wants [in, out/groups, k...]",
		3)

	// Output slots: every wrapper mallocs a slot for libtorch to write the
	// result tensor pointer(s) into, and never frees it (32 bytes leaked per
	// op: about 1 GB an hour for a node running a few hundred ops per frame).
	// It also asks for 0 bytes and lets libtorch write 8 per output. Each
	// slot now has room for 8 outputs and is freed when the wrapper returns.
	freed := 0
	for _, f := range []string{"tensor-generated.go", "tensor.go", "patch.go"} {
		freed += freeOutputSlots(filepath.Join(*dir, "ts", f))
	}
	if freed < 1820 {
		fail("freed only %d output slots, want at least the 1820 generated ones", freed)
	}

	// In-place ops (Relu_, Add_, Zero_, ...) get a new handle to the same
	// tensor back and dropped the old one on the floor: that handle kept
	// the storage alive, so dropping the tensor later freed nothing and each
	// call leaked a whole activation. Free the old handle on the swap.
	replaceN(filepath.Join(*dir, "ts", "tensor-generated.go"),
		"  ts.ctensor = *ptr\n",
		"  lib.AtFree(ts.ctensor) // Parallax patch: the old handle kept the storage alive\n  ts.ctensor = *ptr\n",
		254)

	// Thread-count wrappers: check the C side is there, then add the Go side.
	mustContain(filepath.Join(*dir, "libtch", "torch_api.h"), "int at_get_num_threads();")
	mustContain(filepath.Join(*dir, "libtch", "torch_api.h"), "void at_set_num_threads(int n_threads);")
	newFile(filepath.Join(*dir, "libtch", "parallax_threads.go"), threadsLibtch)
	newFile(filepath.Join(*dir, "ts", "parallax_threads.go"), threadsTs)

	fmt.Printf("gotchpatch: patched %s (%d stubbed wrappers, %d output slots freed, cuda=%v)\n", *dir, len(stubbed), freed, cuda)
}

// patchStubs replaces the body of each stubbed atg_ function with a throw.
// A function starts with a line "void atg_<name>(" and ends at the next line
// that is exactly "}"; the "(" keeps atg_nansum from matching
// atg_nansum_dim_intlist.
func patchStubs(path string) {
	src := read(path)
	lines := strings.Split(src, "\n")
	want := make(map[string]bool, len(stubbed))
	for _, n := range stubbed {
		want[n] = true
	}
	done := make(map[string]bool)
	var out []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		name, ok := stubName(l)
		if !ok || !want[name] {
			out = append(out, l)
			continue
		}
		if done[name] {
			fail("%s: atg_%s defined twice", path, name)
		}
		if !strings.HasSuffix(l, "{") {
			fail("%s:%d: atg_%s: signature does not end with '{'", path, i+1, name)
		}
		end := i + 1
		for end < len(lines) && lines[end] != "}" {
			if _, ok := stubName(lines[end]); ok {
				fail("%s:%d: atg_%s: no closing brace before the next function", path, i+1, name)
			}
			end++
		}
		if end == len(lines) {
			fail("%s:%d: atg_%s: no closing brace", path, i+1, name)
		}
		out = append(out, l,
			fmt.Sprintf(`  PROTECT(throw std::runtime_error("atg_%s is not available: the op was removed or changed in libtorch 1.13 (stubbed by Parallax scripts/gotch.sh)");)`, name),
			"}")
		done[name] = true
		i = end
	}
	var missing []string
	for _, n := range stubbed {
		if !done[n] {
			missing = append(missing, "atg_"+n)
		}
	}
	if len(missing) > 0 {
		fail("%s: functions to stub not found: %s", path, strings.Join(missing, " "))
	}
	if len(done) != 38 {
		fail("%s: stubbed %d functions, want 38", path, len(done))
	}
	write(path, strings.Join(out, "\n"))
}

// stubName returns <name> for a line starting "void atg_<name>(".
func stubName(line string) (string, bool) {
	const p = "void atg_"
	if !strings.HasPrefix(line, p) {
		return "", false
	}
	rest := line[len(p):]
	i := strings.IndexByte(rest, '(')
	if i <= 0 {
		return "", false
	}
	return rest[:i], true
}

// slotDecl matches an uncommented output-slot allocation on a line of its own.
var slotDecl = regexp.MustCompile(`^(\s*)(\w+) := \(\*lib\.Ctensor\)\(unsafe\.Pointer\(C\.malloc\(0\)\)\)\s*$`)

// freeOutputSlots sizes every output slot in path for 8 tensor pointers and
// frees it on return (where the next line does not already), and returns
// how many it changed.
func freeOutputSlots(path string) int {
	lines := strings.Split(read(path), "\n")
	n := 0
	out := make([]string, 0, len(lines)+2000)
	for i, line := range lines {
		m := slotDecl.FindStringSubmatch(line)
		if m == nil {
			out = append(out, line)
			continue
		}
		out = append(out, m[1]+m[2]+" := (*lib.Ctensor)(unsafe.Pointer(C.malloc(64))) // Parallax patch: room for 8 outputs")
		if i+1 < len(lines) && strings.Contains(lines[i+1], "C.free(unsafe.Pointer("+m[2]+"))") {
			continue
		}
		out = append(out, m[1]+"defer C.free(unsafe.Pointer("+m[2]+")) // Parallax patch: was leaked")
		n++
	}
	write(path, strings.Join(out, "\n"))
	return n
}

func replaceFile(path, old, new string) {
	if got := read(path); got != old {
		fail("%s: not the upstream v0.7.0 file; refusing to patch", path)
	}
	write(path, new)
}

func replaceN(path, old, new string, n int) {
	src := read(path)
	if c := strings.Count(src, old); c != n {
		fail("%s: found %q %d times, want %d", path, old, c, n)
	}
	write(path, strings.ReplaceAll(src, old, new))
}

func mustContain(path, s string) {
	if !strings.Contains(read(path), s) {
		fail("%s: does not contain %q", path, s)
	}
}

func newFile(path, content string) {
	if _, err := os.Stat(path); err == nil {
		fail("%s: already exists", path)
	}
	write(path, content)
}

func read(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	return string(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")))
}

func write(path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gotchpatch: "+format+"\n", args...)
	os.Exit(1)
}
