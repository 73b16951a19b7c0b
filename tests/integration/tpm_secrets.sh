#!/bin/sh
# tests/integration/tpm_secrets.sh - the master key and the data keys never
# appear in the database directory, the configuration or the logs.
#
# What it proves, each with an "ok - ..." line:
#   - after a register's whole life so far - `huduma init` (master key sealed
#     in a real swtpm), an import, agencies, hudumad at log level debug serving
#     reads and enrolments, a key rotation through the daemon and one without
#     it, restarts - none of its secrets is in any file of the register
#     directory (RocksDB's SST files, write-ahead logs, MANIFEST and LOG, the
#     key hierarchy, the wrapped keys, the agency registry, the audit files),
#     in the daemon's configuration, in the daemon's log and output, or in
#     anything `huduma` printed; nor in the swtpm's state, which holds only
#     the resident signing key's own authValue (as a hardware TPM would,
#     inside the chip);
#   - the secrets looked for: the master key, the key-encryption key and the
#     signing key's authValue derived from it, the index and HN keys, every
#     data-encryption key (three, after two rotations), and the private
#     scalars of the agency CA key and the TLS server key; each as raw bytes,
#     hex in either case, and base64 or base64url at any alignment;
#   - the search can fail: the same scanner finds a DEK planted in hex, and
#     one planted in base64 in the middle of other base64, in a scratch file;
#   - no core file can hold them either: `huduma` (waiting on its input with
#     the register open) and hudumad, each started with core files unlimited
#     and a soft open files limit of 512, run with a core limit of 0, hard as
#     well as soft (AddressSanitizer lowers only the soft one), and with the
#     soft open files limit raised to the hard one (/proc/PID/limits).
#
# How: lib/daemon.sh with its swtpm; tests/tools/keys_reveal (built beside the
# binaries: $HUDUMA_SAN_BIN/../tools) unseals the master key like `huduma`
# does and prints the secrets, into a directory outside the one searched;
# lib/find_secrets.pl searches.  Needs perl.
set -eu

LIB_NAME=tpm-secrets
. "$(dirname "$0")/lib/daemon.sh"
lib_init
need_tools perl
REVEAL=$SAN/../tools/keys_reveal
FIND="perl $(dirname "$0")/lib/find_secrets.pl"
[ -x "$REVEAL" ] || fatal "no $REVEAL (make unit builds it)"
SECRETS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/huduma-secrets.XXXXXX")
on_cleanup() { rm -rf "$SECRETS_DIR"; }
CONFIG_LOG_LEVEL=debug

# "core SOFT HARD nofile SOFT HARD" of a process, from /proc/PID/limits.
limits_of() {
    awk '/^Max core file size/ { c = $5 " " $6 } /^Max open files/ { n = $4 " " $5 }
         END { print "core " c " nofile " n }' "/proc/$1/limits" 2>/dev/null || :
}
# PID NAME: waits (at most 10 s) for PID's limits to be as process.h sets them.
check_limits() {
    hard=$(ulimit -H -n)
    want="core 0 0 nofile $hard $hard"
    i=0
    while [ "$(limits_of "$1")" != "$want" ] && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    seen=$(limits_of "$1")
    if [ "$seen" = "$want" ]; then
        ok "$2 runs with no core file and its open files limit raised ($seen)"
    else
        not_ok "$2 runs with \"$seen\", not \"$want\""
    fi
}
LAUNCH="prlimit --core=unlimited --nofile=512:"

# ---- a register's life -------------------------------------------------------------------------

timeout "$T" "$HUDUMA" init >"$WORK/out.init" 2>&1 || fatal "huduma init: $(cat "$WORK/out.init")"
mkfifo "$WORK/stdin"
$LAUNCH "$HUDUMA" import - <"$WORK/stdin" >"$WORK/out.empty" 2>&1 & # prlimit execs huduma: one pid
hpid=$!
exec 3>"$WORK/stdin" # huduma opens the register, then waits to read
check_limits "$hpid" "huduma import"
exec 3>&-
wait "$hpid" || not_ok "huduma import of nothing exited $?"
add_agency kit registration
add_agency registrar registrar
timeout "$T" "$HUDUMA" synth --seed 7 --count 60 >"$WORK/people.jsonl"
st=0
timeout "$T" "$HUDUMA" import "$WORK/people.jsonl" --acks >"$WORK/out.import" 2>&1 || st=$?
[ "$st" = 0 ] || [ "$st" = 2 ] || fatal "huduma import exited $st"
HN=$(awk -F '\t' '$3 == "assigned" { print $4; exit }' "$WORK/out.import")
timeout "$T" "$HUDUMA" show "$HN" >"$WORK/out.show" 2>&1

DAEMON_PREFIX=$LAUNCH
start_daemon registrar
DAEMON_PREFIX=
check_limits "$dpid" hudumad
for i in 1 2 3; do
    api registrar GET "/v1/persons/$HN"
    [ "$code" = 200 ] || not_ok "read $i: $code"
