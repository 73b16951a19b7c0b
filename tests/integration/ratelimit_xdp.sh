#!/bin/sh
# tests/integration/ratelimit_xdp.sh - the XDP rate limiter, attached by the
# real hudumad to a veth in a network namespace, against bounded floods.
#
# What it proves, each with an "ok - ..." line:
#   - a source over its rate is dropped: of 3000 packets to the API port from
#     one unknown source, at most burst + rate x (the flood's duration) pass,
#     passed + dropped is exactly 3000, and the over_rate counter grew by the
#     dropped count; new connections (TCP SYN) have their own, tighter limit;
#   - an agency network gets its class: the same flood from an address in the
#     agency's IPv4 network, and from its IPv6 /48, passes whole under the
#     agency's class; a real HTTPS request from the agency network is served
#     and counted under that class;
#   - a banned source gets nothing: banned with `huduma ratelimit ban` (and one
#     banned by [ratelimit] deny), every packet, to the API port or not, is
#     dropped as denied and a real connection from it fails; unbanned, it is
#     served again;
#   - malformed and truncated frames (a bare Ethernet header, truncated IPv4,
#     IPv6, TCP, VLAN and fragment headers, an IPv4 header length past the
#     end, an IPv6 option header longer than the frame, a bad IP version) all
#     pass, each counted as malformed, nothing dropped; unusual but valid
#     frames are parsed to their source: IPv4 options, IPv6 hop-by-hop and
#     destination options, an 802.1Q tag, 802.1ad + 802.1Q, IPv4 and IPv6
#     fragments (counted as fragments); the daemon serves afterwards and the
#     program is still attached;
#   - IPv6 sources are counted per /64: two addresses of one /64 share one
#     bucket, another /64 has its own;
#   - rates change at run time with `huduma ratelimit set`, without a
#     restart: the default class raised lets a whole flood through, lowered
#     drops again; an agency network added at run time takes effect at once.
#
# How: two network namespaces and a veth pair made for this run
# (lib/netns.sh: unique names, removed on any exit), addresses from the
# documentation ranges only (192.0.2.0/24 on the link, agencies in
# 198.51.100.0/24 and 2001:db8:100::/48, unknown sources in 203.0.113.0/24
# and 2001:db8::/32).  The sanitized hudumad
# runs in the server namespace (nsenter --net) and attaches the program to its
# veth; floods are sent by trafgen from the client namespace with a packet
# count, under timeout, so each stops by itself; counters are read with
# `huduma ratelimit status` and `top` through the pinned maps.
#
# Needs: root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN), HUDUMA_SAN_BIN, ip
# (iproute2), nsenter (util-linux), trafgen (netsniff-ng), jq, curl, openssl.
set -eu

LIB_NAME=ratelimit-xdp
# shellcheck source=tests/integration/lib/daemon.sh
. "$(dirname "$0")/lib/daemon.sh"
lib_init
need_tools ip nsenter trafgen jq
[ "$(id -u)" -eq 0 ] || fatal "needs root: it makes network namespaces and attaches XDP"

# shellcheck source=tests/integration/lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"
on_cleanup() {
    stop_daemon
    netns_down
}
netns_up
INSTANCE=test-xdp-$netns_id
ok "two network namespaces joined by a veth pair ($VS, $VC)"

# ---- the daemon, with the limiter on the server's veth -----------------------------------

huduma_init
add_agency ops operator
CONFIG_LISTEN=::
DAEMON_PREFIX="nsenter --net=/run/netns/$NS_S"
API_PREFIX="nsenter --net=/run/netns/$NS_C"
API_VIA=192.0.2.1
config_extra() {
    cat <<EOF

[ratelimit]
interface = $VS
instance = $INSTANCE
class.default = rate 20 burst 50 syn_rate 5 syn_burst 5
class.kra = rate 100 burst 4000 syn_rate 100 syn_burst 100
class.link = rate 100000 burst 100000
network.link = 192.0.2.0/24, 2001:db8:0:1::/64
network.kra = 198.51.100.0/24
network.kra = 2001:db8:100::/48
deny = 203.0.113.250
ban_after_failures = 0
EOF
}
start_daemon ops
grep -q "msg=\"rate limiting is on\" interface=$VS mode=native" "$LOG" ||
    fatal "hudumad did not attach the limiter in native mode: $(grep 'rate limiting' "$LOG")"
