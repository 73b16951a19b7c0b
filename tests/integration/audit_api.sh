#!/bin/sh
# tests/integration/audit_api.sh - the audit log as agencies, registrars and
# auditors meet it through the real daemon.
#
# What it proves, each with an "ok - ..." line:
#   - every API request leaves one leaf before its answer: verifications
#     (their transaction_id is the leaf's txid), a refused read (403), an
#     unknown number (404); the leaf names the agency, operation, purpose and
#     result, and a keyed hash of the Huduma Number, never the number itself;
#   - the resident's access history (registrar) lists exactly those accesses
#     of that person, and no one else's;
#   - `huduma agency add` and `revoke` while hudumad runs are appended within
#     the checkpoint interval (agency "@cli", op, target); a restart with a
#     changed configuration appends a config_change leaf ("@daemon");
#   - the checkpoint verifies with `huduma-audit` and the public key of
#     `huduma keys public`, and with openssl alone (the signed-note signature
#     is a DER ECDSA P-256 signature of the note text under key id
#     SHA-256(SPKI)[:4]);
#   - inclusion proofs verify (and fail, naming the index, for a changed
#     entry); a consistency proof between two checkpoints verifies and moves
#     the auditor's state; level-0 tiles are the RFC 9162 leaf hashes of the
#     entries (computed here with openssl), entry bundles hold the same leaves,
#     and the full audit passes with them;
#   - only auditors read the log, only registrars the access history; the
#     auditors' own reads leave no leaf, a refused attempt to read it does;
#   - `[audit] enabled = false` (for benchmarks) records nothing and says so
#     in the log and in /metrics (hudumad_audit_enabled 0); SIGTERM signs a last checkpoint covering every leaf; no
#     sanitizer report.
#
# How: the sanitized build, a fresh register with its own swtpm, curl and
# openssl; ldb (rocksdb-tools) reads the stopped daemon's last checkpoint from
# the audit log's database.
#
# Needs: HUDUMA_SAN_BIN, sh, curl, openssl, ldb, xxd, od.
set -eu

LIB_NAME=audit-api
. "$(dirname "$0")/lib/daemon.sh"
. "$(dirname "$0")/lib/audit.sh"
lib_init
audit_tools

huduma_init
for a in "kra verifier" "aud auditor" "regr registrar" "kit registration" "ops operator"; do
    # shellcheck disable=SC2086 # name and role
    add_agency $a
done
enrol_person KIT0091-000001 Otieno Achieng 1988-07-21 24681357
HN1=$HN
enrol_person KIT0091-000002 Wafula Achieng 1988-07-21 24681358
HN2=$HN
audit_key "$WORK/key.pem"
STATE=$WORK/auditor.state

start_daemon kra

# ---- requests and their leaves ----------------------------------------------------------------
PURPOSE='account opening'
: >"$WORK/txids"
for i in 1 2 3; do
    api kra POST /v1/verify "{\"huduma_number\":\"$HN1\",\"claims\":{\"surname\":\"Otieno\"}}"
    [ "$code" = 200 ] || fatal "verify: $code $(cat "$WORK/body")"
    { sed -n 's/.*"transaction_id":"\([0-9a-f]*\)".*/\1/p' "$WORK/body"; echo; } >>"$WORK/txids"
done
api kra POST /v1/verify "{\"huduma_number\":\"$HN2\",\"claims\":{\"surname\":\"Wafula\"}}"
api kra GET "/v1/persons/$HN1"
[ "$code" = 403 ] || fatal "a verifier reading a record: $code"
PURPOSE='resident asked for a copy'
api regr GET "/v1/persons/$HN1"
[ "$code" = 200 ] || fatal "the registrar reading a record: $code"
PURPOSE='account opening'
api kra POST /v1/verify '{"huduma_number":"100000000008","claims":{"surname":"Nobody"}}'
unknown_code=$code
sleep 1.5
fetch_log aud "$WORK/one"
E=$WORK/one/entries
missing=
while read -r tx; do
    grep -q "\"agency\":\"kra\",\"op\":\"verify\",\"purpose\":\"account opening\",\"subject\":\"[0-9a-f]\{32\}\",\"result\":200,\"txid\":\"$tx\"" "$E" ||
        missing="$missing $tx"
done <"$WORK/txids"
if [ -z "$missing" ] && [ "$(wc -l <"$WORK/txids")" -eq 3 ]; then
    ok "each verification's transaction_id is the txid of its leaf (agency, op, purpose, subject, result 200)"
