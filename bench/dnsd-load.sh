#!/usr/bin/env bash
# dnsd-load.sh: mirrorsteer dnsd beside gdnsd under resolver-like load, in
# one run on this machine: ecsload (shared/bench/ecsload) puts a different
# EDNS Client Subnet in every query, drawn from 200,000 /24s and /48s of a
# City database of a million networks over every country (bench/mkworld),
# as public resolvers send. Prints queries/s of each and the ratio
# dnsd/gdnsd, for:
#   1. random ECS: dnsd serving the synthetic world's 449 mirrors, gdnsd
#      its peer zone of 4 datacenters (peerbench's bycountry map), and
#      gdnsd in city auto mode with 254 of the world's mirrors as
#      datacenters (bench/gdnsdauto; 254 is gdnsd's limit); and dnsd's
#      frame: dnsd with one mirror and no GeoIP database, which answers
#      every asker alike and so does all of a query's work but the
#      asker's (no GeoIP lookup, no policy): how near gdnsd's map any
#      per-asker work could bring dnsd;
#   2. one fixed ECS, both serving the peer zone (bench/dnsd-peer);
#   3. random ECS with six reloads (three of state.json, three of the
#      GeoIP database): dnsd's queries/s in the second after each,
#      against the seconds just before it, and the same measure at three
#      moments without a reload (the machine's own noise);
# and dnsd's peak memory with ~4,300 mirrors and the million-network
# database. The generator's own CPU share is printed with each figure:
# on 2 cores it shares the machine with the server.
# Usage: bench/dnsd-load.sh [seconds] (default 10). ROUNDS=n runs of each
# server in turn for 1. and 2. (default 3; the medians are compared). R=dir
# keeps the world and the tools between runs (default /tmp/mirrorsteer-load).
# SECTIONS="1 3" runs only those parts (default all four). MIRRORSTEER=path
# measures that build instead of the tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD
DUR=${1:-10}
ROUNDS=${ROUNDS:-3}
SECTIONS=${SECTIONS:-1 2 3 4}
section() { [[ " $SECTIONS " == *" $1 "* ]]; }
R=${R:-/tmp/mirrorsteer-load}
SHARED=${SHARED:-$here/../shared}
[ -d "$SHARED/bench/ecsload" ] || SHARED=/work/shared
mkdir -p "$R"
export DEBIAN_FRONTEND=noninteractive
command -v gdnsd >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends gdnsd >/dev/null; }

if [ -n "${MIRRORSTEER:-}" ]; then cp "$MIRRORSTEER" "$R/mirrorsteer"; else go build -o "$R/mirrorsteer" ./cmd/mirrorsteer; fi
(cd "$SHARED/bench/ecsload" && go build -o "$R/ecsload" .)
if [ ! -s "$R/world/GeoIP2-City.mmdb" ]; then
	echo "writing the synthetic world (a million networks; about a minute)..." >&2
	go run ./bench/mkworld -o "$R/world" -networks 1000000 -dns -clients 0 >/dev/null
fi
if [ ! -s "$R/world4k/mirrors.toml" ]; then
	go run ./bench/mkworld -o "$R/world4k" -networks 50000 -dns -clients 0 -scale 10 >/dev/null
