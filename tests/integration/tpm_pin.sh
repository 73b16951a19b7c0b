#!/bin/sh
# tests/integration/tpm_pin.sh - a master key sealed to PCR 7 and a PIN.
#
# What it proves, each with an "ok - ..." line:
#   - `huduma init --pin-file` seals to the PIN: `huduma keys status` says so,
#     and huduma without the PIN, or with a wrong one, is refused (exit 5)
#     with a message that says which;
#   - hudumad without a PIN, and with a wrong PIN in [keys] pin_file, refuses
#     to start (exit 1) with that message and touches nothing of the register;
#   - with the right PIN (the environment's HUDUMA_PIN_FILE for huduma, the
#     configuration's pin_file for hudumad) both work: the daemon serves its
#     registrar, who reads a person.
#
# How: lib/daemon.sh with its swtpm; the TPM counts wrong PINs (dictionary
# attack protection), so the script gives it two wrong ones, well under its
# limit.  Every command is bounded.
set -eu

LIB_NAME=tpm-pin
. "$(dirname "$0")/lib/daemon.sh"
lib_init
need_tools sha256sum

printf 'Kilimanjaro 5895\n' >"$WORK/pin"
printf 'Kilimanjaro 5896\n' >"$WORK/wrong-pin"
chmod 600 "$WORK/pin" "$WORK/wrong-pin"

fingerprint() {
    (
        cd "$HUDUMA_DIR"
        find . -path ./tpm -prune -o -type f -printf '%p %s %T@\n' | sort
        find . -path ./tpm -prune -o -type f -exec sha256sum {} + | sort
    )
}

timeout "$T" "$HUDUMA" init --pin-file "$WORK/pin" >"$WORK/init.out" 2>&1 ||
    fatal "huduma init --pin-file: $(cat "$WORK/init.out")"
export HUDUMA_PIN_FILE="$WORK/pin"
add_agency registrar registrar
timeout "$T" "$HUDUMA" synth --seed 3 --count 5 --no-events >"$WORK/people.jsonl"
st=0
timeout "$T" "$HUDUMA" import "$WORK/people.jsonl" --acks >"$WORK/acks" 2>/dev/null || st=$?
[ "$st" = 0 ] || [ "$st" = 2 ] || fatal "huduma import exited $st"
HN=$(awk -F '\t' '$3 == "assigned" { print $4; exit }' "$WORK/acks")
timeout "$T" "$HUDUMA" keys status >"$WORK/status.json"
if grep -q '"pin": true' "$WORK/status.json"; then
    ok "huduma init --pin-file sealed the master key to PCR 7 and a PIN"
else
    not_ok "keys status: $(tr -d '\n' <"$WORK/status.json")"
fi

# huduma: no PIN, a wrong PIN, the right one
unset HUDUMA_PIN_FILE
st=0
timeout "$T" "$HUDUMA" show "$HN" >/dev/null 2>"$WORK/err" || st=$?
if [ "$st" = 5 ] && grep -q 'sealed with a PIN' "$WORK/err"; then
    ok "huduma without the PIN is refused: $(head -n 1 "$WORK/err")"
else
    not_ok "huduma without the PIN: exit $st, $(cat "$WORK/err")"
fi
st=0
timeout "$T" "$HUDUMA" --pin-file "$WORK/wrong-pin" show "$HN" >/dev/null 2>"$WORK/err" || st=$?
if [ "$st" = 5 ] && grep -q 'wrong PIN' "$WORK/err"; then
    ok "huduma with a wrong PIN is refused: $(head -n 1 "$WORK/err")"
else
    not_ok "huduma with a wrong PIN: exit $st, $(cat "$WORK/err")"
fi
if timeout "$T" "$HUDUMA" --pin-file "$WORK/pin" show "$HN" >/dev/null 2>"$WORK/err"; then
    ok "huduma with the right PIN reads the register"
else
    not_ok "huduma with the right PIN: $(cat "$WORK/err")"
fi

# hudumad: no PIN, a wrong PIN, the right one
refused() { # WHAT PATTERN
    fingerprint >"$WORK/before"
    write_config 20000
    st=0
    timeout 60 "$HUDUMAD" --config "$WORK/hudumad.conf" >/dev/null 2>"$WORK/refused.log" || st=$?
    fingerprint >"$WORK/after"
    if [ "$st" = 1 ] && grep -q "$2" "$WORK/refused.log" && cmp -s "$WORK/before" "$WORK/after"; then
        ok "hudumad $1: refuses to start (exit 1), says why, touched nothing"
    else
        not_ok "hudumad $1: exit $st, $(tail -n 2 "$WORK/refused.log")"
    fi
}
config_extra() { :; }
refused "without a PIN" "sealed with a PIN"
config_extra() { printf '\n[keys]\npin_file = %s\n' "$WORK/wrong-pin"; }
refused "with a wrong PIN" "wrong PIN"
config_extra() { printf '\n[keys]\npin_file = %s\n' "$WORK/pin"; }
start_daemon registrar
api registrar GET "/v1/persons/$HN"
if [ "$code" = 200 ]; then
    ok "hudumad with the right PIN in [keys] pin_file serves: the registrar reads a person"
else
    not_ok "read with the right PIN: $code"
fi
sigterm_daemon
[ "$stop_status" = 0 ] || not_ok "hudumad exited $stop_status at SIGTERM"

no_sanitizer_report
echo "# $(($(date +%s) - STARTED)) s"
[ "$failures" -eq 0 ]
