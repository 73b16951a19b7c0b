#!/bin/sh
# tests/integration/audit_tamper.sh - tampering with the audit log is caught
# by huduma-audit, which names the first bad index.
#
# What it proves, each with an "ok - ..." line:
#   - a clean log of 300+ entries (verifications, agency acts, the start's
#     configuration) passes the full audit with nothing but the public key;
#     the auditor keeps the checkpoint as its state and the entries as its copy;
#   - a leaf changed in RocksDB (ldb, daemon stopped): the full audit fails
#     with "first bad index" = that leaf, found through the log's own leaf
#     hashes (level-0 tiles) that still hash to the signed root;
#   - a leaf deleted from RocksDB: the log cannot serve the tile over it any
#     more (500), and the full audit names the deleted index from the
#     auditor's previous copy of the entries;
#   - a checkpoint signed by another key (an attacker's ECDSA key, with its own
#     key id, or claiming the log's key id): refused; the audit names the size
#     of the last tree it verified as the first index not vouched for;
#   - the tree truncated and regrown (leaves and tile hashes cut at about 200,
#     the stored checkpoint removed, the daemon restarted and fed more
#     requests, so that it signs a new, larger tree): the consistency proof
#     fails, and the full audit with the auditor's previous copy names index
#     200; a tree that shrank below the state is named at its new size;
#   - the daemon itself refuses to start on a log cut below its own last
#     checkpoint;
#   - no sanitizer report from the daemon.
#
# How: the sanitized build, a fresh register with its own swtpm
# (lib/daemon.sh), huduma-load for the bulk of the requests, curl for the
# auditor's fetches (lib/audit.sh), ldb (rocksdb-tools) for the tampering,
# openssl for the other key.  Every command is bounded by `timeout`.
#
# Needs: HUDUMA_SAN_BIN, sh, curl, openssl, ldb, xxd.
set -eu

LIB_NAME=audit-tamper
. "$(dirname "$0")/lib/daemon.sh"
. "$(dirname "$0")/lib/audit.sh"
lib_init
audit_tools

audit_register KIT0091-000001 Otieno Achieng 1988-07-21 24681357 kit:registration
printf '{"huduma_number":"%s","claims":{"surname":"Otieno","date_of_birth":"1988-07-21"}}' "$HN" >"$WORK/verify.json"

start_daemon kra
load_verifications kra 300 "$WORK/verify.json"
sleep 1.5 # the checkpointer signs within a second of the last leaf
fetch_log aud "$WORK/clean"
N0=$(cat "$WORK/clean/size")
[ "$N0" -ge 300 ] || fatal "the log has $N0 entries after 300 verifications"
out=$("$AUDIT" --key "$WORK/key.pem" --state "$STATE" audit "$WORK/clean/checkpoint" \
    "$WORK/clean/entries" --leaf-hashes "$WORK/clean/leafhashes") ||
    fatal "the clean log does not pass the full audit: $out"
ok "a clean log of $N0 entries passes the full audit ($out); the auditor keeps it as its state"
cmp -s "$STATE" "$WORK/clean/checkpoint" || not_ok "the state file is not the checkpoint verified"

# audit_expect NAME INDEX ARGS...: huduma-audit fails and names INDEX
audit_expect() {
    name=$1 want=$2
    shift 2
    rc=0
    out=$(timeout "$T" "$AUDIT" --key "$WORK/key.pem" "$@" 2>&1) || rc=$?
    if [ "$rc" = 1 ] && echo "$out" | grep -q "^FAIL: first bad index $want: "; then
        ok "$name: caught, $out"
    else
        not_ok "$name: huduma-audit exited $rc, expected FAIL naming index $want: $out"
    fi
}

restart() { # after tampering with the stopped daemon's database
    start_daemon kra
    sleep 1.5
}