ok "hudumad serves in $NS_S and attached the XDP program to $VS in native mode"
PORT_HEX=$(printf %04x "$PORT")

rl() { timeout "$T" "$HUDUMA" ratelimit "$@" --instance "$INSTANCE"; }
# counter ACTION REASON: packets so far
counter() { rl status | jq -r ".counters.$1.$2.packets"; }
# source ADDR: "passed dropped class" of a source, or nothing
source_counts() {
    rl top --count 1000 --by passed | jq -r "select(.source == \"$1\") | \"\(.passed) \(.dropped) \(.class)\""
}
# most packets of a flood that may pass: burst + rate x its duration (+1 for rounding)
allowed() { echo $(($1 + $2 * $3 / 1000 + 1)); }

# ---- a source over its rate ----------------------------------------------------------------

over0=$(counter drop over_rate)
flood over 3000 "$(tcp_to_port 203.0.113.21 ack)"
set -- $(source_counts 203.0.113.21)
over1=$(counter drop over_rate)
max=$(allowed 50 20 "$flood_ms")
if [ "$#" -eq 3 ] && [ $(($1 + $2)) -eq 3000 ] && [ "$1" -le "$max" ] && [ "$2" -gt 0 ] &&
    [ "$3" = default ] && [ $((over1 - over0)) -eq "$2" ]; then
    ok "a source over its rate is dropped: 3000 packets in $flood_ms ms, $1 passed (at most $max: burst 50 + 20/s), $2 dropped, over_rate counter +$((over1 - over0))"
else
    not_ok "over rate: source counts '$*' (want passed <= $max, passed + dropped = 3000), over_rate +$((over1 - over0))"
fi

syn0=$(counter drop over_syn_rate)
flood syn 500 "$(tcp_to_port 203.0.113.33 syn)"
set -- $(source_counts 203.0.113.33)
syn1=$(counter drop over_syn_rate)
max=$(allowed 5 5 "$flood_ms")
if [ "$#" -eq 3 ] && [ $(($1 + $2)) -eq 500 ] && [ "$1" -le "$max" ] && [ $((syn1 - syn0)) -eq "$2" ]; then
    ok "new connections have their own limit: of 500 SYNs, $1 passed (at most $max: SYN burst 5 + 5/s), over_syn_rate +$2"
else
    not_ok "SYN limit: source counts '$*' (want passed <= $max of 500), over_syn_rate +$((syn1 - syn0))"
fi

# ---- an agency network gets its class ----------------------------------------------------------

flood agency4 3000 "$(tcp_to_port 198.51.100.21 ack)"
flood agency6 3000 "$(tcp6_to_port 2001:db8:100:5::21 ack)"
a4=$(source_counts 198.51.100.21)
a6=$(source_counts 2001:db8:100:5::/64)
if [ "$a4" = "3000 0 kra" ] && [ "$a6" = "3000 0 kra" ]; then
    ok "an agency network gets its class: the same 3000-packet flood from 198.51.100.0/24 and from 2001:db8:100::/48 passes whole as class kra"
else
    not_ok "agency class: 198.51.100.21 '$a4', 2001:db8:100:5::/64 '$a6' (want '3000 0 kra')"
fi
# shellcheck disable=SC2086 # API_PREFIX is words
code=$(timeout "$T" $API_PREFIX curl -q -sS --noproxy '*' --max-time 20 --interface 198.51.100.10 \
    --cacert "$CA" --cert "$CERTS/ops.crt" --key "$CERTS/ops.key" -o "$WORK/body" -w '%{http_code}' \
    --connect-to "127.0.0.1:$PORT:192.0.2.1:$PORT" "https://127.0.0.1:$PORT/healthz" 2>"$WORK/curl.err") || code=000
set -- $(source_counts 198.51.100.10)
if [ "$code" = 200 ] && [ "$#" -eq 3 ] && [ "$1" -gt 0 ] && [ "$2" -eq 0 ] && [ "$3" = kra ]; then
    ok "a real HTTPS request from the agency network is served (200) and counted as class kra ($1 packets)"
