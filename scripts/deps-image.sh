#!/bin/sh
# scripts/deps-image.sh - installs the Debian 12 packages that `make image` and
# `make image-test` need on the build machine, when any is missing: debootstrap
# for the base system, squashfs-tools and cryptsetup-bin (veritysetup) for the
# verified root, QEMU and swtpm for the boot test.  Separate from scripts/deps.sh
# so that `make run` and `make test` never pull in the image tooling.
# Idempotent: a machine that has them all is not touched (no apt-get at all).
set -eu

PACKAGES="
debootstrap squashfs-tools cryptsetup-bin e2fsprogs tar zstd
qemu-system-x86 qemu-utils swtpm swtpm-tools curl openssl socat
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps-image: missing Debian packages:$missing" >&2
    echo "deps-image: run as root (or: sudo apt-get install$missing)" >&2
    exit 1
fi

echo "deps-image: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
