# image/qemu.sh - what the image's boot tests share (sourced, never run): a
# work directory, a software TPM for the machine, QEMU booting the image's own
# kernel and initramfs with the root, data and provisioning disks on virtio,
# the console in a file, and bounded waits.  Everything started is stopped on
# exit, by the pid recorded when it was started.
#
# Use (after `set -eu`):
#   . "$(dirname "$0")/qemu.sh"
#   vm_init NAME                  checks, $W (removed on exit), traps
#   tpm_start                     swtpm for the machine, state in $W/tpm
#   vm_start ROOT_IMG [EXTRA_CMDLINE]   QEMU in the background; $W/console.log
#   wait_console PATTERN SECONDS  0 when the console shows PATTERN, 1 when QEMU
#                                 exited first, 2 on time out
#   vm_powerdown SECONDS          ACPI power button, then wait for QEMU to exit
#   vm_wait_exit SECONDS          wait for QEMU to exit by itself
#
# Settings: IMAGE_DIR (default build/image), HUDUMA_BIN (host tools, default
# build/rel/bin), IMAGE_TEST_TIMEOUT (seconds a boot may take; default 900
# without KVM, 300 with it).  KVM is used only when /dev/kvm is usable (the
# kvm_intel or kvm_amd module is loaded), else TCG with one CPU.  QEMU's user
# network is restricted (restrict=on: the guest reaches nothing) and forwards
# one port of 127.0.0.1 to the appliance's API port: $PORT.

ROOT_DIR=$(cd "$(dirname "$0")/.." && pwd)
IMAGE_DIR=${IMAGE_DIR:-$ROOT_DIR/build/image}
BIN=${HUDUMA_BIN:-$ROOT_DIR/build/rel/bin}
failures=0
qpid=
spid=
PORT=

