# tests/integration/lib/daemon.sh - what the daemon's integration scripts share:
# a temporary register with its agency CA, agencies with certificates, a curl
# wrapper that speaks mutual TLS as an agency, and a bounded start of hudumad
# on a free port of 127.0.0.1.  Sourced, never run: the runner only runs
# tests/integration/*.sh, and this file lives one folder down.
#
# Use (after `set -eu`):
#   LIB_NAME=mytest                  # names the temporary directory
#   . "$(dirname "$0")/lib/daemon.sh"
#   lib_init                         # checks binaries and tools, makes $WORK, traps
#   huduma_init; add_agency kra verifier
#   start_daemon kra                 # answers /healthz as agency kra, or fatal
#   api kra POST /v1/verify @"$WORK/claims.json"; [ "$code" = 200 ]
#   session NAME kra WRITER          # raw bytes over one TLS connection
#   statuses NAME                    # ... and the statuses that came back
#
# What it sets: SAN HUDUMA HUDUMAD (the sanitized build), WORK (removed on any
# exit), HUDUMA_DIR (the register, with its own swtpm: lib/swtpm.sh, stopped on
# exit; HUDUMA_TCTI and TPM2TOOLS_TCTI point at it), LOG (the daemon's stderr), CA, CERTS, T
# (bound on any one command, seconds), STARTED, failures, PORT, dpid (the
# daemon's pid, empty when it runs no more), tpid (the pid of its `timeout`
# wrapper).  Hooks a script may define before start_daemon:
#   config_extra  prints more lines for the configuration (after [log])
#   on_cleanup    runs first on exit (stop what the script started)
# and variables: CONFIG_LOG_LEVEL (info), CONFIG_SERVER_EXTRA (lines added to
# [server]), PURPOSE (the X-Purpose api() sends; empty: none), CONFIG_LISTEN
# (127.0.0.1: the [server] listen address), DAEMON_PREFIX and API_PREFIX
# (words run before hudumad and before api()'s curl, e.g. `nsenter
# --net=/run/netns/NAME` to run them in a network namespace), API_VIA (an
# address api() connects to instead of 127.0.0.1, while still checking the
# server certificate's 127.0.0.1).

SAN=${HUDUMA_SAN_BIN:?HUDUMA_SAN_BIN must name the directory of the sanitized binaries}
. "$(dirname "$0")/lib/swtpm.sh"
HUDUMA=$SAN/huduma
HUDUMAD=$SAN/hudumad
T=60
STARTED=$(date +%s)
failures=0
dpid=
tpid=
PORT=
PURPOSE=${PURPOSE-integration test}
CONFIG_LOG_LEVEL=${CONFIG_LOG_LEVEL:-info}
CONFIG_SERVER_EXTRA=${CONFIG_SERVER_EXTRA:-}
CONFIG_LISTEN=${CONFIG_LISTEN:-127.0.0.1}
DAEMON_PREFIX=${DAEMON_PREFIX:-}
API_PREFIX=${API_PREFIX:-}
API_VIA=${API_VIA:-}

