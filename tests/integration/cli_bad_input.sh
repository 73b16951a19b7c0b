#!/bin/sh
# tests/integration/cli_bad_input.sh - `huduma` refuses bad input cleanly.
#
# What it proves: every kind of bad input a kit, an operator or a script can
# hand the `huduma` tool is refused
#   - with the exit code of its kind (appliance/cli.h: 1 usage, 2 invalid
#     input, 3 a rule of the register, 4 not found),
#   - with a message on stderr that names the field at fault,
#   - without any sanitizer report (the ASan+UBSan build is used), and
#   - without changing anything: the refused enrolment id is unknown afterwards
#     (`huduma status` exits 4), and a fingerprint of what the register shows
#     is byte-for-byte the same as before the first refusal: after every case
#     `show` of the one person enrolled, `lookup` of their document and
#     `pending`; after every section of cases also `history` of the person and
#     `due-biometrics --as-of 2100-01-01`.
#
# How: a fresh register with one valid adult in it; then, for each bad input,
# one `huduma` run whose exit code and stderr are checked, followed by the
# status and fingerprint checks.  Records are written from one template (rec)
# with single members replaced, so each refusal can only come from the member
# under test; the template shares the enrolled person's names, date of birth
# and sex, so a record that got in by mistake would be held as a possible
# duplicate and show in `pending`.  At the end the template itself, with a
# fresh enrolment id, another surname (else it would be held as a duplicate)
# and the document numbers the refused records named, is enrolled: the control
# that the refusals came from the members under test and claimed no document.
#
# Every run under test uses the sanitized build (HUDUMA_SAN_BIN).  The read-only
# runs that only observe the register (status, fingerprint) use the release
# build when HUDUMA_BIN is given, because a sanitized run costs several times
# as long to start and there are some 450 of them; the sanitized `show`,
# `history`, `lookup`, `due-biometrics` and `pending` are run once as well.
#
# Needs: HUDUMA_SAN_BIN (and optionally HUDUMA_BIN), sh, coreutils, awk.
set -eu

BIN=${HUDUMA_SAN_BIN:?HUDUMA_SAN_BIN must name the directory of the sanitized binaries}/huduma
if [ ! -x "$BIN" ]; then
    echo "not ok - no executable $BIN"
    exit 1
fi
OBS=$BIN
if [ -n "${HUDUMA_BIN:-}" ] && [ -x "$HUDUMA_BIN/huduma" ]; then
    OBS=$HUDUMA_BIN/huduma
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/huduma-badinput.XXXXXX")
. "$(dirname "$0")/lib/swtpm.sh"
trap 'swtpm_stop_all; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM HUP
export HUDUMA_DIR="$WORK/reg"
swtpm_start "$HUDUMA_DIR" # the register's master key is sealed in a real swtpm
# Sanitizers: stop at the first report (the runner sets the same).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

T=60 # seconds allowed to any one run of huduma
failures=0
checks=0

ok() { checks=$((checks + 1)); echo "ok - $*"; }
not_ok() {
    checks=$((checks + 1))
    failures=$((failures + 1))
    echo "not ok - $*"
}
fatal() {
    echo "not ok - $*"
    echo "# giving up: the remaining checks depend on this one"
    exit 1
}
show_err() { sed -n '1,5s/^/#   stderr: /p' "$WORK/err"; }

# run ARGS...: runs huduma with stdin from $IN (default /dev/null), output in
# $WORK/out and $WORK/err, exit code in $rc.
run() {
    set +e
    timeout "$T" "$BIN" "$@" <"${IN:-/dev/null}" >"$WORK/out" 2>"$WORK/err"
    rc=$?
    set -e
}

sanitizer_clean() {
    ! grep -q -e 'Sanitizer' -e 'runtime error:' -e 'LeakSanitizer' "$WORK/err"
}

# ---- the register's observable state -------------------------------------------

# observe BINARY ARGS...: huduma's output (both streams), then its exit code.
observe() {
    b=$1
    shift
    if timeout "$T" "$b" "$@" 2>&1; then e=0; else e=$?; fi
    echo "== exit $e from $*"
}