fi
[ -s "$R/prefixes.txt" ] || "$R/ecsload" -mkprefixes -city "$R/world/GeoIP2-City.mmdb" -n 200000 -out "$R/prefixes.txt"
head -1 "$R/prefixes.txt" > "$R/one-prefix.txt"
city=$R/world/GeoIP2-City.mmdb
asn=$R/world/GeoLite2-ASN.mmdb

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# gdnsd: peerbench's zone and bycountry map over the same City database.
G=$R/gdnsd
mkdir -p "$G/etc/zones" "$G/run" "$G/state"
GPORT=$(free_port)
cat > "$G/etc/config" <<EOF
options => { listen => [ 127.0.0.1:$GPORT ], run_dir => $G/run, state_dir => $G/state, udp_threads => 2, tcp_threads => 1 }
plugins => { geoip => {
  maps => { bycountry => {
    geoip2_db => $city
    datacenters => [ eu, us, ap, sa ]
    map => { EU => [ eu, us ], NA => [ us, eu ], AS => [ ap, us ], OC => [ ap, us ], SA => [ sa, us ], default => [ us, eu ] }
  } }
  resources => { dl => { map => bycountry, dcmap => { eu => mirror-eu.example.net., us => mirror-us.example.net., ap => mirror-ap.example.net., sa => mirror-sa.example.net. } } }
} }
EOF
cat > "$G/etc/zones/example.org" <<'EOF'
$TTL 300
@        SOA ns1 hostmaster ( 1 7200 1800 259200 300 )
@        NS  ns1
ns1      A   127.0.0.1
download 60 DYNC geoip!dl
EOF
gdnsd -c "$G/etc" -f start > "$G/gdnsd.log" 2>&1 &
GPID=$!
pids+=($GPID)

# wait_dns PORT LOG: waits until the server on PORT answers, else prints
# LOG and fails.
wait_dns() {
	for _ in $(seq 300); do
		dig +short +tries=1 +time=1 @127.0.0.1 -p "$1" example.org SOA >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat "$2"; exit 1
}
# start_dnsd NAME ARGS...: starts dnsd on a free port, sets DPORT and DPID.
start_dnsd() {
	local name=$1; shift
	DPORT=$(free_port)
	"$R/mirrorsteer" dnsd "$@" -l 127.0.0.1:$DPORT --metrics "" --watch 0 > "$R/$name.log" 2>&1 &
	DPID=$!
	pids+=($DPID)
	wait_dns $DPORT "$R/$name.log"
}

# load NAME PORT PID PREFIXES [extra]: one ecsload run against the server
# PID listening on PORT; prints its line with the generator's CPU share
# and the server's own CPU per query, in user space and in the kernel
# (from /proc/PID/stat: where two servers differ), sets QPS.
load() {
	local name=$1 port=$2 pid=$3 prefixes=$4; shift 4
	local out before after
	before=$(awk '{print $14, $15}' /proc/$pid/stat)
	out=$( { /usr/bin/time -f "cpu %U %S" "$R/ecsload" -s 127.0.0.1:$port -d ${DUR}s -c 4 -q 100 -warm 2 \
		-names download.example.org:A -prefixes "$prefixes" "$@"; } 2>&1 )
	after=$(awk '{print $14, $15}' /proc/$pid/stat)
	QPS=$(echo "$out" | sed -n 's/.*qps=\([0-9]*\).*/\1/p')
	local cpu
	cpu=$(echo "$out" | awk '/^cpu /{printf "%.0f", 100*($2+$3)/('"$DUR"'+2)/'"$(nproc)"'}')
	# Ticks over the whole run, warm-up included, over as many queries
	# at the measured rate.
	local per
	per=$(echo "$before $after" | awk -v n="$(( ${QPS:-1} * (DUR + 2) ))" -v hz="$(getconf CLK_TCK)" \
		'{printf "user %.2f sys %.2f us/query", ($3-$1)*1e6/hz/n, ($4-$2)*1e6/hz/n}')
	printf '%-34s qps=%-8s generator cpu=%s%%  server %s  %s\n' "$name" "$QPS" "$cpu" "$per" \
		"$(echo "$out" | grep -o 'lost=[0-9]* .*avg_ms=[0-9.]* p99_ms=[0-9.]*' | sed 's/noerror.*avg/avg/')"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }

