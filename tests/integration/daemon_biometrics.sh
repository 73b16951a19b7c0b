#!/bin/sh
# tests/integration/daemon_biometrics.sh - biometric deduplication,
# verification and identification through the real daemon over mutual TLS,
# with real fingerprints (FVC2002 DB1_B, $HUDUMA_TEST_SHARED/data/fingerprints).
#
# What it proves, each with an "ok - ..." line:
#   - an enrolment with two real fingerprints and a face gets a number (201);
#   - the same person enrolled again under another name, date of birth and
#     document (other impressions of the same fingers, the face captured
#     again) is held for adjudication (202) with the first number as a
#     candidate and its finger and face scores; a stranger gets a number;
#   - the adjudicator's queue shows the candidate with its scores; the
#     decision "same_person" refuses the enrolment, and a third enrolment of
#     the person decided "different" gets a number;
#   - POST /v1/verify with one of the person's fingers: "match": true and a
#     band; with another person's finger: "match": false, band "none";
#   - POST /v1/identify is refused to a verifier (403) and answers an
#     identification agency with the person first; the audit log has it (the
#     person's access history, as the registrar reads it, lists it);
#   - no answer carries a template (nor its base64), and no file under the
#     register's directory holds a template or its base64 in plaintext; no
#     sanitizer report.
#
# How: lib/daemon.sh (a register with its own swtpm, agencies, curl over
# mutual TLS); faces are 512 float32 values made with perl.  Needs:
# HUDUMA_SAN_BIN, the shared test data, curl, openssl, perl, base64.
set -eu
LIB_NAME=bio
. "$(dirname "$0")/lib/daemon.sh"
lib_init
need_tools perl base64 grep

SHARED=${HUDUMA_TEST_SHARED:-$(cd "$(dirname "$0")/../../.." && pwd)/shared}
FP=$SHARED/data/fingerprints/fvc2002-db1b
[ -f "$FP/101_1.iso" ] || fatal "no fingerprint test data in $FP (set HUDUMA_TEST_SHARED)"

b64() { base64 -w0 <"$1"; }

# face PERSON CAPTURE: base64 of 512 little-endian float32, an identity
# direction plus noise (as storage/mcc_synth.c makes them)
face() {
    perl -e '
        my ($person, $capture) = @ARGV;
        sub gauss { my $u = rand() || 1e-12; my $v = rand(); sqrt(-2 * log($u)) * cos(6.283185307 * $v) }
        srand(1000 + $person); my @id = map { gauss() } 1 .. 512;
        srand(5000 + 97 * $person + $capture); my @v = map { $id[$_] + 0.6 * gauss() } 0 .. 511;
        print pack("f<*", @v);' "$1" "$2" | base64 -w0
}

# biometrics FINGER_A FINGER_B PERSON CAPTURE: the biometrics member
biometrics() {
    printf '{"fingerprints": [{"position": 2, "template": "%s"}, {"position": 7, "template": "%s"}],' \
        "$(b64 "$FP/$1.iso")" "$(b64 "$FP/$2.iso")"
    printf ' "face": {"model": "synth-face-512", "embedding": "%s"}}' "$(face "$3" "$4")"
}

# person ID SURNAME FIRST DOB DOC BIOMETRICS > file
person() {
    cat <<EOF
{
  "enrolment": {"id": "$1", "officer": "OFF-2001", "centre": "KIT0099", "captured_at": "2026-01-05T09:00:00Z"},
  "surname": "$2", "first_name": "$3", "sex": "female", "date_of_birth": "$4",
  "place_of_birth": {"county": "042"}, "citizenship": {"type": "birth"},
  "residence": {"county": "047", "sub_county": "Westlands", "ward": "Parklands", "village": "Highridge"},
  "documents": [{"type": "national_id", "number": "$5", "issuer": "NRB", "issued": "2006-08-01"}],
  "biometrics": $6
}
EOF
}

