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

# shellcheck disable=SC2086
exec sh "$(dirname "$0")/apt-missing.sh" deps-image $PACKAGES
