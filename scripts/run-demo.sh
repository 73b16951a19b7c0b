#!/bin/sh
# scripts/run-demo.sh - what `make run` does after building: brings up the
# appliance on 127.0.0.1 with a demo register and demo agencies, prints how to
# talk to it (a curl verification that answers "match": true, pasteable as is),
# then runs hudumad in the foreground until Ctrl-C.
#
# Everything lives in run/ and is created once, then kept across runs:
#   run/register/       the register (`huduma init`: master key sealed in the
#                       TPM, database, agency CA, server certificate), with
#                       DEMO_PEOPLE (3000) synthetic people from `huduma synth
#                       --seed 2026`: nobody real
#   run/register/tpm/   the demo's own software TPM (swtpm, scripts/swtpm.sh),
#                       started here and stopped when hudumad has exited; the
#                       demo never touches a TPM of the machine
#   run/certs/          certificates and keys of the demo agencies: demo-verifier
#                       (verifier), demo-kyc (kyc: surname, first_name,
#                       date_of_birth), demo-kit (registration), demo-ops (operator)
#   run/demo-person     the demo person the printed commands ask about
#   run/hudumad.conf    the daemon's configuration (written on every run)
# A run interrupted while creating them starts over; `rm -rf run` starts afresh.
# DEMO_PORT chooses another port than 8443.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)

BIN=$ROOT/build/rel/bin
RUN=$ROOT/run
DIR=$RUN/register
CERTS=$RUN/certs
CONF=$RUN/hudumad.conf
PORT=${DEMO_PORT:-8443}
COUNT=${DEMO_PEOPLE:-3000}

for b in huduma hudumad; do
    if [ ! -x "$BIN/$b" ]; then
        echo "run-demo: $BIN/$b is missing: run \`make run\` (it builds first)" >&2
        exit 1
    fi
done
for tool in curl openssl; do
    command -v "$tool" >/dev/null 2>&1 ||
        echo "run-demo: note: the commands below need $tool (apt-get install $tool)" >&2
done

huduma() { "$BIN/huduma" --dir "$DIR" "$@"; }

# The demo's TPM: a swtpm with its state in the register, running while the demo does.
# A register from before keys were sealed in a TPM (no keys/hierarchy) is made anew.
if [ -f "$RUN/.ready" ] && [ ! -f "$DIR/keys/hierarchy" ]; then
    echo "run-demo: run/register predates the TPM-sealed keys; making it anew" >&2
    rm -f "$RUN/.ready"
fi
if [ ! -f "$RUN/.ready" ]; then
    sh scripts/swtpm.sh stop "$DIR" 2>/dev/null || :
    rm -rf "$DIR"
fi
sh scripts/swtpm.sh start "$DIR"
HUDUMA_TCTI=$(sh scripts/swtpm.sh tcti "$DIR")
export HUDUMA_TCTI
trap 'sh "$ROOT/scripts/swtpm.sh" stop "$DIR"' EXIT

# ---- the demo register, created once ---------------------------------------------------------

# member NAME: a top-level string member of the record `huduma show` printed.
member() { sed -n "s/^  \"$1\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" "$RUN/show.json" | head -n 1; }

create() {
    rm -rf "$DIR/keys" "$DIR/db" "$DIR/ca" "$DIR/tls" "$DIR/agencies" "$DIR/audit" "$CERTS" \
        "$RUN/demo-acks.tsv" "$RUN/demo-person" "$RUN/import.log" "$RUN/demo-people.jsonl"
    mkdir -p "$RUN" "$CERTS"
    huduma init
    echo "run-demo: enrolling $COUNT synthetic people (huduma synth --seed 2026 | huduma import)..."
    rc=0
    "$BIN/huduma" synth --seed 2026 --count "$COUNT" |
        huduma import - --threads 8 --acks >"$RUN/demo-acks.tsv" 2>"$RUN/import.log" || rc=$?
    # Exit 2: some lines were refused.  synth makes a few near-duplicates that show
    # another person's document on purpose, and the register refuses them.
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
        tr '\r' '\n' <"$RUN/import.log" | tail -n 5 >&2
        echo "run-demo: huduma import failed (exit $rc)" >&2
        exit 1
    fi
    huduma agency add demo-verifier --role verifier --out "$CERTS" >/dev/null
    huduma agency add demo-kyc --role kyc --attributes surname,first_name,date_of_birth \
        --out "$CERTS" >/dev/null
    huduma agency add demo-kit --role registration --out "$CERTS" >/dev/null
    huduma agency add demo-ops --role operator --out "$CERTS" >/dev/null

    # The demo person: the first active adult with plain ASCII names and a full date
    # of birth, so that the printed command can be pasted into any shell as it is.
    for hn in $(awk -F '\t' '$3 == "assigned" { print $4 }' "$RUN/demo-acks.tsv" | head -n 200); do
        huduma show "$hn" >"$RUN/show.json" 2>/dev/null || continue
        surname=$(member surname) first=$(member first_name) dob=$(member date_of_birth)
        status=$(member status)
        if [ "$status" = active ] && expr "$surname" : '[A-Za-z]*$' >/dev/null &&
            expr "$first" : '[A-Za-z]*$' >/dev/null &&
            expr "$dob" : '[12][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]$' >/dev/null &&
            [ "${dob%%-*}" -lt 2000 ]; then
            printf 'hn=%s\nsurname=%s\nfirst=%s\ndob=%s\n' "$hn" "$surname" "$first" "$dob" \
                >"$RUN/demo-person"
            break
        fi
    done
    rm -f "$RUN/show.json"
    if [ ! -s "$RUN/demo-person" ]; then
        echo "run-demo: no demo person found in the register" >&2
        exit 1
    fi
    : >"$RUN/.ready"
}