field() { # NAME: a top-level string member of the last answer
    sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" "$WORK/body" | head -n 1
}

# Every answer is checked for templates of the person (raw base64).
TEMPLATE_B64=$(b64 "$FP/101_1.iso" | cut -c 41-120)
no_template_in_answer() {
    if grep -q -- "$TEMPLATE_B64" "$WORK/body"; then
        not_ok "the answer to $1 carries a template"
    fi
}

huduma_init
add_agency kit registration
add_agency adj adjudicator
add_agency bank verifier
add_agency police identification
add_agency regr registrar
start_daemon kit

# ---- deduplication ----------------------------------------------------------------------------
person BIO-1 Wanjiru Grace 1985-03-02 31000001 "$(biometrics 101_1 102_1 1 0)" >"$WORK/p1.json"
api kit POST /v1/enrolments "@$WORK/p1.json"
no_template_in_answer "the first enrolment"
HN1=$(field huduma_number)
if [ "$code" = 201 ] && [ -n "$HN1" ]; then ok "a person with two fingers and a face gets a number (201)"
else fatal "first enrolment: $code $(cat "$WORK/body")"; fi

person BIO-2 Achieng Mercy 1987-11-20 31000002 "$(biometrics 101_3 102_4 1 1)" >"$WORK/p2.json"
api kit POST /v1/enrolments "@$WORK/p2.json"
no_template_in_answer "the duplicate enrolment"
if [ "$code" = 202 ] && grep -q "\"$HN1\"" "$WORK/body" && grep -q '"finger_score"' "$WORK/body" &&
    grep -q '"face_score"' "$WORK/body"; then
    ok "the same person under another name is held for adjudication (202), the first number a candidate with scores"
else
    not_ok "duplicate enrolment: $code $(cat "$WORK/body")"
fi

person BIO-3 Kamau Joy 1990-01-01 31000003 "$(biometrics 103_1 104_1 2 0)" >"$WORK/p3.json"
api kit POST /v1/enrolments "@$WORK/p3.json"
HN3=$(field huduma_number)
if [ "$code" = 201 ] && [ -n "$HN3" ]; then ok "a stranger gets a number (201)"
else not_ok "stranger: $code $(cat "$WORK/body")"; fi

api adj GET /v1/adjudications
no_template_in_answer "the adjudication queue"
if [ "$code" = 200 ] && grep -q '"BIO-2"' "$WORK/body" && grep -q '"candidate_scores"' "$WORK/body" &&
    grep -q '"band"' "$WORK/body"; then
    ok "the adjudicator's queue shows the held enrolment with the candidate's scores"
else
    not_ok "adjudication queue: $code $(cat "$WORK/body")"
fi

api adj POST /v1/adjudications/BIO-2 \
    "{\"decision\": \"same_person\", \"huduma_number\": \"$HN1\", \"officer\": \"ADJ-1\", \"reason\": \"same fingers and face\"}"
if [ "$code" = 200 ] && grep -q '"refused_duplicate"' "$WORK/body"; then
    ok "decision same_person: the enrolment is refused as a duplicate"
else
    not_ok "same_person: $code $(cat "$WORK/body")"
fi

person BIO-4 Njeri Wambui 1986-06-06 31000004 "$(biometrics 101_5 102_6 1 2)" >"$WORK/p4.json"
api kit POST /v1/enrolments "@$WORK/p4.json"
if [ "$code" = 202 ] && grep -q "\"$HN1\"" "$WORK/body" && ! grep -q 'pending:BIO-2' "$WORK/body"; then
    ok "a third enrolment of the person is held again, the refused one no longer a candidate"
else
    not_ok "third enrolment: $code $(cat "$WORK/body")"
fi
api adj POST /v1/adjudications/BIO-4 \
    '{"decision": "different", "officer": "ADJ-1", "reason": "identical twins, documents checked"}'