# ---- a leaf changed ------------------------------------------------------------------------
stop_daemon
I=100
# the leaf's text with "verify" turned into "lookup", its stored hash left as it was
# shellcheck disable=SC2046 # KEY VALUE
set -- $(batch_edit $I change)
[ $# = 2 ] || fatal "cannot find the batch of leaf $I with ldb"
bkey=$1
orig=$(ldb_audit --key_hex --value_hex get "$bkey" | tr -d '\r\n')
[ "$2" != "$orig" ] || fatal "leaf $I does not say verify"
ldb_audit --key_hex --value_hex put "$bkey" "$2" >/dev/null
restart
fetch_log aud "$WORK/a"
grep -q '"op":"lookup"' "$WORK/a/entries" || fatal "the changed leaf is not served"
audit_expect "a leaf changed in RocksDB" $I --state "$STATE" audit "$WORK/a/checkpoint" \
    "$WORK/a/entries" --leaf-hashes "$WORK/a/leafhashes"
audit_expect "the same, found from the auditor's previous copy" $I --state "$STATE" audit \
    "$WORK/a/checkpoint" "$WORK/a/entries" --previous "$WORK/clean/entries"
stop_daemon
ldb_audit --key_hex --value_hex put "$bkey" "$orig" >/dev/null

# ---- a leaf deleted ------------------------------------------------------------------------
D=150
# shellcheck disable=SC2046 # KEY VALUE
set -- $(batch_edit $D delete)
bkey=$1
orig=$(ldb_audit --key_hex --value_hex get "$bkey" | tr -d '\r\n')
ldb_audit --key_hex --value_hex put "$bkey" "$2" >/dev/null
restart
fetch_log aud "$WORK/b"
[ "$(wc -l <"$WORK/b/entries")" -eq $(($(cat "$WORK/b/size") - 1)) ] ||
    not_ok "the log served $(wc -l <"$WORK/b/entries") entries for a tree of $(cat "$WORK/b/size") with one deleted"
if grep -q '^0/000 500$' "$WORK/b/tiles.failed"; then
    ok "the appliance will not serve the level-0 tile over a deleted leaf (500 storage_error)"
else
    not_ok "the level-0 tile over a deleted leaf: $(cat "$WORK/b/tiles.failed")"
fi
audit_expect "a leaf deleted from RocksDB" $D --state "$STATE" audit "$WORK/b/checkpoint" \
    "$WORK/b/entries" --previous "$WORK/clean/entries"
stop_daemon
ldb_audit --key_hex --value_hex put "$bkey" "$orig" >/dev/null
restart

# ---- a checkpoint signed by another key ----------------------------------------------------
fetch_log aud "$WORK/c"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/other.key" 2>/dev/null
openssl pkey -in "$WORK/other.key" -pubout -out "$WORK/other.pem"
head -n 3 "$WORK/c/checkpoint" >"$WORK/forged.text"
ORIGIN=$(head -n 1 "$WORK/c/checkpoint")
# forge NAME KEYID_HEX: the text signed by the other key, under NAME and KEYID
forge() {
    openssl dgst -sha256 -sign "$WORK/other.key" -out "$WORK/forged.sig" "$WORK/forged.text"
    { printf '%s' "$2" | xxd -r -p; cat "$WORK/forged.sig"; } | base64 -w 0 >"$WORK/forged.b64"
    { cat "$WORK/forged.text"; printf '\n\342\200\224 %s %s\n' "$1" "$(cat "$WORK/forged.b64")"; } \
        >"$WORK/forged"
}
other_id=$(openssl pkey -pubin -in "$WORK/other.pem" -outform DER | openssl dgst -sha256 -binary | head -c 4 | xxd -p)
log_id=$(openssl pkey -pubin -in "$WORK/key.pem" -outform DER | openssl dgst -sha256 -binary | head -c 4 | xxd -p)
forge "$ORIGIN" "$other_id"
rc=0
out=$("$AUDIT" --key "$WORK/key.pem" checkpoint "$WORK/forged") || rc=$?
if [ "$rc" = 1 ] && echo "$out" | grep -q "no signature by the log's key"; then
    ok "a checkpoint signed by another key is refused: $out"
else
    not_ok "a checkpoint signed by another key: exit $rc: $out"
fi
audit_expect "another key's checkpoint, in a full audit against the state" "$N0" --state "$STATE" \
    audit "$WORK/forged" "$WORK/c/entries"
forge "$ORIGIN" "$log_id"
rc=0
out=$("$AUDIT" --key "$WORK/key.pem" checkpoint "$WORK/forged") || rc=$?
if [ "$rc" = 1 ] && echo "$out" | grep -q "does not verify"; then
    ok "another key's signature under the log's key id is refused: $out"
else
    not_ok "another key's signature under the log's key id: exit $rc: $out"
fi
cmp -s "$STATE" "$WORK/clean/checkpoint" || not_ok "a failed audit changed the state file"

# ---- the tree truncated and regrown ---------------------------------------------------------
stop_daemon
K=$(batch_first 200) # cut where a batch of leaves starts
size_now=$(cat "$WORK/c/size")
# every leaf from K on, every tile hash covering them, the size, and the last checkpoint
ldb_audit --key_hex deleterange "0x42$(be64 "$K")" 0x43 >/dev/null
ldb_nodes --key_hex deleterange "0x4E08$(be64 $((K / 256)))" 0x4E09 >/dev/null
ldb_nodes --key_hex --value_hex put 0x4D73697A65 "0x$(be64 "$K")" >/dev/null
# First as a careless insider: the daemon's own last checkpoint gives it away.
rc=0
timeout "$T" "$HUDUMAD" --config "$WORK/hudumad.conf" >"$WORK/refused.out" 2>&1 || rc=$?
if [ "$rc" != 0 ] && grep -q "truncated" "$WORK/refused.out"; then
    ok "hudumad refuses to start on a log cut below its last checkpoint (exit $rc): $(grep -o 'the audit log has[^"]*' "$WORK/refused.out" | head -n 1)"
