#!/usr/bin/env bash
# gen.sh: time `mirrorsteer gen` and report its peak memory, on the
# example inventory and on a synthetic one of 2,000 mirrors, first run
# (everything written), second run (nothing changed) and third run
# (nothing changed, and the first generation removed: the steady state).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/mirrorsteer" ./cmd/mirrorsteer
go run ./bench/mkinventory -n "${MIRRORS:-2000}" > "$work/big.toml"

measure() { # name config out
	for run in first second third; do
		/usr/bin/time -f "%e %M" -o "$work/time" "$work/mirrorsteer" gen -c "$2" -o "$3" > "$work/out" 2>/dev/null
		read -r secs kib < "$work/time"
		printf '%-28s %-6s %7.2f s  %7.1f MiB peak RSS  %s\n' "$1" "$run" "$secs" "$(echo "$kib/1024" | bc -l)" "$(sed 's/^gen: [^:]*: //' "$work/out")"
	done
}
echo "gen: wall time and peak RSS ($(nproc) cores)"
measure "example (42 mirrors)" mirrors.toml "$work/out-example"
measure "synthetic (${MIRRORS:-2000} mirrors)" "$work/big.toml" "$work/out-big"
