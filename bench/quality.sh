#!/usr/bin/env bash
# quality.sh: how good the policy's answers are, on a synthetic world
# (bench/mkworld: 449 mirrors in 73 countries, 23 private, no coordinates;
# GeoIP databases with cities in every country; a client sample in every
# country and every declared ASN), printed by `mirrorsteer lookup --report`.
# Two runs:
#   1. the network as probe sees it: state.json with 4% of the mirrors
#      down, mirrors placed at the GeoIP location of the address probe
#      recorded, 20,000 clients (every country and ASN, the rest spread as
#      the networks are);
#   2. as issue 11's run on a real inventory: no snapshot, so every mirror
#      sits at its country's point, and about 1,500 clients, 4 in every
#      country and 2 in every ASN a mirror declares.
# Usage: bench/quality.sh [seed] (default 1). Each run ends with the
# targets of issue 11 and whether they are met. MIRRORSTEER=path runs
# another build (one that has lookup --report) on the same world.
set -euo pipefail
cd "$(dirname "$0")/.."
SEED=${1:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=${MIRRORSTEER:-$work/mirrorsteer}
[ -n "${MIRRORSTEER:-}" ] || go build -o "$bin" ./cmd/mirrorsteer
go run ./bench/mkworld -o "$work/world" -seed "$SEED" 2>/dev/null
go run ./bench/mkworld -o "$work/issue" -seed "$SEED" -clients 0 -per-asn 2 2>/dev/null
geo=(--geoip-city "$work/world/GeoIP2-City.mmdb" --geoip-asn "$work/world/GeoLite2-ASN.mmdb")
echo "== 1. the synthetic world as probe sees it (seed $SEED)"
"$bin" lookup -c "$work/world/mirrors.toml" -s "$work/world/state.json" "${geo[@]}" --report "$work/world/clients.txt" 2>/dev/null |
	sed "s|$work/||g"
echo
echo "== 2. as issue 11's run: no snapshot, mirrors at their country's point, 4 clients a country, 2 an ASN"
geo=(--geoip-city "$work/issue/GeoIP2-City.mmdb" --geoip-asn "$work/issue/GeoLite2-ASN.mmdb")
"$bin" lookup -c "$work/issue/mirrors.toml" "${geo[@]}" --report "$work/issue/clients.txt" 2>/dev/null |
	sed "s|$work/||g"