wait_dns $GPORT "$G/gdnsd.log"
echo "== $(nproc) cores shared with the generator; ${DUR}s each after 2s of warm-up"
# versus TITLE PREFIXES: ROUNDS runs of gdnsd and of the running dnsd,
# alternating, so that both meet the same noise from other jobs; prints
# each run, the medians and their ratio.
# Each server of EXTRA ("label port pid", e.g. gdnsd in city auto mode,
# dnsd's frame) runs in every round too, and its median is read against
# both.
versus() {
	local title=$1 prefixes=$2 g=() d=() x=() e label port pid
	for r in $(seq "$ROUNDS"); do
		load "gdnsd, 4 datacenters ($r)" $GPORT $GPID "$prefixes"; g+=("$QPS")
		load "dnsd, $title ($r)" $DPORT $DPID "$prefixes"; d+=("$QPS")
		for e in "${!EXTRA[@]}"; do
			read -r port pid label <<< "${EXTRA[$e]}"
			load "$label ($r)" $port $pid "$prefixes"; x[$e]="${x[$e]:-} $QPS"
		done
	done
	local gm dm xm
	gm=$(median "${g[@]}"); dm=$(median "${d[@]}")
	echo "medians: gdnsd $gm, dnsd $dm; ratio dnsd/gdnsd: $(ratio "$dm" "$gm")"
	for e in "${!EXTRA[@]}"; do
		read -r port pid label <<< "${EXTRA[$e]}"
		xm=$(median ${x[$e]})
		echo "medians: $label $xm; ratio dnsd/it: $(ratio "$dm" "$xm"), it/gdnsd: $(ratio "$xm" "$gm")"
	done
}
EXTRA=()
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

if section 1; then
echo "== 1. a different ECS per query (200,000 /24s and /48s)"
start_dnsd world -c "$R/world/mirrors.toml" -s "$R/world/state.json" --geoip-city "$city" --geoip-asn "$asn"
# dnsd's frame (all of a query's work but the asker's): the peer zone cut
# to its first mirror, no GeoIP database.
mkdir -p "$R/frame"
cp bench/dnsd-peer/example.org.zone "$R/frame/"
awk '/^\[\[mirror\]\]/ {n++} n < 2' bench/dnsd-peer/mirrors.toml > "$R/frame/mirrors.toml"
start_dnsd frame -c "$R/frame/mirrors.toml"
EXTRA+=("$DPORT $DPID dnsd's frame")
# gdnsd doing what it can of dnsd's job: a datacenter per mirror, the
# nearest by distance (its limit is 254 a map).
port=$(free_port)
label="gdnsd, $(go run ./bench/gdnsdauto -c "$R/world/mirrors.toml" -s "$R/world/state.json" --geoip-city "$city" \
	-port $port -dir "$R/gdnsd-auto" | sed 's/ datacenters of .*/ mirrors, auto/')"
gdnsd -c "$R/gdnsd-auto/etc" -f start > "$R/gdnsd-auto/gdnsd.log" 2>&1 &
pids+=($!)
EXTRA+=("$port $! $label")
wait_dns $port "$R/gdnsd-auto/gdnsd.log"
start_dnsd world -c "$R/world/mirrors.toml" -s "$R/world/state.json" --geoip-city "$city" --geoip-asn "$asn"
versus "449 mirrors" "$R/prefixes.txt"
for e in "${EXTRA[@]}" "$DPORT $DPID"; do read -r _ pid _ <<< "$e"; kill "$pid"; wait "$pid" 2>/dev/null || true; done
EXTRA=()
fi

if section 2; then
echo "== 2. one fixed ECS, the peer zone"
start_dnsd peer -c bench/dnsd-peer/mirrors.toml --geoip-city "$city" --geoip-asn "$asn"
versus "peer zone" "$R/one-prefix.txt"
kill $DPID; wait $DPID 2>/dev/null || true
fi

