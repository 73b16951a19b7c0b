#!/bin/sh
# tests/integration/audit_faults.sh - the disk under the audit journals
# fails while hudumad serves, and memory runs out as a leaf is queued: no
# answer leaves without its leaf, the daemon stays up, and once the disk is
# back nothing answered is missing.
#
# What it proves, each with an "ok - ..." line:
#   - with the journals' file system shut down (every write fails with EIO,
#     as on a disk that died), every verification gets 500 storage_error and
#     none gets 200: an answer is never sent without its leaf being durable;
#   - meanwhile the daemon is unharmed (/healthz answers), it logs the failed
#     journal writes at most once a second (a dead disk under load must not
#     flood the log), and its log names no Huduma Number;
#   - after the file system is mounted again and hudumad restarted, every
#     transaction id answered before the failure is a leaf of the log, the
#     full audit passes consistent with the checkpoint the auditor saw before,
#     and verifications are answered again;
#   - when queueing a leaf runs out of memory (every third time, by the
#     sanitized build's fault site HUDUMA_FAULT_JOURNAL_ADD), the pipelined
#     answers before it leave, a 500 storage_error takes its place, nothing
#     after it is answered, and the connection closes;
#   - no sanitizer report from any of the daemons.
#
# How: the sanitized build, a fresh register with its own swtpm, and
# <register>/audit/journal on an ext4 file system of its own (a loop-mounted
# image file under the test's directory), shut down with tests/tools/
# fs_shutdown (the shutdown ioctl xfstests uses).  Bounded: a few dozen curl
# requests, every command under `timeout`.
#
# Needs: root (mount, the shutdown ioctl), HUDUMA_SAN_BIN, mkfs.ext4 (e2fsprogs),
# mount, umount and losetup (mount), ldb, xxd, od.
set -eu

LIB_NAME=audit-faults
. "$(dirname "$0")/lib/daemon.sh"
. "$(dirname "$0")/lib/audit.sh"
lib_init
audit_tools
need_tools mkfs.ext4 mount umount losetup
[ "$(id -u)" -eq 0 ] || fatal "needs root: it mounts a file system and shuts it down"
SHUTDOWN=$SAN/../tools/fs_shutdown
[ -x "$SHUTDOWN" ] || fatal "no executable $SHUTDOWN"

huduma_init
add_agency kra verifier
add_agency aud auditor
enrol_person KIT0094-000001 Chebet Jepkoech 1991-03-09 30456781
printf '{"huduma_number":"%s","claims":{"surname":"Chebet"}}' "$HN" >"$WORK/verify.json"
audit_key "$WORK/key.pem"
STATE=$WORK/auditor.state

JOURNALS=$HUDUMA_DIR/audit/journal
IMAGE=$WORK/journal.img
mount_journals() {
    timeout "$T" mount -o loop "$IMAGE" "$JOURNALS" 2>"$WORK/mount.err" ||
        fatal "mount -o loop $IMAGE: $(cat "$WORK/mount.err")"
    mounted=1
}
unmount_journals() {
    timeout "$T" umount "$JOURNALS" 2>"$WORK/umount.err" ||
        fatal "umount $JOURNALS: $(cat "$WORK/umount.err")"
    mounted=
}
on_cleanup() {
    stop_daemon
    if [ -n "${mounted:-}" ]; then umount "$JOURNALS" 2>/dev/null || umount -l "$JOURNALS" || :; fi
}
truncate -s 48M "$IMAGE"
timeout "$T" mkfs.ext4 -q -F "$IMAGE" 2>"$WORK/mkfs.err" || fatal "mkfs.ext4: $(cat "$WORK/mkfs.err")"
mkdir -p "$JOURNALS"
mount_journals
config_extra() { printf '\n[audit]\njournal_mb = 8\n'; }

# verify N OUT: N verifications one at a time; each status and transaction id
# (or "-") as a line of OUT
verify() {
    : >"$2"
    i=0
    while [ $i -lt "$1" ]; do
        api kra POST /v1/verify @"$WORK/verify.json"
        tx=$(grep -o '"transaction_id":"[0-9a-f]*"' "$WORK/body" | cut -d '"' -f 4) || :
        err=$(grep -o '"code":"[a-z_]*"' "$WORK/body" | cut -d '"' -f 4) || :
        echo "$code ${tx:--} ${err:--}" >>"$2"
        i=$((i + 1))
    done
}
count() { grep -c "$1" "$2" || :; } # PATTERN FILE