# fingerprint FILE [full] [BINARY]: what the register shows, in FILE: the person
# (`show`: the record with its version and update time, and documents issued),
# who holds their national id, and the enrolments held for adjudication (where
# any record made from the template below would land, since it shares the
# person's names, date of birth and sex); `full` adds every version of the
# person (`history`) and the biometrics-due list.  Every case checks the
# first; the end of each section of cases checks the full one.
fingerprint() {
    {
        observe "${3:-$OBS}" show "$HN"
        observe "${3:-$OBS}" lookup 31234567
        observe "${3:-$OBS}" pending
        if [ "${2:-}" = full ]; then
            observe "${3:-$OBS}" history "$HN"
            observe "${3:-$OBS}" due-biometrics --as-of 2100-01-01
        fi
    } >"$1"
}

# unchanged WHAT [full]: the fingerprint is still the one taken before the first
# refusal.  After a change is reported the new state becomes the reference, so
# that each later case is judged on its own.
unchanged() {
    fingerprint "$WORK/now" "${2:-}"
    if cmp -s "$WORK/before${2:-}" "$WORK/now"; then
        return 0
    fi
    not_ok "$1: the register changed"
    diff "$WORK/before${2:-}" "$WORK/now" | sed -n '1,10s/^/#   /p'
    cp "$WORK/now" "$WORK/before${2:-}"
    return 1
}

# section WHAT: the full fingerprint is unchanged after a section of cases.
section() {
    if unchanged "after $1" full; then
        ok "after $1: show, history, lookup, due-biometrics and pending unchanged"
    fi
}

# not_enrolled ID WHAT: `huduma status ID` exits 4.
not_enrolled() {
    [ -n "$1" ] || return 0
    set +e
    timeout "$T" "$OBS" status "$1" >/dev/null 2>"$WORK/status.err"
    src=$?
    set -e
    [ "$src" -eq 4 ] && return 0
    not_ok "$2: status of enrolment '$1' exits $src, not 4 (the refused enrolment left a trace)"
    return 1
}

# expect CODE PATTERN ID WHAT -- ARGS...: huduma ARGS exits CODE with PATTERN
# (grep -E) on stderr, no sanitizer report, enrolment ID unknown afterwards
# (skipped when ID is empty), the register unchanged.
expect() {
    want=$1 pattern=$2 id=$3 what=$4
    shift 5
    run "$@"
    if [ "$rc" -ne "$want" ]; then
        not_ok "$what: exit $rc, expected $want"
        show_err
        return 0
    fi
    if ! sanitizer_clean; then
        not_ok "$what: sanitizer report"
        sed -n '1,30s/^/#   /p' "$WORK/err"
        return 0
    fi
    if ! grep -q -E -e "$pattern" "$WORK/err"; then
        not_ok "$what: exit $rc but stderr does not match /$pattern/"
        show_err
        return 0
    fi
    if [ "$want" -ne 1 ] && [ -s "$WORK/out" ]; then
        not_ok "$what: a refusal printed an answer on stdout"
        sed -n '1,5s/^/#   stdout: /p' "$WORK/out"
        return 0
    fi
    not_enrolled "$id" "$what" || return 0
    unchanged "$what" || return 0
    ok "$what (exit $want, stderr: $(head -n 1 "$WORK/err" | cut -c 1-110))"
}

# ---- records ----------------------------------------------------------------------

# rec ID [member=JSON | member= | +name=JSON]...: an adult's enrolment record
# with members replaced, removed (empty value) or added (+name).  The default
# members make a valid record; only the national id number must be made unique.
# shellcheck disable=SC2034 # the members are read through eval
rec() (
    id=$1
    shift
    surname='"Kamau"'
    first_name='"Wanjiru"'
    other_names='"Njeri"'
    sex='"female"'
    date_of_birth='"1988-07-14"'
    place_of_birth='{"county": "022"}'
    citizenship='{"type": "birth"}'
    residence='{"county": "047", "sub_county": "Westlands", "ward": "Parklands", "village": "Highridge"}'
    marital_status='"married"'
    phone='"+254712345678"'
    documents='[{"type": "national_id", "number": "31234567", "issuer": "NRB", "issued": "2006-09-01"}]'
    parents=
    biometric_exemption='"fingers injured at capture; camera out of order"'
    enrolment="{\"id\": \"$id\", \"officer\": \"OFF-0001\", \"centre\": \"KIT0001\", \"captured_at\": \"2025-03-01T09:00:00Z\"}"
    extra=
    for kv in "$@"; do
        k=${kv%%=*}
        v=${kv#*=}
        case $k in
        enrolment | surname | first_name | other_names | sex | date_of_birth | place_of_birth | \
            citizenship | residence | marital_status | phone | parents | documents | \
            biometric_exemption)
            eval "$k=\$v" ;;
        +*) extra="$extra, \"${k#+}\": $v" ;;
        *)
            echo "rec: unknown member $k" >&2
            exit 1
            ;;
        esac
    done
    printf '{"enrolment": %s' "$enrolment"
    for m in surname first_name other_names sex date_of_birth place_of_birth citizenship \
        residence marital_status phone parents documents biometric_exemption; do
        eval "v=\$$m"
        if [ -n "$v" ]; then printf ', "%s": %s' "$m" "$v"; fi
    done
    printf '%s}\n' "$extra"
)

