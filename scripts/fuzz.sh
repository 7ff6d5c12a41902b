#!/usr/bin/env bash
# Runs every fuzz target in the given packages (default ./...) for FUZZTIME
# each (default 10s), one after the other: go test -fuzz takes one target in
# one package at a time. Targets are found with `go test -list`, so a new
# FuzzXxx is picked up without editing anything.
set -euo pipefail

GO="${GO:-go}"
FUZZTIME="${FUZZTIME:-10s}"
pkgs=("$@")
((${#pkgs[@]} > 0)) || pkgs=(./...)

ran=0
failed=()
# Only packages whose test files mention a fuzz target get a test binary
# built for listing; the rest would cost a compile for nothing.
while read -r pkg dir; do
	grep -qs '^func Fuzz' "$dir"/*_test.go || continue
	if ! list="$("$GO" test -list '^Fuzz' "$pkg" </dev/null)"; then
		echo "$list" >&2
		failed+=("$pkg (go test -list failed)")
		continue
	fi
	for target in $(grep '^Fuzz' <<<"$list" || true); do
		echo "fuzz: $pkg $target ($FUZZTIME)"
		if ! "$GO" test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" </dev/null; then
			failed+=("$pkg.$target")
		fi
		ran=$((ran + 1))
	done
done < <("$GO" list -f '{{.ImportPath}} {{.Dir}}' "${pkgs[@]}")

echo "fuzz: ran $ran targets, ${#failed[@]} failed"
if ((${#failed[@]} > 0)); then
	printf 'fuzz: failed: %s\n' "${failed[@]}" >&2
	exit 1
fi
