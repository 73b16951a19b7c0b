#!/bin/sh
# tests/bench/bench_api.sh - verification over mutual TLS: hudumad against
# nginx serving a static reply of the same size, both driven by huduma-load
# in the same run (docs/BENCHMARKS.md, "Verification over mutual TLS").
#
# What it does, in a temporary directory under build/ removed at exit:
#   1. a register (`huduma init`) with BENCH_API_PEOPLE synthetic people
#      (`huduma synth --seed 3 --no-events | huduma import - --acks --no-sync`:
#      nothing is measured during the import, so its WAL need not be synced),
#      and a verifier agency with its client certificate;
#   2. a verify body with one real person's true claims (surname, first_name,
#      date_of_birth, sex, as `huduma show` prints them);
#   3. hudumad (listen 127.0.0.1, a free port, threads 2, the audit log as
#      BENCH_API_AUDIT says: on, as the appliance runs, every answer waiting
#      for its leaf to be durable) and nginx (a config of our own: 2 workers,
#      TLS 1.3 only, one throwaway server certificate and key for both,
#      ssl_verify_client on against the register's agency CA,
#      no session tickets or cache, SO_REUSEPORT as hudumad, access_log off)
#      whose POST /v1/verify returns, as a static string, hudumad's own answer
#      to that body: the same bytes, so the same size;
#   4. BENCH_API_ROUNDS rounds, in each both servers with the same huduma-load
#      settings, the order swapped every round: flat out (closed loop,
#      keep-alive, BENCH_API_CONNECTIONS connections) with pipeline 1 and with
#      pipeline 8; then the same number of rounds at a fixed rate (open loop,
#      pipeline 1) of BENCH_API_RATE_PERCENT % of nginx's median flat-out
#      throughput at pipeline 1, and, when hudumad's is lower, as many at that
#      share of hudumad's (a load both servers can carry);
#   5. a table of medians, and the ratios hudumad / nginx.
# Beside each run, the server's CPU time (from /proc, all its threads or
# worker processes) is turned into the cores it used on average, and into CPU
# time per answer: the figure that least depends on what else the machine is
# doing.  The client and both servers share this machine's cores; nothing is
# pinned.
#
# Bounded: every command runs under timeout(1), huduma-load has its own hard
# stop, and no run starts once BENCH_API_BUDGET seconds (330) have passed.
# Settings, from the environment:
#   HUDUMA_BIN                 huduma, hudumad, huduma-load    (build/rel/bin)
#   NGINX                      the nginx binary                (nginx)
#   BENCH_API_PEOPLE           people in the register          (20000)
#   BENCH_API_ROUNDS           rounds of each test             (3)
#   BENCH_API_SECONDS          measured seconds per run        (6)
#   BENCH_API_WARMUP           warm-up seconds per run         (1)
#   BENCH_API_CONNECTIONS      connections per run             (32)
#   BENCH_API_CLIENT_THREADS   huduma-load threads             (1)
#   BENCH_API_RATE_PERCENT     fixed rate, % of nginx's best   (50)
#   BENCH_API_BUDGET           seconds before no run starts    (330)
#   BENCH_API_AUDIT            hudumad's [audit] enabled       (true)
#   BENCH_WORK                 parent of the temporary dir     (build)
set -eu
cd "$(dirname "$0")/../.."
BENCH_NAME=bench_api
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh

BIN=${HUDUMA_BIN:-build/rel/bin}
NGINX=${NGINX:-nginx}
PEOPLE=${BENCH_API_PEOPLE:-20000}
ROUNDS=${BENCH_API_ROUNDS:-3}
SECS=${BENCH_API_SECONDS:-6}
WARMUP=${BENCH_API_WARMUP:-1}
CONNS=${BENCH_API_CONNECTIONS:-32}
CLIENT_THREADS=${BENCH_API_CLIENT_THREADS:-1}
RATE_PERCENT=${BENCH_API_RATE_PERCENT:-50}
BUDGET=${BENCH_API_BUDGET:-330}
AUDIT=${BENCH_API_AUDIT:-true}
case $AUDIT in true | false) ;; *) echo "bench_api: BENCH_API_AUDIT is true or false" >&2; exit 2 ;; esac
WORK_PARENT=${BENCH_WORK:-build}

HUDUMA=$BIN/huduma
HUDUMAD=$BIN/hudumad
LOAD=$BIN/huduma-load
for f in "$HUDUMA" "$HUDUMAD" "$LOAD"; do
    [ -x "$f" ] || { echo "bench_api: $f is missing (make bench builds it)" >&2; exit 1; }
