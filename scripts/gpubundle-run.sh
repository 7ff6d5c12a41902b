#!/usr/bin/env bash
# Runs on the GPU machine (shipped as gpubundle/run.sh by scripts/gpubundle.sh):
# unpacks the Go toolchain and the project, patches gotch for the machine's
# libtorch, builds parallax with -tags nocodec (no libavcodec there: synth://
# cameras only), checks the CUDA half of libtorch is linked, and runs
# `parallax bench` while nvidia-smi samples the GPU memory. Results go to
# $OUT: run.log, bench.json, nvidia-smi.csv, stubbed.txt. REBUILD=0 reuses the
# binary of an earlier run in WORK (another bench pass on a warm machine).
#
# Environment:
#   TORCH_DIR   libtorch folder (default: the torch package of python3 when it
#               has include/, else Debian's libtorch under /usr)
#   OUT         results folder (default: gpubundle/out)
#   WORK        build folder (default: /tmp/parallax-gpu)
#   BENCHFLAGS  extra flags for parallax bench
#   JOBS        C++ compilers at once (default: all cores)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$here/out}"
work="${WORK:-/tmp/parallax-gpu}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1
t0=$SECONDS
step() { echo "== [$((SECONDS - t0)) s] $*"; }

untar() {
	if command -v xz >/dev/null; then
		tar -xJf "$1" -C "$work"
	else
		python3 -c 'import sys,tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$work"
	fi
}
reuse=0
if [[ "${REBUILD:-1}" == 0 && -x "$work/parallax-bin" ]]; then
	reuse=1
	step "REBUILD=0: using $work/parallax-bin"
else
	step "unpack into $work"
	rm -rf "$work"
	mkdir -p "$work"
	untar "$here/go.tar.xz" &
	gopid=$!
	untar "$here/parallax.tar.xz"
	# Not a bare wait: that would also wait for the tee of the log.
	wait "$gopid"
fi
export GOROOT="$work/go" PATH="$work/go/bin:$PATH" GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=vendor \
	GOCACHE="$work/gocache" GOPATH="$work/gopath" GOTELEMETRY=off CGO_ENABLED=1
go version
echo "parallax commit $(cat "$here/parallax.commit" 2>/dev/null || echo unknown)"

if [[ "${TORCH_DIR-auto}" == auto ]]; then
	TORCH_DIR="$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))' 2>/dev/null || true)"
	if [[ -n "$TORCH_DIR" && ! -d "$TORCH_DIR/include/torch/csrc/api/include" ]]; then
		TORCH_DIR=""
	fi
fi
export TORCH_DIR
# build patches gotch for TORCH_DIR and builds the binary.
build() {
	step "gotch for ${TORCH_DIR:-the Debian libtorch}"
	python3 -c 'import torch;print("python torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())' 2>/dev/null || true
	cd "$work/parallax"
	GOTCH_SRC="$work/gotch-src" bash scripts/gotch.sh
	cp third_party/gotch/libtch/csrc/STUBBED "$OUT/stubbed.txt"
	echo "$(grep -vc '^#' "$OUT/stubbed.txt") wrappers stubbed (stubbed.txt)"
	rm -rf vendor/github.com/sugarme/gotch
	cp -a third_party/gotch vendor/github.com/sugarme/gotch

	step "go build -tags nocodec ./cmd/parallax"
	go build -tags nocodec -o "$work/parallax-bin" ./cmd/parallax
	ldd "$work/parallax-bin" | grep -E 'torch|c10|cuda|avcodec' || true
	if [[ -n "$TORCH_DIR" && -e "$TORCH_DIR/lib/libtorch_cuda.so" ]] && ! ldd "$work/parallax-bin" | grep -q libtorch_cuda; then
		echo "run.sh: the binary does not link libtorch_cuda.so: libtorch would see no GPU" >&2
		exit 1
	fi
}
if ((!reuse)); then
	build
fi

step "parallax bench ${BENCHFLAGS:-}"
smi=""
if command -v nvidia-smi >/dev/null; then
	nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
	nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv,noheader,nounits -lms 250 >"$OUT/nvidia-smi.csv" &
	smi=$!
fi
# shellcheck disable=SC2086
"$work/parallax-bin" bench --json ${BENCHFLAGS:-} >"$OUT/bench.json"
if [[ -n "$smi" ]]; then
	kill "$smi" 2>/dev/null || true
	base="$(head -1 "$OUT/nvidia-smi.csv" | cut -d, -f2 | tr -d ' ')"
	peak="$(cut -d, -f2 "$OUT/nvidia-smi.csv" | sort -n | tail -1 | tr -d ' ')"
	echo "GPU memory used (nvidia-smi, every 250 ms): ${base} MiB before, peak ${peak} MiB ($((peak - base)) MiB for parallax bench)"
fi
step "done"
