#!/bin/sh
# genproto.sh regenerates the Go code of the message contract (msgs/foxglove,
# msgs/parallaxv1) from the .proto files under msgs/proto.
#
# Usage: scripts/genproto.sh [OUTDIR]
#
# OUTDIR is the directory the Go import paths are laid out under (it defaults
# to the repository root, which overwrites the committed code); the
# up-to-date test in msgs passes a temporary directory.
#
# It needs protoc (Debian: protobuf-compiler). protoc-gen-go is built from
# the google.golang.org/protobuf version pinned in go.mod, so the generated
# code always matches the runtime the module links.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root}
mkdir -p "$out"
out=$(cd "$out" && pwd)

command -v protoc >/dev/null 2>&1 || {
	echo "genproto: protoc not found; install it (apt-get install protobuf-compiler, or make deps)" >&2
	exit 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
(cd "$root" && go build -o "$tmp/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go)

cd "$root/msgs/proto"
# Sorted file lists keep the output independent of the file system's order.
protoc --plugin=protoc-gen-go="$tmp/protoc-gen-go" \
	--go_out="$out" --go_opt=module=github.com/parallax-robotics/parallax \
	$(find foxglove parallax -name '*.proto' | LC_ALL=C sort)
