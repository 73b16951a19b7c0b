#!/bin/sh
# tests/integration/ratelimit_daemon.sh - hudumad and its XDP rate limiter:
# attached at start, counted in /metrics, a source that keeps failing mutual
# TLS banned, detached at exit; and without CAP_BPF the daemon still serves,
# saying that rate limiting is off.
#
# What it proves, each with an "ok - ..." line:
#   - hudumad attaches the program at start (native XDP on a veth), logs it,
#     and pins its maps; /metrics shows hudumad_ratelimit_enabled 1, where it
#     is attached, and counters that agree with `huduma ratelimit top` (a
#     flood's drops appear in hudumad_ratelimit_packets_total exactly);
#   - an unknown source whose mutual-TLS handshakes fail ban_after_failures
#     times (no certificate) is banned by the daemon: logged, listed by
#     `huduma ratelimit status` as banned for failed handshakes with its
#     expiry, counted in hudumad_ratelimit_bans_total, and its next
#     connection, even with a good certificate, gets nowhere; a source in an
#     agency network failing as often is not banned and is served after;
#   - failures that arrive together from two sources (queued while the
#     daemon is stopped, then accepted in a row) are each charged to their
#     own source: an unknown source's ban_after_failures - 1 failures among
#     20 from an agency network do not ban it, and one more does, with
#     exactly ban_after_failures counted;
#   - SIGTERM: hudumad exits 0, the program is detached and its pins removed;
#   - started without CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN and CAP_NET_ADMIN
#     (setpriv drops them from the bounding set), the same configuration: hudumad serves
#     anyway, logs "rate limiting is off" with the reason, /metrics says
#     hudumad_ratelimit_enabled 0, and nothing is attached to the interface.
#
# How: lib/netns.sh's namespaces and veth pair (documentation addresses
# only), the sanitized hudumad in the server namespace, curl from the client
# namespace with a chosen source address, trafgen for one bounded flood.
#
# Needs: root, HUDUMA_SAN_BIN, ip, nsenter, setpriv (util-linux), trafgen, jq,
# curl, openssl.
set -eu

LIB_NAME=ratelimit-daemon
# shellcheck source=tests/integration/lib/daemon.sh
. "$(dirname "$0")/lib/daemon.sh"
lib_init
need_tools ip nsenter setpriv trafgen jq
[ "$(id -u)" -eq 0 ] || fatal "needs root: it makes network namespaces and attaches XDP"
# shellcheck source=tests/integration/lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"
on_cleanup() {
    stop_daemon
    netns_down
}
netns_up
INSTANCE=test-daemon-$netns_id

huduma_init
add_agency ops operator
CONFIG_LISTEN=0.0.0.0
DAEMON_PREFIX="nsenter --net=/run/netns/$NS_S"
API_PREFIX="nsenter --net=/run/netns/$NS_C"
API_VIA=192.0.2.1
FAILURES=3
config_extra() {
    cat <<EOF

[ratelimit]
interface = $VS
instance = $INSTANCE
class.default = rate 50 burst 100 syn_rate 20 syn_burst 20
class.link = rate 100000 burst 100000
class.kra = rate 1000 burst 2000
network.link = 192.0.2.0/24
network.kra = 198.51.100.0/24
ban_after_failures = $FAILURES
ban_window_seconds = 60
ban_seconds = 600
EOF
}
rl() { timeout "$T" "$HUDUMA" ratelimit "$@" --instance "$INSTANCE"; }
metric() { # NAME{LABELS}: its value in $WORK/body (a /metrics answer)
    awk -v m="$1" '$1 == m { print $2 }' "$WORK/body"
}
from() { # SOURCE AGENCY|- : GET /healthz from SOURCE; sets $code
    set -- "$1" "$2" -q -sS --noproxy '*' --connect-timeout 3 --max-time 10 --interface "$1" \
        --cacert "$CA" -o "$WORK/from.body" -w '%{http_code}' \
        --connect-to "127.0.0.1:$PORT:192.0.2.1:$PORT"
    if [ "$2" != - ]; then set -- "$@" --cert "$CERTS/$2.crt" --key "$CERTS/$2.key"; fi
    shift 2
    # shellcheck disable=SC2086 # API_PREFIX is words
    code=$(timeout "$T" $API_PREFIX curl "$@" "https://127.0.0.1:$PORT/healthz" 2>"$WORK/from.err") ||
        code=${code:-000}
}

