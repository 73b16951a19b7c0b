#!/bin/sh
# image/test-boot.sh - boots the appliance image in QEMU as a data centre would
# rack it, and uses it from the host (`make image-test` runs it).
#
#   1. first boot, with a blank data disk, a software TPM as the machine's TPM
#      and a provisioning medium asking for four agencies (operator,
#      registration kit, verifier, auditor): the data partition is made, the
#      register is made with `huduma init` against the TPM, the agencies'
#      certificates are written back to the medium, hudumad serves;
#   2. from the host, over the forwarded port (127.0.0.1 only): /healthz and
#      /metrics as the operator (the XDP rate limiter attached to api0, and
#      the API's packets metered by it), an enrolment as the kit, a
#      verification as the verifier that matches and one that does not, the
#      audit log as the auditor, verified offline with huduma-audit;
#   3. a clean shutdown by the power button: hudumad stopped, QEMU exits, the
#      data partition's file system is clean, and hudumad's journal shows it
#      listening, no error, the rate limiter on and the network process
#      unable to reach the TPM;
#   4. a second boot with the same disk and TPM: the register opens again (the
#      TPM unseals its keys), the person enrolled is verified again, the audit
#      log verified again against the state of the first audit, and a clean
#      shutdown.
# Prints "ok - ..." / "not ok - ..." and the seconds from power-on to serving.
set -eu
. "$(dirname "$0")/qemu.sh"

vm_init boot
REQ=$W/request
CERTS=$W/bundle

cat >"$REQ" <<'EOF'
ops operator
kit registration
verifier verifier
auditor auditor
EOF

# The medium: a tar archive written on a raw 4 MiB disk.
tar -C "$W" -cf "$W/provision.img" request
truncate -s 4M "$W/provision.img"
truncate -s 1G "$W/data.img"

api() { # AGENCY METHOD PATH [BODY]: $code, $W/body
    ag=$1 method=$2 path=$3 data=${4:-}
    set -- -q -sS --noproxy '*' --max-time 50 --cacert "$CERTS/ca.crt" \
        --cert "$CERTS/$ag.crt" --key "$CERTS/$ag.key" -H 'X-Purpose: image boot test' \
        -o "$W/body" -w '%{http_code}' -X "$method"
    if [ -n "$data" ]; then set -- "$@" -H 'Content-Type: application/json' --data-binary "$data"; fi
    rm -f "$W/body"
    code=$(timeout 60 curl "$@" "https://127.0.0.1:$PORT$path" 2>"$W/curl.err") || code=000
    [ -f "$W/body" ] || : >"$W/body"
}

wait_serving() { # SECONDS: /healthz answers 200 to the operator
    deadline=$(($(date +%s) + $1))
    while :; do
        api ops GET /healthz
        [ "$code" = 200 ] && return 0
        vm_running || return 1
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 2
    done
}

json_string() { # MEMBER FILE
    sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" "$2" | head -n 1
}

# The journal is on the data partition: read without mounting it (debugfs),
# hudumad's lines of this boot must show it listening and no error, the XDP
# rate limiter on (the image's hudumad.conf names api0), and the TPM hidden
# from the network process; its warnings (a limitation it runs with) are
# printed.
journal_check() { # WHICH
    rm -rf "$W/journal"
    debugfs -R "rdump /journal $W" "$W/data.img" >/dev/null 2>&1 || :
    if ! journalctl -D "$W/journal" -b -u hudumad.service --no-pager -o cat >"$W/hudumad.log" 2>/dev/null ||
        ! [ -s "$W/hudumad.log" ]; then
        not_ok "$1: no journal of hudumad on the data partition"
        return 0
    fi
    if grep -q 'msg="listening"' "$W/hudumad.log" && ! grep -q 'level=error' "$W/hudumad.log"; then
        ok "$1: the journal on the data partition shows hudumad listening, and no error"
    else
        not_ok "$1: hudumad's journal: $(grep -m 3 -e 'level=error' "$W/hudumad.log")"
    fi
    if grep -q 'msg="rate limiting is on" interface=api0' "$W/hudumad.log"; then
        ok "$1: hudumad's XDP rate limiter is attached ($(grep 'msg="rate limiting is on"' "$W/hudumad.log" | grep -o 'interface=[^ ]* mode=[^ ]*' | head -n 1))"
    else
        not_ok "$1: the XDP rate limiter is not on: $(grep -m 1 'msg="rate limiting' "$W/hudumad.log" | grep -o 'reason=.*')"
    fi
    if grep -q 'msg="the network process cannot reach the TPM' "$W/hudumad.log" &&
        ! grep -q -e 'can still reach the TPM' -e 'keeps capabilities' "$W/hudumad.log"; then
        ok "$1: hudumad's network process cannot reach the TPM, and holds no capability"
    else
        not_ok "$1: the TPM from the network process: $(grep -e 'reach the TPM' -e 'capabilities' "$W/hudumad.log" | head -n 2)"
    fi
    grep 'level=warn' "$W/hudumad.log" | sed 's/^/# hudumad: /' | sort -u
}

