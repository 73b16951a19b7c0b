#!/bin/sh
# tests/integration/daemon_limits.sh - the connection limit: a daemon with
# max_connections open refuses the next connection at once, counts and logs
# it, and takes connections again as soon as one closes.
#
# What it proves, each with an "ok - ..." line:
#   - with [limits] max_connections = 3 and three keep-alive TLS connections
#     open and idle, a fourth is closed before its handshake ends (no HTTP
#     status, well within a second rather than at a timeout), and the log says
#     `connection refused: max_connections open`;
#   - the three held connections are unharmed: each answers a second request
#     after the refusal;
#   - once they have closed, a new connection is answered, and /metrics
#     counts the refused one (hudumad_connections_refused_total 1) and shows
#     one connection open (the one reading it);
#   - no sanitizer report.
#
# How: the sanitized build, a fresh register with its own swtpm; the held
# connections are `openssl s_client` sessions that write a request, wait for a
# file, then write another; the fourth is curl.  Bounded: every client under
# `timeout`.
#
# Needs: HUDUMA_SAN_BIN, sh, curl, openssl.
set -eu

LIB_NAME=limits
. "$(dirname "$0")/lib/daemon.sh"
lib_init

huduma_init
add_agency kra verifier
add_agency ops operator
config_extra() { printf '\n[limits]\nmax_connections = 3\nidle_timeout_ms = 30000\n'; }
start_daemon kra

healthz_request() { printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'; }
# holder NAME: one request, then a second once $WORK/release exists; then
# waits for s_client to be cut by its own timeout (the connection stays open)
holder() {
    healthz_request
    i=0
    while [ ! -e "$WORK/release" ] && [ $i -lt 300 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    healthz_request
}
holders=
for n in 1 2 3; do
    session "hold$n" kra holder 12 &
    holders="$holders $!"
done
answered() { grep -c 'HTTP/1.1 200' "$WORK/$1.out" 2>/dev/null || :; }
all_answered() { # N: waits (at most 10 s) until each holder has N answers; false if not
    i=0
    while [ $i -lt 100 ]; do
        [ "$(answered hold1)" = "$1" ] && [ "$(answered hold2)" = "$1" ] && [ "$(answered hold3)" = "$1" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
all_answered 1 || fatal "the three held connections were not all answered: $(answered hold1) $(answered hold2) $(answered hold3)"

t0=$(now_ms)
api kra GET /healthz
took=$(($(now_ms) - t0))
if [ "$code" = 000 ] && [ "$crc" != 0 ] && [ "$took" -lt 1000 ] &&
    grep -q 'connection refused: max_connections open' "$LOG"; then
    ok "with max_connections = 3 open, a fourth connection is closed before its handshake ends (curl exit $crc, in $took ms) and logged"
else
    not_ok "a fourth connection at the limit: status $code, curl exit $crc, $took ms, log: $(grep -c 'max_connections' "$LOG") lines; $(cat "$WORK/curl.err")"
fi

: >"$WORK/release"
if all_answered 2; then
    ok "the three held connections are unharmed: each answered a second request after the refusal"
else
    not_ok "after the refusal the held connections answered $(answered hold1), $(answered hold2), $(answered hold3) requests"
fi
# shellcheck disable=SC2086 # pids
wait $holders # their s_client end at their timeout, closing the connections

tries=0
api ops GET /metrics
while [ "$code" != 200 ] && [ $tries -lt 20 ]; do # the daemon may see the closes a moment later
    sleep 0.1
    api ops GET /metrics
    tries=$((tries + 1))
done
refused=$(awk '$1 == "hudumad_connections_refused_total" { print $2 }' "$WORK/body")
open=$(awk '$1 == "hudumad_connections_open" { print $2 }' "$WORK/body")
if [ "$code" = 200 ] && [ "$refused" = 1 ] && [ "$open" = 1 ]; then
    ok "once they closed, a new connection is answered; /metrics counts 1 refused connection and 1 open"
else
    not_ok "after the holders closed: /metrics $code, refused '$refused', open '$open'"
fi
stop_daemon
no_sanitizer_report
echo "# $(($(date +%s) - STARTED)) s"
[ "$failures" -eq 0 ]
