# tests/integration/lib/audit.sh - what the audit log's integration scripts
# share, on top of lib/daemon.sh (source that first): fetching the log as an
# auditor does, hashing leaves in the shell, and editing the audit column
# family of a stopped daemon's RocksDB with ldb, as an insider with the disk
# would.  Sourced, never run.
#
#   AUDIT=$SAN/huduma-audit            the verifier under test
#   audit_key FILE                     the log's public key (huduma keys public)
#   fetch_log AGENCY DIR               DIR/checkpoint, DIR/size, DIR/entries
#                                      (one leaf per line), DIR/leafhashes (the
#                                      level-0 tiles, concatenated), and
#                                      DIR/tiles.failed (tiles not served)
#   batch_edit INDEX change|delete     prints "KEY VALUE" (hex) of the stored
#                                      batch holding leaf INDEX, rewritten with
#                                      that leaf's "verify" made "lookup" (its
#                                      stored hash kept) or the leaf cut out
#   batch_first INDEX                  the first index of that batch
#   ldb_audit ARGS...                  ldb on the audit log's database
#                                      (<register>/audit/db), daemon stopped
#   be64 N                             N as 16 hex digits (big-endian)
#   load_verifications AGENCY N FILE   N verifications with huduma-load (8
#                                      connections), body FILE
#   enrol_person ID SURNAME FIRST DOB NATIONAL_ID
#                                      enrols one adult (biometrics exempted)
#                                      with huduma enrol; HN gets the number
#   answers_in_log WHAT TXIDS DIR      every transaction id in TXIDS (one a
#                                      line) is a leaf of DIR (fetch_log's), and
#                                      the full audit of DIR passes, consistent
#                                      with $STATE and $WORK/key.pem
#   audit_register ID SURNAME FIRST DOB NATIONAL_ID [AGENCY:ROLE...]
#                                      a new register with agencies kra
#                                      (verifier), aud (auditor) and the ones
#                                      named, one person enrolled
#                                      (enrol_person), $WORK/verify.json
#                                      claiming their surname, the log's key in
#                                      $WORK/key.pem, STATE the auditor's state
#   verify N OUT                       N verifications one at a time, as kra,
#                                      of $WORK/verify.json: each status,
#                                      transaction id and error code ("-" for
#                                      none) as a line of OUT
#   count PATTERN FILE                 grep -c, 0 when none
#   metrics                            the operator's (ops) /metrics, kept in
#                                      $WORK/metrics for msum and mmax
#   msum REGEX, mmax REGEX             the sum, the largest, of the values of
#                                      the lines of $WORK/metrics matching REGEX
# Needs: ldb (Debian package rocksdb-tools), xxd, od.

AUDIT=$SAN/huduma-audit
LOAD=$SAN/huduma-load

audit_tools() {
    need_tools ldb xxd od sed
    [ -x "$AUDIT" ] || fatal "no executable $AUDIT"
    [ -x "$LOAD" ] || fatal "no executable $LOAD"
}

enrol_person() { # ENROLMENT_ID SURNAME FIRST_NAME DATE_OF_BIRTH NATIONAL_ID
    cat >"$WORK/person.json" <<EOF
{"enrolment": {"id": "$1", "officer": "OFF-2201", "centre": "${1%%-*}",
               "captured_at": "2026-02-11T10:00:00Z"},
 "surname": "$2", "first_name": "$3", "sex": "female", "date_of_birth": "$4",
 "place_of_birth": {"county": "042"}, "citizenship": {"type": "birth"}, "residence": {"county": "047"},
 "documents": [{"type": "national_id", "number": "$5", "issuer": "NRB", "issued": "2006-08-01"}],
 "biometric_exemption": "fingers injured at capture; face camera out of order"}
EOF
    timeout "$T" "$HUDUMA" enrol "$WORK/person.json" >"$WORK/enrol.out" 2>&1 || fatal "huduma enrol: $(cat "$WORK/enrol.out")"
    HN=$(sed -n 's/.*"huduma_number": *"\([0-9]*\)".*/\1/p' "$WORK/enrol.out")
    [ -n "$HN" ] || fatal "huduma enrol printed no Huduma Number: $(cat "$WORK/enrol.out")"
}

answers_in_log() { # WHAT TXIDS DIR
    missing=0 n=0
    while read -r tx; do
        n=$((n + 1))
        grep -q "\"txid\":\"$tx\"}" "$3/entries" || missing=$((missing + 1))
    done <"$2"
    if [ "$missing" = 0 ]; then
        ok "$1: all $n answered transaction ids are leaves of the log ($(cat "$3/size") entries)"
    else
        not_ok "$1: $missing of $n answered transaction ids have no leaf"
    fi
    out=$("$AUDIT" --key "$WORK/key.pem" --state "$STATE" audit "$3/checkpoint" "$3/entries" \
        --leaf-hashes "$3/leafhashes") &&
        ok "$1: the full audit passes, consistent with the log verified before: $out" ||
        not_ok "$1: the log does not verify: $out"
}

audit_key() { # FILE
    timeout "$T" "$HUDUMA" keys public >"$1" 2>"$WORK/keys.err" || fatal "huduma keys public: $(cat "$WORK/keys.err")"
    grep -q 'BEGIN PUBLIC KEY' "$1" || fatal "huduma keys public printed no PEM key"
}