else
    not_ok "agency request: status $code ($(cat "$WORK/curl.err")), source counts '$*'"
fi

# ---- a banned source gets nothing ---------------------------------------------------------------

unknown_healthz() { # from 203.0.113.10: sets $code
    # shellcheck disable=SC2086 # API_PREFIX is words
    code=$(timeout "$T" $API_PREFIX curl -q -sS --noproxy '*' --connect-timeout 3 --max-time 10 \
        --interface 203.0.113.10 --cacert "$CA" --cert "$CERTS/ops.crt" --key "$CERTS/ops.key" \
        -o "$WORK/body" -w '%{http_code}' --connect-to "127.0.0.1:$PORT:192.0.2.1:$PORT" \
        "https://127.0.0.1:$PORT/healthz" 2>"$WORK/curl.err") || code=000
}
unknown_healthz
before=$code
rl ban 203.0.113.10 >"$WORK/ban.out" 2>&1 || not_ok "huduma ratelimit ban: $(cat "$WORK/ban.out")"
rl ban 203.0.113.23 >/dev/null 2>&1 || not_ok "huduma ratelimit ban 203.0.113.23"
denied0=$(counter drop denied)
flood banned 500 "$(tcp_to_port 203.0.113.23 ack)"
flood banned-udp 100 "{ eth(da=$(netns_dmac)), ipv4(saddr=203.0.113.23, daddr=192.0.2.1), udp(sp=5000, dp=53) }"
flood banned-cfg 100 "$(tcp_to_port 203.0.113.250 ack)"
denied1=$(counter drop denied)
unknown_healthz
during=$code
set -- $(source_counts 203.0.113.23)
if [ "$before" = 200 ] && [ "$during" = 000 ] && [ $((denied1 - denied0)) -ge 700 ] &&
    [ "$#" -eq 3 ] && [ "$1" -eq 0 ] && [ "$2" -eq 500 ] && grep -q '"banned": "203.0.113.10/32"' "$WORK/ban.out" &&
    rl status | jq -e '.denied[] | select(.prefix == "203.0.113.250/32" and .origin == "configuration")' >/dev/null; then
    ok "a banned source gets nothing: 500 TCP and 100 UDP packets from a source banned at run time and 100 from one denied in [ratelimit], all dropped as denied (+$((denied1 - denied0))); a connection that was served before the ban now fails"
else
    not_ok "ban: healthz before $before, during $during; denied +$((denied1 - denied0)) (want 700 or more); 203.0.113.23 '$*' (want 0 500); $(cat "$WORK/ban.out")"
fi
rl unban 203.0.113.10 >"$WORK/unban.out" 2>&1 || not_ok "huduma ratelimit unban: $(cat "$WORK/unban.out")"
unknown_healthz
if [ "$code" = 200 ] && rl unban 203.0.113.10 >/dev/null 2>"$WORK/unban.err"; then
    not_ok "unbanning twice succeeded"
elif [ "$code" = 200 ] && grep -q 'not on the deny list' "$WORK/unban.err"; then
    ok "unbanned, the source is served again (200); unbanning it twice is refused: $(cat "$WORK/unban.err")"
else
    not_ok "after unban: status $code: $(cat "$WORK/curl.err" "$WORK/unban.err")"
fi

# ---- malformed, truncated and unusual frames -------------------------------------------------------

ETH="$DMAC $SMAC 0800"
ETH6="$DMAC $SMAC 86dd"
TCP_ACK="9c40 $PORT_HEX 00000001 00000001 5010 ffff 0000 0000"
SRC25=cb007119 # 203.0.113.25
DST=c0000201   # 192.0.2.1
V6DST=20010db8000000010000000000000001
malformed="
$ETH
$ETH 4500002c 00004000
$ETH 44000028 00004000 4006 0000 $SRC25 $DST $TCP_ACK
$ETH 4500001c 00004000 4006 0000 $SRC25 $DST 9c40${PORT_HEX}00000001
$ETH 4f000028 00004000 4006 0000 $SRC25 $DST $TCP_ACK
$ETH6 60000000 0014 0640 20010db8002500000000
$ETH6 60000000 001c 0040 20010db8002500000000000000000001 $V6DST 06ff 000000000000 $TCP_ACK
$DMAC $SMAC 8100 00
$ETH6 60000000 0004 2c40 20010db8002500000000000000000001 $V6DST 0600
$ETH 65000028 00004000 4006 0000 $SRC25 $DST $TCP_ACK
"
mal0=$(counter pass malformed)
drops0=$(($(counter drop over_rate) + $(counter drop denied) + $(counter drop over_syn_rate)))
n=0
echo "$malformed" | while read -r frame; do
    [ -n "$frame" ] || continue
    n=$((n + 1))
    flood "malformed-$n" 10 "$(hex "$frame")"
