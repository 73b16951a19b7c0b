#!/bin/sh
# tests/bench/bench_ratelimit.sh - the XDP rate limiter against an nftables
# per-source meter with the same rate, in the same run (docs/BENCHMARKS.md,
# "Dropping a flood: XDP against nftables").
#
# What it does, as root, in two network namespaces joined by a veth pair
# (tests/integration/lib/netns.sh: documentation addresses only, removed at
# exit) and a temporary directory under build/ (removed at exit):
#   1. a register of BENCH_RL_PEOPLE synthetic people, a verifier agency, and
#      a server certificate for 192.0.2.1 from a throwaway CA (the agencies'
#      CA stays the register's);
#   2. BENCH_RL_ROUNDS rounds; in each, both limiters in turn (the order
#      swapped every round), each with a fresh hudumad in the server namespace:
#        xdp  hudumad attaches its XDP limiter (native mode) to the veth:
#             unknown sources rate BENCH_RL_FLOOD_LIMIT/s, burst as much;
#             the agency's network 192.0.2.0/24 100000/s
#        nft  hudumad without it, and an nftables table on the same veth's
#             netdev ingress hook (the earliest nftables sees a packet): the
#             same two meters, `meter ... { ip saddr limit rate over ... }`
#      then, for each:
#        a. quiet: the agency (192.0.2.2, in the client namespace) verifies
#           a real person's claims with huduma-load at BENCH_RL_VERIFY_RATE
#           requests/s (open loop, kept-alive connections) for
#           BENCH_RL_SECONDS: its p99 latency;
#        b. flooded: the same, while bench_flood sends TCP packets to the
#           API port from one unknown source (203.0.113.66) at
#           BENCH_RL_FLOOD_PPS packets/s, a bounded count that outlasts the
#           measurement;
#        c. flat out: bench_flood sends BENCH_RL_FLOOD_PACKETS such packets
#           as fast as it can; the packets the limiter dropped (its own
#           counter) over the CPU time the kernel spent in softirq meanwhile
#           (from /proc/stat, all CPUs: the veth's NAPI, where both the XDP
#           program and the netfilter hook run), and over all busy CPU time;
#      bench_flood (tests/bench/bench_flood.c) hands the frames to the veth as
#      XDP frames, as a network card's receive ring does: the XDP program sees
#      them before any socket buffer exists, nftables after the kernel has
#      built one for each (GRO is on for the server's veth, as on a NIC, so
#      that it has NAPI without an XDP program).  A packet socket (trafgen)
#      would hand over socket buffers that native XDP on a veth must first
#      copy, a cost no card has.
#   3. a table of medians and the ratios XDP / nftables.
#
# Bounded: every command under timeout(1), every flood a packet count,
# huduma-load its own hard stop.  Settings, from the environment:
#   HUDUMA_BIN               huduma, hudumad, huduma-load   (build/rel/bin)
#   HUDUMA_BENCH_BIN         bench_flood                     (build/rel/bench)
#   BENCH_RL_ROUNDS          rounds                          (5)
#   BENCH_RL_PEOPLE          people in the register          (2000)
#   BENCH_RL_SECONDS         measured seconds per p99 run    (8)
#   BENCH_RL_VERIFY_RATE     the agency's requests/s         (400)
#   BENCH_RL_CONNECTIONS     the agency's connections        (8)
#   BENCH_RL_FLOOD_PPS       the flood during the p99 run    (1000000)
#   BENCH_RL_FLOOD_PACKETS   the flat-out flood              (10000000)
#   BENCH_RL_FLOOD_LIMIT     packets/s allowed per unknown source (1000)
#   BENCH_RL_NICE            niceness of hudumad and huduma-load (-10: other
#                            work on a shared machine disturbs them less; the
#                            flood and the kernel's softirq keep theirs)
#   BENCH_WORK               parent of the temporary dir     (build)
set -eu
cd "$(dirname "$0")/../.."
BENCH_NAME=bench_ratelimit
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh

BIN=${HUDUMA_BIN:-build/rel/bin}
ROUNDS=${BENCH_RL_ROUNDS:-5}
PEOPLE=${BENCH_RL_PEOPLE:-2000}
SECONDS_=${BENCH_RL_SECONDS:-8}
VERIFY_RATE=${BENCH_RL_VERIFY_RATE:-400}
CONNECTIONS=${BENCH_RL_CONNECTIONS:-8}
FLOOD_PPS=${BENCH_RL_FLOOD_PPS:-1000000}
FLOOD_PACKETS=${BENCH_RL_FLOOD_PACKETS:-10000000}
LIMIT=${BENCH_RL_FLOOD_LIMIT:-1000}
NICE=${BENCH_RL_NICE:--10}
WORK_PARENT=${BENCH_WORK:-build}

