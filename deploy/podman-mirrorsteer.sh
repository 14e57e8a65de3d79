#!/bin/sh
# podman-mirrorsteer.sh: mirrorsteer from the container image, as a
# drop-in for the binary: the directory it works in (MIRRORSTEER_DATA,
# default the current one) is mounted at the same path, so every path in
# its arguments means the same inside. The refresh job in the image:
#   MIRRORSTEER=deploy/podman-mirrorsteer.sh MIRRORSTEER_DATA=/srv/mirrorsteer deploy/refresh.sh
# Host network, since probe reaches the mirrors and dnsd serves port 53
# (which needs --cap-add=NET_BIND_SERVICE in PODMAN_FLAGS for a port
# below 1024). PODMAN_FLAGS adds flags of your own, split at spaces.
#   IMAGE  localhost/mirrorsteer:latest
set -eu

data=${MIRRORSTEER_DATA:-$(pwd)}
# shellcheck disable=SC2086
exec podman run --rm --network=host --workdir "$data" -v "$data:$data" ${PODMAN_FLAGS:-} "${IMAGE:-localhost/mirrorsteer:latest}" "$@"
