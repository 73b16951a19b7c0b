#!/bin/sh
# tests/bench/bench_audit.sh - what the audit log costs (docs/BENCHMARKS.md,
# "The audit log"), measured in one run:
#   1. durable leaves per second: bench_audit, the journals and the fold (2
#      threads, as hudumad's 2 rings, each writing 64 leaves per synced write
#      to a journal of its own) beside one synced write per leaf;
#   2. verification throughput over mutual TLS with logging on and off: the
#      same hudumad on the same register, started with `[audit] enabled =
#      true` or `false`, the order swapped every round, driven by huduma-load
#      flat out (closed loop, keep-alive) in these shapes:
#        cap   32 connections x 8 pipelined requests (256 in flight): capacity
#        c32   32 connections, one request each: latency-bound
#        c256  256 connections, one request each
#        sat   128 connections x 16 pipelined (2,048 in flight): more than
#              either mode needs to keep the server busy, so that neither is
#              bound by its latency: capacity with the server saturated
#        rate  32 connections x 8 pipelined at a fixed BENCH_AUDIT_RATE req/s
#              (open loop), which both modes sustain: what logging costs in
#              server CPU and in latency at equal load, apart from capacity
#      with the server's CPU time per answer beside each (from /proc), and
#      the cache flushes the work directory's disk completed per 1,000 answers
#      (from /proc/diskstats; each synced journal write carries one where the
#      disk has no FUA, and on a virtual machine each costs far more than its
#      own CPU shows: docs/BENCHMARKS.md).
#   3. after the logging-on runs, the tree holds at least one leaf per answer
#      huduma-load counted, and its checkpoint verifies with huduma-audit.
# The figure asked of the audit log is the ratio on/off of "cap" throughput:
# at least 0.90 (logging costs under 10%).  The latency-bound shapes show the
# price of waiting for a synced WAL write before each answer; "sat" shows what
# is left of it when enough requests are in flight that latency binds neither.
#
# Everything runs in a temporary directory under build/ (the repository's disk,
# where a synced write costs what it costs), removed at exit; every command is
# bounded by timeout(1), and no run starts after BENCH_AUDIT_BUDGET seconds.
# Settings, from the environment:
#   HUDUMA_BIN              huduma, hudumad, huduma-load, huduma-audit (build/rel/bin)
#   HUDUMA_BENCH_BIN        bench_audit                                 (build/rel/bench)
#   BENCH_AUDIT_PEOPLE      synthetic people offered (5000; without biometrics the
#                           adults are refused, about 700 children are enrolled)
#   BENCH_AUDIT_ROUNDS      rounds (each: logging on and off)           (3)
#   BENCH_AUDIT_SECONDS     measured seconds per run                    (6)
#   BENCH_AUDIT_WARMUP      warm-up seconds per run                     (1)
#   BENCH_AUDIT_RATE        the "rate" shape's requests per second      (30000)
#   BENCH_AUDIT_BUDGET      seconds before no run starts                (600)
#   BENCH_WORK              parent of the temporary directory           (build)
set -eu
cd "$(dirname "$0")/../.."
BENCH_NAME=bench_audit
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh

BIN=${HUDUMA_BIN:-build/rel/bin}
BENCH_BIN=${HUDUMA_BENCH_BIN:-build/rel/bench}
PEOPLE=${BENCH_AUDIT_PEOPLE:-5000}
ROUNDS=${BENCH_AUDIT_ROUNDS:-3}
SECS=${BENCH_AUDIT_SECONDS:-6}
WARMUP=${BENCH_AUDIT_WARMUP:-1}
RATE=${BENCH_AUDIT_RATE:-30000}
BUDGET=${BENCH_AUDIT_BUDGET:-600}
WORK_PARENT=${BENCH_WORK:-build}
HUDUMA=$BIN/huduma
HUDUMAD=$BIN/hudumad
LOAD=$BIN/huduma-load
AUDIT=$BIN/huduma-audit
for f in "$HUDUMA" "$HUDUMAD" "$LOAD" "$AUDIT" "$BENCH_BIN/bench_audit"; do
    [ -x "$f" ] || { echo "bench_audit: $f is missing (make bench builds it)" >&2; exit 1; }
