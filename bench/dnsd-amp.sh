#!/usr/bin/env bash
# dnsd-amp.sh: how much dnsd amplifies a spoofed query, before and after
# response rate limiting. For the example network (mirrors.toml, its
# [dns] table), bench/dnsamp asks every name and type dnsd serves with the
# smallest query (no EDNS, EDNS, EDNS with a client cookie) and prints the
# largest reply/query ratios; then it floods one dnsd without RRL (--rrl
# 0) and one with the defaults (20/s, slip 2; --rrl-exempt "" so that a
# loopback source counts) with the query of the largest ratio from one
# address, and prints bytes back over bytes sent: what the victim of a
# reflection gets. Usage: bench/dnsd-amp.sh [queries] [rate/s]
# (default 10000 at 2000/s, 5 s).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
RATE=${2:-2000}
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/mirrorsteer" ./cmd/mirrorsteer
go build -o "$work/dnsamp" ./bench/dnsamp
go run ./internal/geo/geotest/cmd/mkgeoip "$work" >/dev/null
start() { # name flags...: starts a dnsd, sets addr
	local name=$1; shift
	"$work/mirrorsteer" dnsd -c mirrors.toml --geoip-city "$work/GeoIP2-City.mmdb" --geoip-asn "$work/GeoLite2-ASN.mmdb" \
		-l 127.0.0.1:0 --metrics "" --watch 0 "$@" 2>"$work/$name.log" &
	pids+=($!)
	addr=
	for _ in $(seq 100); do
		addr=$(sed -n 's/.*msg=listening addr=\(127\.0\.0\.1:[0-9]*\).*/\1/p' "$work/$name.log")
		[ -n "$addr" ] && return
		sleep 0.1
	done
	cat "$work/$name.log"
	exit 1
}
start off --rrl 0
off=$addr
start on --rrl-exempt ""
on=$addr
echo "== every name and type of mirrors.toml's [dns] zone, the smallest query for each"
"$work/dnsamp" -c mirrors.toml -s "$off" -table
echo "== before: no rate limit (--rrl 0)"
"$work/dnsamp" -c mirrors.toml -s "$off" -flood "$N" -rate "$RATE"
echo "== after: the defaults (--rrl 20 --rrl-slip 2)"
"$work/dnsamp" -c mirrors.toml -s "$off" -target "$on" -flood "$N" -rate "$RATE"
