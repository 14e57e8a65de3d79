#!/bin/sh
# geoip.sh: fetch MaxMind's GeoLite2 City and ASN databases into GEOIP_DIR
# (default geoip/) for a CI job, with geoipupdate built from source by Go
# (no other download tool needed). The account comes from the CI's secrets:
# GEOIPUPDATE_ACCOUNT_ID and GEOIPUPDATE_LICENSE_KEY (a free GeoLite2
# account at maxmind.com). Without them it says so and succeeds: gen then
# places mirrors without lat/lon at their country's point, and the edge
# snippet needs the databases on the edge itself anyway.
#
# On a server, use the geoipupdate package and its timer instead (see
# deploy/README.md); it writes /var/lib/GeoIP, which refresh.sh reads.
set -eu

GEOIP_DIR=${GEOIP_DIR:-geoip}
GEOIPUPDATE_VERSION=${GEOIPUPDATE_VERSION:-v7.0.1}

if [ -z "${GEOIPUPDATE_ACCOUNT_ID:-}" ] || [ -z "${GEOIPUPDATE_LICENSE_KEY:-}" ]; then
	echo "geoip: GEOIPUPDATE_ACCOUNT_ID and GEOIPUPDATE_LICENSE_KEY are not set: no GeoIP databases; mirrors without lat/lon stand at their country's point"
	exit 0
fi
mkdir -p "$GEOIP_DIR"
GEOIPUPDATE_EDITION_IDS=${GEOIPUPDATE_EDITION_IDS:-GeoLite2-City GeoLite2-ASN}
export GEOIPUPDATE_EDITION_IDS
go run "github.com/maxmind/geoipupdate/v7/cmd/geoipupdate@$GEOIPUPDATE_VERSION" -d "$GEOIP_DIR" -v
