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

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages:$missing" >&2
    echo "deps: run as root (or: sudo apt-get install$missing)" >&2
    exit 1
fi

echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