ok() { echo "ok - $*"; }
not_ok() {
    failures=$((failures + 1))
    echo "not ok - $*"
}
fatal() {
    echo "not ok - $*"
    if [ -n "${LOG:-}" ] && [ -s "$LOG" ]; then tail -n 20 "$LOG" | sed 's/^/#   /'; fi
    exit 1
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
rand() { od -An -N4 -tu4 /dev/urandom | tr -d ' \n'; }

need_tools() { # TOOL...: each must be on PATH
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || {
            echo "not ok - $tool is needed (Debian package: $tool)"
            exit 1
        }
    done
}

# Stops the daemon: SIGTERM, up to 5 s to drain, then SIGKILL.
stop_daemon() {
    if [ -n "$dpid" ] && kill -0 "$dpid" 2>/dev/null; then
        kill -TERM "$dpid" 2>/dev/null || :
        i=0
        while kill -0 "$dpid" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        kill -KILL "$dpid" 2>/dev/null || :
    fi
    dpid=
}

lib_cleanup() {
    if command -v on_cleanup >/dev/null 2>&1; then on_cleanup || :; fi
    stop_daemon
    swtpm_stop_all
    rm -rf "$WORK"
}

lib_init() {
    for b in "$HUDUMA" "$HUDUMAD"; do
        [ -x "$b" ] || {
            echo "not ok - no executable $b"
            exit 1
        }
    done
    need_tools curl openssl timeout awk
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/huduma-${LIB_NAME:-test}.XXXXXX")
    trap lib_cleanup EXIT
    trap 'exit 130' INT TERM HUP
    export HUDUMA_DIR="$WORK/reg"
    swtpm_start "$HUDUMA_DIR" # the register's TPM: a real swtpm, state in $HUDUMA_DIR/tpm
    # A sanitizer report stops the process and lands in its log (see no_sanitizer_report).
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    unset https_proxy HTTPS_PROXY http_proxy HTTP_PROXY all_proxy ALL_PROXY || :
    LOG=$WORK/hudumad.log
    CA=$HUDUMA_DIR/ca/ca.crt
    CERTS=$WORK/certs
    mkdir "$CERTS"
}

huduma_init() { # a new register with its agency CA in $HUDUMA_DIR
    timeout "$T" "$HUDUMA" init >"$WORK/init.out" 2>&1 || fatal "huduma init: $(cat "$WORK/init.out")"
    [ -s "$CA" ] || fatal "huduma init made no agency CA ($CA)"
}

add_agency() { # NAME ROLES [ATTRIBUTES]: certificate and key in $CERTS/NAME.{crt,key}
    timeout "$T" "$HUDUMA" agency add "$1" --role "$2" ${3:+--attributes "$3"} --out "$CERTS" \
        >"$WORK/agency.out" 2>"$WORK/agency.err" ||
        fatal "huduma agency add $1 --role $2: $(cat "$WORK/agency.err")"
}

# curl as AGENCY ("-": no certificate).  BODY is sent as it is, or read from a
# file when it starts with "@" (curl's --data-binary).  The answer's body is in
# $WORK/body, its headers in $WORK/headers, curl's errors in $WORK/curl.err;
# $code gets the HTTP status ("000" when there was none) and $crc curl's exit
# status.  API_OUT names another directory for the three files, for a request
# run in the background beside others.
api() { # AGENCY METHOD PATH [BODY]
    api_out=${API_OUT:-$WORK}
    set -- "$1" "$2" "$3" "${4:-}" -q -sS --noproxy '*' --path-as-is --max-time 30 --cacert "$CA" \
        -o "$api_out/body" -D "$api_out/headers" -w '%{http_code}' -X "$2"
    ag=$1 path=$3 data=$4
    shift 4
    if [ "$ag" != - ]; then set -- "$@" --cert "$CERTS/$ag.crt" --key "$CERTS/$ag.key"; fi
    if [ -n "$PURPOSE" ]; then set -- "$@" -H "X-Purpose: $PURPOSE"; fi
    if [ -n "$data" ]; then set -- "$@" -H 'Content-Type: application/json' --data-binary "$data"; fi
    if [ -n "$API_VIA" ]; then set -- "$@" --connect-to "127.0.0.1:$PORT:$API_VIA:$PORT"; fi
    rm -f "$api_out/body" "$api_out/headers"
    crc=0
    # shellcheck disable=SC2086 # API_PREFIX is words
    code=$(timeout "$T" $API_PREFIX curl "$@" "https://127.0.0.1:$PORT$path" 2>"$api_out/curl.err") || crc=$?
    [ -f "$api_out/body" ] || : >"$api_out/body"
    [ -f "$api_out/headers" ] || : >"$api_out/headers"
}

port_taken() {
    command -v ss >/dev/null 2>&1 && [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
}

write_config() { # PORT -> $WORK/hudumad.conf
    {
        cat <<EOF
[server]
listen = $CONFIG_LISTEN
port = $1
threads = 2
workers = 2
register_dir = $HUDUMA_DIR
$CONFIG_SERVER_EXTRA

[log]
level = $CONFIG_LOG_LEVEL
EOF
        if command -v config_extra >/dev/null 2>&1; then config_extra; fi
    } >"$WORK/hudumad.conf"
}

# start_daemon AGENCY: hudumad on a random free port, up when it answers
# /healthz to AGENCY; another port is tried when the chosen one is taken.
# Bounded: 120 s to come up (the sanitized build starts slowly on a busy
# machine), 900 s to live.
start_daemon() {
    health_agency=$1
    tries=0
    while :; do
        tries=$((tries + 1))
        [ $tries -le 10 ] || fatal "no free port for hudumad after 10 tries"
        PORT=$(($(rand) % 30000 + 20000))
        if port_taken "$PORT"; then continue; fi
        write_config "$PORT"
        rm -f "$WORK/hudumad.pid"
        # The inner shell leaves its pid for signals, then becomes hudumad.
        # shellcheck disable=SC2016,SC2086 # $$ and $1.. belong to the inner shell; DAEMON_PREFIX is words
        timeout --foreground -s KILL 900 $DAEMON_PREFIX sh -c 'echo $$ >"$1"; exec "$2" --config "$3"' sh \
            "$WORK/hudumad.pid" "$HUDUMAD" "$WORK/hudumad.conf" >"$WORK/hudumad.out" 2>"$LOG" &
        tpid=$!
        deadline=$(($(date +%s) + 120))
        dpid=
        while :; do
            if [ -z "$dpid" ] && [ -s "$WORK/hudumad.pid" ]; then dpid=$(cat "$WORK/hudumad.pid"); fi
            if ! kill -0 "$tpid" 2>/dev/null; then
                st=0
                wait "$tpid" || st=$?
                dpid=
                if grep -q 'Address already in use' "$LOG"; then
                    echo "# port $PORT was taken; trying another"
                    continue 2
                fi
                fatal "hudumad exited $st at start"
            fi
            if [ -n "$dpid" ] && grep -q 'msg="listening"' "$LOG"; then
                api "$health_agency" GET /healthz
                if [ "$code" = 200 ]; then return 0; fi
            fi
            [ "$(date +%s)" -lt "$deadline" ] || fatal "hudumad did not answer /healthz within 120 s"
            sleep 0.2
        done
    done
}

# Sends SIGTERM and waits (at most 30 s) for the daemon to exit; $stop_status
# gets its exit status, $stop_ms the milliseconds it took.
sigterm_daemon() {
    t0=$(now_ms)
    kill -TERM "$dpid" 2>/dev/null || :
    i=0
    while kill -0 "$tpid" 2>/dev/null && [ $i -lt 300 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    stop_ms=$(($(now_ms) - t0))
    if kill -0 "$tpid" 2>/dev/null; then kill -KILL "$dpid" 2>/dev/null || :; fi
    stop_status=0
    wait "$tpid" || stop_status=$?
    dpid=
}

no_sanitizer_report() { # an ok/not ok line on the daemon's output
    if grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error' \
        -e 'SUMMARY: .*Sanitizer' "$LOG" "$WORK/hudumad.out"; then
        not_ok "a sanitizer report in the daemon's output:"
        grep -h -A 12 -e 'ERROR: ' -e 'runtime error' "$LOG" "$WORK/hudumad.out" | head -n 40 | sed 's/^/#   /'
    else
        ok "no AddressSanitizer, LeakSanitizer or UBSan report in the daemon's output"
    fi
}

# ---- raw TLS sessions through openssl s_client ------------------------------------------

# session NAME AGENCY WRITER [SECONDS]: the output of the shell function WRITER
# goes to the daemon over TLS with the agency's certificate; what comes back is
# in $WORK/NAME.out.  s_client (-quiet implies -ign_eof) runs until the daemon
# closes the connection, or SECONDS pass (exit 124).  Sets $s_rc and $s_ms
# (milliseconds from the start to the close).  WRITER may wait for
# $WORK/NAME.done, which appears when s_client has ended.
session() {
    name=$1 ag=$2 writer=$3 limit=${4:-20}
    rm -f "$WORK/$name.done"
    t0=$(now_ms)
    {
        "$writer" "$name"
        wait_done "$name"
    } | {
        rc=0
        timeout "$limit" openssl s_client -quiet -tls1_3 -verify_return_error -verify_ip 127.0.0.1 \
            -CAfile "$CA" -cert "$CERTS/$ag.crt" -key "$CERTS/$ag.key" -connect "127.0.0.1:$PORT" \
            >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
        echo "$rc $(($(now_ms) - t0))" >"$WORK/$name.res"
        : >"$WORK/$name.done"
    }
    read -r s_rc s_ms <"$WORK/$name.res"
}
wait_done() { # NAME: waits (at most 60 s) for s_client to end
    i=0
    while [ ! -e "$WORK/$1.done" ] && [ -d "$WORK" ] && [ $i -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
    done
}
# The status of each response in $WORK/NAME.out, in order ("200 413").  A body
# has no final newline, so the next status line may follow it on the same line.
statuses() { grep -o 'HTTP/1\.1 [0-9][0-9][0-9] ' "$WORK/$1.out" | cut -c 10-12 | tr '\n' ' ' | sed 's/ $//'; }
