#!/usr/bin/env bash
# Produces third_party/gotch: github.com/sugarme/gotch v0.7.0 from the Go module
# proxy, patched by scripts/gotchpatch.go for one libtorch:
#   - Debian's libtorch 1.13.1 (package libtorch-dev, CPU), the default: what
#     `make deps` and CI use;
#   - TORCH_DIR=/path: a libtorch with include/ and lib/ (a PyTorch
#     installation's torch/ folder, e.g. `python3 -c 'import torch,os;
#     print(os.path.dirname(torch.__file__))'`, or an unpacked libtorch
#     archive), C++17, with its CUDA half when lib/ has libtorch_cuda.so.
# The patcher compiles gotch's C++ (in parallel, JOBS at once) into an object
# the Go tool links, and stubs the wrappers that do not compile against that
# libtorch (found by compiling), so the same project code builds against both.
# (go.mod replaces github.com/sugarme/gotch with this folder.)
#
# The copy is built in a temporary folder and renamed into place, so an
# interrupted run never leaves a half-patched third_party/gotch behind.
#
# Usage: scripts/gotch.sh          make third_party/gotch unless it is current
#        scripts/gotch.sh --force  remake it anyway
#        scripts/gotch.sh --check  exit 0 when third_party/gotch is current
#        scripts/gotch.sh --stamp  print the stamp a current copy holds
#
# "Current" means the stamp file inside the copy holds the hash of the
# patcher, the flags it gets for the libtorch (TORCH_DIR, its version,
# TORCH_CUDA), the compiler and the recipe number in this script: changing
# any of them remakes the copy.
#
# Environment:
#   TORCH_DIR   a libtorch to build against (default: Debian's, under /usr)
#   TORCH_CUDA  1: link the CUDA half of libtorch (default: 1 when TORCH_DIR's
#               lib/ has libtorch_cuda.so, else empty); 0: never
#   JOBS        compilers run at once (default: all cores)
#   GOTCH_SRC   a pristine gotch v0.7.0 source folder to use instead of the
#               module proxy (the GPU bundle has no network)
#   GOTCH_DEST  where to put the copy (default: third_party/gotch)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="v0.7.0"
dest="${GOTCH_DEST:-$repo/third_party/gotch}"
stamp_name=".parallax-stamp"
jobs="${JOBS:-$(nproc)}"
compat=""

# The libtorch: compiler and linker flags, and a line saying which it is.
if [[ -n "${TORCH_DIR:-}" ]]; then
	TORCH_DIR="$(cd "$TORCH_DIR" && pwd)"
	api_inc="$TORCH_DIR/include/torch/csrc/api/include"
	if [[ ! -d "$api_inc" || ! -e "$TORCH_DIR/lib/libtorch.so" ]]; then
		echo "gotch.sh: TORCH_DIR=$TORCH_DIR has no include/torch/csrc/api/include or lib/libtorch.so: want a libtorch folder" >&2
		exit 1
	fi
	if [[ "$TORCH_DIR" == *[[:space:]]* ]]; then
		echo "gotch.sh: TORCH_DIR=$TORCH_DIR has a space in it, which cgo flags cannot carry" >&2
		exit 1
	fi
	# The version: a PyTorch installation's version.py, else the header
	# that defines TORCH_VERSION_MAJOR (it moved between releases).
	torch_version="$(sed -n "s/^__version__ = '\([0-9.]*\).*/\1/p" "$TORCH_DIR/version.py" 2>/dev/null || true)"
	if [[ -z "$torch_version" ]]; then
		vh="$(grep -rls --include=version.h '^#define TORCH_VERSION_MAJOR' "$TORCH_DIR/include" | head -1 || true)"
		torch_version="$(sed -n 's/^#define TORCH_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' "${vh:-/dev/null}" | paste -sd.)"
	fi
	if [[ -z "${TORCH_CUDA:-}" && -e "$TORCH_DIR/lib/libtorch_cuda.so" ]]; then
		TORCH_CUDA=1
	fi
	# C++17 (what libtorch 2.x asks for), or C++20 if this libtorch's
	# headers refuse 17: a quick probe on one core header decides.
	std=c++17
	if ! echo '#include <c10/core/Device.h>' | ${CXX:-g++} -std=c++17 -fsyntax-only -w -x c++ \
		-I"$TORCH_DIR/include" - 2>/dev/null; then
		if echo '#include <c10/core/Device.h>' | ${CXX:-g++} -std=c++20 -fsyntax-only -w -x c++ \
			-I"$TORCH_DIR/include" - 2>/dev/null; then
			std=c++20
		fi
	fi
	cxxflags="-std=$std -I$TORCH_DIR/include -I$api_inc"
	# gotch's C++ spells std::optional c10::optional, an alias that
	# libtorch keeps in c10/util/Optional.h; where that header is gone,
	# the alias is declared here.
	if [[ ! -e "$TORCH_DIR/include/c10/util/Optional.h" ]]; then
		compat='namespace c10 { using std::optional; using std::nullopt; using std::nullopt_t; }'
	fi
	ldflags="-L$TORCH_DIR/lib -Wl,-rpath,$TORCH_DIR/lib -lstdc++ -lm -ltorch -lc10 -ltorch_cpu"
	label="libtorch ${torch_version:-of unknown version} in $TORCH_DIR"
	if [[ "${TORCH_CUDA:-}" == 1 ]]; then
		# No symbol of libtorch_cuda is referenced, so a linker that
		# defaults to --as-needed would drop it, and libtorch would
		# then see no GPU: keep it. Its CUDA libraries (a pip
		# installation's nvidia/*/lib) are found through its own
		# RUNPATH at run time; -rpath-link lets the linker find them.
		for d in "$TORCH_DIR"/../nvidia/*/lib "$TORCH_DIR"/../nvidia/*/*/lib; do
			[[ -d "$d" ]] && ldflags+=" -Wl,-rpath-link,$(cd "$d" && pwd)"
		done
		# --allow-shlib-undefined: a CUDA library that libtorch_cuda
		# needs but that is not where -rpath-link looks is the loader's
		# business at run time, not a link error.
		ldflags+=" -Wl,--allow-shlib-undefined -Wl,--no-as-needed -ltorch_cuda -lc10_cuda"
		label+=", with CUDA"
	fi
