#!/bin/sh
# tests/integration/crash_import.sh - a bulk enrolment killed with SIGKILL at
# random moments loses nothing it acknowledged.
#
# What it proves: `huduma import --acks` prints "<line>\t<enrolment id>\t
# <outcome>\t<hn>" only for operations that are committed, so that after the
# process dies at any moment and a new process opens the register:
#   - every acknowledged enrolment id still has its answer (`huduma status`:
#     the same outcome and the same Huduma Number), and the person's record is
#     there and intact (`huduma show`: surname, first_name and date_of_birth of
#     the input line);
#   - running the same file again is idempotent: every line acknowledged before
#     comes back `already_enrolled` with the same number (or still `pending`),
#     never `assigned` a second time;
#   - no Huduma Number is ever issued twice, across all the restarts;
#   - the interrupted work can be finished: the last run completes, every one
#     of the N enrolment ids then has an answer, and the register opens and
#     lists cleanly.
# SIGKILL is a process crash, not a power cut: the kernel keeps what was
# written to the page cache, so this checks the commit/acknowledge order and
# the recovery of the database, not fsync.
#
# How: `huduma synth` writes N synthetic enrolment lines; a fresh register;
# then round after round: import the whole file in the background with 8
# threads and --acks, SIGKILL it after a random 0.1-1.5 s, and check.  In odd
# rounds the delay counts from the start of the process (so kills also land
# during start-up, recovery and the replay of lines done before); in even ones
# from the moment the run has re-acknowledged as many lines as were
# acknowledged before, so that the kill lands among new enrolments.  There are
# at least ROUNDS rounds, and more (up to ROUNDS + 5, while lines are left
# unacknowledged) until 5 kills have landed after the run had acknowledged new
# enrolments.  After each kill:
#   - ALL acknowledgements so far are checked against the input file and each
#     other (awk over the ack files): each line's enrolment id is the input
#     line's, a line acknowledged in an earlier round comes back
#     `already_enrolled` with the same number (or `pending`), never `assigned`
#     again, and no number belongs to two enrolment ids;
#   - `huduma status` and `huduma show` are run for every one of the last 20
#     acknowledgements before the kill (the most at risk) and for random ones
#     of all acknowledged so far (up to 200, within a few seconds a round: each
#     check is two process starts, so checking thousands one by one would take
#     many minutes).
# Then a run to completion, and a verification run of the same file after one
# more restart: its acknowledgements give the answer of every one of the N
# enrolment ids at once.  `pending` and `due-biometrics` must list cleanly, and
# `status`/`show` are run again, at-risk acknowledgements first, for a while.
# Last, every record is probed in one import: each line is enrolled again under
# a new enrolment id and new document numbers, so it must be held as a
# possible duplicate, with the number its original got among the candidates
# that `huduma pending` lists: the names, date of birth and sex of all N
# records lead back to the right number after the restarts.
#
# Needs: HUDUMA_BIN (directory of the release `huduma`), sh, coreutils, awk.
# HUDUMA_CRASH_SEED, _COUNT and _ROUNDS override the seed (random by default,
# printed), the number of lines (4000) and the least number of rounds (5).
set -eu

BIN=${HUDUMA_BIN:?HUDUMA_BIN must name the directory of the release binaries}/huduma
if [ ! -x "$BIN" ]; then
    echo "not ok - no executable $BIN"
    exit 1
fi

rand() { od -An -N4 -tu4 /dev/urandom | tr -d ' \n'; }

N=${HUDUMA_CRASH_COUNT:-4000}
ROUNDS=${HUDUMA_CRASH_ROUNDS:-5}
MIN_KILLS=5       # more rounds, up to MAX_ROUNDS, until this many kills landed mid-work
MAX_ROUNDS=$((ROUNDS + 5))
SEED=${HUDUMA_CRASH_SEED:-$(($(rand) % 1000000 + 1))}
AT_RISK=20        # acknowledgements before each kill checked, all of them
SAMPLE_MAX=200    # random acknowledgements checked per round, at most ...
SAMPLE_SECS=5     # ... within this many seconds
FINAL_SECS=20     # time for the last checks through status and show
T=180             # bound on any one command

