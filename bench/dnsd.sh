#!/usr/bin/env bash
# dnsd.sh: queries/s of `mirrorsteer dnsd` under dnsperf on loopback, with
# the mix of the issue: 60% a steered name, 20% a static record, 20%
# NXDOMAIN; once without ECS (the source address decides) and once with
# an EDNS Client Subnet from Japan. The zone is the example network
# (mirrors.toml, 40 mirrors answering download) with the demo GeoIP
# databases. Usage: bench/dnsd.sh [seconds] (default 10).
# dnsperf sends one ECS subnet for a whole run, so both runs measure the
# cached path; `go test -bench . ./dnsd/` measures a cache miss.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
PORT=${PORT:-0} # 0: the kernel picks a free one (dnsd logs it)
if ! command -v dnsperf >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dnsperf >/dev/null
fi
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/mirrorsteer" ./cmd/mirrorsteer
go run ./internal/geo/geotest/cmd/mkgeoip "$work" >/dev/null
"$work/mirrorsteer" dnsd -c mirrors.toml --geoip-city "$work/GeoIP2-City.mmdb" --geoip-asn "$work/GeoLite2-ASN.mmdb" \
	-l 127.0.0.1:$PORT --metrics "" --watch 0 2>"$work/dnsd.log" &
pid=$!
for _ in $(seq 100); do
	addr=$(sed -n 's/.*msg=listening addr=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/dnsd.log")
	[ -n "$addr" ] && break
	sleep 0.1
done
[ -n "$addr" ] || { cat "$work/dnsd.log"; exit 1; }
PORT=$addr
# 10,000 queries: 6 steered, 2 static (ns1's address from [dns] ns), 2
# NXDOMAIN (distinct names) in every 10.
awk 'BEGIN { for (i = 0; i < 10000; i++) { k = i % 10
	if (k < 6) print "download.example.org A"; else if (k < 8) print "ns1.example.org A"; else print "nx" i ".example.org A" } }' > "$work/queries"
run() { # name extra...
	local name=$1; shift
	out=$(dnsperf -s 127.0.0.1 -p $PORT -d "$work/queries" -l "$DUR" -c 4 -T 1 -q 100 "$@" 2>&1)
	printf '%-10s %8.0f queries/s  avg %s ms  lost %s\n' "$name" \
		"$(echo "$out" | awk '/Queries per second/{print $4}')" \
		"$(echo "$out" | awk '/Average Latency/{printf "%.3f", $4*1000}')" \
		"$(echo "$out" | awk '/Queries lost/{print $3}')"
}
echo "dnsd under dnsperf, ${DUR}s each, 60% steered / 20% static / 20% NXDOMAIN, $(nproc) cores shared with dnsperf"
run "no ECS"
run "ECS JP" -E 8:00011800$(printf '%02x%02x%02x' 106 3 0)   # family 1, /24, scope 0, 106.3.0.0