else
	torch_version="$(dpkg-query -W -f='${Version}' libtorch-dev 2>/dev/null || true)"
	cxxflags="-std=c++14 -I/usr/include/torch/csrc/api/include"
	ldflags="-lstdc++ -lm -ltorch -lc10 -ltorch_cpu"
	label="Debian's libtorch ${torch_version:-1.13.1} (package libtorch-dev), CPU"
	if [[ "${TORCH_CUDA:-}" == 1 ]]; then
		ldflags+=" -L/usr/local/cuda/lib64 -Wl,--no-as-needed -ltorch_cuda -lc10_cuda"
		cxxflags+=" -I/usr/local/cuda/include"
		label="libtorch under /usr, with CUDA"
	fi
fi

# What the copy is made from: the patcher, the flags it is given, the gotch
# version, the compiler, and the recipe below (bump recipe when a change to
# this script changes the copy; a change that does not, such as a new probe
# for another libtorch, then remakes nobody's copy).
recipe=2
stamp="$( (cat "$repo/scripts/gotchpatch.go"
	printf '%s\n' "recipe=$recipe gotch=$version" "cxxflags=$cxxflags" "ldflags=$ldflags" "compat=$compat" "label=$label" \
		"cxx=$(${CXX:-g++} -dumpfullversion 2>/dev/null)") |
	sha256sum | cut -d' ' -f1)"

current() { [[ -f "$dest/$stamp_name" && "$(cat "$dest/$stamp_name")" == "$stamp" ]]; }

force=0
case "${1:-}" in
--check) current; exit ;;
--stamp)
	echo "$stamp"
	exit
	;;
--force) force=1 ;;
"") ;;
*)
	echo "usage: $0 [--check|--force|--stamp]" >&2
	exit 2
	;;
esac

parent="$(dirname "$dest")"
mkdir -p "$parent"
# Two `make test` at once (two shells, two engineers) must not swap the
# folder under each other: one makes it, the other then finds it current.
exec 9>"$parent/.gotch.lock"
flock 9
if ((!force)) && current; then
	echo "gotch.sh: $dest is current"
	exit 0
fi
tmp="$(mktemp -d "$parent/.gotch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# Outside the main module on purpose: its go.mod replaces gotch with the very
# folder this script makes, which may not exist yet.
if [[ -n "${GOTCH_SRC:-}" ]]; then
	gomod_dir="$GOTCH_SRC"
else
	gomod_dir="$(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "github.com/sugarme/gotch@$version" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
fi
if [[ -z "$gomod_dir" || ! -f "$gomod_dir/libtch/lib.go" ]]; then
	echo "gotch.sh: go mod download github.com/sugarme/gotch@$version gave no usable Dir ('$gomod_dir')" >&2
	exit 1
fi

# The module cache is read-only; copy without the examples and the code
# generator (neither builds here, and nothing imports them).
mkdir "$tmp/gotch"
(cd "$gomod_dir" && tar --exclude=./example --exclude=./gen -cf - .) | (cd "$tmp/gotch" && tar -xf -)
chmod -R u+w "$tmp/gotch"

# The patcher is a standalone Go program; run it from outside the main module
# for the same reason as above.
cp "$repo/scripts/gotchpatch.go" "$tmp/gotchpatch.go"
echo "gotch.sh: patching for $label; compiling its C++ ($jobs at once)"
(cd "$tmp" && GOFLAGS= GO111MODULE=on go run ./gotchpatch.go -dir "$tmp/gotch" -jobs "$jobs" \
	-cxxflags "$cxxflags" -ldflags "$ldflags" -label "$label" -compat "$compat")

echo "$stamp" >"$tmp/gotch/$stamp_name"

# Swap into place: the old copy (if any) moves aside first, then goes away.
if [[ -e "$dest" ]]; then
	mv -T "$dest" "$tmp/old"
fi
mv -T "$tmp/gotch" "$dest"
echo "gotch.sh: $dest is github.com/sugarme/gotch@$version, patched for $label"