if [ ! -f "$RUN/.ready" ]; then
    create
fi
# shellcheck disable=SC1091 # written by create() above: hn, surname, first, dob
. "$RUN/demo-person"

assigned=$(awk -F '\t' '$3 == "assigned"' "$RUN/demo-acks.tsv" | wc -l)
pending=$(awk -F '\t' '$3 == "pending"' "$RUN/demo-acks.tsv" | wc -l)

cat >"$CONF" <<EOF
# The demo appliance (scripts/run-demo.sh); every key: docs/configuration.md
[server]
listen = 127.0.0.1
port = $PORT
register_dir = $DIR

[keys]
tcti = $HUDUMA_TCTI

[log]
level = info
EOF

if command -v ss >/dev/null 2>&1 && [ -n "$(ss -Htln "sport = :$PORT" 2>/dev/null)" ]; then
    echo "run-demo: port $PORT on 127.0.0.1 is taken (a demo already running?); try DEMO_PORT=8444 make run" >&2
    exit 1
fi

TLS="-sS -w '\\n' --cacert $DIR/ca/ca.crt"
URL=https://127.0.0.1:$PORT
cat <<MSG

Huduma appliance demo: $assigned synthetic people registered ($pending held as possible
duplicates), in $DIR.
hudumad serves the v1 API on $URL with mutual TLS; each agency presents its
certificate (in $CERTS) and states a purpose in X-Purpose.

Verify a person (agency demo-verifier); this answers "match": true:

curl $TLS \\
     --cert $CERTS/demo-verifier.crt --key $CERTS/demo-verifier.key \\
     -H 'X-Purpose: demo: identity check' -H 'Content-Type: application/json' \\
     -d '{"huduma_number":"$hn","claims":{"surname":"$surname","first_name":"$first","date_of_birth":"$dob"}}' \\
     $URL/v1/verify

Change a claim and it answers "match": false.  Read the members a KYC agency may see
(demo-kyc: surname, first_name, date_of_birth):

curl $TLS \\
     --cert $CERTS/demo-kyc.crt --key $CERTS/demo-kyc.key \\
     -H 'X-Purpose: demo: account opening' $URL/v1/persons/$hn

Enrol someone as a registration kit (demo-kit; sending it again answers the same number):

curl $TLS \\
     --cert $CERTS/demo-kit.crt --key $CERTS/demo-kit.key \\
     -H 'X-Purpose: demo: registration' -H 'Content-Type: application/json' \\
     --data @$ROOT/docs/examples/enrolment.json $URL/v1/enrolments

Metrics (demo-ops):  curl $TLS --cert $CERTS/demo-ops.crt --key $CERTS/demo-ops.key $URL/metrics
More agencies, while it runs:  $BIN/huduma --dir $DIR agency add NAME --role ROLE --out $CERTS

The API: docs/api.md and docs/openapi.yaml; agencies and roles: docs/agencies.md;
the daemon's settings: docs/configuration.md; the huduma tool: docs/cli.md.

hudumad runs in the foreground; Ctrl-C stops it (requests in flight are finished first),
then the demo's swtpm.  Keys: huduma --dir $DIR keys status | rotate (docs/keys.md).

MSG

# hudumad runs as a child, so that its swtpm is stopped only after it has exited (its
# last audit checkpoint is signed in the TPM).  A background child of sh ignores
# SIGINT, so Ctrl-C reaches it as SIGTERM.
"$BIN/hudumad" --config "$CONF" &
HUDUMAD_PID=$!
trap 'kill -TERM "$HUDUMAD_PID" 2>/dev/null || :' INT TERM
status=0
while kill -0 "$HUDUMAD_PID" 2>/dev/null; do
    status=0
    wait "$HUDUMAD_PID" || status=$? # a trapped signal interrupts the wait; hudumad's end does not
done
exit "$status"
