#!/bin/sh
# image/test-verity.sh - one changed byte in the root image stops the boot
# (`make image-test` runs it after test-boot.sh).
#
# A copy of root.img gets one byte flipped (every bit inverted) in the middle
# of the squashfs, then boots with the build's command line, root hash and
# all.  The initramfs must refuse it: the console says the root image does
# not match its root hash, QEMU exits by itself (panic=10 reboots, and QEMU
# runs with -no-reboot), and nothing of the root ever ran (no huduma-data,
# no systemd).  The same check with a byte flipped in the hash tree follows,
# since a changed tree must not pass either.
set -eu
. "$(dirname "$0")/qemu.sh"

vm_init verity
size=$(stat -c %s "$IMAGE_DIR/root.img")
data_bytes=$(sed -n 's/.*huduma.verity_offset=\([0-9]*\).*/\1/p' "$IMAGE_DIR/cmdline")
[ -n "$data_bytes" ] || fatal "no huduma.verity_offset in $IMAGE_DIR/cmdline"

flip() { # FILE OFFSET: inverts every bit of one byte, checks that it changed
    before=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $((255 - before)))" |
        dd of="$1" bs=1 seek="$2" count=1 conv=notrunc status=none
    after=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    [ "$after" -eq $((255 - before)) ] || fatal "the byte at $2 did not change ($before -> $after)"
    echo "# byte $2 of the root image: $before -> $after"
}

boot_refused() { # WHAT OFFSET
    cp "$IMAGE_DIR/root.img" "$W/root.img"
    flip "$W/root.img" "$2"
    vm_start "$W/root.img"
    if vm_wait_exit "$BOOT_TIMEOUT"; then
        ok "$1: QEMU stopped by itself (the boot ended)"
    else
        fatal "$1: QEMU still runs after $BOOT_TIMEOUT s"
    fi
    log=$(tr -d '\r' <"$W/console.log")
    if echo "$log" | grep -q 'huduma-verity: the root image .* does not match its root hash'; then
        ok "$1: the initramfs refused the root image (verification failed)"
    else
        not_ok "$1: no refusal from huduma-verity on the console"
    fi
    if echo "$log" | grep -q -e 'huduma-data:' -e 'systemd\[1\]' -e 'Welcome to'; then
        not_ok "$1: the root ran (systemd or huduma-data on the console)"
    else
        ok "$1: nothing of the root ran"
    fi
    if echo "$log" | grep -q -e '(initramfs)' -e 'BusyBox'; then
        not_ok "$1: a shell was offered on the console"
    else
        ok "$1: no shell on the console"
    fi
    [ "$size" -gt 0 ]
}

boot_refused "a byte of the squashfs" $((data_bytes / 2))
boot_refused "a byte of the hash tree" $((data_bytes + (size - data_bytes) / 2))
[ "$failures" -eq 0 ]