# bad_enrol ID PATTERN WHAT [rec arguments]: enrolling rec ID ... is refused with
# exit 2 and PATTERN on stderr, and changes nothing.
bad_enrol() {
    id=$1 pattern=$2 what=$3
    shift 3
    rec "$id" "$@" >"$WORK/in.json"
    expect 2 "$pattern" "$id" "$what" -- enrol "$WORK/in.json"
}

# repeat N CHAR: CHAR written N times.
repeat() { head -c "$1" /dev/zero | tr '\0' "$2"; }

# Verhoeff check digit of a digit string (docs/huduma-number.md).
verhoeff() {
    echo "$1" | awk '
    BEGIN {
        split("0123456789 1234067895 2340178956 3401289567 4012395678 " \
              "5987604321 6598710432 7659821043 8765932104 9876543210", rows, " ")
        for (i = 0; i < 10; i++) for (j = 0; j < 10; j++) d[i, j] = substr(rows[i + 1], j + 1, 1)
        split("0123456789 1576283094 5803796142 8916043527 9453126870 " \
              "4286573901 2793806415 7046913258", prow, " ")
        for (i = 0; i < 8; i++) for (j = 0; j < 10; j++) p[i, j] = substr(prow[i + 1], j + 1, 1)
        split("0 4 3 2 1 5 6 7 8 9", inv, " ")
    }
    {
        c = 0; n = length($0)
        for (i = 0; i < n; i++) c = d[c, p[(i + 1) % 8, substr($0, n - i, 1)]]
        print inv[c + 1]
    }'
}

# ---- the register and its one person ------------------------------------------------

echo "# binary: $BIN"
run init
[ "$rc" -eq 0 ] || { show_err; fatal "init a new register (exit $rc)"; }
ok "init a new register"

rec GOOD-0001 >"$WORK/good.json"
run enrol "$WORK/good.json"
[ "$rc" -eq 0 ] || { show_err; fatal "enrol one valid adult (exit $rc)"; }
HN=$(sed -n 's/^ *"huduma_number": "\([0-9]*\)".*/\1/p' "$WORK/out")
case $HN in
[1-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]) ok "enrol one valid adult: $HN" ;;
*) fatal "enrol one valid adult: no Huduma Number in the answer" ;;
esac
[ "$(verhoeff "$(echo "$HN" | cut -c 1-11)")" = "$(echo "$HN" | cut -c 12)" ] ||
    fatal "the test's Verhoeff check digit disagrees with the register's for $HN"
# Numbers that are not the person's: one with a wrong check digit, and a well-formed
# one (first digit changed, check digit recomputed) that was never issued.
PAYLOAD=$(echo "$HN" | cut -c 1-11)
CHECK=$(echo "$HN" | cut -c 12)
WRONG="$PAYLOAD$(((CHECK + 1) % 10))"
FIRST=$(echo "$PAYLOAD" | cut -c 1)
OTHER_PAYLOAD="$((FIRST % 9 + 1))$(echo "$PAYLOAD" | cut -c 2-)"
UNKNOWN="$OTHER_PAYLOAD$(verhoeff "$OTHER_PAYLOAD")"