done
NGINX_BIN=$(command -v "$NGINX" || true)
[ -n "$NGINX_BIN" ] || { echo "bench_api: $NGINX not found (Debian package nginx)" >&2; exit 1; }
command -v timeout >/dev/null || { echo "bench_api: timeout(1) not found" >&2; exit 1; }

STARTED=$(date +%s)
mkdir -p "$WORK_PARENT"
W=$(cd "$(mktemp -d "$WORK_PARENT/bench-api.XXXXXX")" && pwd)
HUDUMAD_PID=
NGINX_PID=

cleanup() {
    bench_stop "$HUDUMAD_PID"
    bench_stop "$NGINX_PID"
    sh scripts/swtpm.sh stop "$W/register" 2>/dev/null || :
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== verification over mutual TLS: hudumad vs nginx ($(nproc) cores shared by the" \
    "client and both servers)"
echo "   $("$NGINX_BIN" -v 2>&1), $(openssl version 2>/dev/null || echo OpenSSL)," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. the register and the agency ---------------------------------------------------
REG=$W/register
echo "== a register of $PEOPLE synthetic people (huduma synth --seed 3 | huduma import)"
bench_register "$HUDUMA" "$REG" "$PEOPLE" 3 "$W"
timeout 60 "$HUDUMA" --dir "$REG" agency add bench-verifier --role verifier --out "$W" >/dev/null
# one throwaway server certificate for both servers (tests/bench/lib.sh)
bench_server_cert "$W" localhost "IP:127.0.0.1, DNS:localhost"

# ---- 2. a real person, and their true claims ------------------------------------------
HN=$(bench_verify_body "$HUDUMA" "$REG" "$W" 777)

# ---- 3. the two servers ---------------------------------------------------------------
HPORT=$(bench_free_port)
NPORT=$(bench_free_port "$HPORT")
cat >"$W/hudumad.conf" <<EOF
[server]
listen = 127.0.0.1
port = $HPORT
threads = 2
register_dir = $REG

[tls]
cert = $W/server.crt
key = $W/server.key

[audit]
enabled = $AUDIT

[log]
level = warn
EOF

load() { # PORT ARGS...: one huduma-load run
    port=$1
    shift
    timeout 120 "$LOAD" --port "$port" --cert "$W/bench-verifier.crt" \
        --key "$W/bench-verifier.key" --cacert "$W/bench-ca.crt" --path /v1/verify \
        --header 'X-Purpose: benchmark of verification' \
        --header 'Content-Type: application/json' --body-file "$W/verify.json" "$@"
}
# wait_ready PORT PID NAME: until the server answers the verify body (10 s at most)
wait_ready() {
    n=0
    while ! load "$1" --show-response --duration 2 >"$W/reply.$3" 2>"$W/reply.$3.err"; do
        if ! kill -0 "$2" 2>/dev/null || [ "$n" -ge 100 ]; then
            echo "bench_api: $3 does not answer:" >&2
            cat "$W/reply.$3.err" "$W/$3.log" 2>/dev/null | tail -n 5 >&2
            exit 1
        fi
        sleep 0.1
        n=$((n + 1))
    done
}

"$HUDUMAD" --config "$W/hudumad.conf" 2>"$W/hudumad.log" &
HUDUMAD_PID=$!
wait_ready "$HPORT" "$HUDUMAD_PID" hudumad
grep -q '"match":true' "$W/reply.hudumad" ||
    { echo "bench_api: hudumad did not confirm the true claims:" >&2; cat "$W/reply.hudumad" >&2; exit 1; }
REPLY=$(cat "$W/reply.hudumad")
case $REPLY in
*"'"* | *'$'* | *\\*) echo "bench_api: the reply cannot be quoted for nginx" >&2; exit 1 ;;
esac
echo "   person $HN, body $(wc -c <"$W/verify.json") bytes; hudumad's answer" \
    "$(printf %s "$REPLY" | wc -c) bytes: $(sed 's/^huduma-load: //' "$W/reply.hudumad.err")"