HUDUMA=$BIN/huduma
HUDUMAD=$BIN/hudumad
LOAD=$BIN/huduma-load
FLOOD=${HUDUMA_BENCH_BIN:-build/rel/bench}/bench_flood
for f in "$HUDUMA" "$HUDUMAD" "$LOAD" "$FLOOD"; do
    [ -x "$f" ] || bench_fatal "$f is missing (make bench builds it)"
done
for tool in ip nsenter nft ethtool jq openssl timeout; do
    command -v "$tool" >/dev/null || bench_fatal "$tool not found (scripts/deps.sh lists its package)"
done
[ "$(id -u)" -eq 0 ] || bench_fatal "needs root (network namespaces, XDP, nftables)"

mkdir -p "$WORK_PARENT"
WORK=$(cd "$(mktemp -d "$WORK_PARENT/bench-ratelimit.XXXXXX")" && pwd)
# shellcheck source=tests/integration/lib/netns.sh
. tests/integration/lib/netns.sh
DPID=
TPID=
cleanup() {
    bench_stop "$TPID"
    bench_stop "$DPID"
    netns_down
    sh scripts/swtpm.sh stop "$WORK/register" 2>/dev/null || :
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
STARTED=$(date +%s)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# cpu_now: "softirq busy" jiffies so far, all CPUs (/proc/stat's first line)
cpu_now() { awk '/^cpu / { print $8, $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

echo "== dropping a flood: the XDP limiter against an nftables meter ($(nproc) cores, kernel" \
    "$(uname -r), $(nft --version))"
echo "   load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. register, agency, certificates, namespaces ----------------------------------------
REG=$WORK/register
bench_register "$HUDUMA" "$REG" "$PEOPLE" 5 "$WORK" >/dev/null
timeout 60 "$HUDUMA" --dir "$REG" agency add bench-agency --role verifier --out "$WORK" >/dev/null
HN=$(bench_verify_body "$HUDUMA" "$REG" "$WORK" 77)
bench_server_cert "$WORK" 192.0.2.1 "IP:192.0.2.1"

netns_up
timeout 30 ip netns exec "$NS_S" ethtool -K "$VS" gro on >/dev/null || bench_fatal "ethtool -K $VS gro on"
PORT=8443
echo "   $PEOPLE people; the agency 192.0.2.2 verifies $HN; the flood comes from 203.0.113.66"

# ---- 2. the limiters ------------------------------------------------------------------------
write_config() { # MODE
    cat <<EOF
[server]
listen = 192.0.2.1
port = $PORT
threads = 1
workers = 2
register_dir = $REG

[tls]
cert = $WORK/server.crt
key = $WORK/server.key

[log]
level = warn
EOF
    [ "$1" = xdp ] || return 0
    cat <<EOF

[ratelimit]
interface = $VS
instance = bench-$netns_id
class.default = rate $LIMIT burst $LIMIT syn_rate $LIMIT
class.agency = rate 100000 burst 100000
network.agency = 192.0.2.0/24
ban_after_failures = 0
EOF
}

nft_up() {
    cat >"$WORK/nft.conf" <<EOF
table netdev hrlbench {
    chain ingress {
        type filter hook ingress device "$VS" priority -500; policy accept;
        ip protocol tcp tcp dport $PORT jump api
    }
    chain api {
        ip saddr 192.0.2.0/24 meter agency size 65536 { ip saddr limit rate over 100000/second burst 100000 packets } counter drop
        ip saddr 192.0.2.0/24 accept
        meter flood size 65536 { ip saddr limit rate over $LIMIT/second burst $LIMIT packets } counter drop
    }
}
EOF
    timeout 30 ip netns exec "$NS_S" nft -f "$WORK/nft.conf" || bench_fatal "nft -f"
}
nft_down() { timeout 30 ip netns exec "$NS_S" nft delete table netdev hrlbench 2>/dev/null || :; }

load() { # ARGS...: huduma-load as the agency, from the client namespace
    timeout 120 nice -n "$NICE" nsenter --net="/run/netns/$NS_C" "$LOAD" --host 192.0.2.1 --port "$PORT" \
        --cert "$WORK/bench-agency.crt" --key "$WORK/bench-agency.key" \
        --cacert "$WORK/bench-ca.crt" --path /v1/verify --method POST \
        --header 'X-Purpose: benchmark of verification' \
        --header 'Content-Type: application/json' --body-file "$WORK/verify.json" "$@"
}

start_daemon() { # MODE
    write_config "$1" >"$WORK/hudumad.conf"
    nice -n "$NICE" nsenter --net="/run/netns/$NS_S" "$HUDUMAD" --config "$WORK/hudumad.conf" \
        2>"$WORK/hudumad.log" &
    DPID=$!
    n=0
    while ! load --show-response --duration 2 >"$WORK/reply" 2>"$WORK/reply.err"; do
        kill -0 "$DPID" 2>/dev/null && [ "$n" -lt 100 ] ||
            bench_fatal "hudumad does not answer: $(tail -n 3 "$WORK/reply.err" "$WORK/hudumad.log")"
        sleep 0.2
        n=$((n + 1))
    done
    grep -q '"match":true' "$WORK/reply" || bench_fatal "hudumad did not confirm the claims: $(cat "$WORK/reply")"
    if [ "$1" = xdp ]; then
        [ "$(timeout 30 "$HUDUMA" ratelimit status --instance "bench-$netns_id" | jq -r .mode)" = native ] ||
            bench_fatal "the XDP limiter is not attached in native mode: $(cat "$WORK/hudumad.log")"
    fi
}

dropped() { # MODE: the limiter's drops of the flood so far
    if [ "$1" = xdp ]; then
        timeout 30 "$HUDUMA" ratelimit status --instance "bench-$netns_id" | jq '.counters.drop.over_rate.packets'
    else
        timeout 30 ip netns exec "$NS_S" nft -j list chain netdev hrlbench api |
            jq '[.nftables[] | select(.rule) | .rule.expr[] | select(.counter) | .counter.packets] | last'
    fi
}

# The flood from 203.0.113.66: `timeout ... $FLOOD_ARGS --count N [--pps N]`
# (a command, not a function, so that a flood in the background is its pid).
FLOOD_ARGS="ip netns exec $NS_C $FLOOD --dev $VC --dst-mac $(netns_dmac) --src 203.0.113.66
    --dst 192.0.2.1 --port $PORT"
p99_run() { # MODE KIND: one p99 measurement, printed as "p99_us errors rps flood_pps p50_us"
    label="$1-$2"
    if [ "$2" = flood ]; then
        # shellcheck disable=SC2086 # FLOOD_ARGS is words
        timeout 300 $FLOOD_ARGS --count $((FLOOD_PPS * (SECONDS_ + 6))) --pps "$FLOOD_PPS" \
            >"$WORK/flood.log" 2>&1 &
        TPID=$!
        sleep 1
    fi
    load --rate "$VERIFY_RATE" --connections "$CONNECTIONS" --duration "$SECONDS_" --warmup 1 \
        --label "$label" >"$WORK/load.out" 2>&1 || bench_fatal "huduma-load $label: $(tail -n 3 "$WORK/load.out")"
    bench_stop "$TPID"
    TPID=
    line=$(grep '^RESULT' "$WORK/load.out")
    flood_pps=-
    [ "$2" = quiet ] || flood_pps=$(sed -n 's/.*pps=\([0-9]*\).*/\1/p' "$WORK/flood.log")
    echo "$(echo "$line" | bench_field p99_us) $(echo "$line" | bench_field errors) $(echo "$line" | bench_field rps) ${flood_pps:-?} $(echo "$line" | bench_field p50_us)"
}

flat_out() { # MODE: prints "dropped softirq_s busy_s seconds"
    d0=$(dropped "$1")
    # shellcheck disable=SC2046
    set -- "$1" $(cpu_now) "$(date +%s%N)"
    # shellcheck disable=SC2086 # FLOOD_ARGS is words
    timeout 300 $FLOOD_ARGS --count "$FLOOD_PACKETS" >"$WORK/flood.log" 2>&1 ||
        bench_fatal "bench_flood: $(cat "$WORK/flood.log")"
    sleep 0.2 # the last packets leave the veth's queue
    t1=$(date +%s%N)
    # shellcheck disable=SC2046
    set -- "$@" $(cpu_now)
    d1=$(dropped "$1")
    hz=$(getconf CLK_TCK)
    awk -v d=$((d1 - d0)) -v s0="$2" -v b0="$3" -v s1="$5" -v b1="$6" -v hz="$hz" \
        -v ns=$((t1 - $4)) 'BEGIN { printf "%d %.3f %.3f %.3f\n", d, (s1 - s0) / hz, (b1 - b0) / hz, ns / 1e9 }'
}

for f in xdp nft; do : >"$WORK/$f.eff" && : >"$WORK/$f.busy" && : >"$WORK/$f.quiet" && : >"$WORK/$f.flood" && : >"$WORK/$f.pps"; done
errors=0
round=1
while [ "$round" -le "$ROUNDS" ]; do
    order="xdp nft"
    [ $((round % 2)) -eq 1 ] || order="nft xdp"
    for mode in $order; do
        [ "$mode" = nft ] && nft_up
        start_daemon "$mode"
        set -- $(p99_run "$mode" quiet)
        quiet=$1
        errors=$((errors + $2))
        quiet_p50=$5
        set -- $(p99_run "$mode" flood)
        flood=$1
        errors=$((errors + $2))
        flood_note="p50 $quiet_p50 and $5 us; $3 answers/s under a flood of $4 packets/s"
        set -- $(flat_out "$mode")
        eff=$(awk -v d="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? d / s : 0) }')
        busy=$(awk -v d="$1" -v s="$3" 'BEGIN { printf "%.0f", (s > 0 ? d / s : 0) }')
        pps=$(awk -v d="$1" -v s="$4" 'BEGIN { printf "%.0f", (s > 0 ? d / s : 0) }')
        echo "$eff" >>"$WORK/$mode.eff"
        echo "$busy" >>"$WORK/$mode.busy"
        echo "$quiet" >>"$WORK/$mode.quiet"
        echo "$flood" >>"$WORK/$mode.flood"
        echo "$pps" >>"$WORK/$mode.pps"
        echo "   round $round $mode: agency p99 ${quiet} us quiet, ${flood} us flooded ($flood_note);" \
            "flat out: $1 dropped, ${2} s softirq, ${3} s busy CPU in ${4} s:" \
            "$eff dropped per softirq CPU-second"
        bench_stop "$DPID"
        DPID=
        [ "$mode" = nft ] && nft_down
    done
    round=$((round + 1))
done

# ---- 3. summary -------------------------------------------------------------------------------
m() { bench_median <"$WORK/$1"; }
row() { printf '%-50s %12s %12s %9s\n' "$@"; }
echo
echo "== summary: medians of $ROUNDS rounds (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
row measure xdp nftables xdp/nft
row "flood packets dropped per softirq CPU-second" "$(m xdp.eff)" "$(m nft.eff)" "$(ratio "$(m xdp.eff)" "$(m nft.eff)")"
row "flood packets dropped per busy CPU-second" "$(m xdp.busy)" "$(m nft.busy)" "$(ratio "$(m xdp.busy)" "$(m nft.busy)")"
row "flat-out flood, packets dropped per second" "$(m xdp.pps)" "$(m nft.pps)" "$(ratio "$(m xdp.pps)" "$(m nft.pps)")"
row "agency p99, quiet (us)" "$(m xdp.quiet)" "$(m nft.quiet)" "$(ratio "$(m xdp.quiet)" "$(m nft.quiet)")"
row "agency p99, ${FLOOD_PPS} pps flood (us)" "$(m xdp.flood)" "$(m nft.flood)" "$(ratio "$(m xdp.flood)" "$(m nft.flood)")"
row "agency p99 flooded / quiet" "$(ratio "$(m xdp.flood)" "$(m xdp.quiet)")" "$(ratio "$(m nft.flood)" "$(m nft.quiet)")" ""
echo "per round (xdp): dropped/softirq-s $(tr '\n' ' ' <"$WORK/xdp.eff"); p99 quiet $(tr '\n' ' ' <"$WORK/xdp.quiet"); flooded $(tr '\n' ' ' <"$WORK/xdp.flood")"
echo "per round (nft): dropped/softirq-s $(tr '\n' ' ' <"$WORK/nft.eff"); p99 quiet $(tr '\n' ' ' <"$WORK/nft.quiet"); flooded $(tr '\n' ' ' <"$WORK/nft.flood")"
echo "agency errors over every run: $errors; whole benchmark: $(($(date +%s) - STARTED)) s"
[ "$errors" -eq 0 ]