fingerprint "$WORK/before"
fingerprint "$WORK/beforefull" full
grep -q '"surname": "Kamau"' "$WORK/before" || fatal "show prints the person enrolled"
grep -q "== exit 0 from lookup" "$WORK/before" || fatal "lookup finds the person's national id"
grep -q '"version":1' "$WORK/beforefull" || fatal "history prints the first version"
fingerprint "$WORK/again" full "$BIN"
if ! cmp -s "$WORK/beforefull" "$WORK/again" || grep -q -e 'Sanitizer' -e 'runtime error:' "$WORK/again"; then
    diff "$WORK/beforefull" "$WORK/again" | sed -n '1,10s/^/#   /p'
    fatal "the fingerprint of the register is the same read twice, by the release and the sanitized build"
fi
ok "fingerprint of the register taken ($(wc -l <"$WORK/beforefull") lines)"

# ---- malformed JSON ----------------------------------------------------------------------

rec BAD-TRUNC >"$WORK/full.json"
head -c 150 "$WORK/full.json" >"$WORK/in.json"
expect 2 'malformed JSON' BAD-TRUNC "truncated file" -- enrol "$WORK/in.json"

: >"$WORK/in.json"
expect 2 'malformed JSON' "" "empty file" -- enrol "$WORK/in.json"

{ rec BAD-TRAIL; echo 'xyz'; } >"$WORK/in.json"
expect 2 'malformed JSON' BAD-TRAIL "trailing garbage after the record" -- enrol "$WORK/in.json"

{ rec BAD-TWICE; rec BAD-TWICE2; } >"$WORK/in.json"
expect 2 'malformed JSON' BAD-TWICE "two records in one file" -- enrol "$WORK/in.json"

rec BAD-DUPKEY '+surname="Otieno"' >"$WORK/in.json"
expect 2 'malformed JSON.*duplicate' BAD-DUPKEY "a member given twice" -- enrol "$WORK/in.json"

rec BAD-UTF8 'other_names="Nj'"$(printf '\377\376')"'eri"' >"$WORK/in.json"
expect 2 'malformed JSON' BAD-UTF8 "bytes that are not UTF-8" -- enrol "$WORK/in.json"

{ printf '['; rec BAD-ARRAY | tr -d '\n'; printf ']\n'; } >"$WORK/in.json"
expect 2 'JSON object' BAD-ARRAY "a JSON array instead of an object" -- enrol "$WORK/in.json"

echo '"just a string"' >"$WORK/in.json"
expect 2 'malformed JSON|JSON object' "" "a JSON string instead of an object" -- enrol "$WORK/in.json"

rec BAD-STDIN 'residence={"county": 47}' >"$WORK/in.json"
IN="$WORK/in.json"
expect 2 'residence\.county' BAD-STDIN "a bad record on stdin (enrol -)" -- enrol -
IN=/dev/null

expect 2 'cannot open' "" "a file that does not exist" -- enrol "$WORK/no-such-file.json"
expect 2 'cannot open' "" "an import file that does not exist" -- import "$WORK/no-such-file.jsonl"

section "malformed JSON"

# ---- wrong types ------------------------------------------------------------------------------

bad_enrol BAD-T1 '(^|[^.])sex: expected a string' "sex: 1" 'sex=1'
bad_enrol BAD-T2 'surname: expected a string' "surname: []" 'surname=[]'
bad_enrol BAD-T3 'first_name: expected a string' "first_name: {}" 'first_name={}'
bad_enrol BAD-T4 'date_of_birth: expected a string' "date_of_birth: a number" 'date_of_birth=19880714'
bad_enrol BAD-T5 'residence: expected an object' "residence: a string" 'residence="047"'
bad_enrol BAD-T6 'documents: expected an array' "documents: an object" \
    'documents={"type": "national_id", "number": "41234567"}'
bad_enrol BAD-T7 'documents\[0\]: expected an object' "documents: [\"41234567\"]" \
    'documents=["41234567"]'
bad_enrol BAD-T8 'place_of_birth\.county: expected a string' "place_of_birth.county: 22" \
    'place_of_birth={"county": 22}'
bad_enrol BAD-T9 'sex: unknown value' "sex: \"F\"" 'sex="F"'
bad_enrol BAD-T10 'enrolment\.captured_at' "enrolment.captured_at: not a time" \
    'enrolment={"id": "BAD-T10", "officer": "OFF-0001", "centre": "KIT0001", "captured_at": "yesterday"}'
rec BAD-T11 'enrolment="BAD-T11"' >"$WORK/in.json"
expect 2 'enrolment: expected an object' "" "enrolment: a string" -- enrol "$WORK/in.json"
bad_enrol BAD-T12 'huduma_number' "huduma_number sent by the kit (output only)" \
    '+huduma_number="100000000009"'

