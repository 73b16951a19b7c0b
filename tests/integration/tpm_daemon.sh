#!/bin/sh
# tests/integration/tpm_daemon.sh - hudumad's master key sealed in a real TPM
# (swtpm): unsealed at start, refused when the machine changed, and reachable
# by the key process only.
#
# What it proves, each with an "ok - ..." line:
#   - `huduma init` seals the master key in the swtpm; people imported with
#     `huduma import` are read back over mutual TLS by a registrar after the
#     daemon starts (the key process unsealed the master key), again after a
#     daemon restart, and again after the TPM itself restarts (a reboot);
#   - the daemon is two processes: the network process (hudumad) has no way
#     to the TPM (in its mount namespace the swtpm socket directory is empty
#     and tpm2_getrandom fails, while it works from outside) and holds no
#     descriptor to it; the key process (hudumad-keys) is its child;
#   - core dumps are off for both (RLIMIT_CORE 0), and (release build) both
#     hold their secrets in locked memory excluded from dumps (VmLck > 0 and
#     mappings flagged "lo" and "dd" in smaps);
#   - PCR 7 extended with tpm2_pcrextend (as a changed boot would): hudumad
#     refuses to start, says the TPM refused because PCR 7 changed, exits 1,
#     and leaves every file of the register (outside the TPM's own state)
#     byte for byte and timestamp for timestamp as it was; after a TPM
#     restart (PCRs back to their boot values) it serves again;
#   - a sealed blob with one byte changed is refused ("altered"), and the
#     daemon serves again once the file is restored;
#   - `huduma keys public` prints keys/signing.pem, a P-256 public key.
#
# How: tests/integration/lib/daemon.sh (its swtpm: lib/swtpm.sh), the
# sanitized build, tpm2-tools, nsenter (util-linux).  Every command bounded.
set -eu

LIB_NAME=tpm-daemon
. "$(dirname "$0")/lib/daemon.sh"
lib_init
need_tools tpm2_pcrextend tpm2_getrandom nsenter sha256sum

# ---- helpers ------------------------------------------------------------------------------

# The register's files outside the TPM state, with size, mtime and digest.
fingerprint() {
    (
        cd "$HUDUMA_DIR"
        find . -path ./tpm -prune -o -type f -printf '%p %s %T@\n' | sort
        find . -path ./tpm -prune -o -type f -exec sha256sum {} + | sort
    )
}

# pids of the network process and of the key process of the running daemon
daemon_pids() {
    net_pid=$dpid
    key_pid=$(pgrep -P "$dpid" -x hudumad-keys || :)
}

# refused_start WHAT PATTERN: hudumad must exit 1 within 60 s, log PATTERN and touch nothing.
refused_start() {
    fingerprint >"$WORK/before"
    write_config 20000
    st=0
    timeout 60 "$HUDUMAD" --config "$WORK/hudumad.conf" >"$WORK/refused.out" 2>"$WORK/refused.log" ||
        st=$?
    fingerprint >"$WORK/after"
    if [ "$st" = 1 ] && grep -q "$2" "$WORK/refused.log" && cmp -s "$WORK/before" "$WORK/after"; then
        ok "$1: hudumad refuses to start (exit 1), says why, and touched nothing"
    else
        not_ok "$1: exit $st, log: $(tail -n 3 "$WORK/refused.log")"
        diff "$WORK/before" "$WORK/after" | head -n 5 | sed 's/^/#   /' || :
    fi
    grep -h 'level=error' "$WORK/refused.log" | head -n 1 | sed 's/^/#   /'
}

# read_back WHEN: the registrar reads every imported person; surnames match `huduma show`.
read_back() {
    bad=0
    n=0
    while read -r hn surname; do
        n=$((n + 1))
        api registrar GET "/v1/persons/$hn"
        if [ "$code" != 200 ] || ! grep -q "\"surname\": *\"$surname\"" "$WORK/body"; then
            bad=$((bad + 1))
        fi
    done <"$WORK/people"
    if [ "$bad" = 0 ] && [ "$n" -gt 0 ]; then
        ok "$1: the registrar reads all $n people over mutual TLS, each as stored"
    else
        not_ok "$1: $bad of $n people could not be read back"
    fi
}

# ---- a register sealed in the TPM ------------------------------------------------------------

huduma_init
add_agency registrar registrar
timeout "$T" "$HUDUMA" synth --seed 41 --count 30 --no-events >"$WORK/people.jsonl"
st=0
timeout "$T" "$HUDUMA" import "$WORK/people.jsonl" --acks >"$WORK/acks" 2>"$WORK/import.err" || st=$?
[ "$st" = 0 ] || [ "$st" = 2 ] || fatal "huduma import (exit $st): $(tail -n 2 "$WORK/import.err")"
for hn in $(awk -F '\t' '$3 == "assigned" { print $4 }' "$WORK/acks" | head -n 12); do
    timeout "$T" "$HUDUMA" show "$hn" >"$WORK/show.json"
    echo "$hn $(sed -n 's/^  "surname": "\(.*\)",$/\1/p' "$WORK/show.json")"
done >"$WORK/people"
[ -s "$WORK/people" ] || fatal "no person was imported"
if [ -s "$HUDUMA_DIR/keys/hierarchy" ] && [ ! -e "$HUDUMA_DIR/keys/master.key" ] &&
    [ ! -e "$HUDUMA_DIR/master.key" ]; then
    ok "huduma init sealed the master key in the swtpm (keys/hierarchy; no key file)"
