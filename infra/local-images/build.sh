#!/usr/bin/env bash
# Local stand-ins for the official base images, for machines that reach Debian's archive and PyPI but
# no container registry (`docker pull` fails). Built from Debian packages; nothing is pushed.
#
#   infra/local-images/build.sh            # then, for compose and the Dockerfiles:
#   eval "$(infra/local-images/build.sh --env)"
#
# What the stand-ins prove and what only the official images can: infra/NOTES.md ("Local stand-ins").
# Needs root (debootstrap), a running Docker engine, and debootstrap (Debian package).
set -euo pipefail
cd "$(dirname "$0")"

PREFIX=${LOCAL_IMAGE_PREFIX:-flightpath-local}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
declare -A TAGS=([python]=3.11 [postgres]=15 [redis]=7 [prometheus]=2)
declare -A VARS=([python]=PYTHON_IMAGE [postgres]=POSTGRES_IMAGE [redis]=REDIS_IMAGE [prometheus]=PROMETHEUS_IMAGE)

if [ "${1:-}" = "--env" ]; then
  for name in "${!TAGS[@]}"; do echo "export ${VARS[$name]}=$PREFIX/$name:${TAGS[$name]}"; done
  exit 0
fi

docker info >/dev/null 2>&1 || { echo "no Docker engine answers (start dockerd first)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

base=$PREFIX/debian:bookworm
if ! docker image inspect "$base" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
  echo "== $base: debootstrap from $MIRROR"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  tar -C "$work/rootfs" -c . | docker import - "$base" >/dev/null
fi

for name in python postgres redis prometheus; do
  image=$PREFIX/$name:${TAGS[$name]}
  ctx=$work/$name
  mkdir -p "$ctx"
  cp "$name.Dockerfile" "$ctx/Dockerfile"
  cp "$CA_BUNDLE" "$ctx/ca-certificates.crt"
  [ "$name" = postgres ] && cp postgres-entrypoint.sh "$ctx/"
  echo "== $image"
  docker build -q --build-arg "BASE=$base" -t "$image" "$ctx" >/dev/null
done
echo "built: $(for n in python postgres redis prometheus; do printf '%s ' "$PREFIX/$n:${TAGS[$n]}"; done)"
echo "use them: eval \"\$(infra/local-images/build.sh --env)\""