section "wrong types"

# ---- places ---------------------------------------------------------------------------------

bad_enrol BAD-C1 'residence\.county' "unknown county 048 (residence)" \
    'residence={"county": "048", "ward": "Parklands"}'
bad_enrol BAD-C2 'place_of_birth\.county' "unknown county 000 (place of birth)" \
    'place_of_birth={"county": "000"}'
bad_enrol BAD-C3 'residence\.county' "county code of 2 digits (47)" 'residence={"county": "47"}'
bad_enrol BAD-C4 'place_of_birth\.country' "born abroad in KE" 'place_of_birth={"country": "KE"}'
bad_enrol BAD-C5 'citizenship\.nationality' "foreign nationality XX" \
    'citizenship={"type": "foreign", "nationality": "XX"}'
bad_enrol BAD-C6 'residence\.county' "no residence county" 'residence={"ward": "Parklands"}'

section "places"

# ---- dates ------------------------------------------------------------------------------------

bad_enrol BAD-D1 'date_of_birth.*not a date' "impossible date 2023-02-29" 'date_of_birth="2023-02-29"'
bad_enrol BAD-D2 'date_of_birth.*not a date' "impossible date 2024-13-01" 'date_of_birth="2024-13-01"'
bad_enrol BAD-D3 'date_of_birth.*not a date' "impossible date 1990-04-31" 'date_of_birth="1990-04-31"'
bad_enrol BAD-D4 'date_of_birth.*not a date' "impossible date 1990-00-10" 'date_of_birth="1990-00-10"'
bad_enrol BAD-D5 'date_of_birth' "date shaped 14/07/1988" 'date_of_birth="14/07/1988"'
bad_enrol BAD-D6 'date_of_birth.*1880' "date of birth before 1880" 'date_of_birth="1879-12-31"'
NEXT_YEAR=$(($(date -u +%Y) + 1))
bad_enrol BAD-D7 'date_of_birth.*future' "date of birth in the future ($NEXT_YEAR-01-01)" \
    "date_of_birth=\"$NEXT_YEAR-01-01\""
bad_enrol BAD-D8 'date_of_birth.*future' "date of birth in the future (year only, $NEXT_YEAR)" \
    "date_of_birth=\"$NEXT_YEAR\""
bad_enrol BAD-D9 'documents\[0\]\.issued' "impossible document issue date 2019-02-30" \
    'documents=[{"type": "national_id", "number": "41234567", "issued": "2019-02-30"}]'
bad_enrol BAD-D10 'documents\[0\]\.expires' "document expiring before it was issued" \
    'documents=[{"type": "passport", "number": "AK123456", "issued": "2020-01-01", "expires": "2019-01-01"}]'
bad_enrol BAD-D11 'enrolment\.captured_at.*future' "captured in the future" \
    "enrolment={\"id\": \"BAD-D11\", \"officer\": \"OFF-0001\", \"centre\": \"KIT0001\", \"captured_at\": \"$NEXT_YEAR-06-01T09:00:00Z\"}"

section "dates"

# ---- sizes ------------------------------------------------------------------------------------

S65=$(repeat 65 A)
bad_enrol BAD-S1 'surname.*64 bytes' "surname of 65 bytes" "surname=\"$S65\""
# 32 two-byte letters and one more byte: 33 characters but 65 bytes.
SU8="$(repeat 32 x | sed 's/x/é/g')A"
bad_enrol BAD-S2 'first_name.*64 bytes' "first_name of 65 bytes in 33 characters" "first_name=\"$SU8\""
BIG=$(repeat 102400 B)
bad_enrol BAD-S3 'surname.*64 bytes' "surname of 100 KB" "surname=\"$BIG\""
bad_enrol BAD-S4 'residence\.village.*64 bytes' "residence.village of 100 KB" \
    "residence={\"county\": \"047\", \"village\": \"$BIG\"}"
bad_enrol BAD-S5 'documents\[0\]\.number' "document number of 100 KB" \
    "documents=[{\"type\": \"national_id\", \"number\": \"$BIG\"}]"