WORK=$(mktemp -d "${TMPDIR:-/tmp}/huduma-crash.XXXXXX")
. "$(dirname "$0")/lib/swtpm.sh"
pid=
cleanup() {
    if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || :; fi
    swtpm_stop_all
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
export HUDUMA_DIR="$WORK/reg"
swtpm_start "$HUDUMA_DIR" # the register's master key is sealed in a real swtpm

failures=0
checked_status=0
checked_show=0
STARTED=$(date +%s)

ok() { echo "ok - $*"; }
not_ok() {
    failures=$((failures + 1))
    if [ "$failures" -le 60 ]; then
        echo "not ok - $*"
    elif [ "$failures" -eq 61 ]; then
        echo "# (further failures are counted, not shown)"
    fi
}
fatal() {
    echo "not ok - $*"
    echo "# giving up (seed $SEED)"
    exit 1
}
elapsed() { echo $(($(date +%s) - STARTED)); }

# ---- the input -------------------------------------------------------------------

echo "# seed $SEED, $N lines, at least $ROUNDS killed rounds, binary $BIN"
timeout "$T" "$BIN" synth --seed "$SEED" --count "$N" --no-events >"$WORK/in.jsonl" ||
    fatal "huduma synth --seed $SEED --count $N --no-events"

# expect.tsv: line, enrolment id, surname, first_name, date_of_birth of each input line.
awk -v OFS='\t' '
function get(s, key,   i, rest) {
    i = index(s, "\"" key "\":\"")
    if (i == 0) return ""
    rest = substr(s, i + length(key) + 4)
    return substr(rest, 1, index(rest, "\"") - 1)
}
{ print NR, get($0, "id"), get($0, "surname"), get($0, "first_name"), get($0, "date_of_birth") }
' "$WORK/in.jsonl" >"$WORK/expect.tsv"
bad=$(awk -F '\t' 'NF != 5 || $2 == "" || $3 == "" || $4 == "" || $5 == "" || seen[$2]++' "$WORK/expect.tsv" | wc -l)
lines=$(wc -l <"$WORK/expect.tsv")
if [ "$lines" -ne "$N" ] || [ "$bad" -ne 0 ]; then
    fatal "synth wrote $lines lines, $bad without an enrolment id, names and date of birth or with a repeated id"
fi
ok "synth wrote $N enrolment lines, each with its own enrolment id"

timeout "$T" "$BIN" init >/dev/null || fatal "huduma init"
: >"$WORK/ledger.tsv"
: >"$WORK/at-risk.tsv"

# ---- checking acknowledgements ----------------------------------------------------------

# absorb ROUND ACKFILE: checks the acknowledgements of one run against the input and
# against all earlier ones, and adds the new ones to the ledger (line, enrolment id,
# A for a number or P for pending, hn, round first acknowledged).  Prints failures;
# returns non-zero after any.
absorb() {
    awk -F '\t' -v OFS='\t' -v round="$1" -v ledger="$WORK/ledger.new" \
        -v summary="$WORK/absorb.summary" '
    function complain(msg) { if (++fail <= 20) print msg }
    FILENAME == ARGV[1] { id[$1] = $2; next }
    FILENAME == ARGV[2] { cls[$1] = $3; hn[$1] = $4; first[$1] = $5; owner[$4] = $2; next }
    {
        n++
        good = NF == 4 && $1 ~ /^[0-9]+$/ && ($1 in id) &&
               ($3 == "assigned" || $3 == "already_enrolled" || $3 == "pending") &&
               (($3 == "pending" && $4 == "-") ||
                ($3 != "pending" && length($4) == 12 && $4 ~ /^[1-9][0-9]*$/))
        if (!good) { partial = FNR; partial_text = $0; next }
        if (partial) { complain("not ok - round " round ": malformed acknowledgement at line " partial ": " partial_text); partial = 0 }
        if ($2 != id[$1]) { complain("not ok - round " round ": line " $1 " acknowledged as " $2 ", the input has " id[$1]); next }
        if (acked[$1]++) { complain("not ok - round " round ": line " $1 " acknowledged twice in one run"); next }
        c = $3 == "pending" ? "P" : "A"
        count[$3]++
        if ($1 in cls) {
            again++
            if (cls[$1] == "A" && $3 != "already_enrolled") {
                complain("not ok - round " round ": line " $1 " (" $2 ") acknowledged in round " first[$1] " with " hn[$1] ", now " $3 " " $4)
            } else if (cls[$1] == "A" && $4 != hn[$1]) {
                complain("not ok - round " round ": line " $1 " (" $2 ") had " hn[$1] " since round " first[$1] ", now " $4)
            } else if (cls[$1] == "P" && $3 != "pending") {
                complain("not ok - round " round ": line " $1 " (" $2 ") pending since round " first[$1] ", now " $3 " " $4)
            }
            next
        }
        if (c == "A" && ($4 in owner) && owner[$4] != $2) {
            complain("not ok - round " round ": number " $4 " given to " $2 " and to " owner[$4])
        }
        cls[$1] = c; hn[$1] = c == "A" ? $4 : "-"; first[$1] = round
        if (c == "A" && !($4 in owner)) owner[$4] = $2
        new++
    }
    END {
        printf "" > ledger
        for (l in cls) print l, id[l], cls[l], hn[l], first[l] > ledger
        printf "%d acknowledgements (%d assigned, %d already_enrolled, %d pending): %d new, %d seen before%s\n", \
            n - (partial ? 1 : 0), count["assigned"], count["already_enrolled"], count["pending"], new, again, \
            partial ? ", and a partial last line cut by the kill" : "" > summary
        if (fail > 20) print "not ok - round " round ": and " (fail - 20) " more disagreements"
        exit fail ? 1 : 0
    }' "$WORK/expect.tsv" "$WORK/ledger.tsv" "$2"
}

# json_member FILE NAME: the string value of NAME in huduma's indented JSON output.
json_member() { sed -n "s/^  \"$2\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" "$1" | head -n 1; }

# check_one LINE ID CLASS HN WHY: huduma status and show agree with the ledger and the input.
check_one() {
    l=$1 id=$2 cls=$3 hn=$4 why=$5
    if timeout "$T" "$BIN" status "$id" </dev/null >"$WORK/st.out" 2>"$WORK/st.err"; then :; else
        not_ok "$why: status $id (line $l): exit $?: $(head -n 1 "$WORK/st.err")"
        return 0
    fi
    checked_status=$((checked_status + 1))
    outcome=$(json_member "$WORK/st.out" outcome)
    got=$(json_member "$WORK/st.out" huduma_number)
    if [ "$cls" = P ]; then
        [ "$outcome" = pending_adjudication ] ||
            not_ok "$why: status $id (line $l): $outcome, acknowledged as pending"
        return 0
    fi
    if [ "$outcome" != assigned ] || [ "$got" != "$hn" ]; then
        not_ok "$why: status $id (line $l): '$outcome' '$got', acknowledged with $hn"
        return 0
    fi
    if timeout "$T" "$BIN" show "$hn" </dev/null >"$WORK/show.out" 2>"$WORK/show.err"; then :; else
        not_ok "$why: show $hn (line $l): exit $?: $(head -n 1 "$WORK/show.err")"
        return 0
    fi
    checked_show=$((checked_show + 1))
    want=$(awk -F '\t' -v l="$l" '$1 == l { print $3 "|" $4 "|" $5; exit }' "$WORK/expect.tsv")
    have="$(json_member "$WORK/show.out" surname)|$(json_member "$WORK/show.out" first_name)|$(json_member "$WORK/show.out" date_of_birth)"
    [ "$have" = "$want" ] ||
        not_ok "$why: show $hn (line $l): surname|first_name|date_of_birth '$have', the input has '$want'"
    [ "$(json_member "$WORK/show.out" huduma_number)" = "$hn" ] ||
        not_ok "$why: show $hn (line $l) prints another huduma_number"
}

# check_list FILE WHY [SECONDS]: check_one for each ledger row in FILE, stopping
# after SECONDS when given.  Sets $done_n.
check_list() {
    deadline=${3:+$(($(date +%s) + $3))}
    done_n=0
    while IFS="$(printf '\t')" read -r l id cls hn _; do
        if [ -n "$deadline" ] && [ "$(date +%s)" -ge "$deadline" ]; then break; fi
        check_one "$l" "$id" "$cls" "$hn" "$2"
        done_n=$((done_n + 1))
    done <"$1"
}

# sample K: up to K random rows of the ledger, in $WORK/sample.tsv.
sample() {
    awk -v seed="$(rand)" -v k="$1" 'BEGIN { srand(seed % 2147483647) } { print rand() "\t" $0 }' \
        "$WORK/ledger.tsv" | sort -k1,1 | cut -f 2- | head -n "$1" >"$WORK/sample.tsv"
}

# after_run ROUND ACKFILE: absorbs the acknowledgements of a run, and says so.
after_run() {
    if absorb "$1" "$2"; then
        mv "$WORK/ledger.new" "$WORK/ledger.tsv"
        ok "round $1: $(cat "$WORK/absorb.summary"); all $(wc -l <"$WORK/ledger.tsv") acknowledged so far agree with the input and with each other"
    else
        mv "$WORK/ledger.new" "$WORK/ledger.tsv"
        not_ok "round $1: acknowledgements disagree (above)"
    fi
}

# ---- killed rounds -------------------------------------------------------------------------

killed_mid_work=0
r=1
while [ "$r" -le "$ROUNDS" ] || { [ "$killed_mid_work" -lt "$MIN_KILLS" ] && [ "$r" -le "$MAX_ROUNDS" ] &&
    [ "$(wc -l <"$WORK/ledger.tsv")" -lt "$N" ]; }; do
    ms=$(($(rand) % 1401 + 100))
    secs=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
    known=$(wc -l <"$WORK/ledger.tsv")
    "$BIN" import "$WORK/in.jsonl" --threads 8 --acks >"$WORK/acks.$r" 2>"$WORK/import.$r.err" &
    pid=$!
    from="its start"
    if [ $((r % 2)) -eq 0 ] && [ "$known" -gt 0 ]; then
        # Every other round: count from the end of the replay of the lines
        # acknowledged before (at most 20 s), so that the kill lands among new
        # enrolments rather than during start-up or the replay.
        polls=0
        while [ "$(wc -l <"$WORK/acks.$r")" -lt "$known" ] && [ "$polls" -lt 400 ] &&
            kill -0 "$pid" 2>/dev/null; do
            sleep 0.05
            polls=$((polls + 1))
        done
        from="the replay of the $known acknowledged before"
    fi
    sleep "$secs"
    kill -9 "$pid" 2>/dev/null || :
    st=0
    wait "$pid" 2>/dev/null || st=$?
    pid=
    refused=$(grep -c 'huduma import: line' "$WORK/import.$r.err" || :)
    if [ "$refused" -gt 0 ]; then
        not_ok "round $r: the import refused $refused lines"
        grep 'huduma import: line' "$WORK/import.$r.err" | sed -n '1,5s/^/#   /p'
    fi
    case $st in
    137) how="killed $secs s after $from" ;;
    0) how="finished before the kill, $secs s after $from" ;;
    *)
        not_ok "round $r: the import exited $st by itself"
        tr '\r' '\n' <"$WORK/import.$r.err" | tail -n 3 | sed 's/^/#   /'
        how="exit $st"
        ;;
    esac
    new_before=$(wc -l <"$WORK/ledger.tsv")
    echo "# round $r: import $how ($(elapsed) s)"
    after_run "$r" "$WORK/acks.$r"
    if [ "$st" -eq 137 ] && [ "$(wc -l <"$WORK/ledger.tsv")" -gt "$new_before" ]; then
        killed_mid_work=$((killed_mid_work + 1))
    fi

    # The last acknowledgements before the kill, all of them, then a random sample.
    awk -F '\t' 'NF == 4 && length($4) >= 1 { print $1 }' "$WORK/acks.$r" | tail -n "$AT_RISK" >"$WORK/risk.lines"
    awk -F '\t' 'FILENAME == ARGV[1] { want[$1] = 1; next } ($1 in want)' \
        "$WORK/risk.lines" "$WORK/ledger.tsv" >"$WORK/risk.tsv"
    cat "$WORK/risk.tsv" >>"$WORK/at-risk.tsv"
    if [ -s "$WORK/risk.tsv" ]; then
        s0=$checked_status f0=$failures
        check_list "$WORK/risk.tsv" "round $r, at risk"
        risk_n=$done_n
        sample "$SAMPLE_MAX"
        check_list "$WORK/sample.tsv" "round $r, sample" "$SAMPLE_SECS"
        if [ "$failures" -eq "$f0" ]; then
            ok "round $r: after the restart, status and show agree for the last $risk_n acknowledged before the kill and $done_n random ones of all acknowledged ($((checked_status - s0)) checked, $(elapsed) s)"
        fi
    else
        echo "# round $r: no acknowledgement in this run (killed during start-up); the next round checks the register"
    fi
    r=$((r + 1))