mkdir -p "$W/nginx"
cat >"$W/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $W/nginx/nginx.pid;
error_log $W/nginx.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    server_tokens off;
    default_type application/json;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    client_body_temp_path $W/nginx/body;
    proxy_temp_path $W/nginx/proxy;
    fastcgi_temp_path $W/nginx/fastcgi;
    uwsgi_temp_path $W/nginx/uwsgi;
    scgi_temp_path $W/nginx/scgi;
    server {
        listen 127.0.0.1:$NPORT ssl reuseport;
        ssl_protocols TLSv1.3;
        ssl_certificate $W/server.crt;
        ssl_certificate_key $W/server.key;
        ssl_client_certificate $REG/ca/ca.crt;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_session_tickets off;
        ssl_session_cache off;
        location = /v1/verify {
            return 200 '$REPLY';
        }
    }
}
EOF
NGINX_ARGS="-p $W/nginx -c $W/nginx/nginx.conf -e $W/nginx.log"
# shellcheck disable=SC2086
timeout 30 "$NGINX_BIN" -t -q $NGINX_ARGS || { cat "$W/nginx.log" >&2; exit 1; }
# shellcheck disable=SC2086
"$NGINX_BIN" $NGINX_ARGS &
NGINX_PID=$!
wait_ready "$NPORT" "$NGINX_PID" nginx
[ "$(cat "$W/reply.nginx")" = "$REPLY" ] ||
    { echo "bench_api: nginx's reply differs from hudumad's" >&2; exit 1; }
NGINX_WORKERS=$(for d in /proc/[0-9]*; do
    [ "$(sed 's/.*) //' "$d/stat" 2>/dev/null | cut -d' ' -f2)" = "$NGINX_PID" ] &&
        echo "${d#/proc/}"
done | tr '\n' ' ' || true)
[ -n "$NGINX_WORKERS" ] || { echo "bench_api: no nginx worker found" >&2; exit 1; }
echo "   hudumad on 127.0.0.1:$HPORT (pid $HUDUMAD_PID, 2 threads), nginx on" \
    "127.0.0.1:$NPORT (workers $NGINX_WORKERS)"

# ---- 4. the runs ----------------------------------------------------------------------
TICK=$(getconf CLK_TCK)
cpu_ticks() { # PIDS: user + system clock ticks, every thread
    for p in "$@"; do sed 's/.*) //' "/proc/$p/stat"; done | awk '{ s += $12 + $13 } END { print s + 0 }'
}
now() { date +%s.%N; }
RESULTS=$W/results
: >"$RESULTS"

# one TEST SERVER ROUND ARGS...: a run, its RESULT line and the server's cores kept
one() {
    test=$1 server=$2 round=$3
    shift 3
    if [ "$(bench_elapsed)" -ge "$BUDGET" ]; then
        echo "bench_api: over the time budget of $BUDGET s; stopping" >&2
        exit 1
    fi
    if [ "$server" = hudumad ]; then port=$HPORT pids=$HUDUMAD_PID; else port=$NPORT pids=$NGINX_WORKERS; fi
    # shellcheck disable=SC2086
    c0=$(cpu_ticks $pids)
    t0=$(now)
    out=$(load "$port" --connections "$CONNS" --threads "$CLIENT_THREADS" --duration "$SECS" \
        --warmup "$WARMUP" --label "$test/$server" "$@") || {
        echo "bench_api: huduma-load failed against $server" >&2
        exit 1
    }
    t1=$(now)
    # shellcheck disable=SC2086
    c1=$(cpu_ticks $pids)
    line=$(echo "$out" | grep '^RESULT')
    cores=$(awk -v c="$((c1 - c0))" -v k="$TICK" -v a="$t0" -v b="$t1" \
        'BEGIN { printf "%.2f", c / k / (b - a) }')
    # CPU per answer: the server's CPU time over the answers of warm-up and window
    us=$(awk -v c="$((c1 - c0))" -v k="$TICK" -v r="$(echo "$line" | bench_field rps)" \
        -v w="$WARMUP" -v d="$SECS" 'BEGIN { printf "%.1f", (r > 0 ? c / k * 1e6 / (r * (w + d)) : 0) }')
    echo "$test $server $round $cores $us $line" >>"$RESULTS"
    client=$(echo "$line" | bench_field client_cpu)
    if awk -v c="$client" -v t="$CLIENT_THREADS" 'BEGIN { exit !(c >= 0.9 * t) }'; then
        echo "   warning: huduma-load used $client cores with $CLIENT_THREADS thread(s):" \
            "the client may be the bottleneck (BENCH_API_CLIENT_THREADS)" >&2
    fi
    printf '   %-8s %-7s round %s: %8s req/s  p50 %6s us  p99 %7s us  p99.9 %7s us' \
        "$test" "$server" "$round" "$(echo "$line" | bench_field rps)" "$(echo "$line" | bench_field p50_us)" \
        "$(echo "$line" | bench_field p99_us)" "$(echo "$line" | bench_field p999_us)"
    printf '  errors %s  server %s cores, %s us/answer; client %s cores\n' \
        "$(echo "$line" | bench_field errors)" "$cores" "$us" "$client"
}
both() { # TEST ROUND ARGS...: both servers, hudumad first in odd rounds
    test=$1 round=$2
    shift 2
    if [ $((round % 2)) -eq 1 ]; then order="hudumad nginx"; else order="nginx hudumad"; fi
    for s in $order; do one "$test" "$s" "$round" "$@"; done
}
# med TEST SERVER FIELD: the median of a RESULT field (or "cores") over the rounds
med() {
    awk -v t="$1" -v s="$2" -v f="$3" '$1 == t && $2 == s {
        if (f == "cores") print $4
        else if (f == "us") print $5
        else for (i = 6; i <= NF; i++) if (index($i, f "=") == 1) print substr($i, length(f) + 2)
    }' "$RESULTS" | bench_median
}

