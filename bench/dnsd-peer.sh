#!/usr/bin/env bash
# dnsd-peer.sh: mirrorsteer dnsd beside gdnsd and PowerDNS in the shared
# peer benchmark (shared/bench/peerbench.sh, PEERBENCH to override), the
# same zone (bench/dnsd-peer/) from the same GeoIP databases. The last
# line is the ratio dnsd/gdnsd with ECS. Usage: bench/dnsd-peer.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD
PEERBENCH=${PEERBENCH:-$here/../shared/bench/peerbench.sh}
[ -x "$PEERBENCH" ] || PEERBENCH=/work/shared/bench/peerbench.sh
export R=${R:-${TMPDIR:-/tmp}/mirrorsteer-peerbench}
mkdir -p "$R"
go build -o "$R/mirrorsteer" ./cmd/mirrorsteer
export DNSD_CMD="$R/mirrorsteer dnsd -c $here/bench/dnsd-peer/mirrors.toml --geoip-city $R/geoip/GeoIP2-City.mmdb --geoip-asn $R/geoip/GeoLite2-ASN.mmdb -l 127.0.0.1:5358 --metrics '' --watch 0"
exec bash "$PEERBENCH" "${1:-10}"