done
mal1=$(counter pass malformed)
drops1=$(($(counter drop over_rate) + $(counter drop denied) + $(counter drop over_syn_rate)))
if [ $((mal1 - mal0)) -eq 100 ] && [ "$drops1" -eq "$drops0" ]; then
    ok "10 kinds of malformed or truncated frame, 10 each: all 100 pass, counted as malformed, none dropped"
else
    not_ok "malformed frames: malformed counter +$((mal1 - mal0)) (want 100), drops +$((drops1 - drops0)) (want 0)"
fi

frag0=$(counter pass fragment)
flood options 20 "$(hex "$ETH 4600002c 00004000 4006 0000 $SRC25 $DST 01010101 $TCP_ACK")"
flood v6ext 20 "$(hex "$ETH6 60000000 0024 0040 20010db8002500000000000000000001 $V6DST 3c00 010400000000 0600 010400000000 $TCP_ACK")"
flood vlan 20 "$(hex "$DMAC $SMAC 8100 0005 0800 45000028 00004000 4006 0000 cb00711a $DST $TCP_ACK")"
flood qinq 20 "$(hex "$DMAC $SMAC 88a8 0007 8100 0005 0800 45000028 00004000 4006 0000 cb00711b $DST $TCP_ACK")"
flood frag-first 10 "$(hex "$ETH 45000028 00002000 4006 0000 cb00711c $DST $TCP_ACK")"
flood frag-later 10 "$(hex "$ETH 4500001c 00000017 4006 0000 cb00711c $DST 0000000000000000")"
flood frag6 20 "$(hex "$ETH6 60000000 001c 2c40 20010db8002800000000000000000001 $V6DST 0600 0001 00000001 $TCP_ACK")"
frag1=$(counter pass fragment)
parsed=""
for s in 203.0.113.25 2001:db8:25::/64 203.0.113.26 203.0.113.27 203.0.113.28 2001:db8:28::/64; do
    set -- $(source_counts "$s")
    [ "$#" -eq 3 ] && [ $(($1 + $2)) -eq 20 ] || parsed="$parsed $s:'$*'"
done
if [ -z "$parsed" ] && [ $((frag1 - frag0)) -eq 40 ]; then
    ok "valid but unusual frames are parsed to their source: IPv4 options, IPv6 hop-by-hop + destination options, 802.1Q, 802.1ad + 802.1Q, IPv4 and IPv6 fragments (fragment counter +40)"
else
    not_ok "unusual frames: sources not counted 20 times:$parsed; fragment counter +$((frag1 - frag0)) (want 40)"
fi
api ops GET /healthz
if [ "$code" = 200 ] && ip -n "$NS_S" link show "$VS" | grep -q 'prog/xdp' && [ "$(rl status | jq -r .mode)" = native ]; then
    ok "after them the daemon still serves (200) and the program is still attached"
else
    not_ok "after the malformed frames: healthz $code, link: $(ip -n "$NS_S" link show "$VS" | tr '\n' ' ')"
fi

# ---- IPv6 sources are counted per /64 ----------------------------------------------------------

flood v6a 300 "$(tcp6_to_port 2001:db8:50:1::a ack)"
flood v6b 300 "$(tcp6_to_port 2001:db8:50:1::b ack)"
flood v6c 300 "$(tcp6_to_port 2001:db8:50:2::a ack)"
set -- $(source_counts 2001:db8:50:1::/64) x $(source_counts 2001:db8:50:2::/64)
if [ "$#" -eq 7 ] && [ $(($1 + $2)) -eq 600 ] && [ $(($5 + $6)) -eq 300 ] &&
    [ -z "$(source_counts 2001:db8:50:1::a)" ]; then
    ok "IPv6 sources are counted per /64: two addresses of 2001:db8:50:1::/64 share one bucket (600 packets), 2001:db8:50:2::/64 has its own (300)"