HN4=$(field huduma_number)
if [ "$code" = 200 ] && grep -q '"assigned"' "$WORK/body" && [ -n "$HN4" ] && [ "$HN4" != "$HN1" ]; then
    ok "decision different: the enrolment gets its own number"
else
    not_ok "different: $code $(cat "$WORK/body")"
fi

# ---- verification -------------------------------------------------------------------------------
printf '{"huduma_number": "%s", "biometrics": {"fingerprints": [{"position": 2, "template": "%s"}]}}' \
    "$HN3" "$(b64 "$FP/103_5.iso")" >"$WORK/v1.json"
api bank POST /v1/verify "@$WORK/v1.json"
if [ "$code" = 200 ] && grep -q '"match": *true' "$WORK/body" && grep -q '"band": *"\(low\|medium\|high\)"' "$WORK/body" &&
    jq -e '(keys == ["biometrics", "claims", "huduma_number", "match", "status", "transaction_id"])
        and .claims == {} and .biometrics.match and .biometrics.fingers_compared == 1
        and (.biometrics | keys) == ["band", "face_compared", "fingers_compared", "match"]' \
        "$WORK/body" >/dev/null; then
    ok "verification with the person's own finger: match, with its band"
else
    not_ok "genuine verification: $code $(cat "$WORK/body")"
fi
printf '{"huduma_number": "%s", "biometrics": {"fingerprints": [{"position": 2, "template": "%s"}]}}' \
    "$HN3" "$(b64 "$FP/105_5.iso")" >"$WORK/v2.json"
api bank POST /v1/verify "@$WORK/v2.json"
if [ "$code" = 200 ] && grep -q '"match": *false' "$WORK/body" && grep -q '"band": *"none"' "$WORK/body"; then
    ok "verification with another person's finger: no match, band none"
else
    not_ok "impostor verification: $code $(cat "$WORK/body")"
fi
no_template_in_answer "a verification"

# ---- identification ------------------------------------------------------------------------------
printf '{"biometrics": {"fingerprints": [{"position": 2, "template": "%s"}, {"position": 7, "template": "%s"}]}}' \
    "$(b64 "$FP/103_7.iso")" "$(b64 "$FP/104_7.iso")" >"$WORK/i.json"
api bank POST /v1/identify "@$WORK/i.json"
if [ "$code" = 403 ]; then ok "identification is refused to a verifier (403)"
else not_ok "identify as verifier: $code $(cat "$WORK/body")"; fi
api police POST /v1/identify "@$WORK/i.json"
first=$(sed -n 's/.*"candidates": *\[ *{[^}]*"huduma_number": *"\([0-9]*\)".*/\1/p' "$WORK/body")
if [ "$code" = 200 ] && [ "$first" = "$HN3" ]; then
    ok "identification names the person first"
else
    not_ok "identify: $code $(cat "$WORK/body")"
fi
no_template_in_answer "an identification"
api regr GET "/v1/persons/$HN3/accesses"
if [ "$code" = 200 ] && grep -q '"agency":"police","operation":"identify"' "$WORK/body"; then
    ok "the identification is in the audit log: the person's access history shows it"
else
    not_ok "access history after identify: $code $(head -c 600 "$WORK/body")"
fi

# ---- nothing in plaintext on disk ------------------------------------------------------------------
stop_daemon
raw=$(od -An -tx1 -j 28 -N 24 "$FP/101_1.iso" | tr -d ' \n')
leaks=$(find "$HUDUMA_DIR" -type f -exec sh -c '
    text=$1 raw=$2
    shift 2
    for f; do
        if grep -q -F -- "$text" "$f" 2>/dev/null || od -An -tx1 "$f" | tr -d " \n" | grep -q "$raw"; then
            echo "$f"
        fi
    done' sh "$TEMPLATE_B64" "$raw" {} +)
if [ -z "$leaks" ]; then
    ok "no file of the register holds a template, raw or in base64"
else
    not_ok "templates in plaintext in: $leaks"
fi

no_sanitizer_report
[ "$failures" -eq 0 ]