rec BAD-S6 "enrolment={\"id\": \"$BIG\", \"officer\": \"OFF-0001\", \"centre\": \"KIT0001\", \"captured_at\": \"2025-03-01T09:00:00Z\"}" >"$WORK/in.json"
expect 2 'enrolment\.id.*64 bytes' "" "enrolment.id of 100 KB" -- enrol "$WORK/in.json"
bad_enrol BAD-S7 'unknown member' "a member whose name is 100 KB" "+$BIG=1"
bad_enrol BAD-S8 'biometric_exemption.*128 bytes' "biometric_exemption of 129 bytes" \
    "biometric_exemption=\"$(repeat 129 e)\""
bad_enrol BAD-S9 'documents.*at most 8' "nine documents" \
    "documents=[$(i=1; while [ $i -le 9 ]; do printf '%s{"type": "nhif", "number": "NH%d"}' "${sep-}" $i; sep=', '; i=$((i + 1)); done)]"
bad_enrol BAD-S10 'surname.*empty' "empty surname" 'surname=""'
bad_enrol BAD-S11 'first_name.*required' "no first_name" 'first_name='

section "sizes"

# ---- what the register must never hold ------------------------------------------------------------

bad_enrol BAD-M1 'dna: unknown member' "unknown member dna" '+dna="ACGTTGCAAGTC"'
bad_enrol BAD-M2 'gps: unknown member' "unknown member gps" '+gps={"lat": -1.2921, "lon": 36.8219}'
bad_enrol BAD-M3 'residence\.gps: unknown member' "unknown member residence.gps" \
    'residence={"county": "047", "gps": "-1.2921,36.8219"}'
bad_enrol BAD-M4 'biometrics\.dna: unknown member' "unknown member biometrics.dna" \
    'biometric_exemption=' '+biometrics={"dna": "ACGT"}'
bad_enrol BAD-M5 'documents\[0\]\.photo: unknown member' "unknown member documents[0].photo" \
    'documents=[{"type": "national_id", "number": "41234567", "photo": "x"}]'

section "unknown members"

# ---- control characters ---------------------------------------------------------------------------

bad_enrol BAD-X1 'first_name.*control' "BEL (U+0007) in first_name" 'first_name="Wan\u0007jiru"'
bad_enrol BAD-X2 'surname.*control' "newline in surname" 'surname="Kam\nau"'
bad_enrol BAD-X3 'other_names.*control' "C1 control (U+0085) in other_names" 'other_names="Nje\u0085ri"'
bad_enrol BAD-X4 'surname.*control' "DEL (U+007F) in surname" 'surname="Kamau\u007f"'
bad_enrol BAD-X5 'residence\.village.*control' "ESC in residence.village" \
    'residence={"county": "047", "village": "\u001b[2JHigh"}'
bad_enrol BAD-X6 'u0000|NUL' "NUL (U+0000) in surname" 'surname="Kam\u0000au"'
bad_enrol BAD-X7 'enrolment\.id' "space in enrolment.id" \
    'enrolment={"id": "BAD X7", "officer": "OFF-0001", "centre": "KIT0001", "captured_at": "2025-03-01T09:00:00Z"}'

section "control characters"

# ---- rules of the register ------------------------------------------------------------------------

bad_enrol BAD-R1 'biometrics' "an adult with neither biometrics nor an exemption" 'biometric_exemption='
bad_enrol BAD-R2 'documents' "no identity document" 'documents=[]'
bad_enrol BAD-R3 'documents\[1\]\.number.*twice' "one document listed twice" \
    'documents=[{"type": "passport", "number": "AK765432"}, {"type": "passport", "number": "ak-765432"}]'
bad_enrol BAD-R4 'parents\.mother' "a mother who is not in the register ($UNKNOWN)" \
    "parents={\"mother\": \"$UNKNOWN\"}"
bad_enrol BAD-R5 'parents\.mother' "a mother's number with a wrong check digit ($WRONG)" \
    "parents={\"mother\": \"$WRONG\"}"
bad_enrol BAD-R6 'parents\.mother.*born before' "a mother born on the same day as the child" \
    "parents={\"mother\": \"$HN\"}"
bad_enrol BAD-R7 'parents\.mother_enrolment' "a mother named by an enrolment id never seen" \
    'parents={"mother_enrolment": "NEVER-SEEN-0002"}'

section "rules"

# ---- conflicts: exit 3 ----------------------------------------------------------------------------