done
echo "# $killed_mid_work of $((r - 1)) kills landed after new enrolments had been acknowledged in that run"

# ---- the run to completion, and one more restart ---------------------------------------------

if timeout "$T" "$BIN" import "$WORK/in.jsonl" --threads 8 --acks >"$WORK/acks.final" 2>"$WORK/import.final.err"; then
    ok "final round: the import runs to completion ($(elapsed) s)"
else
    not_ok "final round: the import exited $?"
    tr '\r' '\n' <"$WORK/import.final.err" | grep -v '^imported' | sed -n '1,5s/^/#   /p'
fi
after_run final "$WORK/acks.final"

if timeout "$T" "$BIN" import "$WORK/in.jsonl" --threads 8 --acks >"$WORK/acks.verify" 2>"$WORK/import.verify.err"; then
    :
else
    not_ok "verification run: the import exited $?"
fi
after_run verify "$WORK/acks.verify"
if awk -F '\t' '$3 == "assigned" { found = 1 } END { exit !found }' "$WORK/acks.verify"; then
    not_ok "verification run: a line was assigned a number only now"
fi

acked=$(wc -l <"$WORK/ledger.tsv")
verified=$(awk -F '\t' 'NF == 4' "$WORK/acks.verify" | cut -f 1 | sort -u | wc -l)
if [ "$acked" -eq "$N" ] && [ "$verified" -eq "$N" ]; then
    ok "every one of the $N enrolment ids has an answer, the same before and after a restart"