else
    not_ok "verifications without their leaf:$missing"
fi
if grep -q '"agency":"kra","op":"read","purpose":"account opening","subject":"[0-9a-f]\{32\}","result":403' "$E" &&
    grep -q "\"agency\":\"kra\",\"op\":\"verify\".*\"result\":$unknown_code" "$E"; then
    ok "refused and failed requests are recorded too: a verifier's read (403), an unknown number ($unknown_code)"
else
    not_ok "the refused read or the unknown number left no leaf"
fi
if grep -q -e "$HN1" -e "$HN2" -e 'Otieno' -e 'Wafula' "$E"; then
    not_ok "the log discloses a Huduma Number or a name"
else
    ok "the log holds no Huduma Number and no name: subjects are keyed hashes"
fi
S1=$(grep '"op":"verify"' "$E" | head -n 1 | sed 's/.*"subject":"\([0-9a-f]*\)".*/\1/')
[ "$(grep -c "\"subject\":\"$S1\"" "$E")" -eq 5 ] ||
    not_ok "the first person's subject is in $(grep -c "\"subject\":\"$S1\"" "$E") leaves, not 5 (3 verifications, 2 reads)"

# ---- the resident's access history ------------------------------------------------------------
PURPOSE='resident access request'
api regr GET "/v1/persons/$HN1/accesses"
[ "$code" = 200 ] || fatal "access history: $code $(cat "$WORK/body")"
n_verify=$(grep -o '"agency":"kra","operation":"verify","purpose":"account opening","result":200' "$WORK/body" | wc -l)
n_refused=$(grep -o '"agency":"kra","operation":"read","purpose":"account opening","result":403' "$WORK/body" | wc -l)
n_read=$(grep -o '"agency":"regr","operation":"read","purpose":"resident asked for a copy","result":200' "$WORK/body" | wc -l)
if [ "$n_verify" = 3 ] && [ "$n_refused" = 1 ] && [ "$n_read" = 1 ] &&
    [ "$(grep -o '"index":' "$WORK/body" | wc -l)" = 5 ] && grep -q "$(head -n 1 "$WORK/txids")" "$WORK/body"; then
    ok "the registrar's access history of a person lists its 5 accesses (3 verifications, a refused read, a read), with time, agency, operation, purpose, result"
else
    not_ok "access history: verify $n_verify, refused $n_refused, read $n_read: $(head -c 600 "$WORK/body")"
fi
api regr GET "/v1/persons/$HN2/accesses"
if [ "$code" = 200 ] && [ "$(grep -o '"index":' "$WORK/body" | wc -l)" = 1 ]; then
    ok "the other person's history holds only their own verification"
else
    not_ok "the other person's history: $code $(head -c 300 "$WORK/body")"
fi
api regr GET "/v1/persons/$HN1/accesses?limit=2"
grep -q '"truncated":true' "$WORK/body" && [ "$(grep -o '"index":' "$WORK/body" | wc -l)" = 2 ] ||
    not_ok "limit=2: $(head -c 300 "$WORK/body")"