fetch_log() { # AGENCY DIR
    mkdir -p "$2"
    api "$1" GET /v1/audit/checkpoint
    [ "$code" = 200 ] || fatal "GET /v1/audit/checkpoint as $1: $code $(cat "$WORK/body")"
    cp "$WORK/body" "$2/checkpoint"
    sed -n 2p "$2/checkpoint" >"$2/size"
    size=$(cat "$2/size")
    : >"$2/entries"
    start=0
    while [ "$start" -lt "$size" ]; do
        api "$1" GET "/v1/audit/entries?start=$start&end=$((start + 1000 < size ? start + 1000 : size))"
        [ "$code" = 200 ] || fatal "GET /v1/audit/entries from $start: $code $(cat "$WORK/body")"
        cat "$WORK/body" >>"$2/entries"
        start=$((start + 1000))
    done
    : >"$2/leafhashes"
    : >"$2/tiles.failed"
    for p in $("$AUDIT" tile-paths "$size"); do
        api "$1" GET "/v1/audit/tile/$p"
        if [ "$code" = 200 ]; then
            cat "$WORK/body" >>"$2/leafhashes"
        else # a tile the log cannot make (a leaf missing under it): noted, not fatal
            echo "$p $code" >>"$2/tiles.failed"
        fi
    done
}

be64() { printf '%016x' "$1"; }

ldb_audit() { timeout "$T" ldb --db="$HUDUMA_DIR/audit/db" "$@"; }
# the column family "nodes": node hashes ('N') and named values ('M': size, checkpoint)
ldb_nodes() { ldb_audit --column_family=nodes "$@"; }

# The batches ('B' first(BE64) -> entries of leaf hash, BE16 length, leaf), as
# ldb prints them in hex; awk walks the one holding leaf INDEX.
batch_awk() { # INDEX MODE (change, delete, first)
    ldb_audit --hex scan >"$WORK/scan.hex"
    awk -v want="$1" -v mode="$2" '
        function dec(h,   i, d) {
            d = 0; h = toupper(h)
            for (i = 1; i <= length(h); i++) d = d * 16 + index("0123456789ABCDEF", substr(h, i, 1)) - 1
            return d
        }
        $1 ~ /^0x42/ && length($1) == 20 { f = dec(substr($1, 5)); if (f <= want) { key = $1; val = substr($3, 3); first = f } }
        END {
            if (mode == "first") { print first; exit }
            out = ""; at = 1; i = first
            while (at <= length(val)) {
                n = 68 + 2 * dec(substr(val, at + 64, 4)); e = substr(val, at, n)
                if (i == want && mode == "change") { sub(/766572696679/, "6C6F6F6B7570", e); out = out e }
                else if (i != want) out = out e
                at += n; i++
            }
            print key, "0x" out
        }' "$WORK/scan.hex"
}
batch_edit() { batch_awk "$1" "$2"; }
batch_first() { batch_awk "$1" first; }

# The leaf hash RFC 9162 gives a line of FILE (1-based), in hex.
line_leaf_hash() { # FILE LINE
    { printf '\000'; sed -n "${2}p" "$1" | tr -d '\n'; } | openssl dgst -sha256 -binary | xxd -p -c 64
}

load_verifications() { # AGENCY N FILE
    timeout 300 "$LOAD" --port "$PORT" --cert "$CERTS/$1.crt" --key "$CERTS/$1.key" --cacert "$CA" \
        --method POST --path /v1/verify --header "X-Purpose: $PURPOSE" \
        --header 'Content-Type: application/json' --body-file "$3" --connections 8 \
        --requests "$2" --duration 120 --warmup 0 >"$WORK/load.out" 2>&1 ||
        fatal "huduma-load: $(tail -n 3 "$WORK/load.out")"
    grep -q ' non2xx=0 ' "$WORK/load.out" || fatal "huduma-load got errors: $(grep RESULT "$WORK/load.out")"
}

audit_register() { # ENROLMENT_ID SURNAME FIRST_NAME DATE_OF_BIRTH NATIONAL_ID [AGENCY:ROLE...]
    huduma_init
    add_agency kra verifier
    add_agency aud auditor
    person="$1 $2 $3 $4 $5"
    shift 5
    for a in "$@"; do add_agency "${a%%:*}" "${a#*:}"; done
    # shellcheck disable=SC2086 # the person's five words
    enrol_person $person
    printf '{"huduma_number":"%s","claims":{"surname":"%s"}}' "$HN" "$(echo "$person" | cut -d ' ' -f 2)" \
        >"$WORK/verify.json"
    audit_key "$WORK/key.pem"
    STATE=$WORK/auditor.state
}

verify() { # N OUT
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

metrics() {
    api ops GET /metrics
    [ "$code" = 200 ] || fatal "/metrics for the operator: $code $(head -c 300 "$WORK/body")"
    cp "$WORK/body" "$WORK/metrics"
}
msum() { awk -v p="$1" '$0 ~ p { s += $NF } END { printf "%d", s }' "$WORK/metrics"; }
mmax() { awk -v p="$1" '$0 ~ p && $NF > m { m = $NF } END { printf "%g", m }' "$WORK/metrics"; }