shutdown_cleanly() { # WHICH
    if vm_powerdown 300; then
        ok "$1: the power button shut the appliance down ($(tr -d '\r' <"$W/console.log" | grep -c 'Stopped') units stopped)"
    else
        fatal "$1: the appliance did not power off within 300 s of the power button"
    fi
    tpm_stop
    if tr -d '\r' <"$W/console.log" | grep -q 'Stopped.*hudumad'; then
        ok "$1: hudumad was stopped by systemd"
    else
        not_ok "$1: no 'Stopped ... hudumad' on the console"
    fi
    if tr -d '\r' <"$W/console.log" | grep -q 'reboot: Power down'; then
        ok "$1: the kernel powered down"
    else
        not_ok "$1: the kernel did not report 'reboot: Power down'"
    fi
    journal_check "$1"
    state=$(dumpe2fs -h "$W/data.img" 2>/dev/null | sed -n 's/^Filesystem state:[[:space:]]*//p')
    if [ "$state" = clean ]; then
        ok "$1: the data partition was unmounted cleanly (ext4 state: clean)"
    else
        not_ok "$1: the data partition's state is \"$state\", not clean"
    fi
}

# ---- 1. first boot --------------------------------------------------------------------------

tpm_start
vm_start "$IMAGE_DIR/root.img"
echo "# first boot: QEMU pid $qpid, API on 127.0.0.1:$PORT, console $W/console.log"
rc=0
wait_console 'huduma-provision: bundle written' "$BOOT_TIMEOUT" || rc=$?
case $rc in
0) ok "first boot: the data partition, the register and the agencies were made" ;;
1) fatal "first boot: QEMU exited before the provisioning bundle was written" ;;
*) fatal "first boot: no provisioning bundle within $BOOT_TIMEOUT s" ;;
esac
for line in 'huduma-verity: root image verified' 'huduma-data: .* is blank: making an ext4' \
    'huduma-init: register made'; do
    if tr -d '\r' <"$W/console.log" | grep -q -e "$line"; then ok "console: $line"; else not_ok "console lacks: $line"; fi
done

mkdir -p "$W/medium"
tar -C "$W/medium" -xf "$W/provision.img" || fatal "the provisioning medium holds no tar archive"
mv "$W/medium/bundle" "$CERTS"
result=$(cat "$CERTS/result")
[ "$result" = "ok 4" ] || fatal "provisioning answered \"$result\", not \"ok 4\""
for a in ops kit verifier auditor; do
    [ -s "$CERTS/$a.crt" ] && [ -s "$CERTS/$a.key" ] || fatal "the bundle lacks $a.crt or $a.key"
done
ok "the medium came back with the agency CA and four agency certificates (result: $result)"

wait_serving "$BOOT_TIMEOUT" || fatal "hudumad did not answer /healthz (last status $code: $(cat "$W/curl.err" "$W/body"))"
first_ms=$(($(now_ms) - VM_T0))
ok "first boot: serving /healthz to the operator $((first_ms / 1000)) s after power-on"

