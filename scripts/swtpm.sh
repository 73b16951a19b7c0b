#!/bin/sh
# scripts/swtpm.sh - the embedded software TPM (swtpm) of a register, for
# machines without /dev/tpmrm0: `make run` and the tests start and stop it.
#
#   scripts/swtpm.sh start DIR    start swtpm for the register in DIR (idempotent)
#   scripts/swtpm.sh stop DIR     shut it down cleanly (its state is kept)
#   scripts/swtpm.sh status DIR   exit 0 when it runs
#   scripts/swtpm.sh tcti DIR     print the TCTI string that reaches it
#
# Its state (the TPM's seeds, the resident audit signing key) lives in
# DIR/tpm/ (mode 0700), next to the unix sockets DIR/tpm/swtpm.sock and
# DIR/tpm/swtpm.sock.ctrl (mode 0600): only the register's owner reaches it,
# and hudumad's network process, which hides that directory from itself, not
# at all.  Each start is a TPM power-on (startup-clear): the PCRs start from
# zero, as on a machine that booted.  swtpm logs nothing unless SWTPM_LOG=1
# (then DIR/tpm/swtpm.log, a line per command).  Its state is in the clear on
# the register's disk unless SWTPM_KEY_FILE names a passphrase file (kept off
# that disk): swtpm then encrypts its state with a key derived from it
# (AES-256-CBC, PBKDF2); every later start needs the same file.  Stopping sends the control
# channel's shutdown (swtpm_ioctl -s), then SIGTERM to the recorded pid if it
# is still a swtpm after 5 s, then SIGKILL.
set -eu

usage() {
    echo "usage: $0 start|stop|status|tcti DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
[ -d "$2" ] || mkdir -p -m 0700 "$2"
DIR=$(cd "$2" && pwd)
STATE=$DIR/tpm
SOCK=$STATE/swtpm.sock
PIDFILE=$STATE/swtpm.pid

# Whether PID is a live swtpm (not a zombie waiting to be reaped).
is_swtpm() {
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = swtpm ] &&
        [ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)" != Z ]
}

# The pid of this register's swtpm, or nothing.
running_pid() {
    [ -s "$PIDFILE" ] || return 0
    pid=$(cat "$PIDFILE")
    case $pid in '' | *[!0-9]*) return 0 ;; esac
    if is_swtpm "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$SOCK"; then
        echo "$pid"
    fi
}

start() {
    command -v swtpm >/dev/null 2>&1 || {
        echo "swtpm.sh: swtpm is not installed (Debian packages: swtpm swtpm-tools)" >&2
        exit 1
    }
    if [ -n "$(running_pid)" ]; then
        return 0
    fi
    mkdir -p -m 0700 "$STATE"
    chmod 0700 "$STATE"
    rm -f "$SOCK" "$SOCK.ctrl" "$PIDFILE"
    log=file=-
    if [ "${SWTPM_LOG:-0}" = 1 ]; then log=file=$STATE/swtpm.log; fi
    set --
    if [ -n "${SWTPM_KEY_FILE:-}" ]; then
        set -- --key "pwdfile=$SWTPM_KEY_FILE,mode=aes-256-cbc,kdf=pbkdf2"
    fi
    swtpm socket --tpm2 --tpmstate "dir=$STATE,mode=0600" "$@" \
        --server "type=unixio,path=$SOCK,mode=0600" \
        --ctrl "type=unixio,path=$SOCK.ctrl,mode=0600" \
        --flags not-need-init,startup-clear --daemon --pid "file=$PIDFILE" --log "$log"
    i=0
    while [ ! -S "$SOCK" ] || [ -z "$(running_pid)" ]; do
        i=$((i + 1))
        if [ $i -gt 100 ]; then
            echo "swtpm.sh: swtpm did not come up in 5 s ($STATE)" >&2
            exit 1
        fi
        sleep 0.05
    done
}

stop() {
    pid=$(running_pid)
    [ -n "$pid" ] || return 0
    swtpm_ioctl --unix "$SOCK.ctrl" -s >/dev/null 2>&1 || :
    i=0
    while is_swtpm "$pid"; do
        i=$((i + 1))
        if [ $i -eq 100 ]; then kill -TERM "$pid" 2>/dev/null || :; fi
        if [ $i -ge 200 ]; then
            kill -KILL "$pid" 2>/dev/null || :
            break
        fi
        sleep 0.05
    done
    rm -f "$SOCK" "$SOCK.ctrl" "$PIDFILE"
}

case $cmd in
start) start ;;
stop) stop ;;
status) [ -n "$(running_pid)" ] ;;
tcti) echo "swtpm:path=$SOCK" ;;
*) usage ;;
esac