else
    not_ok "$acked of $N lines ever acknowledged, $verified answered by the verification run"
fi

assigned_ids=$(awk -F '\t' '$3 == "A"' "$WORK/ledger.tsv" | wc -l)
distinct=$(awk -F '\t' '$3 == "A" { print $4 }' "$WORK/ledger.tsv" | sort -u | wc -l)
pending_ids=$(awk -F '\t' '$3 == "P"' "$WORK/ledger.tsv" | wc -l)
if [ "$assigned_ids" -eq "$distinct" ]; then
    ok "$distinct distinct Huduma Numbers for $assigned_ids enrolment ids with a number (and $pending_ids pending): none issued twice"
else
    not_ok "$distinct distinct Huduma Numbers for $assigned_ids enrolment ids with a number"
fi

# ---- the register opens and lists cleanly ----------------------------------------------------------

for args in "pending" "due-biometrics --as-of 2100-01-01"; do
    # shellcheck disable=SC2086 # the words are meant to split
    if timeout "$T" "$BIN" $args >"$WORK/list.out" 2>"$WORK/list.err" && [ ! -s "$WORK/list.err" ]; then
        ok "huduma $args: exit 0, $(wc -l <"$WORK/list.out") lines, nothing on stderr"
    else
        not_ok "huduma $args: exit $? or a complaint: $(head -n 1 "$WORK/list.err")"
    fi
    if [ "$args" = pending ]; then cp "$WORK/list.out" "$WORK/pending.before"; fi
