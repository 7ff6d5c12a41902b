#!/usr/bin/env bash
# Runs every fuzz target in the given packages (default ./...) for FUZZTIME
# each (default 10s), one after the other: go test -fuzz takes one target in
# one package at a time. Targets are found with `go test -list`, so a new
# FuzzXxx is picked up without editing anything. A table of the executions
# each target reached goes to stdout at the end and to FUZZREPORT (default
# tmp/fuzz.md), the figures BENCHMARKS.md quotes. FUZZFLAGS go to each
# go test (e.g. -fuzzminimizetime=0: go minimizes every new input for up
# to 60 s by default, which on a loaded machine and inputs of kilobytes,
# recordings and checkpoints, takes most of a run's time).
set -euo pipefail

GO="${GO:-go}"
FUZZTIME="${FUZZTIME:-10s}"
read -r -a fuzzflags <<<"${FUZZFLAGS:-}"
pkgs=("$@")
((${#pkgs[@]} > 0)) || pkgs=(./...)

report="${FUZZREPORT:-tmp/fuzz.md}"
mkdir -p "$(dirname "$report")"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
rows=()

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
		status=ok
		start=$SECONDS
		if ! "$GO" test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" ${fuzzflags[@]+"${fuzzflags[@]}"} "$pkg" </dev/null 2>&1 | tee "$log"; then
			failed+=("$pkg.$target")
			status=FAILED
		fi
		# go test -fuzz's progress lines: "fuzz: elapsed: 3s, execs: 12345 (4115/sec), new interesting: 7 (total: 30)".
		last="$(grep -E 'fuzz: elapsed: .*execs: ' "$log" | tail -n 1 || true)"
		execs="$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")"
		corpus="$(sed -nE 's/.*\(total: ([0-9]+)\).*/\1/p' <<<"$last")"
		rows+=("| ${pkg#github.com/parallax-robotics/parallax/} | $target | ${execs:-?} | ${corpus:-?} | $((SECONDS - start)) s | $status |")
		ran=$((ran + 1))
	done
done < <("$GO" list -f '{{.ImportPath}} {{.Dir}}' "${pkgs[@]}")

{
	echo "| package | target | executions | corpus | time | result |"
	echo "|---|---|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
} | tee "$report"
echo "fuzz: ran $ran targets, ${#failed[@]} failed (table in $report)"
if ((${#failed[@]} > 0)); then
	printf 'fuzz: failed: %s\n' "${failed[@]}" >&2
	exit 1
fi