# ---- attached at start, counted in /metrics -------------------------------------------------

start_daemon ops
if grep -q "msg=\"rate limiting is on\" interface=$VS mode=native instance=$INSTANCE" "$LOG" &&
    ip -n "$NS_S" link show "$VS" | grep -q 'prog/xdp' &&
    [ -e "/sys/fs/bpf/huduma/$INSTANCE/rl_sources" ]; then
    ok "hudumad attached the XDP program to $VS at start (native mode, logged) and pinned its maps"
else
    not_ok "attach at start: log '$(grep 'rate limiting' "$LOG")', link '$(ip -n "$NS_S" link show "$VS" | tr '\n' ' ')'"
fi

flood over 2000 "$(tcp_to_port 203.0.113.40 ack)"
set -- $(rl top --count 100 | jq -r 'select(.source == "203.0.113.40") | "\(.passed) \(.dropped)"')
api ops GET /metrics
dropped=$(metric 'hudumad_ratelimit_packets_total{action="drop",reason="over_rate"}')
if [ "$code" = 200 ] && [ "$(metric hudumad_ratelimit_enabled)" = 1 ] &&
    [ "$(metric "hudumad_ratelimit_info{interface=\"$VS\",mode=\"native\",instance=\"$INSTANCE\"}")" = 1 ] &&
    [ "$#" -eq 2 ] && [ "$2" -gt 0 ] && [ "$dropped" = "$2" ] &&
    [ "$(metric 'hudumad_ratelimit_class_packets_total{class="default",action="drop"}')" = "$2" ] &&
    [ "$(metric 'hudumad_ratelimit_class_packets_total{class="link",action="pass"}')" -gt 0 ]; then
    ok "/metrics: hudumad_ratelimit_enabled 1, attached to $VS in native mode, and a flood's $2 drops counted exactly as huduma ratelimit top counts them"
else
    not_ok "/metrics: status $code, enabled '$(metric hudumad_ratelimit_enabled)', over_rate '$dropped', top '$*': $(grep ratelimit "$WORK/body" | head -n 20)"
fi

# ---- a source that keeps failing mutual TLS is banned --------------------------------------------

from 203.0.113.10 ops
served_before=$code
i=0
while [ $i -lt "$FAILURES" ]; do
    from 203.0.113.10 -
    i=$((i + 1))
done
from 203.0.113.10 ops
after_ban=$code
rl status >"$WORK/status.json"
expires=$(jq -r '.denied[] | select(.prefix == "203.0.113.10/32" and .origin == "failed handshakes") | .expires_in_seconds' "$WORK/status.json")
api ops GET /metrics
if [ "$served_before" = 200 ] && [ "$after_ban" = 000 ] &&
    grep -q "msg=\"source banned: repeated failed handshakes\" conn=[0-9]* source=203.0.113.10/32 failures=$FAILURES seconds=600" "$LOG" &&
    [ -n "$expires" ] && [ "$expires" -gt 0 ] && [ "$expires" -le 600 ] &&
    [ "$(metric hudumad_ratelimit_bans_total)" = 1 ]; then
    ok "a source failing $FAILURES mutual-TLS handshakes is banned by the daemon (logged, listed for $expires s more, hudumad_ratelimit_bans_total 1); its next connection, with a good certificate, gets nowhere"
else
    not_ok "handshake ban: served before $served_before, after $after_ban, expires '$expires', bans_total '$(metric hudumad_ratelimit_bans_total)': $(grep -e banned -e refused "$LOG" | tail -n 5)"
fi

i=0
while [ $i -lt $((FAILURES + 2)) ]; do
    from 198.51.100.10 -
    i=$((i + 1))
done
from 198.51.100.10 ops
if [ "$code" = 200 ] && ! grep -q 'source=198.51.100.10' "$LOG" &&
    ! jq -e '.denied[] | select(.prefix == "198.51.100.10/32")' "$WORK/status.json" >/dev/null &&
    ! rl status | jq -e '.denied[] | select(.prefix == "198.51.100.10/32")' >/dev/null; then
    ok "a source in an agency network failing $((FAILURES + 2)) handshakes is not banned, and is served after (200)"
else
    not_ok "agency source after failures: status $code; $(grep 'source=198.51' "$LOG" | tail -n 2)"
fi

# Failures arriving together: queued while the daemon is stopped, then accepted in
# a row, each must be charged to its own peer's address, not to another's.
burst() { # SOURCE COUNT: COUNT handshakes without a certificate from SOURCE, all at once
    j=0
    while [ "$j" -lt "$2" ]; do
        # shellcheck disable=SC2086 # API_PREFIX is words
        timeout "$T" $API_PREFIX curl -q -sS --noproxy '*' --connect-timeout 3 --max-time 10 \
            --interface "$1" --cacert "$CA" -o /dev/null \
            --connect-to "127.0.0.1:$PORT:192.0.2.1:$PORT" "https://127.0.0.1:$PORT/healthz" \
            2>/dev/null &
        burst_pids="$burst_pids $!"
        j=$((j + 1))
    done
}
ip -n "$NS_C" addr add 203.0.113.20/32 dev "$VC"
ip -n "$NS_C" addr add 198.51.100.20/32 dev "$VC"
burst_pids=
kill -STOP "$dpid" # the connections queue in the listeners' backlogs, to be accepted in a row
burst 203.0.113.20 $((FAILURES - 1))
burst 198.51.100.20 20
sleep 1
kill -CONT "$dpid"
for p in $burst_pids; do wait "$p" || :; done
rl status >"$WORK/status.json"
early=$(jq -r '[.denied[] | select(.prefix == "203.0.113.20/32")] | length' "$WORK/status.json")
from 203.0.113.20 -
rl status >"$WORK/status.json"
if [ "$early" = 0 ] && ! grep -q 'source=198.51.100.20' "$LOG" &&
    grep -q "msg=\"source banned: repeated failed handshakes\" conn=[0-9]* source=203.0.113.20/32 failures=$FAILURES " "$LOG" &&
    jq -e '.denied[] | select(.prefix == "203.0.113.20/32" and .origin == "failed handshakes")' "$WORK/status.json" >/dev/null; then
    ok "failures arriving together from two sources are charged each to its own: $((FAILURES - 1)) from an unknown source among 20 from an agency network do not ban it, one more does (failures=$FAILURES)"
else
    not_ok "failures arriving together: banned early '$early'; $(grep -e 'source=203.0.113.20' -e 'source=198.51.100.20' "$LOG" | tail -n 3)"
fi

# ---- detached at exit ------------------------------------------------------------------------

sigterm_daemon
if [ "$stop_status" = 0 ] && grep -q 'msg="rate limiting stopped: the XDP program is detached"' "$LOG" &&
    ! ip -n "$NS_S" link show "$VS" | grep -q 'prog/xdp' && [ ! -e "/sys/fs/bpf/huduma/$INSTANCE" ]; then
    ok "SIGTERM: hudumad exits 0, logs the limiter stopped, the program is detached and its pins removed"
else
    not_ok "stop: exit $stop_status, link '$(ip -n "$NS_S" link show "$VS" | tr '\n' ' ')', pins '$(ls "/sys/fs/bpf/huduma/$INSTANCE" 2>&1)'"
fi
no_sanitizer_report
mv "$LOG" "$WORK/hudumad-first.log"

# ---- without CAP_BPF ---------------------------------------------------------------------------

DAEMON_PREFIX="nsenter --net=/run/netns/$NS_S setpriv --bounding-set=-bpf,-perfmon,-sys_admin,-net_admin --"
start_daemon ops
caps=$(awk '/^CapEff/ { print $2 }' "/proc/$dpid/status")
api ops GET /metrics
if grep -q "msg=\"rate limiting is off\" interface=$VS reason=\"not permitted to load BPF programs" "$LOG" &&
    [ "$code" = 200 ] && [ "$(metric hudumad_ratelimit_enabled)" = 0 ] &&
    ! ip -n "$NS_S" link show "$VS" | grep -q 'prog/xdp' && [ ! -e "/sys/fs/bpf/huduma/$INSTANCE" ]; then
    ok "without CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN, CAP_NET_ADMIN (effective caps $caps) hudumad serves anyway, logs: $(grep -o 'msg="rate limiting is off".*' "$LOG"); /metrics: hudumad_ratelimit_enabled 0; nothing attached"
else
    not_ok "without CAP_BPF: log '$(grep 'rate limiting' "$LOG")', /metrics $code enabled '$(metric hudumad_ratelimit_enabled)'"
fi
sigterm_daemon
[ "$stop_status" = 0 ] || not_ok "hudumad without CAP_BPF exited $stop_status on SIGTERM"
no_sanitizer_report
echo "# $(($(date +%s) - STARTED)) s"
[ "$failures" -eq 0 ]