else
    not_ok "huduma init left: $(ls "$HUDUMA_DIR" "$HUDUMA_DIR/keys" | tr '\n' ' ')"
fi

timeout "$T" "$HUDUMA" keys public >"$WORK/public.pem"
if cmp -s "$WORK/public.pem" "$HUDUMA_DIR/keys/signing.pem" &&
    openssl pkey -pubin -in "$WORK/public.pem" -noout -text 2>/dev/null | grep -q 'P-256'; then
    ok "huduma keys public prints the signing key's public key: a P-256 key, as in keys/signing.pem"
else
    not_ok "huduma keys public: $(head -c 200 "$WORK/public.pem")"
fi

start_daemon registrar
read_back "after the key process unsealed the master key"

# ---- two processes; only one reaches the TPM -----------------------------------------------

daemon_pids
if [ -n "$key_pid" ] && [ "$(cat "/proc/$key_pid/comm")" = hudumad-keys ]; then
    ok "the key process (hudumad-keys, pid $key_pid) is the daemon's child"
else
    not_ok "no key process under hudumad $dpid"
fi
SOCK=${HUDUMA_TCTI#swtpm:path=}
if TSS2_LOG=all+none tpm2_getrandom --hex 8 >/dev/null 2>&1 &&
    ! nsenter -t "$net_pid" -m env TSS2_LOG=all+none TPM2TOOLS_TCTI="$HUDUMA_TCTI" \
        tpm2_getrandom --hex 8 >/dev/null 2>&1 &&
    [ -z "$(nsenter -t "$net_pid" -m ls -A "$(dirname "$SOCK")")" ]; then
    ok "the network process cannot reach the TPM: in its mount namespace the swtpm directory is empty and tpm2_getrandom fails (it works from outside)"
else
    not_ok "the network process can reach the TPM"
fi
if ls -l "/proc/$net_pid/fd" 2>/dev/null | grep -q -e swtpm -e tpmrm; then
    not_ok "the network process holds a descriptor to the TPM"
else
    ok "the network process holds no descriptor to the TPM"
fi
core_off=1
for p in "$net_pid" "$key_pid"; do
    grep -q '^Max core file size *0 *0' "/proc/$p/limits" || core_off=0
done
if [ "$core_off" = 1 ]; then
    ok "core dumps are off for both processes (RLIMIT_CORE 0)"
else
    not_ok "core dumps: $(grep 'core' "/proc/$net_pid/limits")"
fi
sigterm_daemon
[ "$stop_status" = 0 ] || not_ok "hudumad exited $stop_status at SIGTERM"
if [ -n "$key_pid" ] && ! kill -0 "$key_pid" 2>/dev/null; then
    ok "the key process is gone after the daemon stopped"
else
    not_ok "the key process outlived the daemon"
fi

# Locked, undumpable memory: the sanitizers turn mlock into a no-op, so the release build.
REL=${HUDUMA_BIN:-}
if [ -n "$REL" ] && [ -x "$REL/hudumad" ]; then
    HUDUMAD_SAN=$HUDUMAD
    HUDUMAD=$REL/hudumad
    start_daemon registrar
    daemon_pids
    locked=1
    for p in "$net_pid" "$key_pid"; do
        kb=$(sed -n 's/^VmLck:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$p/status")
        [ "${kb:-0}" -gt 0 ] || locked=0
        grep '^VmFlags:' "/proc/$p/smaps" | grep -q ' lo .*dd\| dd .*lo' || locked=0
    done
    if [ "$locked" = 1 ]; then
        ok "both processes keep their secrets in locked memory excluded from core dumps (VmLck > 0; smaps: lo, dd)"
    else
        not_ok "locked memory: $(grep VmLck "/proc/$net_pid/status" "/proc/$key_pid/status" | tr '\n' ' ')"
    fi
    sigterm_daemon
    HUDUMAD=$HUDUMAD_SAN
else
    echo "# HUDUMA_BIN not set: the locked-memory check needs the release build"
fi

start_daemon registrar
read_back "after a daemon restart"
sigterm_daemon
swtpm_stop "$HUDUMA_DIR"
swtpm_start "$HUDUMA_DIR"
start_daemon registrar
read_back "after the TPM restarted too (a reboot)"
sigterm_daemon

# ---- a changed machine: PCR 7 extended --------------------------------------------------------

TSS2_LOG=all+none tpm2_pcrextend \
    7:sha256=0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000 ||
    fatal "tpm2_pcrextend"
refused_start "PCR 7 extended" "PCR 7 no longer holds the value it was sealed to"
swtpm_stop "$HUDUMA_DIR"
swtpm_start "$HUDUMA_DIR"
start_daemon registrar
read_back "after a reboot into the measured system (PCRs from zero again)"
sigterm_daemon

# ---- a tampered sealed blob ----------------------------------------------------------------------

cp "$HUDUMA_DIR/keys/hierarchy" "$WORK/hierarchy.good"
size=$(wc -c <"$HUDUMA_DIR/keys/hierarchy")
printf '\377' | dd of="$HUDUMA_DIR/keys/hierarchy" bs=1 seek=$((size - 10)) conv=notrunc 2>/dev/null
refused_start "a sealed blob with one byte changed" "altered"
cp "$WORK/hierarchy.good" "$HUDUMA_DIR/keys/hierarchy"
start_daemon registrar
read_back "with the sealed blob restored"
sigterm_daemon
[ "$stop_status" = 0 ] || not_ok "hudumad exited $stop_status at SIGTERM"

no_sanitizer_report
echo "# $(($(date +%s) - STARTED)) s"
[ "$failures" -eq 0 ]
