#!/usr/bin/env bash
# dnsd-dnssec.sh: what signing the zone costs dnsd under resolver-like
# load. ecsload (shared/bench/ecsload, built here with a -do flag) puts a
# different EDNS Client Subnet in every query, drawn from 200,000 /24s
# and /48s of a City database of a million networks (bench/mkworld), as
# public resolvers send, all for download.example.org A (steered: the
# CNAME to the chosen mirror, and with DO its RRSIG). Two servers on the
# synthetic world's 449 mirrors, measured in turn, ROUNDS rounds (5):
#   unsigned                     the zone without [dns.dnssec]
#   signed, DO unset             the same zone signed (KSK + ZSK, ECDSA P-256)
#   signed, DO set               and every query with DO
# Prints queries/s of each round and its ratios to unsigned (taken in the
# same round, so that the machine's other work moves both), and their
# medians: the target is signed with DO within 10% of unsigned. Then the
# memory and time signing takes with ~4,300 mirrors (bench/dnssecmem).
# Usage: bench/dnsd-dnssec.sh [seconds] (default 10). R=dir keeps the
# world between runs (default /tmp/mirrorsteer-load, shared with
# dnsd-load.sh); this script's own files go in $R/dnssec.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
ROUNDS=${ROUNDS:-5}
R=${R:-/tmp/mirrorsteer-load}
SHARED=${SHARED:-$PWD/../shared}
[ -d "$SHARED/bench/ecsload" ] || SHARED=/work/shared
D=$R/dnssec
mkdir -p "$D"
export DEBIAN_FRONTEND=noninteractive
command -v dnssec-keygen >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends bind9-utils >/dev/null; }

go build -o "$D/mirrorsteer" ./cmd/mirrorsteer
# ecsload with -do: the shared tool, its queries' OPT with the DO bit.
rm -rf "$D/ecsload-src" && cp -r "$SHARED/bench/ecsload" "$D/ecsload-src" && chmod -R u+w "$D/ecsload-src"
cat > "$D/ecsload-src/do.go" <<'EOF'
package main

import "flag"

var setDO = flag.Bool("do", false, "set the DO bit (DNSSEC OK) in every query")
EOF
sed -i 's/m.SetEdns0(udpSize, false)/m.SetEdns0(udpSize, *setDO)/' "$D/ecsload-src/packet.go"
grep -q 'SetEdns0(udpSize, \*setDO)' "$D/ecsload-src/packet.go" || { echo "ecsload's packet.go changed: update the -do patch in $0" >&2; exit 1; }
(cd "$D/ecsload-src" && go build -o "$D/ecsload" .)

if [ ! -s "$R/world/GeoIP2-City.mmdb" ]; then
	echo "writing the synthetic world (a million networks; about a minute)..." >&2
	go run ./bench/mkworld -o "$R/world" -networks 1000000 -dns -clients 0 >/dev/null
fi
if [ ! -s "$R/world4k/mirrors.toml" ]; then
	go run ./bench/mkworld -o "$R/world4k" -networks 50000 -dns -clients 0 -scale 10 >/dev/null
fi
[ -s "$R/prefixes.txt" ] || "$D/ecsload" -mkprefixes -city "$R/world/GeoIP2-City.mmdb" -n 200000 -out "$R/prefixes.txt"
city=$R/world/GeoIP2-City.mmdb
asn=$R/world/GeoLite2-ASN.mmdb

# The keys, and signed copies of the worlds' inventories beside them.
rm -rf "$D/keys" && mkdir -p "$D/keys"
ksk=$(dnssec-keygen -q -K "$D/keys" -a ECDSAP256SHA256 -f KSK example.org)
zsk=$(dnssec-keygen -q -K "$D/keys" -a ECDSAP256SHA256 example.org)
for w in world world4k; do
	cp "$R/$w/mirrors.toml" "$D/$w.toml"
	printf '\n[dns.dnssec]\nkeys = ["keys/%s", "keys/%s"]\n' "$ksk" "$zsk" >> "$D/$w.toml"
	sed '/^\[dns.dnssec\]/,$d' "$D/$w.toml" > "$D/$w-unsigned.toml"
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# start_dnsd NAME ARGS...: starts dnsd on a free port, sets DPORT and DPID.
start_dnsd() {
	local name=$1; shift
	DPORT=$(free_port)
	"$D/mirrorsteer" dnsd "$@" -l "127.0.0.1:$DPORT" --metrics "" --watch 0 > "$D/$name.log" 2>&1 &
	DPID=$!
	pids+=("$DPID")
	for _ in $(seq 600); do
		dig +short +tries=1 +time=1 @127.0.0.1 -p "$DPORT" example.org SOA >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat "$D/$name.log"; exit 1
}

# load PORT [-do]: one ecsload run; sets QPS and prints its line.
load() {
	local port=$1; shift
	local out
	out=$("$D/ecsload" -s "127.0.0.1:$port" -d "${DUR}s" -c 4 -q 100 -warm 2 \
		-names download.example.org:A -prefixes "$R/prefixes.txt" "$@" 2>/dev/null)
	QPS=$(echo "$out" | sed -n 's/.*qps=\([0-9]*\).*/\1/p')
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a/b}'; }

echo "== $(nproc) cores shared with the generator; ${DUR}s each after 2s of warm-up; download.example.org A, a random ECS per query"
start_dnsd unsigned -c "$D/world-unsigned.toml" -s "$R/world/state.json" --geoip-city "$city" --geoip-asn "$asn"
UPORT=$DPORT
start_dnsd signed -c "$D/world.toml" -s "$R/world/state.json" --geoip-city "$city" --geoip-asn "$asn"
SPORT=$DPORT
grep -o 'signed, keys[^"]*' "$D/signed.log" | sed 's/^/  dnsd: /' | cut -c1-160
u=(); s=(); d=(); rs=(); rd=()
for round in $(seq "$ROUNDS"); do
	load "$UPORT"; u+=("$QPS")
	load "$SPORT"; s+=("$QPS")
	load "$SPORT" -do; d+=("$QPS")
	rs+=("$(ratio "${s[-1]}" "${u[-1]}")"); rd+=("$(ratio "${d[-1]}" "${u[-1]}")")
	printf 'round %d: unsigned %s, signed DO unset %s (%s), signed DO set %s (%s) q/s\n' "$round" "${u[-1]}" "${s[-1]}" "${rs[-1]}" "${d[-1]}" "${rd[-1]}"
done
echo "median: unsigned $(median "${u[@]}"), signed DO unset $(median "${s[@]}"), signed DO set $(median "${d[@]}") q/s"
echo "median ratio to unsigned in the same round: signed DO unset $(median "${rs[@]}"), signed DO set $(median "${rd[@]}")"
cleanup; pids=()

echo "== memory and time of signing: ~4,300 mirrors"
go run ./bench/dnssecmem -c "$D/world4k.toml" | sed 's/^/  /'