done
listed=$(sed -n 's/.*"enrolment_id":"\([^"]*\)".*/\1/p' "$WORK/pending.before" | sort)
held=$(awk -F '\t' '$3 == "P" { print $2 }' "$WORK/ledger.tsv" | sort)
if [ "$listed" = "$held" ]; then
    ok "huduma pending lists exactly the $pending_ids enrolments acknowledged as pending"
else
    not_ok "huduma pending and the pending acknowledgements differ"
fi

# ---- a last sample through show, and the at-risk ones again -------------------------------------------

# The at-risk acknowledgements of every round (in random order), then random ones,
# for FINAL_SECS.
sample "$N"
awk -v seed="$(rand)" 'BEGIN { srand(seed % 2147483647) } { print rand() "\t" $0 }' "$WORK/at-risk.tsv" |
    sort -k1,1 | cut -f 2- >"$WORK/end.tsv"
cat "$WORK/sample.tsv" >>"$WORK/end.tsv"
f0=$failures s0=$checked_status
check_list "$WORK/end.tsv" "end" "$FINAL_SECS"
if [ "$failures" -eq "$f0" ]; then
    ok "end: status and show agree for $done_n acknowledgements after the last restart, at-risk ones first ($(elapsed) s)"
fi

# ---- every record probed through its blocking key ------------------------------------------------