# ---- 2. the API from the host ---------------------------------------------------------------

metric() { # NAME{LABELS}: its value in $W/body (a /metrics answer)
    awk -v m="$1" '$1 == m { print $2 }' "$W/body"
}
api ops GET /metrics
if [ "$code" = 200 ] && grep -q '^hudumad_' "$W/body"; then ok "/metrics answers the operator"; else not_ok "/metrics: $code"; fi
if [ "$(metric hudumad_ratelimit_enabled)" = 1 ] && grep -q '^hudumad_ratelimit_info{interface="api0",' "$W/body"; then
    ok "the XDP rate limiter is attached to api0 in the booted image ($(grep -o '^hudumad_ratelimit_info{[^}]*}' "$W/body"))"
else
    not_ok "the XDP rate limiter is not attached: hudumad_ratelimit_enabled '$(metric hudumad_ratelimit_enabled)'"
fi
api verifier GET /metrics
if [ "$code" = 403 ]; then ok "/metrics refuses the verifier (403)"; else not_ok "/metrics to the verifier: $code"; fi
code=$(timeout 60 curl -q -sS --noproxy '*' --max-time 50 --cacert "$CERTS/ca.crt" -o /dev/null \
    -w '%{http_code}' "https://127.0.0.1:$PORT/healthz" 2>/dev/null) || code=000
if [ "$code" = 000 ]; then ok "no answer without a client certificate"; else not_ok "answered $code without a client certificate"; fi

api kit POST /v1/enrolments @"$ROOT_DIR/docs/examples/enrolment.json"
hn=$(json_string huduma_number "$W/body")
if [ "$code" = 201 ] && [ -n "$hn" ]; then
    ok "enrolment by the kit: 201, Huduma Number assigned"
else
    fatal "enrolment: status $code: $(cat "$W/body")"
fi
surname=$(json_string surname "$ROOT_DIR/docs/examples/enrolment.json")
dob=$(json_string date_of_birth "$ROOT_DIR/docs/examples/enrolment.json")
verify_body="{\"huduma_number\":\"$hn\",\"claims\":{\"surname\":\"$surname\",\"date_of_birth\":\"$dob\"}}"
api verifier POST /v1/verify "$verify_body"
if [ "$code" = 200 ] && grep -q '"match": *true' "$W/body"; then
    ok "verification by the verifier agency: match true"
else
    not_ok "verification: status $code: $(cat "$W/body")"
fi
api verifier POST /v1/verify "{\"huduma_number\":\"$hn\",\"claims\":{\"surname\":\"${surname}x\"}}"
if [ "$code" = 200 ] && grep -q '"match": *false' "$W/body"; then
    ok "a wrong claim: match false"
else
    not_ok "verification of a wrong claim: status $code: $(cat "$W/body")"
fi
api kit POST /v1/verify "$verify_body"
if [ "$code" = 403 ]; then ok "the kit may not verify (403)"; else not_ok "verification by the kit: $code"; fi
api ops GET /metrics
xdp_passed=$(metric 'hudumad_ratelimit_class_packets_total{class="default",action="pass"}')
if [ "${xdp_passed:-0}" -gt 0 ] 2>/dev/null; then
    ok "the API's packets went through the XDP program on api0 ($xdp_passed metered and passed in class default)"
else
    not_ok "the XDP program metered none of the API's packets: class default passed '$xdp_passed'"
fi

