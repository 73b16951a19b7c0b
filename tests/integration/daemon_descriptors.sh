#!/bin/sh
# tests/integration/daemon_descriptors.sh - a daemon out of file descriptors:
# accepting fails with EMFILE, and the daemon neither stalls nor leaks; every
# connection waiting in its listeners' queues is taken once descriptors are
# free again, and the daemon answers as before.
#
# What it proves, each with an "ok - ..." line:
#   - with its open files limit a few dozen descriptors above what it holds
#     idle, and 100 connections queued at once on its listeners, the daemon
#     logs `accept failed` with "Too many open files": the multishot accept
#     really ended with EMFILE;
#   - every one of the 100 connections is then taken from the queues and dealt
#     with (refused at max_connections, or closed at the handshake timeout):
#     each is closed by the daemon within 15 s, so neither ring left its
#     accept unarmed after the failure;
#   - afterwards the daemon answers /healthz on 6 new connections in a row,
#     holds no more descriptors than before the burst (none leaked by a
#     failed accept, a refusal or a timeout), and /metrics counts one
#     connection open, its own (none of the 100 left behind);
#   - no sanitizer report.
#
# How: the sanitized build under `prlimit --nofile=72:72` (the smallest limit
# its file tables allow: max_connections 8 + 64 slots), with a fresh register
# and its own swtpm.  The daemon is stopped (SIGSTOP) while one bash process
# opens the 100 plain TCP connections, which the kernel completes into the
# listen queues; on SIGCONT each ring's accept takes them in a burst, more at
# once than the free descriptors, which is what makes EMFILE certain rather
# than a matter of timing.  Bounded: the connections are held at most 15 s.
#
# Needs: HUDUMA_SAN_BIN, sh, bash (its /dev/tcp), prlimit, curl, openssl.
set -eu

LIB_NAME=descriptors
. "$(dirname "$0")/lib/daemon.sh"
lib_init
need_tools bash prlimit

LIMIT=72
BURST=100
huduma_init
add_agency kra verifier
add_agency ops operator
config_extra() { printf '\n[limits]\nmax_connections = 8\nhandshake_timeout_ms = 1000\n'; }
on_cleanup() { [ -z "$dpid" ] || kill -CONT "$dpid" 2>/dev/null; }
DAEMON_PREFIX="prlimit --nofile=$LIMIT:$LIMIT"
start_daemon kra

fds_of() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }
base=$(fds_of "$dpid")
[ "$base" -lt $((LIMIT - 8)) ] ||
    fatal "hudumad holds $base descriptors idle, too near the limit of $LIMIT for this test"
echo "# hudumad holds $base descriptors idle under a limit of $LIMIT"

# burst PORT COUNT OUT: opens COUNT connections, then waits (at most 15 s)
# until the peer has closed each (readable with nothing sent means closed);
# writes how many were closed to OUT, after OUT.opened once all are open.
burst() {
    # shellcheck disable=SC2016 # the script is bash's, with its own $1..$3
    bash -c '
        fds=
        for i in $(seq 1 "$2"); do
            exec {fd}<>"/dev/tcp/127.0.0.1/$1" || exit 2
            fds="$fds $fd"
        done
        : >"$3.opened"
        deadline=$((SECONDS + 15))
        while :; do
            closed=0
            for fd in $fds; do
                if read -r -t 0 -u "$fd"; then closed=$((closed + 1)); fi
            done
            [ "$closed" -lt "$2" ] && [ "$SECONDS" -lt "$deadline" ] || break
            sleep 0.2
        done
        echo "$closed" >"$3"' bash "$1" "$2" "$3"
}

kill -STOP "$dpid"
burst "$PORT" "$BURST" "$WORK/burst" &
bpid=$!
i=0
while [ ! -e "$WORK/burst.opened" ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
kill -CONT "$dpid"
[ -e "$WORK/burst.opened" ] || fatal "the $BURST connections were not all opened within 10 s"
brc=0
wait "$bpid" || brc=$?
[ "$brc" = 0 ] || fatal "the connecting shell failed ($brc)"

if grep 'msg="accept failed"' "$LOG" | grep -q 'Too many open files'; then
    ok "with $BURST connections queued and $((LIMIT - base)) descriptors free, accepting failed with EMFILE and was logged"
else
    not_ok "no 'accept failed ... Too many open files' in the log; the burst did not run the daemon out of descriptors"
fi

closed=$(cat "$WORK/burst")
if [ "$closed" = "$BURST" ]; then
    ok "every one of the $BURST queued connections was taken and closed by the daemon after the failure"
else
    not_ok "$closed of $BURST queued connections were closed by the daemon within 15 s: the rest were left waiting"
fi

answered=0
for n in 1 2 3 4 5 6; do
    api kra GET /healthz
    [ "$code" = 200 ] || break
    answered=$((answered + 1))
done
after=$(fds_of "$dpid")
api ops GET /metrics
open=$(awk '$1 == "hudumad_connections_open" { print $2 }' "$WORK/body")
if [ "$answered" = 6 ] && [ "$after" -le $((base + 2)) ] && [ "$code" = 200 ] && [ "$open" = 1 ]; then
    ok "afterwards 6 new connections are answered; hudumad holds $after descriptors (idle before: $base) and counts 1 connection open"
else
    not_ok "afterwards $answered of 6 /healthz answered 200; descriptors $after against $base before; /metrics $code, connections open '$open'"
fi
stop_daemon
no_sanitizer_report
echo "# $(($(date +%s) - STARTED)) s"
[ "$failures" -eq 0 ]
