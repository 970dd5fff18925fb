#!/usr/bin/env bash
# Builds a Debian bookworm base image with Python 3.11 from Debian's own packages, for machines that reach
# Debian's archive but no container registry: debootstrap a minimal root file system, then `docker import` it.
#   deploy/docker/base-image.sh [TAG]        (default marketcast-base:bookworm; DOCKER, MIRROR override)
# An existing TAG is kept (FORCE=1 rebuilds): the image depends only on the bookworm archive.
set -euo pipefail
TAG="${1:-marketcast-base:bookworm}"
DOCKER="${DOCKER:-docker}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
if [ -z "${FORCE:-}" ] && "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
  echo "$TAG exists; reusing it (FORCE=1 rebuilds)"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "base-image: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 2; }
ROOT="$(mktemp -d "${TMPDIR:-/tmp}/marketcast-base.XXXXXX")"
trap 'rm -rf "$ROOT"' EXIT
# python3-venv brings pip into virtual environments (ensurepip; Debian's python3-pip would add 25 MB that the
# image does not use); libgomp1 is the OpenMP runtime of xgboost and the compiled kernels.
debootstrap --variant=minbase \
  --include=python3,python3-venv,libgomp1,ca-certificates \
  bookworm "$ROOT/rootfs" "$MIRROR" >"$ROOT/debootstrap.log" 2>&1 \
  || { tail -20 "$ROOT/debootstrap.log" >&2; exit 1; }
# Same sources as the official images (main, updates, security), then no caches or docs in the image.
cat >"$ROOT/rootfs/etc/apt/sources.list" <<SOURCES
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
SOURCES
chroot "$ROOT/rootfs" apt-get clean
rm -rf "$ROOT"/rootfs/var/lib/apt/lists/* "$ROOT"/rootfs/var/cache/apt/*.bin \
       "$ROOT"/rootfs/usr/share/doc/* "$ROOT"/rootfs/usr/share/man/* "$ROOT"/rootfs/usr/share/info/* \
       "$ROOT"/rootfs/usr/share/locale/* \
       "$ROOT"/rootfs/var/log/*.log "$ROOT"/rootfs/tmp/*
tar --numeric-owner -C "$ROOT/rootfs" -c . | "$DOCKER" import \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$TAG" >/dev/null
echo "built $TAG: $("$DOCKER" image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}')"
