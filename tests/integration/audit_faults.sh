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
#   - meanwhile the daemon is unharmed: /healthz answers, and says 503
#     audit_unavailable (the last journal write failed), so that an operator or
#     a load balancer sees that nothing can be answered; it logs the failed
#     journal writes at most once a second (a dead disk under load must not
#     flood the log), and its log names no Huduma Number;
#   - after the file system is mounted again and hudumad restarted, every
#     transaction id answered before the failure is a leaf of the log, the
#     full audit passes consistent with the checkpoint the auditor saw before,
#     and verifications are answered again, /healthz 200;
#   - with the journals' file system frozen (fsfreeze: a write waits, as on a
#     disk that stopped answering), a verification is not answered, and once
#     it has waited over 2 s /healthz says 503 audit_unavailable, naming the
#     wait; thawed, the verification is answered 200 and /healthz 200 again;
#   - the operator's /metrics says the same: before the failure every answer's
#     leaf durable in the journals, the tree and the signed checkpoint holding
#     them; with the disk dead, a journal down and the 10 withheld answers'
#     leaves counted as failed; with it hung, the oldest answer's wait;
#   - one journal write failing (every third, by the sanitized build's fault
#     site HUDUMA_FAULT_JOURNAL_WRITE): its answer is withheld, and /healthz is
#     200 again within a few ticks with no further request (the ring writes
#     the journal's tail block again to try the disk), then requests are
#     answered;
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
# mount, umount and losetup (mount), fsfreeze (util-linux), ldb, xxd, od.
set -eu

LIB_NAME=audit-faults
. "$(dirname "$0")/lib/daemon.sh"
. "$(dirname "$0")/lib/audit.sh"
lib_init
audit_tools
need_tools mkfs.ext4 mount umount losetup fsfreeze
[ "$(id -u)" -eq 0 ] || fatal "needs root: it mounts a file system and shuts it down"
SHUTDOWN=$SAN/../tools/fs_shutdown
[ -x "$SHUTDOWN" ] || fatal "no executable $SHUTDOWN"

audit_register KIT0094-000001 Chebet Jepkoech 1991-03-09 30456781 ops:operator

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
    if [ -n "${frozen:-}" ]; then fsfreeze --unfreeze "$JOURNALS" 2>/dev/null || :; fi
    stop_daemon
    if [ -n "${mounted:-}" ]; then umount "$JOURNALS" 2>/dev/null || umount -l "$JOURNALS" || :; fi
}
truncate -s 48M "$IMAGE"
timeout "$T" mkfs.ext4 -q -F "$IMAGE" 2>"$WORK/mkfs.err" || fatal "mkfs.ext4: $(cat "$WORK/mkfs.err")"
mkdir -p "$JOURNALS"
mount_journals
config_extra() { printf '\n[audit]\njournal_mb = 8\n'; }

start_daemon kra
verify 20 "$WORK/before"
[ "$(count '^200 [0-9a-f]' "$WORK/before")" = 20 ] ||
    fatal "before the failure, not every verification was answered: $(sort "$WORK/before" | uniq -c)"
sleep 1.5 # a checkpoint over them
fetch_log aud "$WORK/log.before"
out=$("$AUDIT" --key "$WORK/key.pem" --state "$STATE" audit "$WORK/log.before/checkpoint" \
    "$WORK/log.before/entries") || fatal "the log before the failure does not verify: $out"
ok "before the failure: 20 verifications answered; $out"
metrics
durable=$(msum '^hudumad_audit_journal_leaves_total[{]ring="[0-9]+",result="durable"[}] ')
tree=$(msum '^hudumad_audit_tree_leaves ')
signed=$(msum '^hudumad_audit_checkpoint_leaves ')
if [ "$(msum '^hudumad_audit_enabled ')" = 1 ] && [ "$durable" = 20 ] && [ "$tree" -ge 20 ] &&
    [ "$signed" = "$tree" ] && [ "$(msum '^hudumad_audit_journal_up[{]')" = 2 ] &&
    [ "$(msum '^hudumad_audit_journal_writes_total[{]ring="[0-9]+",result="failed"[}] ')" = 0 ]; then
    ok "/metrics before the failure: 20 leaves durable in the journals, the tree $tree leaves, all signed, both journals up"
else
    not_ok "/metrics before the failure: $durable leaves durable, tree $tree, signed $signed: $(grep '^hudumad_audit' "$WORK/metrics" | tr '\n' ';')"
fi

# ---- the disk fails ----------------------------------------------------------------------
"$SHUTDOWN" "$JOURNALS" || fatal "fs_shutdown $JOURNALS failed"
verify 10 "$WORK/during"
if [ "$(count '^500 - storage_error$' "$WORK/during")" = 10 ]; then
    ok "with the journals' disk failing, all 10 verifications got 500 storage_error"
else
    not_ok "with the journals' disk failing: $(sort "$WORK/during" | uniq -c | tr '\n' ';')"
fi
api kra GET /healthz
if [ "$code" = 503 ] && grep -q '"code":"audit_unavailable"' "$WORK/body" &&
    grep -q "last write failed" "$WORK/body"; then
    ok "the daemon is unharmed, and says so: /healthz answers 503 audit_unavailable (the last journal write failed)"
