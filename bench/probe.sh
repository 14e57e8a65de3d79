#!/usr/bin/env bash
# probe.sh: time `mirrorsteer probe` on 1,000 local endpoints (500 mirrors
# over IPv4 and IPv6) of which 5% hang, and report its peak memory. The
# run must finish within 1.5 request timeouts.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/mirrorsteer" ./cmd/mirrorsteer
echo "probe: wall time and peak RSS ($(nproc) cores)"
go run ./bench/probenet -bin "$work/mirrorsteer" -endpoints "${ENDPOINTS:-1000}" -hang "${HANG:-0.05}" -timeout "${TIMEOUT:-5s}"