done

STARTED=$(date +%s)
mkdir -p "$WORK_PARENT"
W=$(cd "$(mktemp -d "$WORK_PARENT/bench-audit.XXXXXX")" && pwd)
REG=$W/register
DPID=
cleanup() {
    bench_stop "$DPID" 100
    sh scripts/swtpm.sh stop "$REG" 2>/dev/null || :
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== audit log benchmark: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   work dir $W ($(stat -f -c %T "$W") file system)"

# ---- 1. durable leaves per second ---------------------------------------------------------
echo "== durable leaves per second (bench_audit: one synced write per leaf, then the journals)"
timeout 120 "$BENCH_BIN/bench_audit" "$W/leaves" --threads 2 --inflight 64 --seconds "$SECS" \
    >"$W/leaves.out"
sed 's/^/   /' "$W/leaves.out"
single=$(grep 'mode=single' "$W/leaves.out" | bench_field leaves_per_sec)
group=$(grep 'mode=journal' "$W/leaves.out" | bench_field leaves_per_sec)
batch=$(grep 'mode=journal' "$W/leaves.out" | bench_field mean_batch)

# ---- 2. a register, an agency, a person ---------------------------------------------------
echo "== a register of $PEOPLE synthetic people (huduma synth --seed 3 --no-biometrics | huduma import --no-sync)"
bench_register "$HUDUMA" "$REG" "$PEOPLE" 3 "$W" --no-biometrics
timeout 60 "$HUDUMA" --dir "$REG" agency add bench-verifier --role verifier --out "$W" >/dev/null
timeout 60 "$HUDUMA" --dir "$REG" agency add bench-auditor --role auditor --out "$W" >/dev/null
timeout 60 "$HUDUMA" --dir "$REG" keys public >"$W/log-key.pem"
# without biometrics only children under 6 are accepted: enough people to read
bench_verify_body "$HUDUMA" "$REG" "$W" 77 >/dev/null

# shellcheck disable=SC2119 # no port to avoid
PORT=$(bench_free_port)
# start_daemon ON|OFF: hudumad with logging on or off; waits until it answers
start_daemon() {
    enabled=true
    [ "$1" = on ] || enabled=false
    cat >"$W/hudumad.conf" <<EOF
[server]
listen = 127.0.0.1
port = $PORT
threads = 2
register_dir = $REG

[log]
level = warn

[audit]
enabled = $enabled
EOF
    "$HUDUMAD" --config "$W/hudumad.conf" 2>>"$W/hudumad.log" &
    DPID=$!
    n=0
    while ! load --show-response --duration 2 >"$W/reply" 2>/dev/null; do
        kill -0 "$DPID" 2>/dev/null && [ $n -lt 150 ] ||
            { echo "bench_audit: hudumad did not start" >&2; tail -n 5 "$W/hudumad.log" >&2; exit 1; }
        sleep 0.2
        n=$((n + 1))
    done
    grep -q '"match":true' "$W/reply" || { echo "bench_audit: no match" >&2; exit 1; }
}
load() {
    timeout 120 "$LOAD" --port "$PORT" --cert "$W/bench-verifier.crt" --key "$W/bench-verifier.key" \
        --cacert "$REG/ca/ca.crt" --path /v1/verify --header 'X-Purpose: benchmark of the audit log' \
        --header 'Content-Type: application/json' --body-file "$W/verify.json" "$@"
}
TICK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# the disk under the work directory, as /proc/diskstats names it (none: not counted)
DISK=$(df --output=source "$W" 2>/dev/null | tail -n 1)
DISK=${DISK#/dev/}
# a partition's flushes are counted on its disk
[ ! -e "/sys/class/block/$DISK/partition" ] || DISK=$(basename "$(readlink -f "/sys/class/block/$DISK/..")")
awk -v d="$DISK" '$3 == d { found = 1 } END { exit !found }' /proc/diskstats || DISK=
# (none found: "-" in each round's line, and no summary row)
flushes() { awk -v d="$DISK" '$3 == d { print $19 } END { if (d == "") print 0 }' /proc/diskstats; }
RESULTS=$W/results
: >"$RESULTS"
answered_on=0
# one SHAPE MODE ROUND CONNS PIPELINE [RATE]
one() {
    [ "$(bench_elapsed)" -lt "$BUDGET" ] || { echo "bench_audit: over the budget of $BUDGET s" >&2; exit 1; }
    c0=$(cpu_ticks "$DPID")
    f0=$(flushes)
    out=$(load --connections "$4" --pipeline "$5" ${6:+--rate "$6"} --duration "$SECS" \
        --warmup "$WARMUP" --label "$1/$2") || { echo "bench_audit: huduma-load failed" >&2; exit 1; }
    c1=$(cpu_ticks "$DPID")
    f1=$(flushes)
    line=$(echo "$out" | grep '^RESULT')
    rps=$(echo "$line" | bench_field rps)
    fk=-
    [ -z "$DISK" ] || fk=$(awk -v f="$((f1 - f0))" -v r="$rps" -v w="$WARMUP" -v d="$SECS" \
        'BEGIN { printf "%.1f", (r > 0 ? f * 1000 / (r * (w + d)) : 0) }')
    line="$line flushes_per_k=$fk"
    us=$(awk -v c="$((c1 - c0))" -v k="$TICK" -v r="$rps" -v w="$WARMUP" -v d="$SECS" \
        'BEGIN { printf "%.1f", (r > 0 ? c / k * 1e6 / (r * (w + d)) : 0) }')
    echo "$1 $2 $3 $us $line" >>"$RESULTS"
    [ "$(echo "$line" | bench_field errors)" = 0 ] || { echo "bench_audit: errors: $line" >&2; exit 1; }
    if [ "$2" = on ]; then
        answered_on=$((answered_on + $(echo "$line" | sed -n 's/.* requests=\([0-9]*\).*/\1/p') - \
            $(echo "$line" | bench_field unanswered)))
    fi
    printf '   %-4s logging %-3s round %s: %8s req/s  p50 %7s us  p99 %7s us  server %6s us/answer  %5s flushes/1k\n' \
        "$1" "$2" "$3" "$rps" "$(echo "$line" | bench_field p50_us)" "$(echo "$line" | bench_field p99_us)" "$us" "$fk"
}

echo "== verification with logging on and off, $ROUNDS rounds of $SECS s after $WARMUP s of warm-up"
r=1
while [ "$r" -le "$ROUNDS" ]; do
    if [ $((r % 2)) -eq 1 ]; then order="on off"; else order="off on"; fi
    for mode in $order; do
        start_daemon "$mode"
        one cap "$mode" "$r" 32 8
        one c32 "$mode" "$r" 32 1
        one c256 "$mode" "$r" 256 1
        one sat "$mode" "$r" 128 16
        one rate "$mode" "$r" 32 8 "$RATE"
        bench_stop "$DPID" 100
        DPID=
    done
    r=$((r + 1))
done

# ---- 3. the log after the runs --------------------------------------------------------------
start_daemon off
sleep 1.5 # a checkpoint covers everything (signed at the last stop too)
timeout 60 curl -q -sS --noproxy '*' --cacert "$REG/ca/ca.crt" --cert "$W/bench-auditor.crt" \
    --key "$W/bench-auditor.key" -H 'X-Purpose: benchmark check' \
    "https://127.0.0.1:$PORT/v1/audit/checkpoint" >"$W/checkpoint"
bench_stop "$DPID" 100
DPID=
tree=$(sed -n 2p "$W/checkpoint")
verdict=$("$AUDIT" --key "$W/log-key.pem" checkpoint "$W/checkpoint") ||
    { echo "bench_audit: the checkpoint does not verify: $verdict" >&2; exit 1; }
if [ "$tree" -lt "$answered_on" ]; then
    echo "bench_audit: the tree has $tree leaves, fewer than the $answered_on answers with logging on" >&2
    exit 1
fi

# ---- summary ----------------------------------------------------------------------------------
med() { awk -v s="$1" -v m="$2" -v f="$3" '$1 == s && $2 == m {
        if (f == "us") print $4
        else for (i = 5; i <= NF; i++) if (index($i, f "=") == 1) print substr($i, length(f) + 2) }' \
        "$RESULTS" | bench_median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
list() { awk -v s="$1" -v m="$2" '$1 == s && $2 == m { for (i = 5; i <= NF; i++)
        if (index($i, "rps=") == 1) printf "%s ", substr($i, 5) }' "$RESULTS"; }
echo
echo "== summary: medians of $ROUNDS rounds, $(nproc) cores shared by client and server" \
    "(load average now $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-44s %10s %10s %8s\n' "measure" "on" "off" "on/off"
for s in cap c32 c256 sat rate; do
    case $s in
    cap) label="256 in flight (32 conns x 8): req/s" ;;
    c32) label="32 connections, 1 each: req/s" ;;
    c256) label="256 connections, 1 each: req/s" ;;
    sat) label="2048 in flight (128 conns x 16): req/s" ;;
    rate) label="fixed $RATE/s (32 conns x 8): req/s" ;;
    esac
    printf '%-44s %10s %10s %8s\n' "$label" "$(med $s on rps)" "$(med $s off rps)" \
        "$(ratio "$(med $s on rps)" "$(med $s off rps)")"
    printf '%-44s %10s %10s %8s\n' "  p50 us" "$(med $s on p50_us)" "$(med $s off p50_us)" ""
    printf '%-44s %10s %10s %8s\n' "  p99 us" "$(med $s on p99_us)" "$(med $s off p99_us)" ""
    printf '%-44s %10s %10s %8s\n' "  server CPU per answer, us" "$(med $s on us)" "$(med $s off us)" \
        "$(ratio "$(med $s on us)" "$(med $s off us)")"
    [ -z "$DISK" ] ||
        printf '%-44s %10s %10s\n' "  disk cache flushes per 1,000 answers" "$(med $s on flushes_per_k)" \
            "$(med $s off flushes_per_k)"
    printf '%-44s %s| %s\n' "  rounds on | off" "$(list $s on)" "$(list $s off)"
done
printf '%-44s %10s\n' "durable leaves/s, one synced write per leaf" "$single"
printf '%-44s %10s   (%s leaves a write)\n' "durable leaves/s, journals (2 x 64)" "$group" "$batch"
printf '%-44s %10s\n' "ratio journals / single" "$(ratio "$group" "$single")"
echo "the log after the runs: $tree leaves (>= $answered_on answers with logging on); $verdict"
cap=$(ratio "$(med cap on rps)" "$(med cap off rps)")
if awk -v r="$cap" 'BEGIN { exit !(r >= 0.90) }'; then
    echo "logging costs $(awk -v r="$cap" 'BEGIN { printf "%.0f", (1 - r) * 100 }')% of capacity (goal: under 10%): met"
else
    echo "logging costs $(awk -v r="$cap" 'BEGIN { printf "%.0f", (1 - r) * 100 }')% of capacity (goal: under 10%): NOT met"
fi
sat=$(ratio "$(med sat on rps)" "$(med sat off rps)")
echo "with 2048 in flight (server saturated) logging costs $(awk -v r="$sat" 'BEGIN { printf "%.0f", (1 - r) * 100 }')% of throughput"
echo "whole benchmark: $(bench_elapsed) s"