else
    not_ok "/healthz with the journals failing: $code $(cat "$WORK/body")"
fi
metrics
lost=$(msum '^hudumad_audit_journal_leaves_total[{]ring="[0-9]+",result="failed"[}] ')
if [ "$lost" = 10 ] && [ "$(msum '^hudumad_audit_journal_up[{]')" -lt 2 ] &&
    [ "$(msum '^hudumad_audit_journal_writes_total[{]ring="[0-9]+",result="failed"[}] ')" -ge 1 ]; then
    ok "/metrics with the disk failing: a journal down, failed writes counted, the 10 withheld answers' leaves counted as failed"
else
    not_ok "/metrics with the disk failing: $lost leaves failed: $(grep '^hudumad_audit_journal' "$WORK/metrics" | tr '\n' ';')"
fi
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
api kra GET /healthz
[ "$code" = 200 ] && ok "with the disk back, /healthz answers 200" ||
    not_ok "/healthz after the disk came back: $code $(cat "$WORK/body")"

# ---- the disk hangs ----------------------------------------------------------------------
# Frozen, the journals' file system holds every write until it is thawed.
mkdir "$WORK/hung"
hung_verify() { # one verification in the background: files in hung/, its status to hung.code at the end
    API_OUT=$WORK/hung
    api kra POST /v1/verify @"$WORK/verify.json"
    echo "$code" >"$WORK/hung.code"
}
timeout "$T" fsfreeze --freeze "$JOURNALS" || fatal "fsfreeze --freeze $JOURNALS failed"
frozen=1
: >"$WORK/hung.code"
hung_verify &
hung_pid=$!
sleep 3 # over the 2 s an answer may wait for its leaf before /healthz says so
api kra GET /healthz
waiting=$(cat "$WORK/hung.code")
if [ "$code" = 503 ] && grep -q '"code":"audit_unavailable"' "$WORK/body" &&
    grep -q "waited [0-9]* ms for its audit leaf" "$WORK/body" && [ -z "$waiting" ]; then
    ok "with the journals' disk hung, the verification waits and /healthz answers 503: $(grep -o 'an answer has waited [0-9]* ms' "$WORK/body")"
else
    not_ok "with the journals' disk hung: /healthz $code $(cat "$WORK/body"); the verification got '$waiting'"
fi
metrics
wait_s=$(mmax '^hudumad_audit_journal_oldest_wait_seconds[{]')
if awk -v w="$wait_s" 'BEGIN { exit !(w >= 2 && w < 30) }'; then
    ok "/metrics with the disk hung: the oldest answer has waited ${wait_s} s for its leaf"
else
    not_ok "/metrics with the disk hung: oldest wait '$wait_s' s: $(grep '^hudumad_audit_journal_oldest' "$WORK/metrics" | tr '\n' ';')"
fi
timeout "$T" fsfreeze --unfreeze "$JOURNALS" || fatal "fsfreeze --unfreeze $JOURNALS failed"
frozen=
wait "$hung_pid" || :
api kra GET /healthz
if [ "$(cat "$WORK/hung.code")" = 200 ] && grep -q '"transaction_id":"[0-9a-f]*"' "$WORK/hung/body" &&
    [ "$code" = 200 ]; then
    ok "thawed, the verification that waited is answered 200 and /healthz answers 200"
else
    not_ok "after the thaw: the verification got '$(cat "$WORK/hung.code")' $(cat "$WORK/hung/body" "$WORK/hung/curl.err"), /healthz $code"
fi
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

# ---- one journal write fails, and the disk is fine again ---------------------------------
# Every third journal write fails as with EIO (HUDUMA_FAULT_JOURNAL_WRITE): the third
# verification's.  With no further request, the ring's next tick writes the journal's tail
# block again to try the disk (the fourth write), which succeeds: /healthz must be 200 again
# without any request that needs the log.
DAEMON_PREFIX="env HUDUMA_FAULT_JOURNAL_WRITE=3"
start_daemon kra
DAEMON_PREFIX=
verify 3 "$WORK/transient"
first=$(tr '\n' ';' <"$WORK/transient")
api kra GET /healthz
at_once=$code
tries=0
while [ "$code" != 200 ] && [ $tries -lt 30 ]; do
    sleep 0.1
    api kra GET /healthz
    tries=$((tries + 1))
done
if [ "$(count '^200 [0-9a-f]' "$WORK/transient")" = 2 ] &&
    [ "$(count '^500 - storage_error$' "$WORK/transient")" = 1 ] && [ "$code" = 200 ]; then
    ok "one journal write failed (its answer withheld); /healthz said $at_once at once and 200 within $((tries * 100)) ms, with no request: the ring tried the disk again"
else
    not_ok "one failed journal write: verifications $first /healthz $at_once at once, $code after $tries tries"
fi
verify 1 "$WORK/transient.after"
[ "$(count '^200 [0-9a-f]' "$WORK/transient.after")" = 1 ] &&
    ok "the next verification is answered" ||
    not_ok "after the failed write: $(cat "$WORK/transient.after")"
stop_daemon
no_sanitizer_report
echo "# $(($(date +%s) - STARTED)) s"
[ "$failures" -eq 0 ]
