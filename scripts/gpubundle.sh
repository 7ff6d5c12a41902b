#!/usr/bin/env bash
# Makes gpubundle/ (git-ignored): everything a machine with a CUDA libtorch
# but no Go and no network needs to build Parallax and run `parallax bench`:
#   go.tar.xz        the Go toolchain, trimmed (go, compile, link, asm, cgo,
#                    buildid, pack; src without tests, testdata and cmd/)
#   parallax.tar.xz  the project at HEAD (git archive: committed work only),
#                    its vendor/ (`go mod vendor`), and the pristine
#                    github.com/sugarme/gotch v0.7.0 source for scripts/gotch.sh
#   run.sh           scripts/gpubundle-run.sh: unpack, patch gotch for the
#                    machine's libtorch (TORCH_DIR), build with -tags nocodec,
#                    run the benchmarks into $OUT
# The device tool carries at most 64 MiB: the script fails above 60 MiB.
#
# Usage: scripts/gpubundle.sh   (make gpu-bundle)
# Environment: GPU_BUNDLE_DIR  where to write it (default: gpubundle/)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${GPU_BUNDLE_DIR:-$repo/gpubundle}"
gotch_version="v0.7.0"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
log() { echo "gpubundle: $*"; }

# 1. The Go toolchain, remade only when the Go version changes.
goroot="$(go env GOROOT)"
gover="$(go env GOVERSION)"
if [[ ! -f "$out/go.tar.xz" || "$(cat "$out/go.version" 2>/dev/null)" != "$gover" ]]; then
	log "packing $gover from $goroot (takes a minute)"
	hostdir="pkg/tool/$(go env GOOS)_$(go env GOARCH)"
	(cd "$goroot" && find src -type f \
		! -name '*_test.go' ! -path '*/testdata/*' ! -path 'src/cmd/*' -print) >"$tmp/files"
	{
		echo go.env
		echo VERSION
		echo bin/go
		# buildid and pack are no longer shipped by recent Go releases.
		for t in compile link asm cgo buildid pack; do
			[[ -e "$goroot/$hostdir/$t" ]] && echo "$hostdir/$t"
		done
		(cd "$goroot" && find pkg/include -type f)
		cat "$tmp/files"
	} >"$tmp/list"
	tar -C "$goroot" --transform 's,^,go/,' -cf - -T "$tmp/list" | xz -T0 -6 >"$tmp/go.tar.xz"
	mv "$tmp/go.tar.xz" "$out/go.tar.xz"
	echo "$gover" >"$out/go.version"
fi

# 2. The project at HEAD with its vendored modules.
log "packing the project at $(git -C "$repo" rev-parse --short HEAD) with vendor/"
mkdir -p "$tmp/pkg/parallax"
git -C "$repo" archive HEAD | tar -x -C "$tmp/pkg/parallax"
if [[ ! -d "$repo/third_party/gotch" ]]; then
	echo "gpubundle: $repo/third_party/gotch is missing: run make deps first" >&2
	exit 1
fi
# go mod vendor follows go.mod's replace to ./third_party/gotch; the copy it
# makes there is patched for this machine's libtorch, so it is dropped: the
# device puts its own in place.
mkdir -p "$tmp/pkg/parallax/third_party"
ln -s "$repo/third_party/gotch" "$tmp/pkg/parallax/third_party/gotch"
(cd "$tmp/pkg/parallax" && GOFLAGS=-mod=mod GOPROXY=off GOWORK=off go mod vendor)
rm -rf "$tmp/pkg/parallax/vendor/github.com/sugarme/gotch" "$tmp/pkg/parallax/third_party"
grep -q '^# github.com/sugarme/gotch v0.7.0 => ./third_party/gotch$' "$tmp/pkg/parallax/vendor/modules.txt" || {
	echo "gpubundle: vendor/modules.txt does not replace gotch $gotch_version with ./third_party/gotch" >&2
	exit 1
}
src="$(cd / && GOFLAGS=-mod=mod go mod download -json "github.com/sugarme/gotch@$gotch_version" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
mkdir "$tmp/pkg/gotch-src"
(cd "$src" && tar --exclude=./example --exclude=./gen -cf - .) | tar -x -C "$tmp/pkg/gotch-src"
tar -C "$tmp/pkg" -cf - parallax gotch-src | xz -T0 -6 >"$tmp/parallax.tar.xz"
mv "$tmp/parallax.tar.xz" "$out/parallax.tar.xz"
git -C "$repo" rev-parse HEAD >"$out/parallax.commit"
cp "$repo/scripts/gpubundle-run.sh" "$out/run.sh"
chmod +x "$out/run.sh"

total="$(du -cb "$out" | tail -1 | cut -f1)"
du -h "$out"/*
log "$out holds $((total / 1024 / 1024)) MiB"
if ((total > 60 * 1024 * 1024)); then
	echo "gpubundle: over 60 MiB: the device tool carries 64 MiB with the working tree" >&2
	exit 1
fi
