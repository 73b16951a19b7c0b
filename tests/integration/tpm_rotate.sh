#!/bin/sh
# tests/integration/tpm_rotate.sh - rotating the data-encryption key under load
# loses nothing and corrupts nothing.
#
# What it proves, each with an "ok - ..." line:
#   - while a registration kit enrols people over mutual TLS (huduma-load,
#     bounded in count and time) and corrections rewrite other records,
#     `huduma keys rotate` twice reaches the running daemon, which makes key 2
#     and then key 3 through its key process; each call shows progress and
#     ends when every older record is re-encrypted;
#   - every enrolment the load sent (40) is in the register afterwards (its
#     enrolment id answers with a Huduma Number, or as held for
#     adjudication), and no request failed;
#   - the records read before the rotations read back the same after them,
#     except the phone numbers the corrections changed, which hold the last
#     value written;
#   - after the daemon stops, every sealed value of the register (persons,
#     history, documents, pending, biometrics) opens under its key with its
#     associated data, and all are under key 3 (tests/tools/keys_census);
#     `huduma keys status` says key 3, no rotation running;
#   - an interrupted offline rotation resumes: `huduma keys rotate` killed
#     right after it made key 4 leaves a recorded re-encryption that the next
#     daemon start finishes in the background.
#
# How: lib/daemon.sh with its swtpm, the sanitized hudumad, huduma and
# huduma-load.  Every loop is bounded in count and time.
set -eu

LIB_NAME=tpm-rotate
. "$(dirname "$0")/lib/daemon.sh"
lib_init
LOAD=$SAN/huduma-load
CENSUS=$SAN/../tools/keys_census
[ -x "$LOAD" ] || fatal "no $LOAD"
[ -x "$CENSUS" ] || fatal "no $CENSUS (make unit builds it)"
bgpids=
NLOAD=40 # enrolments sent under load: 4 a second for 10 s (the sanitized build is slow)
on_cleanup() { for p in $bgpids; do kill "$p" 2>/dev/null || :; done; }

# ---- a register of 200 people, and 40 more to enrol under load ------------------------------------

huduma_init
add_agency kit registration
add_agency registrar registrar
timeout "$T" "$HUDUMA" synth --seed 21 --count 200 --no-events >"$WORK/base.jsonl"
st=0
timeout 300 "$HUDUMA" import "$WORK/base.jsonl" --acks --threads 4 >"$WORK/base.acks" 2>/dev/null || st=$?
[ "$st" = 0 ] || [ "$st" = 2 ] || fatal "huduma import exited $st"
awk -F '\t' '$3 == "assigned" { print $4 }' "$WORK/base.acks" | head -n 40 >"$WORK/hns"
awk -F '\t' '$3 == "assigned" { print $4 }' "$WORK/base.acks" | sed -n '41,70p' >"$WORK/corrected"
[ "$(wc -l <"$WORK/corrected")" = 30 ] || fatal "too few people were imported"
timeout "$T" "$HUDUMA" synth --seed 22 --count "$NLOAD" --no-events --prefix LOAD |
    sed -n 's/^{"op":"enrol","record":\(.*\)}$/\1/p' >"$WORK/bodies"
sed -n 's/.*"enrolment":{"id":"\([^"]*\)".*/\1/p' "$WORK/bodies" >"$WORK/ids"
[ "$(wc -l <"$WORK/ids")" = "$NLOAD" ] || fatal "huduma synth gave $(wc -l <"$WORK/ids") enrolments, not $NLOAD"

start_daemon registrar
for hn in $(cat "$WORK/hns"); do
    api registrar GET "/v1/persons/$hn"
    [ "$code" = 200 ] || fatal "read before the rotation: $code"
    cp "$WORK/body" "$WORK/before.$hn"
done

# ---- load, corrections and two rotations at once ------------------------------------------------------

timeout 120 "$LOAD" --port "$PORT" --cert "$CERTS/kit.crt" --key "$CERTS/kit.key" --cacert "$CA" \
    --method POST --path /v1/enrolments --header 'X-Purpose: load during a key rotation' \
    --header 'Content-Type: application/json' --bodies-file "$WORK/bodies" --connections 2 \
    --rate 4 --warmup 0 --duration 10 --grace 60 --requests "$NLOAD" --label enrol \
    >"$WORK/load.out" 2>&1 &
bgpids="$bgpids $!"
load_pid=$!

corrections() { # corrects each of 30 people twice; the second phone is the one to stay
    n=0
    for round in 1 2; do
        for hn in $(cat "$WORK/corrected"); do
            n=$((n + 1))
            phone=$(printf '+2547%02d%06d' "$round" "$n")
            api kit POST "/v1/persons/$hn/corrections" \
                "{\"changes\":{\"phone\":\"$phone\"},\"reason\":\"phone changed\",\"officer\":\"OFF-1\",\"evidence\":\"form 12\"}"
            echo "$hn $round $phone $code" >>"$WORK/corrections"
        done
    done
}
corrections &
bgpids="$bgpids $!"
corr_pid=$!

sleep 2
rot_ok=1
for want in 2 3; do
    if timeout 120 "$HUDUMA" keys rotate >"$WORK/rotate$want.json" 2>"$WORK/rotate$want.err" &&
        grep -q "\"key\": $want" "$WORK/rotate$want.json" &&
        grep -q "re-encrypting under key $want\|made by hudumad" "$WORK/rotate$want.err"; then
        :
    else
        rot_ok=0
        sed 's/^/#   /' "$WORK/rotate$want.err" | tail -n 3
    fi
    sleep 1
done
wait "$load_pid" || :
wait "$corr_pid" || :
bgpids=
if [ "$rot_ok" = 1 ]; then
    ok "huduma keys rotate, twice while the load ran, made keys 2 and 3 in the daemon and waited for each re-encryption (progress: $(grep -c . "$WORK/rotate2.err") lines)"
