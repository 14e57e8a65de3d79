#!/bin/sh
# container-build.sh: build the mirrorsteer image from this checkout with
# podman (or buildah: BUILDER=buildah), FROM scratch, pulling nothing.
#   IMAGE    the tag to build              localhost/mirrorsteer:latest
#   BUILDER  podman or buildah             podman
set -eu

IMAGE=${IMAGE:-localhost/mirrorsteer:latest}
BUILDER=${BUILDER:-podman}
here=$(cd "$(dirname "$0")" && pwd)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

version=$(git -C "$here/.." describe --always --dirty 2>/dev/null || echo dev)
(cd "$here/.." && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$ctx/mirrorsteer" ./cmd/mirrorsteer)
cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
case $BUILDER in
buildah) buildah bud -f "$here/Containerfile" -t "$IMAGE" "$ctx" ;;
*) podman build -f "$here/Containerfile" -t "$IMAGE" "$ctx" ;;
esac
echo "built $IMAGE"