if section 3; then
# Six reloads after three moments without one: a new state.json three
# times, 3 s apart, then a new GeoIP database three times, 10 s apart
# (indexed at a quarter speed, it takes 6-9 s under this load). Each is judged
# against the seconds just before it, not against the run's median: on a
# shared machine the steady rate drifts more over a run than a reload
# moves it.
echo "== 3. reloads under random-ECS load (3 of state.json 3 s apart, then 3 of the GeoIP database 10 s apart)"
cp "$R/world/state.json" "$R/state.json"
cp "$city" "$R/city.mmdb"
start_dnsd reload -c "$R/world/mirrors.toml" -s "$R/state.json" --geoip-city "$R/city.mmdb" --geoip-asn "$asn"
: > "$R/reloads.txt"
t0=$(date +%s.%N)
"$R/ecsload" -s 127.0.0.1:$DPORT -d 44s -c 4 -q 100 -warm 2 -v \
	-names download.example.org:A -prefixes "$R/prefixes.txt" 2> "$R/persec.txt" >/dev/null &
lp=$!
# Three moments without a reload first: the same measure there is this
# machine's own second-to-second noise, to read the reloads against.
at() { sleep "$(awk -v t0="$t0" -v t="$1" -v now="$(date +%s.%N)" 'BEGIN {d = t0 + t - now; print (d > 0 ? d : 0)}')"; }
for t in 5.3 6.6 7.9; do
	at "$t"
	echo "$(date +%s.%N) 2" >> "$R/reloads.txt"
done
for t in 9.5 12.5 15.5 18.5 28.5 38.5; do
	at "$t"
	if [ "${t%.5}" -lt 18 ]; then
		touch "$R/state.json"; kind=1
	else
		cp "$city" "$R/city.mmdb.new" && mv "$R/city.mmdb.new" "$R/city.mmdb"; kind=0
	fi
	echo "$(date +%s.%N) $kind" >> "$R/reloads.txt"
	kill -HUP $DPID
done
wait $lp 2>/dev/null || true
echo "  dnsd: $(grep -c 'msg=reloaded' "$R/reload.log") reloads; the last: $(grep 'msg=reloaded' "$R/reload.log" | tail -1 | cut -c1-100)"
# Second k of the generator covers [t0+k-1, t0+k). The second after a
# reload at t, in second k, is [t, t+1): the rest of second k and the
# start of second k+1, each at its own rate. It is judged against the
# mean of seconds k-2 and k-1.
grep -v -e warm -e drain "$R/persec.txt" | sed -n 's/^t=\([0-9]*\)s qps=\([0-9]*\)$/\1 \2/p' > "$R/qps.txt"
echo "  per second: $(awk '{printf "%s ", $2}' "$R/qps.txt")"
awk -v t0="$t0" 'NR == FNR {q[$1] = $2; next}
	{k = int($1 - t0) + 1; rest = t0 + k - $1; after = rest * q[k] + (1 - rest) * q[k+1]; before = (q[k-2] + q[k-1]) / 2
	 r = 100 * after / before; what = $2 == 2 ? "no reload" : $2 ? "reload, state.json" : "reload, GeoIP database"
	 printf "  %-24s at %4.1f s: %3.0f%% of the two seconds before\n", what, $1 - t0, r > "/dev/stderr"
	 print ($2 == 2 ? "none" : "reload"), r}' "$R/qps.txt" "$R/reloads.txt" 2>&1 >"$R/ratios.txt"
sort -k2 -n "$R/ratios.txt" | awk '$1 == "none" {n = n sprintf(" %.0f%%", $2)} $1 == "reload" {r[++k] = $2} END {
	printf "  reloads: lowest %.0f%%, median %.0f%% of the seconds before (the same measure without a reload:%s)\n", r[1], (r[3] + r[4]) / 2, n}'
kill $DPID; wait $DPID 2>/dev/null || true
fi
section 4 || exit 0
echo "== 4. memory: ~4,300 mirrors, the million-network City database"
start_dnsd mem -c "$R/world4k/mirrors.toml" --geoip-city "$city" --geoip-asn "$asn"
load "dnsd, ~4,300 mirrors" $DPORT $DPID "$R/prefixes.txt"
echo "  dnsd peak RSS: $(awk '/VmHWM/{printf "%.0f MiB", $2/1024}' /proc/$DPID/status)"
