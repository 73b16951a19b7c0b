#!/bin/sh
# tests/bench/run.sh - the benchmarks behind `make bench` (docs/BENCHMARKS.md).
#
# Measures, on this machine and in one run:
#   1. synthetic generation: `huduma synth` of BENCH_PEOPLE people (1,000,000);
#   2. durable enrolment: `huduma import --acks` of those people into a fresh
#      register (every commit syncs its WAL; RocksDB groups concurrent commits),
#      as committed enrolments per second of wall-clock time;
#   3. random point reads of person records (bench_reads: reg_get, that is
#      RocksDB read + AES-256-GCM open + JSON decode), BENCH_RUNS times, and
#      once per run the same reads cut short after the AES open ("unseal") and
#      after the RocksDB read ("raw"), to show where a read's time goes;
#   4. RocksDB's own db_bench: the same number of keys, the mean sealed record
#      size measured in step 3, the register's table options (256 MB LRU block
#      cache, 10-bit bloom filters, LZ4, index and filter blocks in the cache),
#      then readrandom with the same thread count, BENCH_RUNS times,
#      interleaved with the person reads so that both see the same noise;
# and prints a summary table of medians and the ratio person reads /
# db_bench readrandom; then, on the same register and its swtpm, bench_tpm
# BENCH_RUNS times: the master key unsealed as at start, and signatures with
# the TPM-resident audit key beside OpenSSL's in memory.  Then it runs
# tests/bench/bench_api.sh (hudumad vs nginx), tests/bench/bench_ratelimit.sh
# (the XDP rate limiter vs nftables), bench_bio.sh and bench_audit.sh.
#
# Everything runs in a temporary directory under build/ (on the repository's
# disk, so a synced WAL costs what it costs there), removed at exit; every
# step is bounded by `timeout`.  Settings, from the environment:
#   HUDUMA_BIN            huduma binary dir          (build/rel/bin)
#   HUDUMA_BENCH_BIN      bench programs dir         (build/rel/bench)
#   DB_BENCH              RocksDB's db_bench         (db_bench)
#   BENCH_PEOPLE          people generated/enrolled  (1000000)
#   BENCH_RUNS            runs of each read benchmark (3)
#   BENCH_READS           reads per read run          (1000000)
#   BENCH_READ_THREADS    threads of both read benchmarks (2)
#   BENCH_BREAKDOWN       0: skip the "unseal" and "raw" read runs (1)
#   BENCH_IMPORT_THREADS  import threads             (32, see docs/BENCHMARKS.md)
#   BENCH_SWEEP           import thread counts to try first on a sample of
#                         BENCH_SWEEP_LINES (20000) people, e.g. "4 8 16 32 64";
#                         the fastest is then used for the full import
#   BENCH_WORK            parent dir of the temporary directory (build)
set -eu
cd "$(dirname "$0")/../.."

BIN=${HUDUMA_BIN:-build/rel/bin}
BENCH_BIN=${HUDUMA_BENCH_BIN:-build/rel/bench}
DB_BENCH=${DB_BENCH:-db_bench}
PEOPLE=${BENCH_PEOPLE:-1000000}
RUNS=${BENCH_RUNS:-3}
READS=${BENCH_READS:-1000000}
READ_THREADS=${BENCH_READ_THREADS:-2}
BREAKDOWN=${BENCH_BREAKDOWN:-1}
IMPORT_THREADS=${BENCH_IMPORT_THREADS:-32}
SWEEP=${BENCH_SWEEP:-}
SWEEP_LINES=${BENCH_SWEEP_LINES:-20000}
WORK_PARENT=${BENCH_WORK:-build}
CACHE_BYTES=$((256 * 1024 * 1024)) # storage/db.c: the register's block cache

HUDUMA=$BIN/huduma
READER=$BENCH_BIN/bench_reads
TPM_BENCH=$BENCH_BIN/bench_tpm
for f in "$HUDUMA" "$READER" "$TPM_BENCH"; do
    [ -x "$f" ] || { echo "bench: $f is missing (make bench builds it)" >&2; exit 1; }
done
command -v "$DB_BENCH" >/dev/null || { echo "bench: $DB_BENCH not found (rocksdb-tools)" >&2; exit 1; }
command -v timeout >/dev/null || { echo "bench: timeout(1) not found" >&2; exit 1; }