echo "== flat out (closed loop, keep-alive, $CONNS connections, $CLIENT_THREADS client" \
    "thread(s)), $ROUNDS rounds of $SECS s after $WARMUP s of warm-up"
r=1
while [ "$r" -le "$ROUNDS" ]; do
    both pipe1 "$r" --pipeline 1
    both pipe8 "$r" --pipeline 8
    r=$((r + 1))
done
percent_of() { awk -v m="$1" -v p="$RATE_PERCENT" 'BEGIN { printf "%.0f", m * p / 100 }'; }
RATE=$(percent_of "$(med pipe1 nginx rps)")
RATE_LOW=$(percent_of "$(med pipe1 hudumad rps)")
# rate TEST RATE WHOSE: the open-loop rounds
rate() {
    echo "== fixed rate $2 requests/s ($RATE_PERCENT% of $3's median flat out, pipeline 1;" \
        "latency from each request's intended send time)"
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        both "$1" "$r" --pipeline 1 --rate "$2"
        r=$((r + 1))
    done
}
rate rate "$RATE" nginx
if [ "$RATE_LOW" -lt "$RATE" ]; then
    rate ratelow "$RATE_LOW" hudumad
fi

# ---- 5. the summary -------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }
row() { # LABEL TEST FIELD KIND: KIND rate (a rate) or us (a latency)
    h=$(med "$2" hudumad "$3")
    n=$(med "$2" nginx "$3")
    if [ "$4" = us ]; then hv=$(ms "$h") nv=$(ms "$n"); else hv=$h nv=$n; fi
    printf '%-34s %12s %12s %9s\n' "$1" "$hv" "$nv" "$(ratio "$h" "$n")"
}
total() { # FIELD: its sum over every run
    awk -v f="$1" '{ for (i = 6; i <= NF; i++) if (index($i, f "=") == 1) s += substr($i, length(f) + 2) }
        END { print s + 0 }' "$RESULTS"
}
failures=$(($(total non2xx) + $(total conn_errors) + $(total protocol_errors)))
unanswered=$(total unanswered)
echo
echo "== summary: medians of $ROUNDS rounds, hudumad with [audit] enabled = $AUDIT, $(nproc) cores shared by client and servers" \
    "(load average now $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-34s %12s %12s %9s\n' "measure" "hudumad" "nginx" "h/n"
for t in pipe1 pipe8; do
    p=${t#pipe}
    row "flat out, pipeline $p: req/s" "$t" rps rate
    row "  p50 ms" "$t" p50_us us
    row "  p99 ms" "$t" p99_us us
    row "  p99.9 ms" "$t" p999_us us
    row "  server CPU, cores" "$t" cores rate
    row "  server CPU per answer, us" "$t" us rate
done
rate_rows() { # TEST RATE
    row "fixed $2/s: answers/s" "$1" rps rate
    row "  p50 ms" "$1" p50_us us
    row "  p90 ms" "$1" p90_us us
    row "  p99 ms" "$1" p99_us us
    row "  p99.9 ms" "$1" p999_us us
    row "  server CPU, cores" "$1" cores rate
    row "  server CPU per answer, us" "$1" us rate
}
rate_rows rate "$RATE"
if [ "$RATE_LOW" -lt "$RATE" ]; then
    rate_rows ratelow "$RATE_LOW"
fi
echo "h/n: hudumad / nginx; goal for req/s: 1.00 or more; for latency and CPU: 1.00 or less"
echo "errors over every run: $failures (non-2xx answers, connection and protocol errors)"
echo "requests still unanswered when their run ended: $unanswered (at a fixed rate a server"
echo "cannot carry, its backlog grows until the run stops; each waited at least until then)"
echo "whole benchmark: $(bench_elapsed) s"
[ "$failures" -eq 0 ]
