#!/bin/sh
# tests/integration/audit_tpm_outage.sh - the TPM that signs the audit log's
# checkpoints goes away while hudumad serves, then comes back.
#
# What it proves, each with an "ok - ..." line:
#   - with the TPM gone (its swtpm stopped), verifications are still answered
#     200 (their leaves are durable in the journals; only the signature of a
#     checkpoint needs the TPM), and /metrics shows it: the checkpoint's
#     failures counted once a second, the signed checkpoint behind the tree;
#   - the daemon's log says so once, at the first failure (failures=1), not
#     once a second: a TPM away for a day must not fill the log;
#   - once the TPM is back (swtpm started again: a TPM power cycle), the next
#     checkpoint covers the whole tree again, with no restart of hudumad, and
#     the log says once that checkpoints are signed again, with as many failures
#     as /metrics counted;
#   - every transaction id answered, before and during the outage, is a leaf
#     of the log, and the full audit passes, consistent with the checkpoint the
#     auditor verified before the outage;
#   - no sanitizer report from the daemon.
#
# How: the sanitized build, a fresh register with its own swtpm
# (lib/swtpm.sh), curl.  Bounded: a few dozen requests, every wait at most
# 15 s, every command under `timeout`.
set -eu

LIB_NAME=audit-tpm-outage
. "$(dirname "$0")/lib/daemon.sh"
. "$(dirname "$0")/lib/audit.sh"
lib_init
audit_tools

audit_register KIT0094-000002 Wanjiru Akinyi 1988-11-23 28817364 ops:operator

signing_failures() { msum '^hudumad_audit_checkpoint_failures_total '; }
# all_signed: true when the latest checkpoint covers the whole tree (waits at most 15 s)
all_signed() {
    i=0
    while [ $i -lt 75 ]; do
        metrics
        tree=$(msum '^hudumad_audit_tree_leaves ')
        signed=$(msum '^hudumad_audit_checkpoint_leaves ')
        [ "$tree" -gt 0 ] && [ "$signed" = "$tree" ] && return 0
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

start_daemon kra
verify 5 "$WORK/before"
[ "$(count '^200 [0-9a-f]' "$WORK/before")" = 5 ] ||
    fatal "with the TPM up, not every verification was answered: $(sort "$WORK/before" | uniq -c)"
all_signed || fatal "with the TPM up, the checkpoint does not cover the tree: $signed of $tree"
fetch_log aud "$WORK/log.before"
out=$("$AUDIT" --key "$WORK/key.pem" --state "$STATE" audit "$WORK/log.before/checkpoint" \
    "$WORK/log.before/entries") || fatal "the log before the outage does not verify: $out"
[ "$(signing_failures)" = 0 ] || fatal "checkpoint failures before the outage: $(signing_failures)"
ok "with the TPM up: 5 verifications answered, the checkpoint covers all $tree leaves; $out"

# ---- the TPM goes away -------------------------------------------------------------------
swtpm_stop "$HUDUMA_DIR"
verify 10 "$WORK/during"
if [ "$(count '^200 [0-9a-f]' "$WORK/during")" = 10 ]; then
    ok "with the TPM gone, all 10 verifications are still answered 200"
else
    not_ok "with the TPM gone: $(sort "$WORK/during" | uniq -c | tr '\n' ';')"
fi
sleep 4 # at least three checkpoint intervals of 1 s, each failing
metrics
failures=$(signing_failures)
tree=$(msum '^hudumad_audit_tree_leaves ')
signed=$(msum '^hudumad_audit_checkpoint_leaves ')
if [ "$failures" -ge 3 ] && [ "$signed" -lt "$tree" ]; then
    ok "/metrics with the TPM gone: $failures checkpoint failures, the signed checkpoint at $signed of $tree leaves"
else
    not_ok "/metrics with the TPM gone: $failures checkpoint failures, signed $signed of $tree leaves"
fi
lines=$(count 'msg="audit: no checkpoint could be signed"' "$LOG")
if [ "$lines" = 1 ] && grep 'no checkpoint could be signed' "$LOG" | grep -q ' failures=1$'; then
    ok "the outage is logged once, at its first failure, not once a second ($failures failures so far)"
else
    not_ok "$lines log lines for $failures failed checkpoints: $(grep 'no checkpoint' "$LOG" | head -n 3 | tr '\n' ';')"
fi

# ---- the TPM is back ---------------------------------------------------------------------
swtpm_start "$HUDUMA_DIR"
if all_signed; then
    ok "with the TPM back, the checkpoint covers all $tree leaves again, without a restart"
else
    not_ok "with the TPM back, the checkpoint covers $signed of $tree leaves after 15 s: $(tail -n 3 "$LOG" | tr '\n' ';')"
fi
failures=$(signing_failures)
back=$(grep 'msg="audit: checkpoints are signed again"' "$LOG" || :)
if [ "$(echo "$back" | grep -c .)" = 1 ] && [ "$back" != "${back% failures=$failures}" ] &&
    [ "$(count 'msg="audit: no checkpoint could be signed"' "$LOG")" = 1 ]; then
    ok "the end of the outage is logged once, with its $failures failures"
else
    not_ok "after the outage ($failures failures), the log says: $(grep 'audit: ' "$LOG" | tail -n 4 | tr '\n' ';')"
fi
fetch_log aud "$WORK/log.after"
cat "$WORK/before" "$WORK/during" | cut -d ' ' -f 2 >"$WORK/txids"
answers_in_log "after the outage" "$WORK/txids" "$WORK/log.after"

sigterm_daemon
[ "$stop_status" = 0 ] && ok "hudumad stopped cleanly after the outage" ||
    not_ok "hudumad exited $stop_status on SIGTERM"
no_sanitizer_report