mkdir -p "$WORK_PARENT"
W=$(mktemp -d "$WORK_PARENT/bench.XXXXXX")
# Each register has its own swtpm (its master key is sealed in it; the TPM is
# used at open only, so it costs nothing per read or write measured here).
cleanup() {
    for d in "$W/sweep" "$W/register"; do sh scripts/swtpm.sh stop "$d" 2>/dev/null || :; done
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
# median of the numbers in file $1, printed with format $2 (default %.0f)
median() {
    sort -n "$1" | awk -v f="${2:-%.0f}" '{ v[NR] = $1 }
        END { m = NR == 0 ? 0 : NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf f "\n", m }'
}
field() { sed -n "s/.*$1=\\([0-9.]*\\).*/\\1/p" | tail -n 1; }
# Sets cpu_now to the CPU seconds (user + system) used so far by this script's
# finished children.  Call it directly, not in $(...): `times` must run in this
# shell to see them.
child_cpu() {
    times >"$W/times"
    cpu_now=$(sed -n 2p "$W/times" | awk '{ t = 0
        for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); t += p[1] * 60 + p[2] }
        printf "%.3f\n", t }')
}

echo "== huduma benchmarks: $PEOPLE people, $RUNS runs of $READS reads, $(nproc) cores"
echo "   work dir $W ($(stat -f -c %T "$W") file system), load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$(stat -f -c %T "$W")" = tmpfs ]; then
    echo "   warning: the work dir is on tmpfs, so synced commits cost nothing real" >&2
fi

# ---- 1. synthetic people ----------------------------------------------------------
# --as-of today: ages (and the biometrics rule that depends on them) are those the
# register computes with its real clock, so every line is an acceptable enrolment.
PEOPLE_FILE=$W/people.jsonl
echo "== generating $PEOPLE synthetic people (huduma synth --seed 1 --no-events)"
t0=$(now)
timeout 900 "$HUDUMA" synth --seed 1 --count "$PEOPLE" --no-events --as-of "$(date -u +%F)" \
    >"$PEOPLE_FILE"
t1=$(now)
gen_s=$(secs "$t0" "$t1")
echo "   $(wc -l <"$PEOPLE_FILE") lines, $(du -m "$PEOPLE_FILE" | cut -f1) MB in ${gen_s} s" \
    "($(rate "$PEOPLE" "$gen_s") people/s)"

# ---- 2. durable enrolment ---------------------------------------------------------
# import FILE THREADS REGDIR: prints "<committed lines> <seconds>"
import() {
    sh scripts/swtpm.sh stop "$3" 2>/dev/null || :
    rm -rf "$3"
    sh scripts/swtpm.sh start "$3"
    HUDUMA_TCTI=$(sh scripts/swtpm.sh tcti "$3")
    export HUDUMA_TCTI
    "$HUDUMA" --dir "$3" init >/dev/null
    s=$(now)
    rc=0
    timeout 3600 "$HUDUMA" --dir "$3" import "$1" --threads "$2" --acks >"$3.acks" 2>"$3.log" ||
        rc=$?
    e=$(now)
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then # 2: some lines refused, the rest committed
        echo "bench: huduma import exited with $rc:" >&2
        tr '\r' '\n' <"$3.log" | tail -n 5 >&2
        exit 1
    fi
    echo "$(wc -l <"$3.acks") $(secs "$s" "$e")"
}

if [ -n "$SWEEP" ]; then
    echo "== import thread sweep on the first $SWEEP_LINES people"
    head -n "$SWEEP_LINES" "$PEOPLE_FILE" >"$W/sample.jsonl"
    best=0
    for t in $SWEEP; do
        res=$(import "$W/sample.jsonl" "$t" "$W/sweep")
        # shellcheck disable=SC2086 # split into commits and seconds
        set -- $res
        r=$(rate "$1" "$2")
        echo "   --threads $t: $1 commits in $2 s, $r/s"
        if [ "$r" -gt "$best" ]; then best=$r; IMPORT_THREADS=$t; fi
    done
    rm -rf "$W/sweep" "$W/sweep.acks" "$W/sweep.log" "$W/sample.jsonl"
fi