start_daemon kra
verify 20 "$WORK/before"
[ "$(count '^200 [0-9a-f]' "$WORK/before")" = 20 ] ||
    fatal "before the failure, not every verification was answered: $(sort "$WORK/before" | uniq -c)"
sleep 1.5 # a checkpoint over them
fetch_log aud "$WORK/log.before"
out=$("$AUDIT" --key "$WORK/key.pem" --state "$STATE" audit "$WORK/log.before/checkpoint" \
    "$WORK/log.before/entries") || fatal "the log before the failure does not verify: $out"
ok "before the failure: 20 verifications answered; $out"

# ---- the disk fails ----------------------------------------------------------------------
"$SHUTDOWN" "$JOURNALS" || fatal "fs_shutdown $JOURNALS failed"
verify 10 "$WORK/during"
if [ "$(count '^500 - storage_error$' "$WORK/during")" = 10 ]; then
    ok "with the journals' disk failing, all 10 verifications got 500 storage_error"
else
    not_ok "with the journals' disk failing: $(sort "$WORK/during" | uniq -c | tr '\n' ';')"
fi
api kra GET /healthz
[ "$code" = 200 ] && ok "the daemon is unharmed: /healthz answers 200" ||
    not_ok "/healthz with the journals failing: $code $(cat "$WORK/body")"
failed_lines=$(count 'audit journal write failed' "$LOG")
withheld_lines=$(count 'answer withheld' "$LOG")
if [ "$failed_lines" -gt 0 ] && [ "$withheld_lines" -gt 0 ] && [ "$withheld_lines" -lt 10 ]; then
    ok "the failures are logged, not flooded: $failed_lines lines of failed writes, $withheld_lines of withheld answers for 10"
else
    not_ok "the daemon's log has $failed_lines lines of failed journal writes and $withheld_lines of withheld answers for 10"
fi
if grep -q "$HN" "$LOG"; then
    not_ok "the daemon's log names the Huduma Number verified"
else
    ok "the daemon's log names no Huduma Number"
fi

# ---- the disk is back --------------------------------------------------------------------
sigterm_daemon
echo "# hudumad stopped with status $stop_status in $stop_ms ms"
no_sanitizer_report
unmount_journals
mount_journals
start_daemon kra
sleep 1.5
fetch_log aud "$WORK/log.after"
cut -d ' ' -f 2 "$WORK/before" >"$WORK/before.txids"
answers_in_log "after the disk came back and a restart" "$WORK/before.txids" "$WORK/log.after"
verify 5 "$WORK/after"
[ "$(count '^200 [0-9a-f]' "$WORK/after")" = 5 ] &&
    ok "verifications are answered again once the disk is back" ||
    not_ok "after the restart: $(sort "$WORK/after" | uniq -c | tr '\n' ';')"
stop_daemon
no_sanitizer_report

# ---- memory runs out as a leaf is queued ---------------------------------------------------
# Every third leaf queued fails as out of memory: of four verifications
# pipelined on one connection, one of the first three is refused.
DAEMON_PREFIX="env HUDUMA_FAULT_JOURNAL_ADD=3"
start_daemon kra
DAEMON_PREFIX=
four_verifications() {
    body=$(cat "$WORK/verify.json")
    for _ in 1 2 3 4; do
        printf 'POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Purpose: fault test\r\n'
        printf 'Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' "${#body}" "$body"
    done
}
session oom kra four_verifications
got=$(statuses oom)
case "$got" in
500 | "200 500" | "200 200 500")
    if grep -q '"code":"storage_error"' "$WORK/oom.out" && [ "$s_rc" != 124 ]; then
        ok "out of memory queueing a leaf: the answers before it left, then 500 storage_error and the connection closed ($got)"
    else
        not_ok "out of memory queueing a leaf: statuses $got, s_client exit $s_rc, no storage_error body"
    fi
    ;;
*) not_ok "out of memory queueing a leaf: statuses '$got' (s_client exit $s_rc)" ;;
esac
api kra GET /healthz
[ "$code" = 200 ] && ok "the daemon is unharmed: /healthz answers 200" ||
    not_ok "/healthz after a leaf ran out of memory: $code $(cat "$WORK/body")"
stop_daemon
no_sanitizer_report
echo "# $(($(date +%s) - STARTED)) s"
[ "$failures" -eq 0 ]