ok() { echo "ok - $*"; }
not_ok() {
    failures=$((failures + 1))
    echo "not ok - $*"
}
fatal() {
    echo "not ok - $*"
    if [ -n "${W:-}" ] && [ -s "$W/console.log" ]; then
        echo "# last lines of the console:"
        tail -n 40 "$W/console.log" | tr -d '\r' | sed 's/^/#   /'
    fi
    exit 1
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
rand() { od -An -N4 -tu4 /dev/urandom | tr -d ' \n'; }

vm_stop_all() {
    if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
        kill -TERM "$qpid" 2>/dev/null || :
        i=0
        while kill -0 "$qpid" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$qpid" 2>/dev/null || :
        wait "$qpid" 2>/dev/null || :
    fi
    qpid=
    tpm_stop
}

vm_cleanup() {
    vm_stop_all
    if [ -n "${W:-}" ] && [ "${IMAGE_TEST_KEEP:-0}" != 1 ]; then rm -rf "$W"; fi
}

vm_init() { # NAME
    for f in vmlinuz initrd.img root.img cmdline; do
        [ -s "$IMAGE_DIR/$f" ] || {
            echo "not ok - no $IMAGE_DIR/$f: run make image first"
            exit 1
        }
    done
    for tool in qemu-system-x86_64 swtpm swtpm_ioctl socat curl tar timeout dumpe2fs debugfs journalctl; do
        command -v "$tool" >/dev/null 2>&1 || {
            echo "not ok - $tool is needed: run sh scripts/deps-image.sh"
            exit 1
        }
    done
    W=$(mktemp -d "${TMPDIR:-/tmp}/huduma-image-$1.XXXXXX")
    trap vm_cleanup EXIT
    trap 'exit 130' INT TERM HUP
    unset https_proxy HTTPS_PROXY http_proxy HTTP_PROXY all_proxy ALL_PROXY || :
    if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
        ACCEL="-accel kvm -cpu host -smp 2"
        BOOT_TIMEOUT=${IMAGE_TEST_TIMEOUT:-300}
        echo "# QEMU with KVM"
    else
        ACCEL="-accel tcg -cpu max -smp 1"
        BOOT_TIMEOUT=${IMAGE_TEST_TIMEOUT:-900}
        echo "# QEMU with TCG (no usable /dev/kvm): one CPU, boots take minutes"
    fi
}

# ---- the software TPM ---------------------------------------------------------------------

tpm_start() {
    mkdir -p -m 0700 "$W/tpm"
    rm -f "$W/tpm/ctrl.sock" "$W/tpm/swtpm.pid"
    # --terminate: swtpm exits when QEMU closes the control channel.
    swtpm socket --tpm2 --tpmstate "dir=$W/tpm,mode=0600" \
        --ctrl "type=unixio,path=$W/tpm/ctrl.sock,mode=0600" \
        --pid "file=$W/tpm/swtpm.pid" --log "file=$W/tpm/swtpm.log" --terminate --daemon ||
        fatal "swtpm did not start"
    i=0
    while [ ! -S "$W/tpm/ctrl.sock" ] || [ ! -s "$W/tpm/swtpm.pid" ]; do
        i=$((i + 1))
        [ $i -le 100 ] || fatal "swtpm did not come up in 5 s"
        sleep 0.05
    done
    spid=$(cat "$W/tpm/swtpm.pid")
}

tpm_stop() {
    [ -n "$spid" ] || return 0
    if [ "$(cat "/proc/$spid/comm" 2>/dev/null)" = swtpm ]; then
        swtpm_ioctl --unix "$W/tpm/ctrl.sock" -s >/dev/null 2>&1 || :
        i=0
        while [ "$(cat "/proc/$spid/comm" 2>/dev/null)" = swtpm ] && [ $i -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        if [ "$(cat "/proc/$spid/comm" 2>/dev/null)" = swtpm ]; then kill -KILL "$spid" 2>/dev/null || :; fi
    fi
    spid=
}

# ---- QEMU ---------------------------------------------------------------------------------

port_taken() { [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }

# vm_start ROOT_IMG [EXTRA]: boots the image in the background with the
# command line of the build (plus EXTRA); $W/data.img and $W/provision.img are
# attached when they exist, the TPM when tpm_start ran.
vm_start() {
    root=$1
    extra=${2:-}
    : >"$W/console.log"
    PORT=
    while [ -z "$PORT" ] || port_taken "$PORT"; do PORT=$(($(rand) % 30000 + 20000)); done
    set -- $ACCEL -machine q35 -m 1024 -nodefaults -no-user-config -display none -no-reboot \
        -serial "file:$W/console.log" \
        -monitor "unix:$W/monitor.sock,server=on,wait=off" \
        -kernel "$IMAGE_DIR/vmlinuz" -initrd "$IMAGE_DIR/initrd.img" \
        -append "$(cat "$IMAGE_DIR/cmdline") $extra" \
        -drive "file=$root,if=none,id=root,format=raw,readonly=on" \
        -device virtio-blk-pci,drive=root,serial=huduma-root \
        -netdev "user,id=n0,net=192.0.2.0/24,restrict=on,hostfwd=tcp:127.0.0.1:$PORT-:8443" \
        -device virtio-net-pci,netdev=n0
    if [ -f "$W/data.img" ]; then
        set -- "$@" -drive "file=$W/data.img,if=none,id=data,format=raw" \
            -device virtio-blk-pci,drive=data,serial=huduma-data
    fi
    if [ -f "$W/provision.img" ]; then
        set -- "$@" -drive "file=$W/provision.img,if=none,id=prov,format=raw" \
            -device virtio-blk-pci,drive=prov,serial=huduma-provision
    fi
    if [ -n "$spid" ]; then
        set -- "$@" -chardev "socket,id=chrtpm,path=$W/tpm/ctrl.sock" \
            -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0
    fi
    VM_T0=$(now_ms)
    # Bounded: QEMU is killed after twice the boot time out whatever happens.
    nice -n 5 timeout -s KILL $((BOOT_TIMEOUT * 2)) qemu-system-x86_64 "$@" >"$W/qemu.out" 2>&1 &
    qpid=$!
}

vm_running() { [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; }

wait_console() { # PATTERN SECONDS
    deadline=$(($(date +%s) + $2))
    while :; do
        if tr -d '\r' <"$W/console.log" | grep -q -e "$1"; then return 0; fi
        if ! vm_running; then
            tr -d '\r' <"$W/console.log" | grep -q -e "$1" && return 0
            return 1
        fi
        [ "$(date +%s)" -lt "$deadline" ] || return 2
        sleep 1
    done
}

vm_wait_exit() { # SECONDS: 0 when QEMU exited in time
    deadline=$(($(date +%s) + $1))
    while vm_running; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 1
    done
    wait "$qpid" 2>/dev/null || :
    qpid=
    return 0
}

vm_powerdown() { # SECONDS: the ACPI power button, then wait for QEMU to exit
    echo system_powerdown | socat - "UNIX-CONNECT:$W/monitor.sock" >/dev/null 2>&1 || :
    vm_wait_exit "$1"
}