done
api kit POST /v1/enrolments @"$(dirname "$0")/../../docs/examples/enrolment.json"
case $code in 200 | 201 | 202) ;; *) not_ok "enrolment over the API: $code $(head -c 200 "$WORK/body")" ;; esac
timeout "$T" "$HUDUMA" keys rotate >"$WORK/out.rotate1" 2>&1 || not_ok "rotate through the daemon"
api registrar GET "/v1/persons/$HN"
[ "$code" = 200 ] || not_ok "read after the rotation: $code"
sigterm_daemon
timeout "$T" "$HUDUMA" keys rotate >"$WORK/out.rotate2" 2>&1 || not_ok "rotate without the daemon"
timeout "$T" "$HUDUMA" keys status >"$WORK/out.status" 2>&1 || not_ok "keys status"
start_daemon registrar
api registrar GET "/v1/persons/$HN"
[ "$code" = 200 ] || not_ok "read after the second rotation: $code"
sigterm_daemon
swtpm_stop "$HUDUMA_DIR" # the TPM writes its state away
swtpm_start "$HUDUMA_DIR"

# ---- the secrets, and the search ------------------------------------------------------------------

"$REVEAL" "$HUDUMA_DIR" >"$SECRETS_DIR/secrets" 2>"$SECRETS_DIR/reveal.err" ||
    fatal "keys_reveal: $(cat "$SECRETS_DIR/reveal.err")"
kinds=$(cut -d' ' -f1 "$SECRETS_DIR/secrets" | tr '\n' ' ')
ndeks=$(grep -c '^dek' "$SECRETS_DIR/secrets" || :)
if [ "$ndeks" = 3 ] && grep -q '^master ' "$SECRETS_DIR/secrets" &&
    grep -q '^ca_key ' "$SECRETS_DIR/secrets"; then
    ok "the secrets to look for: $kinds"
else
    not_ok "keys_reveal printed: $kinds"
fi

dek=$(sed -n 's/^dek1 //p' "$SECRETS_DIR/secrets")
printf 'some text %s more text\n' "$dek" >"$SECRETS_DIR/canary.hex"
perl -e 'print "a\x7f" . pack("H*", $ARGV[0]) . "cdef"' "$dek" | base64 -w0 \
    >"$SECRETS_DIR/canary.b64" # the DEK at an offset of 2 bytes into the encoded stream
if ! $FIND "$SECRETS_DIR/secrets" "$SECRETS_DIR/canary.hex" >/dev/null &&
    ! $FIND "$SECRETS_DIR/secrets" "$SECRETS_DIR/canary.b64" >/dev/null; then
    ok "the scanner finds a DEK planted in hex, and in base64 inside other base64"
else
    not_ok "the scanner missed a planted DEK"
fi

find "$HUDUMA_DIR" -path "$HUDUMA_DIR/tpm" -prune -o -type f -print >"$SECRETS_DIR/files"
nfiles=$(wc -l <"$SECRETS_DIR/files")
# shellcheck disable=SC2046 # one word per file name: mktemp paths have no spaces
if $FIND "$SECRETS_DIR/secrets" $(cat "$SECRETS_DIR/files") >"$SECRETS_DIR/hits.db"; then
    ok "none of them in any of the $nfiles files of the register directory (database, WAL, MANIFEST, LOG, keys, CA, TLS, agencies, audit)"
else
    not_ok "secrets in the register directory:"
    head -n 10 "$SECRETS_DIR/hits.db" | sed 's/^/#   /'
fi
# The swtpm's own state holds the resident signing key, and with it that key's
# authValue (where a hardware TPM keeps it inside the chip); nothing else.
grep -v '^signing_auth ' "$SECRETS_DIR/secrets" >"$SECRETS_DIR/secrets.tpm"
# shellcheck disable=SC2046
if $FIND "$SECRETS_DIR/secrets.tpm" $(find "$HUDUMA_DIR/tpm" -type f) >"$SECRETS_DIR/hits.tpm"; then
    ok "none of them (but the resident signing key's own authValue) in the swtpm's state ($HUDUMA_DIR/tpm)"
else
    not_ok "secrets in the swtpm's state:"
    head -n 10 "$SECRETS_DIR/hits.tpm" | sed 's/^/#   /'
fi
if $FIND "$SECRETS_DIR/secrets" "$WORK/hudumad.conf" "$LOG" "$WORK/hudumad.out" >"$SECRETS_DIR/hits.log"; then
    ok "none of them in the configuration or the daemon's log ($(wc -l <"$LOG") lines at level debug) and output"
else
    not_ok "secrets in the configuration or the daemon's log:"
    head -n 10 "$SECRETS_DIR/hits.log" | sed 's/^/#   /'
fi
# shellcheck disable=SC2046
if $FIND "$SECRETS_DIR/secrets" $(ls "$WORK"/out.* "$WORK"/agency.*) >"$SECRETS_DIR/hits.cli"; then
    ok "none of them in anything huduma printed (init, import, show, agency add, keys rotate and status)"
else
    not_ok "secrets in huduma's output:"
    head -n 10 "$SECRETS_DIR/hits.cli" | sed 's/^/#   /'
fi

no_sanitizer_report
echo "# $(($(date +%s) - STARTED)) s"
[ "$failures" -eq 0 ]
