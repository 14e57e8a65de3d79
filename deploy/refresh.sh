#!/bin/sh
# refresh.sh: one refresh of a mirrorsteer network. Probe every mirror,
# write the static tree from the snapshot, then publish it. The systemd
# timer (deploy/systemd), the GitHub Actions and GitLab CI jobs (deploy/ci)
# and the tests all run this script, so none of them can drift.
#
# Environment, with defaults:
#   MIRRORSTEER  the binary                         mirrorsteer (from PATH)
#   CONFIG       the inventory                      mirrors.toml
#   STATE        the snapshot probe merges into     state.json
#   OUT          the tree gen writes                out
#   GEOIP_CITY   MaxMind City database, used if the file exists
#                                                   /var/lib/GeoIP/GeoLite2-City.mmdb
#   GEOIP_ASN    MaxMind ASN database, used if the file exists
#                                                   /var/lib/GeoIP/GeoLite2-ASN.mmdb
#   PROBE_FLAGS  more probe flags, split at spaces  (none), e.g. "--timeout 5s"
#   GEN_FLAGS    more gen flags, split at spaces    (none), e.g. "--origin-dir /srv/origin"
#   PUBLISH      shell command run after gen, with OUT exported
#                                                   (none), e.g. 'rsync -a --delay-updates --delete "$OUT/" www:/srv/mirrors/'
#
# A failed probe (origin unreadable, bad inventory, bad snapshot) ends the
# run with its exit status: gen and PUBLISH do not run, and the tree and
# what was published stay as they were. gen swaps OUT in atomically, so
# readers never see half a tree.
set -eu

MIRRORSTEER=${MIRRORSTEER:-mirrorsteer}
CONFIG=${CONFIG:-mirrors.toml}
STATE=${STATE:-state.json}
OUT=${OUT:-out}
GEOIP_CITY=${GEOIP_CITY:-/var/lib/GeoIP/GeoLite2-City.mmdb}
GEOIP_ASN=${GEOIP_ASN:-/var/lib/GeoIP/GeoLite2-ASN.mmdb}
export OUT

# gen's GeoIP flags, as positional parameters so paths keep their spaces.
set --
if [ -f "$GEOIP_CITY" ]; then
	set -- "$@" --geoip-city "$GEOIP_CITY"
fi
if [ -f "$GEOIP_ASN" ]; then
	set -- "$@" --geoip-asn "$GEOIP_ASN"
fi

# The flag lists are split at spaces on purpose: they are lists of flags.
# shellcheck disable=SC2086
"$MIRRORSTEER" probe -c "$CONFIG" -o "$STATE" ${PROBE_FLAGS:-}
# shellcheck disable=SC2086
"$MIRRORSTEER" gen -c "$CONFIG" -s "$STATE" -o "$OUT" "$@" ${GEN_FLAGS:-}

if [ -n "${PUBLISH:-}" ]; then
	echo "refresh: publishing: $PUBLISH"
	sh -c "$PUBLISH"
fi