REG=$W/register
echo "== enrolling them: huduma import --threads $IMPORT_THREADS --acks (synced WAL)"
res=$(import "$PEOPLE_FILE" "$IMPORT_THREADS" "$REG")
# shellcheck disable=SC2086 # split into commits and seconds
set -- $res
committed=$1
import_s=$2
enrol_rate=$(rate "$committed" "$import_s")
summary=$(tr '\r' '\n' <"$REG.log" | grep '^imported' | tail -n 1 || true)
echo "   $summary"
echo "   $committed durable commits in $import_s s: $enrol_rate enrolments/s"
echo "   register on disk: $(du -sm "$REG" | cut -f1) MB"
rm -f "$PEOPLE_FILE"
assigned=$(grep -c '	assigned	' "$REG.acks" || true)
if [ "$assigned" -eq 0 ]; then
    echo "bench: the import assigned no Huduma Numbers" >&2
    exit 1
fi

# ---- 3 and 4. reads: the register and db_bench, interleaved ------------------------
# reads MODE SEED: one bench_reads run, prints its result lines
reads() {
    timeout 900 "$READER" "$REG" "$REG.acks" --mode "$1" --seed "$2" --threads "$READ_THREADS" \
        --reads "$READS" --max-seconds 600
}

echo "== measuring the sealed record size (bench_reads --mode raw, warms the page cache)"
out=$(reads raw 99)
value_size=$(echo "$out" | field value_bytes_mean)
echo "   mean sealed person record: $value_size bytes ($assigned people)"

DBB=$W/db_bench
DBB_OPTS="--db=$DBB --num=$PEOPLE --key_size=12 --value_size=$value_size
    --compression_type=lz4 --compression_ratio=1 --cache_size=$CACHE_BYTES --bloom_bits=10
    --cache_index_and_filter_blocks=1 --pin_l0_filter_and_index_blocks_in_cache=1
    --max_background_jobs=2 --verify_checksum=1"
echo "== db_bench filluniquerandom: $PEOPLE keys of 12 bytes, values of $value_size bytes"
# sealed records are AES-GCM ciphertext: incompressible, hence --compression_ratio=1
# shellcheck disable=SC2086
timeout 1800 "$DB_BENCH" $DBB_OPTS --benchmarks=filluniquerandom --threads=1 --seed=1 \
    >"$W/fill.log" 2>&1 || { tail -n 5 "$W/fill.log" >&2; exit 1; }
grep '^filluniquerandom' "$W/fill.log" | sed 's/^/   /'

for f in person unseal raw dbb; do : >"$W/$f" && : >"$W/$f.cpu"; done
per_thread=$(((READS + READ_THREADS - 1) / READ_THREADS))
i=1
while [ "$i" -le "$RUNS" ]; do
    echo "== read run $i of $RUNS ($READ_THREADS threads, $READS random reads each)"
    modes=person
    [ "$BREAKDOWN" = 0 ] || modes="person unseal raw"
    for mode in $modes; do
        out=$(reads "$mode" "$i")
        r=$(echo "$out" | field reads_per_sec)
        echo "$r" >>"$W/$mode"
        echo "$out" | field cpu_us_per_read >>"$W/$mode.cpu"
        echo "   bench_reads $mode: $(echo "$out" | tail -n 1)"
    done
    child_cpu
    cpu0=$cpu_now
    # shellcheck disable=SC2086
    timeout 900 "$DB_BENCH" $DBB_OPTS --use_existing_db=1 --benchmarks=readrandom \
        --threads="$READ_THREADS" --reads="$per_thread" --seed="$i" >"$W/read.log" 2>&1 ||
        { tail -n 5 "$W/read.log" >&2; exit 1; }
    child_cpu
    # the whole db_bench process: opening the database is counted too
    awk -v a="$cpu0" -v b="$cpu_now" -v n="$((per_thread * READ_THREADS))" \
        'BEGIN { printf "%.1f\n", (b - a) * 1e6 / n }' >>"$W/dbb.cpu"
    line=$(grep '^readrandom' "$W/read.log")
    echo "   db_bench readrandom: $(echo "$line" | sed 's/  */ /g')" \
        "cpu_us_per_read=$(tail -n 1 "$W/dbb.cpu")"
    found=$(echo "$line" | sed -n 's/.*(\([0-9]*\) of \([0-9]*\) found).*/\1 \2/p')
    # shellcheck disable=SC2086 # split into found and asked
    set -- $found
    if [ "$#" -eq 2 ] && [ "$1" != "$2" ]; then
        echo "bench: db_bench found only $1 of $2 keys" >&2
        exit 1
    fi
    echo "$line" | sed -n 's/.* \([0-9][0-9]*\) ops\/sec.*/\1/p' >>"$W/dbb"
    i=$((i + 1))