rec BAD-K1 'surname="Ochieng"' 'first_name="Baraka"' 'sex="male"' 'date_of_birth="1979-01-02"' >"$WORK/in.json"
expect 3 'documents\[0\]\.number.*already linked' BAD-K1 \
    "a national id number already linked to another person" -- enrol "$WORK/in.json"
rec BAD-K2 'surname="Ochieng"' 'first_name="Baraka"' 'sex="male"' 'date_of_birth="1979-01-02"' \
    'documents=[{"type": "passport", "number": "AK000001"}, {"type": "national_id", "number": "3123-4567"}]' >"$WORK/in.json"
expect 3 'documents\[1\]\.number.*already linked' BAD-K2 \
    "the same number written 3123-4567, as a second document" -- enrol "$WORK/in.json"

section "conflicts"

# ---- corrections -------------------------------------------------------------------------------

echo '{"residence": {"county": "001"}}' >"$WORK/change.json"
expect 2 'evidence' "" "correct with no --evidence" -- \
    correct "$HN" "$WORK/change.json" --reason "moved" --officer OFF-0001
echo '{"residence": {"county": "048"}}' >"$WORK/badchange.json"
expect 2 'residence\.county' "" "correct to an unknown county" -- \
    correct "$HN" "$WORK/badchange.json" --reason "moved" --officer OFF-0001 --evidence "letter"
echo '{"dna": "ACGT"}' >"$WORK/badchange.json"
expect 2 'dna: unknown member' "" "correct adding a dna member" -- \
    correct "$HN" "$WORK/badchange.json" --reason "x" --officer OFF-0001 --evidence "letter"
echo '{"enrolment": {"id": "HIJACK"}}' >"$WORK/badchange.json"
expect 2 'huduma: enrolment:' "" "correct the enrolment (set by the register)" -- \
    correct "$HN" "$WORK/badchange.json" --reason "x" --officer OFF-0001 --evidence "letter"
echo '{"residence": {"county": "001"}' >"$WORK/badchange.json"
expect 2 'malformed JSON' "" "correct with truncated JSON" -- \
    correct "$HN" "$WORK/badchange.json" --reason "x" --officer OFF-0001 --evidence "letter"

section "corrections"

# ---- numbers ----------------------------------------------------------------------------------

expect 2 'huduma_number' "" "show 12345 (malformed number)" -- show 12345
expect 2 'huduma_number' "" "show ${HN}0 (13 digits)" -- show "${HN}0"
expect 2 'huduma_number' "" "show $WRONG (wrong check digit)" -- show "$WRONG"
expect 2 'huduma_number' "" "show 0$(echo "$HN" | cut -c 2-) (leading zero)" -- show "0$(echo "$HN" | cut -c 2-)"
expect 4 'huduma_number.*no person' "" "show $UNKNOWN (well formed, never issued)" -- show "$UNKNOWN"
expect 4 'no person' "" "history $UNKNOWN (well formed, never issued)" -- history "$UNKNOWN"
expect 4 'huduma_number' "" "correct $UNKNOWN (well formed, never issued)" -- \
    correct "$UNKNOWN" "$WORK/change.json" --reason "moved" --officer OFF-0001 --evidence "letter"
expect 4 'enrolment\.id' "" "status of an enrolment id never seen" -- status NEVER-SEEN-0001
expect 4 '.' "" "lookup of a document number nobody holds" -- lookup 99999999

section "numbers"

# ---- usage: exit 1 ----------------------------------------------------------------------------

expect 1 "unknown command 'frobnicate'" "" "unknown subcommand" -- frobnicate
expect 1 'usage' "" "no subcommand at all" --
expect 1 'Huduma Number is required' "" "show without a number" -- show
expect 1 "bad argument '--dir'" "" "an option without its value" -- show "$HN" --dir
expect 1 'threads' "" "import --threads 0" -- import "$WORK/good.json" --threads 0

section "usage errors"

# ---- bulk import of bad lines ------------------------------------------------------------------