else
    not_ok "hudumad started on a truncated log (exit $rc): $(tail -n 3 "$WORK/refused.out")"
fi
ldb_nodes --key_hex delete 0x4D636865636B706F696E74 >/dev/null # and then hides it
restart
load_verifications kra $((size_now - K + 60)) "$WORK/verify.json"
sleep 1.5
fetch_log aud "$WORK/d"
N1=$(cat "$WORK/d/size")
[ "$N1" -gt "$N0" ] || fatal "the regrown log has $N1 entries, not more than $N0"
out=$("$AUDIT" --key "$WORK/key.pem" checkpoint "$WORK/d/checkpoint") ||
    fatal "the regrown log's checkpoint does not verify: $out"
ok "the regrown tree of $N1 entries carries a valid signature ($out): only history can catch it"
api aud GET "/v1/audit/proof/consistency?first=$N0&second=$N1"
[ "$code" = 200 ] || fatal "consistency proof: $code $(cat "$WORK/body")"
cp "$WORK/body" "$WORK/d/proof"
rc=0
out=$("$AUDIT" --key "$WORK/key.pem" --state "$STATE" consistency "$WORK/d/checkpoint" \
    "$WORK/d/proof") || rc=$?
if [ "$rc" = 1 ] && echo "$out" | grep -q "does not extend"; then
    ok "truncated and regrown: the log's own consistency proof fails against the state: $out"
else
    not_ok "truncated and regrown: consistency check exit $rc: $out"
fi
audit_expect "truncated and regrown" "$K" --state "$STATE" audit "$WORK/d/checkpoint" \
    "$WORK/d/entries" --previous "$WORK/clean/entries"
# A tree that shrank below the state is named where it ends.
stop_daemon
ldb_audit --key_hex deleterange "0x42$(be64 "$K")" 0x43 >/dev/null
ldb_nodes --key_hex deleterange "0x4E08$(be64 $((K / 256)))" 0x4E09 >/dev/null
ldb_nodes --key_hex --value_hex put 0x4D73697A65 "0x$(be64 "$K")" >/dev/null
ldb_nodes --key_hex delete 0x4D636865636B706F696E74 >/dev/null
start_daemon aud # started with another agency: /healthz itself leaves no leaf
sleep 1.5
fetch_log aud "$WORK/e"
audit_expect "truncated below the state" "$(cat "$WORK/e/size")" --state "$STATE" audit \
    "$WORK/e/checkpoint" "$WORK/e/entries"

stop_daemon
no_sanitizer_report
echo "# $(($(date +%s) - STARTED)) s"
[ "$failures" -eq 0 ]