done

# ---- summary ----------------------------------------------------------------------
list() { tr '\n' ' ' <"$1" | sed 's/ $//'; }
person=$(median "$W/person")
dbb=$(median "$W/dbb")
ratio=$(awk -v a="$person" -v b="$dbb" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
person_cpu=$(median "$W/person.cpu" %.1f)
dbb_cpu=$(median "$W/dbb.cpu" %.1f)
cpu_ratio=$(awk -v a="$person_cpu" -v b="$dbb_cpu" 'BEGIN { printf "%.3f", (a > 0 ? b / a : 0) }')
row() { printf '%-56s %10s %9s  %s\n' "$@"; }
echo
echo "== summary: $PEOPLE people, $(nproc) cores, medians of $RUNS runs" \
    "(load average now $(cut -d' ' -f1-3 /proc/loadavg))"
row "measure" "per second" "CPU us/op" "runs (per second)"
row "synthetic people generated" "$(rate "$PEOPLE" "$gen_s")" "" "1"
row "enrolments, durable (import --threads $IMPORT_THREADS)" "$enrol_rate" "" "1"
row "person reads (RocksDB read + AES-GCM open + JSON decode)" "$person" "$person_cpu" \
    "$(list "$W/person")"
if [ "$BREAKDOWN" != 0 ]; then
    row "  the same, cut after the AES-GCM open" "$(median "$W/unseal")" \
        "$(median "$W/unseal.cpu" %.1f)" "$(list "$W/unseal")"
    row "  the same, cut after the RocksDB read" "$(median "$W/raw")" \
        "$(median "$W/raw.cpu" %.1f)" "$(list "$W/raw")"
fi
row "db_bench readrandom ($value_size-byte values)" "$dbb" "$dbb_cpu" "$(list "$W/dbb")"
row "ratio person reads / db_bench readrandom" "$ratio" "$cpu_ratio" ""
echo "(CPU us/op: CPU time per read of the reading threads; for db_bench, of the whole"
echo " process, opening included.  The CPU ratio is db_bench's CPU per read over a person"
echo " read's: roughly the ratio an otherwise idle machine would show.)"

# ---- the TPM: unsealing at start, signatures (bench_tpm, the register's swtpm) ----------
echo
echo "== the TPM (swtpm): the master key unsealed as at start, and audit signatures"
: >"$W/tpm"
i=1
while [ "$i" -le "$RUNS" ]; do
    line=$(timeout 120 "$TPM_BENCH" "$W/register" --opens 10 --signs 50 --max-seconds 60 |
        tail -n 1) || { echo "bench: bench_tpm failed" >&2; exit 1; }
    echo "   run $i: $line"
    echo "$line" >>"$W/tpm"
    i=$((i + 1))
done
tpm() { # FIELD [FORMAT]: the median of FIELD over the runs
    sed -n "s/^\(.* \)\{0,1\}$1=\([0-9.]*\).*/\2/p" "$W/tpm" >"$W/tpm.$1"
    median "$W/tpm.$1" "${2:-%.0f}"
}
row "unseal at start, ms (median of each run's median)" "$(tpm unseal_ms_p50 %.1f)" "" ""
row "TPM signatures per second (ECDSA P-256, one at a time)" "$(tpm tpm_signs_per_sec %.1f)" "" ""
row "  one TPM signature, ms" "$(tpm tpm_sign_ms_p50 %.2f)" "" ""
row "OpenSSL signatures per second (the same, key in memory)" "$(tpm openssl_signs_per_sec)" "" ""
cleanup # the register and db_bench's database are not needed any more

# ---- verification over mutual TLS: hudumad vs nginx (tests/bench/bench_api.sh) ----------
echo
sh tests/bench/bench_api.sh

# ---- dropping a flood: the XDP limiter vs an nftables meter (tests/bench/bench_ratelimit.sh) --
echo
sh tests/bench/bench_ratelimit.sh

# ---- biometrics: the matcher on FVC2002, 1:1 speed, 1:N search, dedup enrolment (bench_bio.sh) --
echo
sh tests/bench/bench_bio.sh

# ---- the audit log: durable leaves/s, verification with logging on and off (bench_audit.sh) --
echo
sh tests/bench/bench_audit.sh
