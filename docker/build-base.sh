#!/usr/bin/env bash
# Build a local stand-in for the official python:3.11-slim image from Debian bookworm.
#
# Only for machines that cannot pull from an image registry: the Dockerfile's FROM then
# resolves to this locally imported image instead. On a normal machine nothing here is
# needed; `docker build` pulls python:3.11-slim itself.
#
# Usage:
#   docker/build-base.sh rootfs [TARBALL]     # debootstrap bookworm + python3.11 into a tarball
#   docker/build-base.sh import [TARBALL] [TAG] # docker import the tarball as TAG
#   docker/build-base.sh all    [TARBALL] [TAG] # both (skips debootstrap if TARBALL exists)
#
# Environment:
#   DEBIAN_MIRROR  mirror to debootstrap from; default: the one this machine's apt uses.
#   DOCKER         docker client to call (default: docker).
set -euo pipefail

action=${1:-all}
tarball=${2:-${RECONBENCH_BASE_TARBALL:-/var/tmp/reconbench-base-bookworm-py311.tar}}
tag=${3:-python:3.11-slim}
docker_cli=${DOCKER:-docker}

# The mirror apt already reaches: the first bookworm entry of the deb822 or one-line sources.
detect_mirror() {
    local uri
    uri=$(grep -hs -A3 '^Types:.*deb' /etc/apt/sources.list.d/*.sources \
            | awk '/^URIs:/ {print $2}' | grep -v security | head -n1 || true)
    if [[ -z "$uri" ]]; then
        uri=$(grep -hs -E '^deb +(\[[^]]*\] +)?[a-z]+://' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
                | grep -v security | awk '{for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; exit}}' || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

build_rootfs() {
    if [[ -s "$tarball" ]]; then
        echo "build-base: reusing $tarball"
        return
    fi
    command -v debootstrap >/dev/null || {
        echo "build-base: debootstrap is missing; install it with 'apt-get install -y debootstrap'" >&2
        exit 1
    }
    local mirror rootfs
    mirror=${DEBIAN_MIRROR:-$(detect_mirror)}
    rootfs=$(mktemp -d /var/tmp/reconbench-rootfs.XXXXXX)
    # Always remove the half-built tree, also on failure or interrupt.
    trap 'rm -rf "$rootfs"' EXIT
    echo "build-base: debootstrap bookworm from $mirror into $rootfs"
    # minbase + what python:3.11-slim offers the Dockerfile: python3.11 with venv/ensurepip,
    # a `python` command, CA certificates and useradd (passwd).
    debootstrap --variant=minbase \
        --include=python3,python3-venv,python-is-python3,ca-certificates,passwd \
        bookworm "$rootfs" "$mirror"
    # Same trimming as the official slim images: no apt lists, caches, docs or man pages.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/usr/share/doc/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log
    tar --numeric-owner -C "$rootfs" -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf "$rootfs"
    trap - EXIT
    echo "build-base: wrote $tarball ($(du -h "$tarball" | cut -f1))"
}

import_image() {
    [[ -s "$tarball" ]] || { echo "build-base: $tarball is missing; run '$0 rootfs' first" >&2; exit 1; }
    echo "build-base: importing $tarball as $tag"
    "$docker_cli" import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["python3"]' \
        "$tarball" "$tag"
}

case "$action" in
    rootfs) build_rootfs ;;
    import) import_image ;;
    all) build_rootfs; import_image ;;
    *) echo "usage: $0 {rootfs|import|all} [TARBALL] [TAG]" >&2; exit 2 ;;
esac