# The same people under new enrolment ids and document numbers: each must be held
# for adjudication with its original's number (or, for an original held itself,
# "pending:<its enrolment id>") among the candidates.  This changes the register,
# so it comes last.
sed 's/"id":"/"id":"P-/; s/"number":"/"number":"P/g' "$WORK/in.jsonl" >"$WORK/probe.jsonl"
if timeout "$T" "$BIN" import "$WORK/probe.jsonl" --threads 8 --acks >"$WORK/acks.probe" 2>"$WORK/import.probe.err"; then
    :
else
    not_ok "probe: the import exited $?"
    tr '\r' '\n' <"$WORK/import.probe.err" | grep -v '^imported' | sed -n '1,5s/^/#   /p'
fi
timeout "$T" "$BIN" pending >"$WORK/pending.after" 2>"$WORK/pending.err" || not_ok "probe: huduma pending exited $?"
missing=$(awk -F '\t' -v OFS='\t' '
    FILENAME == ARGV[1] { want["P-" $2] = $3 == "A" ? $4 : "pending:" $2; next }
    {
        if (!match($0, /"enrolment_id":"[^"]*"/)) next
        eid = substr($0, RSTART + 16, RLENGTH - 17)
        if (!(eid in want)) next
        seen[eid] = 1
        if (index($0, "\"" want[eid] "\"") == 0) { print eid " lacks " want[eid] ": " $0; bad++ }
    }
    END { for (e in want) if (!(e in seen)) { print e " is not pending" ; bad++ } }
' "$WORK/ledger.tsv" "$WORK/pending.after")
if [ -z "$missing" ]; then
    ok "probe: all $N people enrolled again under new ids are held as duplicates of the number their line got"
else
    not_ok "probe: $(echo "$missing" | wc -l) people do not lead back to their record"
    echo "$missing" | sed -n '1,5s/^/#   /p'
fi

echo "# $checked_status status and $checked_show show checks of acknowledged enrolments, $(elapsed) s in all (seed $SEED)"
[ "$failures" -eq 0 ] || echo "# $failures failures"
[ "$failures" -eq 0 ]
