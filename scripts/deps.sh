#!/bin/sh
# scripts/deps.sh - installs the Debian 12 packages the appliance builds, runs and
# tests with, when any is missing.  Idempotent: a machine that has them all is not
# touched (no apt-get at all).  `make deps` runs it; `make run` and `make test` call
# `make deps` first.
set -eu

PACKAGES="
build-essential pkg-config clang llvm
libssl-dev librocksdb-dev rocksdb-tools libjansson-dev libcmocka-dev
liburing-dev libhttp-parser-dev libinih-dev libcbor-dev
curl openssl nginx
bpftool libbpf-dev libelf-dev zlib1g-dev iproute2 nftables netsniff-ng jq ethtool
swtpm swtpm-tools libtss2-dev tpm2-tools util-linux mount e2fsprogs perl xxd
"

# shellcheck disable=SC2086
exec sh "$(dirname "$0")/apt-missing.sh" deps $PACKAGES
