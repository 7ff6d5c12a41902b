#!/usr/bin/env bash
# Produces third_party/gotch: github.com/sugarme/gotch v0.7.0 from the Go module
# proxy, patched for Debian's libtorch 1.13.1 by scripts/gotchpatch.go
# (go.mod replaces github.com/sugarme/gotch with this folder).
#
# The copy is built in a temporary folder and renamed into place, so an
# interrupted run never leaves a half-patched third_party/gotch behind.
#
# Usage: scripts/gotch.sh          make third_party/gotch unless it is current
#        scripts/gotch.sh --force  remake it anyway
#        scripts/gotch.sh --check  exit 0 when third_party/gotch is current
#
# "Current" means the stamp file inside the copy holds the hash of this
# script, the patcher and TORCH_CUDA: changing any of them remakes the copy.
#
# Environment: TORCH_CUDA=1 also links libtorch's CUDA libraries (needs a
# libtorch built with CUDA; Debian's is CPU only).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="v0.7.0"
dest="$repo/third_party/gotch"
stamp_name=".parallax-stamp"

stamp="$( (cat "$repo/scripts/gotch.sh" "$repo/scripts/gotchpatch.go"; echo "gotch=$version TORCH_CUDA=${TORCH_CUDA:-}") |
	sha256sum | cut -d' ' -f1)"

current() { [[ -f "$dest/$stamp_name" && "$(cat "$dest/$stamp_name")" == "$stamp" ]]; }

force=0
case "${1:-}" in
--check) current; exit ;;
--force) force=1 ;;
"") ;;
*)
	echo "usage: $0 [--check|--force]" >&2
	exit 2
	;;
esac

mkdir -p "$repo/third_party"
# Two `make test` at once (two shells, two engineers) must not swap the
# folder under each other: one makes it, the other then finds it current.
exec 9>"$repo/third_party/.gotch.lock"
flock 9
if ((!force)) && current; then
	echo "gotch.sh: $dest is current"
	exit 0
fi
tmp="$(mktemp -d "$repo/third_party/.gotch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# Outside the main module on purpose: its go.mod replaces gotch with the very
# folder this script makes, which may not exist yet.
gomod_dir="$(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "github.com/sugarme/gotch@$version" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
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
(cd "$tmp" && GOFLAGS= GO111MODULE=on go run ./gotchpatch.go -dir "$tmp/gotch")

echo "$stamp" >"$tmp/gotch/$stamp_name"

# Swap into place: the old copy (if any) moves aside first, then goes away.
if [[ -e "$dest" ]]; then
	mv -T "$dest" "$tmp/old"
fi
mv -T "$tmp/gotch" "$dest"
echo "gotch.sh: $dest is github.com/sugarme/gotch@$version, patched"
