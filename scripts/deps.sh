#!/usr/bin/env bash
# Installs what building and testing Parallax needs on Debian 12, given Go:
#   - Debian packages (libtorch, libav*, protoc, ffmpeg, python3-torch, ...),
#   - protoc-gen-go at the version the module pins, and staticcheck (make lint),
#   - the patched gotch in third_party/gotch (scripts/gotch.sh: its C++ is
#     compiled there, 1.5-6 minutes on 2 cores), and its Go packages built
#     once so the first `go test` does not look hung,
#   - Node.js and npm (Debian's, only when node or npm is missing) and the
#     npm packages of the viewer's test client (viewer/testdata/js, npm ci
#     into its git-ignored node_modules).
# Idempotent: when everything is present it only checks, in about a second.
#
# Environment: TORCH_DIR=/path/to/libtorch (include/ and lib/) builds against that
# libtorch instead of Debian's; TORCH_CUDA=0 or 1 forces linking its CUDA libraries off or on.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

# Why each package: libtorch-dev (networks, through gotch), g++ (cgo C++),
# libavcodec/libavutil/libswscale (H.264 decoding), pkg-config (their cgo
# flags), protobuf-compiler (make proto), ffmpeg (a real RTSP publisher in
# tests), python3-torch (the same libtorch from Python: reference numbers),
# python3-protobuf (examples/python/subscriber.py, checked by a test),
# python3-zstandard (scripts/mcap_check.py, the independent MCAP reader),
# libopencv-dev (calibration/cv: gocv and its C++ shim, chessboards,
# calibration, stereo rectification, StereoSGBM), libopencv-contrib-dev
# (ximgproc's WLS disparity filter; libopencv-dev pulls it in on Debian 12,
# named so that no other OpenCV packaging drops it), opencv-doc (OpenCV's own stereo
# chessboard pairs and Middlebury's aloe stereo pair with its ground truth,
# the real data the calibration and SGBM tests run on),
# python3-opencv (scripts/calib_reference.py and sgbm_reference.py, the
# reference calibration and SGBM),
# nats-server (the external broker the fault suite restarts under a node),
# chromium (the viewer's page in a headless browser, checked by its pixels).
apt_packages=(libtorch-dev g++ libavcodec-dev libavutil-dev libswscale-dev pkg-config
	protobuf-compiler ffmpeg python3-torch python3-protobuf python3-zstandard nats-server chromium
	libopencv-dev libopencv-contrib-dev opencv-doc python3-opencv)
protoc_gen_go_version="v1.36.12"
# staticcheck 2026.2.2: the first release that reads Go 1.26 code.
staticcheck_version="v0.8.2"

log() { echo "deps: $*"; }

# 1. Debian packages.
missing=()
for p in "${apt_packages[@]}"; do
	status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
	if [[ "$status" != "install ok installed" ]]; then
		missing+=("$p")
	fi
done
# Node.js runs the viewer's Foxglove client (@foxglove/ws-protocol): any
# node and npm on PATH will do (e.g. nodesource's), else Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	missing+=(nodejs npm)
fi
if ((${#missing[@]} > 0)); then
	if [[ "$(id -u)" != 0 ]]; then
		echo "deps: missing Debian packages: ${missing[*]}" >&2
		echo "deps: install them as root, then rerun:" >&2
		echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
	log "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
	# Debian's nats-server package enables a system broker on :4222; the
	# tests start their own, and a developer's machine should not gain a
	# service it did not ask for.
	if [[ " ${missing[*]} " == *" nats-server "* ]] && command -v systemctl >/dev/null && systemctl is-enabled -q nats-server 2>/dev/null; then
		log "disabling the nats-server system service the package enabled (the tests run their own)"
		systemctl disable --now nats-server || true
	fi
fi

# 2. Go tools, where `go install` puts them (the Makefile adds that folder
# to PATH): protoc-gen-go for make proto, staticcheck for make lint.
gobin="$(go env GOBIN)"
if [[ -z "$gobin" ]]; then
	gobin="$(go env GOPATH | cut -d: -f1)/bin"
fi
# go_tool BINARY PACKAGE MODULE VERSION installs PACKAGE@VERSION unless
# BINARY there was built from MODULE at VERSION.
go_tool() {
	if ! go version -m "$gobin/$1" 2>/dev/null |
		grep -Eq "^[[:space:]]+mod[[:space:]]+$3[[:space:]]+$4[[:space:]]"; then
		log "installing $1 $4 into $gobin"
		# From outside the main module: `go install pkg@version` ignores it
		# anyway, and this keeps a missing third_party/gotch from mattering.
		(cd / && GOFLAGS= go install "$2@$4")
	fi
}
go_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/protobuf "$protoc_gen_go_version"
go_tool staticcheck honnef.co/go/tools/cmd/staticcheck honnef.co/go/tools "$staticcheck_version"

# 3. The patched gotch, remade when missing or when its recipe changed.
if ! "$repo/scripts/gotch.sh" --check; then
	log "making third_party/gotch (github.com/sugarme/gotch v0.7.0, patched; its C++ takes 1.5-6 minutes on 2 cores)"
	"$repo/scripts/gotch.sh"
	log "building the gotch Go packages"
	start=$SECONDS
	go build github.com/sugarme/gotch/ts github.com/sugarme/gotch/nn
	log "gotch Go packages built in $((SECONDS - start)) s"
fi

# 4. The npm packages of the viewer's test client, pinned by its
# package-lock.json; installed again only when the lock file changed.
js="$repo/viewer/testdata/js"
stamp="$js/node_modules/.parallax-lock.sha256"
want="$(sha256sum "$js/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
	log "installing the viewer test client's npm packages (npm ci in viewer/testdata/js)"
	(cd "$js" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
	echo "$want" >"$stamp"
fi
