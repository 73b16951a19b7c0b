#!/bin/sh
# scripts/apt-missing.sh NAME PACKAGE... - installs those of the Debian packages
# that are not installed, and nothing else; NAME prefixes its messages.  The
# one body behind scripts/deps.sh and scripts/deps-image.sh.  A machine that has
# them all is not touched (no apt-get at all); without root it says what is
# missing and fails.
set -eu

name=$1
shift

missing=""
for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "$name: missing Debian packages:$missing" >&2
    echo "$name: run as root (or: sudo apt-get install$missing)" >&2
    exit 1
fi

echo "$name: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