{
    rec IMP-1 | cut -c 1-80
    rec IMP-2 'residence={"county": "048"}' | sed 's/^/{"op": "enrol", "record": /; s/$/}/'
    rec IMP-3 '+dna="ACGT"' | sed 's/^/{"op": "enrol", "record": /; s/$/}/'
    rec IMP-4 | sed 's/^/{"op": "enrol", "record": /; s/$/}/'
} >"$WORK/lines.jsonl"
run import "$WORK/lines.jsonl" --threads 2 --acks
if [ "$rc" -eq 2 ]; then
    fails=""
    grep -q 'line 1:' "$WORK/err" || fails="$fails line-1"
    grep -q 'line 2: residence\.county' "$WORK/err" || fails="$fails line-2"
    grep -q 'line 3: dna: unknown member' "$WORK/err" || fails="$fails line-3"
    grep -q 'line 4: documents\[0\]\.number' "$WORK/err" || fails="$fails line-4"
    [ -s "$WORK/out" ] && fails="$fails acks-printed"
    sanitizer_clean || fails="$fails sanitizer"
    if [ -z "$fails" ] && not_enrolled IMP-2 "import" && not_enrolled IMP-3 "import" &&
        not_enrolled IMP-4 "import" && unchanged "import of bad lines"; then
        ok "import of four bad lines: exit $rc, each refusal reported with its line and field"
    elif [ -n "$fails" ]; then
        not_ok "import of four bad lines: missing or wrong:$fails"
        show_err
    fi
else
    not_ok "import of four bad lines: exit $rc, expected 2 (refused lines)"
    show_err
fi

section "import"

# ---- help --------------------------------------------------------------------------------------

run --help
if [ "$rc" -eq 0 ] && grep -q '^usage: huduma' "$WORK/out"; then
    ok "huduma --help exits 0"
else
    not_ok "huduma --help: exit $rc"
fi
COMMANDS=$(sed -n '/^commands:/,/^$/s/^  \([a-z-][a-z-]*\) .*/\1/p' "$WORK/out")
n=0
for c in $COMMANDS; do
    n=$((n + 1))
    for h in --help -h; do
        # a register is not needed to ask for help
        run --dir "$WORK/no-register-here" "$c" "$h"
        if [ "$rc" -eq 0 ] && grep -q "^usage: huduma $c" "$WORK/out" && sanitizer_clean; then
            :
        else
            not_ok "huduma $c $h: exit $rc"
            show_err
            continue 2
        fi
    done
    ok "huduma $c --help and -h exit 0 with its usage"
done
if [ "$n" -lt 10 ]; then
    not_ok "huduma --help lists only $n subcommands"
fi
[ ! -e "$WORK/no-register-here" ] || not_ok "asking for help created a register"
section "help"

# ---- the control: the template itself is valid ---------------------------------------------------

# Its documents are those the refused records named: were any of them claimed
# by a refusal, this enrolment would be refused as a conflict.
rec GOOD-0002 'surname="Mutua"' "other_names=\"$(repeat 64 N)\"" \
    'documents=[{"type": "national_id", "number": "41234567"}, {"type": "passport", "number": "AK123456"}, {"type": "passport", "number": "AK765432"}, {"type": "passport", "number": "AK000001"}]' \
    >"$WORK/in.json"
run enrol "$WORK/in.json"
if [ "$rc" -eq 0 ] && grep -q '"outcome": "assigned"' "$WORK/out"; then
    ok "control: the template with a fresh id, other_names of 64 bytes and the documents the refused records named is enrolled"
else
    not_ok "control: the template with a fresh id and document was refused (exit $rc)"
    show_err
fi

# An enrolment id of the longest length, and the same with one more byte: the
# longer one must not find the first (ids are not compared on a prefix).
ID64=$(repeat 60 L)-064
rec "$ID64" 'surname="Wekesa"' 'documents=[{"type": "national_id", "number": "51234567"}]' >"$WORK/in.json"
run enrol "$WORK/in.json"
if [ "$rc" -eq 0 ]; then
    ok "control: an enrolment id of 64 bytes is enrolled"
    run status "${ID64}X"
    if [ "$rc" -eq 4 ] || [ "$rc" -eq 2 ]; then
        ok "status of that id with a 65th byte: exit $rc, not the 64-byte id's answer"
    else
        not_ok "status of that id with a 65th byte: exit $rc, $(tr -d '\n' <"$WORK/out" | cut -c 1-100)"
    fi
else
    not_ok "control: an enrolment id of 64 bytes was refused (exit $rc)"
    show_err
fi

echo "# $checks checks, $failures failed"
[ "$failures" -eq 0 ]