else
    not_ok "IPv6 /64 keying: '$*'"
fi

# ---- rates change at run time -----------------------------------------------------------------------

pid_before=$dpid
rl set default --rate 1000000 --burst 1000000 >"$WORK/set.out" 2>&1 || not_ok "set: $(cat "$WORK/set.out")"
flood raised 3000 "$(tcp_to_port 203.0.113.30 ack)"
raised=$(source_counts 203.0.113.30)
rl set default --rate 20 --burst 10 >"$WORK/set.out" 2>&1 || not_ok "set: $(cat "$WORK/set.out")"
flood lowered 3000 "$(tcp_to_port 203.0.113.31 ack)"
set -- $(source_counts 203.0.113.31)
max=$(allowed 10 20 "$flood_ms")
if [ "$raised" = "3000 0 default" ] && [ "$#" -eq 3 ] && [ "$1" -le "$max" ] && [ "$2" -gt 0 ] &&
    [ "$(rl status | jq -c '.classes[] | select(.class == "default") | [.rate, .burst]')" = "[20,10]" ] &&
    [ "$dpid" = "$pid_before" ] && kill -0 "$dpid"; then
    ok "rates change at run time: default raised, a 3000-packet flood passes whole; lowered to 20/s burst 10, $2 of 3000 are dropped ($1 passed); same daemon, no restart"
else
    not_ok "run-time rates: raised '$raised', lowered '$*' (passed <= $max), status $(rl status | jq -c .classes)"
fi
rl set kra --network 203.0.113.32/32 >"$WORK/set.out" 2>&1 || not_ok "set --network: $(cat "$WORK/set.out")"
flood moved 1000 "$(tcp_to_port 203.0.113.32 ack)"
moved=$(source_counts 203.0.113.32)
if [ "$moved" = "1000 0 kra" ] && grep -q '"networks_added"' "$WORK/set.out"; then
    ok "a network added to class kra at run time takes effect at once: 1000 packets pass as kra"
else
    not_ok "network added at run time: '$moved': $(cat "$WORK/set.out")"
fi
rl set nosuch --network 203.0.113.33/32 >/dev/null 2>"$WORK/set.err" && not_ok "a network for a class that does not exist was accepted"
rl ban 203.0.113.5/24 >/dev/null 2>"$WORK/ban.err" && not_ok "a prefix with host bits set was accepted"
rl ban 2001:db8::/96 >/dev/null 2>"$WORK/ban6.err" && not_ok "an IPv6 prefix longer than /64 was accepted"
if grep -q 'no class nosuch' "$WORK/set.err" && grep -q 'host bits' "$WORK/ban.err" &&
    grep -q 'counted per /64' "$WORK/ban6.err"; then
    ok "bad changes are refused with a reason: $(cat "$WORK/set.err" "$WORK/ban.err" "$WORK/ban6.err" | tr '\n' ' ')"
else
    not_ok "refusals: $(cat "$WORK/set.err" "$WORK/ban.err" "$WORK/ban6.err")"
fi

# ---- stop -------------------------------------------------------------------------------------------

sigterm_daemon
if [ "$stop_status" = 0 ] && ! ip -n "$NS_S" link show "$VS" | grep -q 'prog/xdp' &&
    [ ! -e "/sys/fs/bpf/huduma/$INSTANCE" ]; then
    ok "SIGTERM: hudumad exits 0, the program is detached from $VS and its pins are gone"
else
    not_ok "stop: exit $stop_status, link $(ip -n "$NS_S" link show "$VS" | head -n 2 | tr '\n' ' '), pins $(ls "/sys/fs/bpf/huduma/$INSTANCE" 2>&1)"
fi
no_sanitizer_report
echo "# $(($(date +%s) - STARTED)) s"
[ "$failures" -eq 0 ]
