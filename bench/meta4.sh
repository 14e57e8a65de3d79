#!/usr/bin/env bash
# meta4.sh: gen --origin-dir over SIZE_GIB (default 10) GiB of files, run
# twice: the first hashes everything (sha-256, sha-512, pieces), the second
# must answer from the hash cache and take seconds. Files are sparse, so
# creating them is instant; hashing still reads every byte.
set -euo pipefail
cd "$(dirname "$0")/.."
gib=${SIZE_GIB:-10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/mirrorsteer" ./cmd/mirrorsteer
mkdir -p "$work/origin/isos"
for i in $(seq 1 $((gib * 4))); do
	truncate -s 256M "$work/origin/isos/image-$i.iso"
done
cat > "$work/mirrors.toml" <<TOML
[network]
name = "Bench"
origin = "https://origin.example.org/"
stamp = "TIME"
max_lag = "12h"

[[repo]]
name = "isos"
path = "isos/"
format = "files"

[[mirror]]
name = "m1"
country = "DE"
https = "https://m1.example.net/"

[[mirror]]
name = "m2"
country = "US"
https = "https://m2.example.net/"
TOML
echo "gen --origin-dir: $((gib * 4)) files, $gib GiB ($(nproc) cores)"
for run in first second; do
	/usr/bin/time -f "%e %M" -o "$work/time" "$work/mirrorsteer" gen -c "$work/mirrors.toml" -o "$work/out" --origin-dir "$work/origin" > "$work/log" 2>/dev/null
	read -r secs kib < "$work/time"
	printf '%-6s %7.2f s  %6.1f MiB peak RSS  %s\n' "$run" "$secs" "$(echo "$kib/1024" | bc -l)" "$(sed 's/^gen: [^:]*: //' "$work/log")"
done