# The audit log: the checkpoint and every entry fetched by the auditor, then
# verified offline by huduma-audit with the public key from the provisioning
# bundle; a changed entry must fail.
audit_check() {
    sleep 3 # the checkpointer signs every second when the tree grew
    api auditor GET /v1/audit/checkpoint
    [ "$code" = 200 ] && [ -s "$W/body" ] || {
        not_ok "audit checkpoint: status $code: $(cat "$W/body")"
        return 0
    }
    cp "$W/body" "$W/checkpoint"
    size=$(sed -n 2p "$W/checkpoint")
    case $size in '' | *[!0-9]*)
        not_ok "the checkpoint's second line is not a tree size: $size"
        return 0
        ;;
    esac
    : >"$W/entries"
    start=0
    while [ "$start" -lt "$size" ]; do
        end=$((start + 1000 < size ? start + 1000 : size))
        api auditor GET "/v1/audit/entries?start=$start&end=$end"
        [ "$code" = 200 ] || {
            not_ok "audit entries $start..$end: status $code: $(cat "$W/body")"
            return 0
        }
        cat "$W/body" >>"$W/entries"
        start=$end
    done
    ok "the auditor fetched the checkpoint and its $size entries"
    if [ "$size" -ge 2 ]; then ok "the enrolment and verifications were logged (tree size $size)"; else not_ok "tree size $size after an enrolment and three verifications"; fi
    if [ ! -x "$BIN/huduma-audit" ]; then
        not_ok "no huduma-audit in $BIN: the audit log cannot be verified offline (make VARIANT=rel build)"
        return 0
    fi
    pem=$CERTS/signing.pem
    [ -s "$pem" ] || pem=$(find "$CERTS" -name '*.pem' | head -n 1)
    if [ -z "$pem" ] || [ ! -s "$pem" ]; then
        not_ok "huduma-audit: the bundle carries no public key (*.pem) of the audit log"
        return 0
    fi
    if timeout 300 "$BIN/huduma-audit" --key "$pem" --state "$W/audit.state" audit \
        "$W/checkpoint" "$W/entries" >"$W/audit.out" 2>&1; then
        ok "huduma-audit verified the log offline: $(tail -n 1 "$W/audit.out")"
    else
        not_ok "huduma-audit: $(tail -n 3 "$W/audit.out")"
    fi
    # A changed entry must be caught (exit 1, the log failed): the first
    # base64 character of the first entry changed.
    awk 'NR == 1 { c = substr($0, 1, 1); $0 = (c == "A" ? "B" : "A") substr($0, 2) } { print }' \
        "$W/entries" >"$W/entries.bad"
    arc=0
    timeout 300 "$BIN/huduma-audit" --key "$pem" audit "$W/checkpoint" "$W/entries.bad" \
        >"$W/audit.bad" 2>&1 || arc=$?
    if [ "$arc" -eq 1 ]; then
        ok "huduma-audit refused a changed entry: $(tail -n 1 "$W/audit.bad")"
    else
        not_ok "huduma-audit on a changed entry: exit $arc, not 1: $(tail -n 2 "$W/audit.bad")"
    fi
}
audit_check

shutdown_cleanly "first boot"

# ---- 3. second boot -------------------------------------------------------------------------

tpm_start
vm_start "$IMAGE_DIR/root.img"
echo "# second boot: QEMU pid $qpid, API on 127.0.0.1:$PORT"
wait_serving "$BOOT_TIMEOUT" || fatal "second boot: hudumad did not answer /healthz (last status $code)"
second_ms=$(($(now_ms) - VM_T0))
ok "second boot: serving /healthz $((second_ms / 1000)) s after power-on"
if tr -d '\r' <"$W/console.log" | grep -q 'huduma-init: making the register'; then
    not_ok "second boot: the register was made again"
else
    ok "second boot: the register of the first boot was opened, not made again"
fi
if tr -d '\r' <"$W/console.log" | grep -q 'huduma-provision: bundle written'; then
    not_ok "second boot: the provisioning medium was used again without huduma.provision=1"
else
    ok "second boot: the provisioning medium was left alone"
fi
api verifier POST /v1/verify "$verify_body"
if [ "$code" = 200 ] && grep -q '"match": *true' "$W/body"; then
    ok "second boot: the person enrolled before is verified (match true)"
else
    not_ok "second boot: verification: status $code: $(cat "$W/body")"
fi
audit_check # again, with the state of the first: the entries verified then are unchanged
shutdown_cleanly "second boot"

echo "# boot to serving: first boot $first_ms ms (makes the data partition and the register), second boot $second_ms ms"
echo "# accel: $ACCEL"
[ "$failures" -eq 0 ]
