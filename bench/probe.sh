#!/usr/bin/env bash
# probe.sh: measure `mirrorsteer probe` on local networks of real HTTP
# servers (bench/probenet) and print, per run, the endpoints, how many
# hang and stream endless bodies, the wall time, wall time / timeout,
# the peak RSS, and whether issue 14's targets are met:
#   1. 10,000 endpoints (5,000 mirrors over IPv4 and IPv6): 5% hang, 5%
#      stream an endless body for every metadata file, the rest are
#      healthy; probe's defaults (--timeout 30s). Within 1.5 timeouts,
#      peak RSS at most 300 MiB. Twice: with no previous state, then
#      from the first run's state.json (as from cron).
#   2. 40 mirrors (80 endpoints) streaming endless metadata: peak RSS at
#      most 100 MiB.
# ENDPOINTS, TIMEOUT and CONCURRENCY change the first. The exit status
# is 1 when a target is missed. The wall time is the whole process's:
# loading the inventory and writing the snapshot included.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/mirrorsteer" ./cmd/mirrorsteer
go build -o "$work/probenet" ./bench/probenet
status=0
echo "== ${ENDPOINTS:-10000} endpoints, 5% hanging, 5% endless"
"$work/probenet" -bin "$work/mirrorsteer" -endpoints "${ENDPOINTS:-10000}" -hang 0.05 -endless 0.05 \
	-timeout "${TIMEOUT:-30s}" ${CONCURRENCY:+-concurrency "$CONCURRENCY"} -max-rss 300 -runs 2 || status=1
echo
echo "== 40 mirrors streaming an endless repomd.xml"
"$work/probenet" -bin "$work/mirrorsteer" -endpoints 80 -hang 0 -endless 1 -timeout 5s -max-rss 100 || status=1
exit $status
