#!/bin/sh
# tests/bench/bench_bio.sh - the biometric figures of docs/BENCHMARKS.md,
# run by tests/bench/run.sh (make bench) or by hand.
#
#   1. accuracy of the fingerprint matcher on the two shipped FVC2002 sets
#      (bench_mcc: every ordered pair of impressions, genuine within a
#      finger, impostor across fingers; EER, FNMR at FMR 1% and 0.1%), beside
#      the reference figures of bozorth3 and OpenAFIS measured on exactly
#      these templates (data/fingerprints/README.md);
#   2. 1:1 speed: impostor comparisons per second on BIO_THREADS threads
#      (default 2), BENCH_RUNS runs (3) of BIO_SECONDS (5) each, the median;
#   3. 1:N: bench_bio search over synthetic galleries of BIO_SIZES people
#      (10000,100000,1000000; two fingers and a face each): search latency
#      p50/p99 and the index's recall, and the index's load time after a
#      restart;
#   4. enrolment with deduplication on: bench_bio enrol of BIO_ENROL people
#      (5000) through reg_enrol() with synced commits, and the same without
#      biometrics in the same run, as the peer.
#
# Settings from the environment: HUDUMA_BENCH_BIN (build/rel/bench),
# HUDUMA_TEST_SHARED (../shared), BENCH_WORK (build: parent of the temporary
# directory, removed at exit), and those above.  Every step is bounded by
# `timeout`; evaluation runs under `nice`.
set -eu
cd "$(dirname "$0")/../.."

BENCH_BIN=${HUDUMA_BENCH_BIN:-build/rel/bench}
SHARED=${HUDUMA_TEST_SHARED:-$(cd .. && pwd)/shared}
FP=$SHARED/data/fingerprints
RUNS=${BENCH_RUNS:-3}
THREADS=${BIO_THREADS:-2}
SECONDS_EACH=${BIO_SECONDS:-5}
SIZES=${BIO_SIZES:-10000,100000,1000000}
ENROL=${BIO_ENROL:-5000}
WORK_PARENT=${BENCH_WORK:-build}

for f in "$BENCH_BIN/bench_mcc" "$BENCH_BIN/bench_bio"; do
    [ -x "$f" ] || { echo "bench_bio: $f is missing (make bench builds it)" >&2; exit 1; }
done
[ -d "$FP/fvc2002-db1b" ] || { echo "bench_bio: no fingerprint data in $FP" >&2; exit 1; }
mkdir -p "$WORK_PARENT"
W=$(mktemp -d "$WORK_PARENT/bench-bio.XXXXXX")
trap 'rm -rf "$W"' EXIT
trap 'exit 130' INT TERM

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f\n", m }'; }
field() { sed -n "s/.*$1=\\([0-9.]*\\).*/\\1/p" | tail -n 1; }

echo "== biometrics: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== 1. fingerprint accuracy (FVC2002 DB1_B, DB2_B; protocol of data/fingerprints/README.md)"
timeout 600 nice "$BENCH_BIN/bench_mcc" "$FP/fvc2002-db1b" "$FP/fvc2002-db2b" --seconds 0 | sed 's/^/   /'
echo "   reference (same templates): bozorth3 DB1_B 7.3% / 12.9% / 24.8%, DB2_B 7.7% / 10.0% / 15.5%;"
echo "   OpenAFIS DB1_B 8.9% / 10.0% / 14.3%, DB2_B 9.6% / 11.4% / 13.2% (EER / FNMR@1% / FNMR@0.1%)"

echo "== 2. 1:1 speed: impostor comparisons on $THREADS threads, $RUNS runs of $SECONDS_EACH s"
: >"$W/rate"
: >"$W/cpu"
i=1
while [ "$i" -le "$RUNS" ]; do
    out=$(timeout 300 nice "$BENCH_BIN/bench_mcc" "$FP/fvc2002-db1b" --threads "$THREADS" \
        --seconds "$SECONDS_EACH" | tail -n 1)
    echo "   $out"
    echo "$out" | field comparisons_per_sec >>"$W/rate"
    echo "$out" | field cpu_us_per_comparison >>"$W/cpu"
    i=$((i + 1))
done
rate=$(median "$W/rate")
cpu=$(sort -n "$W/cpu" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
echo "   median: $rate comparisons/s on $THREADS threads (CPU ${cpu} us each: $(awk -v c="$cpu" 'BEGIN { printf "%.0f", 1e6 / c }')/s per core);"
echo "   reference: OpenAFIS 100,000-150,000/s on two threads, bozorth3 about 600/s on one"

echo "== 3. 1:N search over synthetic galleries ($SIZES people; two fingers and a face each)"
timeout 7200 nice "$BENCH_BIN/bench_bio" search "$W/gallery" --sizes "$SIZES" --probes 200 \
    --threads "$THREADS" | sed 's/^/   /'
rm -rf "$W/gallery"

echo "== 4. enrolment with deduplication: $ENROL people, synced commits, $THREADS threads"
timeout 3600 nice "$BENCH_BIN/bench_bio" enrol "$W/enrol-bio" --people "$ENROL" --threads "$THREADS" |
    sed 's/^/   /'
timeout 3600 nice "$BENCH_BIN/bench_bio" enrol "$W/enrol-plain" --people "$ENROL" --threads "$THREADS" \
    --no-biometrics | sed 's/^/   /'
