#!/bin/sh
# tests/integration/audit_crash.sh - hudumad killed with SIGKILL in the middle
# of a verification load: every answer that reached a client has its leaf in
# the audit log after the restart, and the log still verifies.
#
# What it proves, each with an "ok - ..." line:
#   - under load (huduma-load: 16 connections, 4 requests in flight on each,
#     plus 4 curl clients keeping every answer they get), SIGKILL leaves the
#     database in a state hudumad starts from: the last signed checkpoint is
#     still extended by the tree;
#   - every transaction_id a curl client received before the kill is the txid
#     of a leaf of the restarted log (a response is sent only after its leaf
#     is durable: group commit with a synced WAL);
#   - the full audit of the restarted log passes with nothing but the public
#     key, consistent with the checkpoint the auditor verified before the
#     crash; the same again after a second kill;
#   - no sanitizer report from the restarted daemon.
#
# How: the sanitized build, a fresh register with its own swtpm, huduma-load
# and curl as clients, kill -KILL on the daemon's pid.  Bounded: each client
# loop stops after 400 requests or when told, huduma-load after 20 s, every
# command under `timeout`.
#
# Needs: HUDUMA_SAN_BIN, sh, curl, openssl, ldb, xxd, od.
set -eu

LIB_NAME=audit-crash
. "$(dirname "$0")/lib/daemon.sh"
. "$(dirname "$0")/lib/audit.sh"
lib_init
audit_tools

audit_register KIT0093-000001 Kamau Wanjiru 1979-12-02 13572468
loads=
on_cleanup() {
    : >"$WORK/stop"
    for p in $loads; do kill "$p" 2>/dev/null || :; done
}

start_daemon kra
load_verifications kra 50 "$WORK/verify.json"
sleep 1.5
fetch_log aud "$WORK/before"
out=$("$AUDIT" --key "$WORK/key.pem" --state "$STATE" audit "$WORK/before/checkpoint" \
    "$WORK/before/entries") || fatal "the log before the crash does not verify: $out"
ok "before the crash: $out"

# client N ROUND: verifications one at a time, each answer's transaction_id kept
client() {
    i=0
    while [ $i -lt 400 ] && [ ! -e "$WORK/stop" ]; do
        c=$(timeout 10 curl -q -sS --noproxy '*' --cacert "$CA" --cert "$CERTS/kra.crt" \
            --key "$CERTS/kra.key" -H 'X-Purpose: crash test' -H 'Content-Type: application/json' \
            --data-binary @"$WORK/verify.json" -o "$WORK/c$1.body" -w '%{http_code}' \
            "https://127.0.0.1:$PORT/v1/verify" 2>/dev/null) || c=000
        if [ "$c" = 200 ]; then
            grep -o '"transaction_id":"[0-9a-f]*"' "$WORK/c$1.body" | cut -d '"' -f 4 >>"$WORK/answered.$2"
        fi
        i=$((i + 1))
    done
}

crash_round() { # ROUND
    rm -f "$WORK/stop"
    : >"$WORK/answered.$1"
    timeout 30 "$LOAD" --port "$PORT" --cert "$CERTS/kra.crt" --key "$CERTS/kra.key" --cacert "$CA" \
        --method POST --path /v1/verify --header 'X-Purpose: crash test load' \
        --header 'Content-Type: application/json' --body-file "$WORK/verify.json" \
        --connections 16 --pipeline 4 --duration 20 --warmup 0 >"$WORK/load.$1" 2>&1 &
    load_pid=$!
    loads="$load_pid"
    for n in 1 2 3 4; do
        client "$n" "$1" &
        loads="$loads $!"
    done
    # the kill comes once the load flows: 3 s and 10 answers kept, at most 20 s
    waited=0
    while [ $waited -lt 40 ] && { [ $waited -lt 6 ] || [ "$(wc -l <"$WORK/answered.$1")" -lt 10 ]; }; do
        sleep 0.5
        waited=$((waited + 1))
    done
    kill -KILL "$dpid"
    killed=$(date +%s)
    : >"$WORK/stop"
    kill "$load_pid" 2>/dev/null || : # its connections are gone; it would wait out its duration
    for p in $loads; do wait "$p" 2>/dev/null || :; done
    loads=
    wait "$tpid" 2>/dev/null || :
    dpid=
    answered=$(wc -l <"$WORK/answered.$1")
    [ "$answered" -gt 0 ] || fatal "round $1: no client got an answer before the kill"
    start_daemon kra
    ok "round $1: hudumad killed with SIGKILL under load ($answered answers kept by the curl clients), restarted $(($(date +%s) - killed)) s later"
    sleep 1.5
    fetch_log aud "$WORK/after.$1"
    answers_in_log "round $1, after the crash" "$WORK/answered.$1" "$WORK/after.$1"
}

crash_round 1
crash_round 2
stop_daemon
no_sanitizer_report
echo "# $(($(date +%s) - STARTED)) s"
[ "$failures" -eq 0 ]