else
    not_ok "a rotation under load failed"
fi

result=$(grep '^RESULT' "$WORK/load.out" || :)
sent=$(echo "$result" | sed -n 's/.* requests=\([0-9]*\).*/\1/p')
bad=$(echo "$result" | sed -n 's/.* errors=\([0-9]*\) non2xx=\([0-9]*\) conn_errors=\([0-9]*\).*/\1+\2+\3/p')
if [ "$sent" = "$NLOAD" ] && [ "$(($bad))" = 0 ]; then
    ok "the load: $sent enrolments answered 2xx over mutual TLS during the rotations, none failed"
else
    not_ok "the load: $(tail -n 2 "$WORK/load.out")"
fi
if ! grep -qv ' 200$' "$WORK/corrections"; then
    ok "60 corrections during the rotations, all answered 200"
else
    not_ok "corrections: $(grep -v ' 200$' "$WORK/corrections" | head -n 2)"
fi

# ---- nothing lost ---------------------------------------------------------------------------------------

found=0
for id in $(cat "$WORK/ids"); do
    api kit GET "/v1/enrolments/$id"
    # assigned a number, or held as a possible duplicate of someone: known either way
    if [ "$code" = 200 ] && grep -q -e '"huduma_number"' -e 'pending_adjudication' "$WORK/body"; then
        found=$((found + 1))
    fi
done
if [ "$found" = "$NLOAD" ]; then
    ok "all $NLOAD enrolments sent under load are in the register (a Huduma Number, or held for adjudication)"
else
    not_ok "only $found of $NLOAD enrolments sent under load are in the register"
fi
same=0
for hn in $(cat "$WORK/hns"); do
    api registrar GET "/v1/persons/$hn"
    if [ "$code" = 200 ] && cmp -s "$WORK/body" "$WORK/before.$hn"; then same=$((same + 1)); fi
done
if [ "$same" = 40 ]; then
    ok "40 records read before the rotations read back byte for byte the same"
else
    not_ok "$same of 40 records read back the same"
fi
right=0
for hn in $(cat "$WORK/corrected"); do
    want=$(awk -v h="$hn" '$1 == h && $2 == 2 { print $3 }' "$WORK/corrections")
    api registrar GET "/v1/persons/$hn"
    if [ "$code" = 200 ] && [ -n "$want" ] && grep -qF "\"$want\"" "$WORK/body"; then
        right=$((right + 1))
    fi
done
if [ "$right" = 30 ]; then
    ok "the 30 corrected records hold the last phone number written"
else
    not_ok "$right of 30 corrected records hold their last phone number"
fi
sigterm_daemon
[ "$stop_status" = 0 ] || not_ok "hudumad exited $stop_status at SIGTERM"

# ---- nothing corrupted ----------------------------------------------------------------------------------

census() { # WANT: every sealed value opens and is under key WANT
    "$CENSUS" "$HUDUMA_DIR" >"$WORK/census" 2>&1 || :
    total=$(grep '^total' "$WORK/census" || :)
    values=$(echo "$total" | sed -n 's/.* values=\([0-9]*\) .*/\1/p')
    [ -n "$values" ] && [ "$values" -gt 500 ] &&
        echo "$total" | grep -q " current=$1 under_current=$values unreadable=0$"
}
if census 3; then
    ok "every sealed value opens under its key with its associated data, all under key 3 ($(sed -n 's/^total values=\([0-9]*\).*/\1/p' "$WORK/census") values)"
else
    not_ok "census: $(cat "$WORK/census")"
fi
timeout "$T" "$HUDUMA" keys status >"$WORK/status.json"
if grep -q '"current_key": 3' "$WORK/status.json" && grep -q '"rotation": null' "$WORK/status.json"; then
    ok "huduma keys status: current key 3, no rotation running"
else
    not_ok "keys status: $(tr -d '\n' <"$WORK/status.json")"
fi

# ---- an interrupted rotation resumes --------------------------------------------------------------------

# Killed as soon as it has made key 4, its batches slowed to be sure the walk
# has not ended: the rest is left to the daemon.
"$HUDUMA" keys rotate --pause-ms 300 >"$WORK/rotate4.json" 2>"$WORK/rotate4.err" &
rot_pid=$!
bgpids=$rot_pid
i=0
while ! grep -q 'key 4 made' "$WORK/rotate4.err" 2>/dev/null && [ $i -lt 600 ]; do
    sleep 0.05
    i=$((i + 1))
done
kill -KILL "$rot_pid" 2>/dev/null || :
wait "$rot_pid" 2>/dev/null || :
bgpids=
timeout "$T" "$HUDUMA" keys status >"$WORK/status4.json"
if grep -q '"current_key": 4' "$WORK/status4.json" && grep -q '"target": 4' "$WORK/status4.json"; then
    ok "an offline rotation killed after making key 4: new writes use key 4, its re-encryption is recorded as unfinished"
else
    not_ok "after the killed rotation: $(tr -d '\n' <"$WORK/status4.json")"
fi
start_daemon registrar
i=0
while ! grep -q 're-encryption finished' "$LOG" && [ $i -lt 300 ]; do
    sleep 0.2
    i=$((i + 1))
done
sigterm_daemon
if grep -q 're-encryption finished.*key=4' "$LOG" && census 4; then
    ok "the next daemon start finished it in the background: every sealed value opens, all under key 4"
else
    not_ok "resume: $(grep 're-encrypt' "$LOG" | tail -n 2) / $(grep '^total' "$WORK/census")"
fi

no_sanitizer_report
echo "# $(($(date +%s) - STARTED)) s"
[ "$failures" -eq 0 ]