# ---- who may read what ------------------------------------------------------------------------
bad=
for probe in "kra /v1/audit/checkpoint" "regr /v1/audit/entries" "kit /v1/audit/tile/0/000.p/1" \
    "aud /v1/persons/$HN1/accesses" "kra /v1/persons/$HN1/accesses"; do
    ag=${probe%% *} path=${probe#* }
    api "$ag" GET "$path"
    [ "$code" = 403 ] || bad="$bad $ag:$path:$code"
done
[ -z "$bad" ] && ok "only auditors read the log and only registrars the access history (403 otherwise)" ||
    not_ok "permissions:$bad"
sleep 1.5
fetch_log aud "$WORK/again"
grep -q '"agency":"kra","op":"audit","purpose":"[^"]*","result":403' "$WORK/again/entries" &&
    ok "a refused attempt to read the log is itself recorded (op audit, 403)" ||
    not_ok "the refused attempt on /v1/audit/checkpoint left no leaf"
size_before=$(cat "$WORK/again/size")
fetch_log aud "$WORK/again2"
api aud GET "/v1/audit/proof/consistency?first=1&second=$size_before"
sleep 1.5
api aud GET /v1/audit/checkpoint
[ "$(sed -n 2p "$WORK/body")" = "$size_before" ] && ok "the auditors' reads of the log leave no leaf (tree size still $size_before)" ||
    not_ok "auditor reads grew the log from $size_before to $(sed -n 2p "$WORK/body")"

# ---- the checkpoint, with huduma-audit and with openssl ----------------------------------------
out=$("$AUDIT" --key "$WORK/key.pem" --state "$STATE" checkpoint "$WORK/one/checkpoint") ||
    fatal "huduma-audit checkpoint: $out"
ok "huduma-audit verifies the checkpoint with the key of huduma keys public: $out"
head -n 3 "$WORK/one/checkpoint" >"$WORK/note.text"
tail -n 1 "$WORK/one/checkpoint" | sed 's/.* //' | base64 -d >"$WORK/note.sig"
key_id=$(openssl pkey -pubin -in "$WORK/key.pem" -outform DER | openssl dgst -sha256 -binary | head -c 4 | xxd -p)
tail -c +5 "$WORK/note.sig" >"$WORK/note.der"
if [ "$(head -c 4 "$WORK/note.sig" | xxd -p)" = "$key_id" ] &&
    openssl dgst -sha256 -verify "$WORK/key.pem" -signature "$WORK/note.der" "$WORK/note.text" >/dev/null &&
    [ "$(tail -n 1 "$WORK/one/checkpoint" | cut -d ' ' -f 2)" = "$(head -n 1 "$WORK/one/checkpoint")" ] &&
    [ "$(sed -n 4p "$WORK/one/checkpoint")" = "" ]; then
    ok "openssl alone verifies the checkpoint: origin, size, root, blank line, \"— origin base64(key id || DER ECDSA)\", key id $key_id = SHA-256(SPKI)[:4]"
else
    not_ok "the checkpoint does not verify with openssl: $(cat "$WORK/one/checkpoint")"
fi

# ---- proofs, tiles, bundles ---------------------------------------------------------------------
N=$(cat "$WORK/one/size")
idx=$(($(grep -n "$(head -n 1 "$WORK/txids")" "$E" | cut -d: -f1) - 1))
api aud GET "/v1/audit/proof/inclusion?index=$idx&size=$N"
cp "$WORK/body" "$WORK/incl.json"
sed -n "$((idx + 1))p" "$E" >"$WORK/entry"
out=$("$AUDIT" --key "$WORK/key.pem" inclusion "$WORK/one/checkpoint" "$WORK/incl.json" "$WORK/entry") &&
    ok "the first verification's leaf (index $idx) is in the signed tree: $out" ||
    not_ok "inclusion of leaf $idx: $out"
sed 's/account opening/account closing/' "$WORK/entry" >"$WORK/entry.changed"
rc=0
out=$("$AUDIT" --key "$WORK/key.pem" inclusion "$WORK/one/checkpoint" "$WORK/incl.json" "$WORK/entry.changed") || rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "^FAIL: first bad index $idx: " &&
    ok "the same entry changed fails its inclusion proof: $out" || not_ok "a changed entry's inclusion: $rc $out"
i=1
good=0
while [ $i -le "$N" ]; do
    want=$(line_leaf_hash "$E" $i)
    got=$(tail -c +$(((i - 1) * 32 + 1)) "$WORK/one/leafhashes" | head -c 32 | xxd -p -c 64)
    [ "$want" = "$got" ] && good=$((good + 1))
    i=$((i + 1))
done
[ "$good" = "$N" ] && ok "the level-0 tile holds SHA-256(0x00 || leaf) of each of the $N entries (computed with openssl)" ||
    not_ok "only $good of $N level-0 tile hashes are the leaf hashes of the entries"
api aud GET "/v1/audit/tile/entries/000.p/$N"
first_len=$(head -c 2 "$WORK/body" | od -An -tu1 | awk '{ print $1 * 256 + $2 }')
if [ "$code" = 200 ] && [ "$first_len" = "$(head -n 1 "$E" | tr -d '\n' | wc -c)" ] &&
    [ "$(tail -c +3 "$WORK/body" | head -c "$first_len")" = "$(head -n 1 "$E")" ]; then
    ok "the entry bundle entries/000.p/$N starts with the first entry, length-prefixed ($first_len bytes)"
else
    not_ok "entry bundle: $code, first length $first_len"
fi
api aud GET /v1/audit/checkpoint
api aud GET "/v1/audit/tile/0/000.p/$(($(sed -n 2p "$WORK/body") + 1))"
[ "$code" = 404 ] || not_ok "a tile beyond the tree: $code, not 404"
api aud GET "/v1/audit/tile/0/x000/000"
[ "$code" = 400 ] || not_ok "a tile path with a leading x000 group: $code, not 400"
out=$("$AUDIT" --key "$WORK/key.pem" --state "$STATE" audit "$WORK/one/checkpoint" "$E" \
    --leaf-hashes "$WORK/one/leafhashes") && ok "the full audit passes: $out" || not_ok "full audit: $out"

# ---- acts of the operator, while the daemon runs ----------------------------------------------
add_agency late verifier
timeout "$T" "$HUDUMA" agency revoke late >/dev/null 2>"$WORK/revoke.err" || fatal "agency revoke: $(cat "$WORK/revoke.err")"
sleep 2.5 # the checkpointer takes the spool every second
fetch_log aud "$WORK/two"
if grep -q '"agency":"@cli","op":"agency_add","purpose":"huduma agency add --role verifier","target":"late","result":200' "$WORK/two/entries" &&
    grep -q '"agency":"@cli","op":"agency_revoke".*"target":"late"' "$WORK/two/entries" &&
    [ -z "$(ls "$HUDUMA_DIR/audit/spool")" ]; then
    ok "agency add and revoke while hudumad runs are appended from the spool (agency @cli, target late)"
else
    not_ok "the acts are not in the log: $(grep '@cli' "$WORK/two/entries" | tail -n 3)"
fi
N2=$(cat "$WORK/two/size")
api aud GET "/v1/audit/proof/consistency?first=$N&second=$N2"
cp "$WORK/body" "$WORK/cons.json"
out=$("$AUDIT" --key "$WORK/key.pem" --state "$STATE" consistency "$WORK/two/checkpoint" "$WORK/cons.json") &&
    cmp -s "$STATE" "$WORK/two/checkpoint" &&
    ok "a consistency proof from $N to $N2 verifies and moves the state: $out" ||
    not_ok "consistency $N to $N2: $out"

# ---- a restart with another configuration; logging off --------------------------------------------
sigterm_daemon
[ "$stop_status" = 0 ] || not_ok "SIGTERM: exit $stop_status"
leaves=$(ldb_nodes --key_hex --value_hex get 0x4D73697A65 | tr -d '\r\n' | sed 's/^0x//')
signed=$(ldb_nodes --hex get 0x4D636865636B706F696E74 | sed 's/^0x//' | xxd -r -p | sed -n 2p)
[ "$((0x$leaves))" = "$signed" ] && ok "SIGTERM signs a last checkpoint over all $signed leaves" ||
    not_ok "after SIGTERM the last checkpoint has $signed leaves, the tree $((0x$leaves))"
start_daemon kra
sleep 1.5
fetch_log aud "$WORK/three"
grep -q '"agency":"@daemon","op":"config_change"' "$WORK/three/entries" &&
    [ "$(grep -c '"op":"config_change"' "$WORK/three/entries")" -eq 2 ] &&
    ok "a start with another configuration appends a config_change leaf (@daemon, the file's SHA-256)" ||
    not_ok "config_change leaves: $(grep -c config_change "$WORK/three/entries")"
stop_daemon
config_extra() { printf '\n[audit]\nenabled = false\n'; }
start_daemon kra
N3=$(cat "$WORK/three/size")
api kra POST /v1/verify "{\"huduma_number\":\"$HN1\",\"claims\":{\"surname\":\"Otieno\"}}"
sleep 1.5
api aud GET /v1/audit/checkpoint
tree_off=$(sed -n 2p "$WORK/body")
api ops GET /metrics
if [ "$tree_off" = "$N3" ] && grep -q 'LOGGING IS OFF' "$LOG" &&
    grep -qx 'hudumad_audit_enabled 0' "$WORK/body" && ! grep -q '^hudumad_audit_journal' "$WORK/body"; then
    ok "[audit] enabled = false records nothing (tree still $N3) and says so in the log and /metrics"
else
    not_ok "logging off: tree $tree_off, was $N3; /metrics $code: $(grep '^hudumad_audit' "$WORK/body" | tr '\n' ';')"
fi
stop_daemon
no_sanitizer_report
echo "# $(($(date +%s) - STARTED)) s"
[ "$failures" -eq 0 ]
