#!/bin/sh
# tests/run.sh - the test runner behind `make test`.
#
# Runs, in order: every cmocka unit binary of the sanitized build (ASan+UBSan),
# every integration script in tests/integration/ (real binaries, real RocksDB),
# and every libFuzzer target for a bounded number of runs from its seed corpus.
# Counts each cmocka test, each integration script and each fuzzer as one test,
# and closes with the summary line "N passed, N failed".  Exit status: 0 only
# when nothing failed.
set -u
cd "$(dirname "$0")/.."

SAN=build/san
REL=build/rel
passed=0
failed=0
failures=""

note_fail() { failed=$((failed + 1)); failures="$failures $1"; }

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export HUDUMA_TEST_SHARED="${HUDUMA_TEST_SHARED:-$(cd .. && pwd)/shared}"

echo "== unit tests ($SAN, ASan+UBSan)"
for t in "$SAN"/tests/test_*; do
    [ -x "$t" ] || continue
    log=$(mktemp)
    "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    # a binary may run several cmocka groups: add up every group's summary
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log" | awk '{ n += $1 } END { if (NR) print n }')
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$log" | awk '{ n += $1 } END { if (NR) print n }')
    passed=$((passed + ${p:-0}))
    if [ -n "$f" ]; then
        failed=$((failed + f)); failures="$failures $(basename "$t")"
    elif [ $rc -ne 0 ] || [ -z "$p" ]; then
        note_fail "$(basename "$t")(exit $rc)"
    fi
    rm -f "$log"
done

echo "== integration tests"
for t in tests/integration/*.sh; do
    [ -f "$t" ] || continue
    name=$(basename "$t" .sh)
    echo "[ RUN      ] $name"
    if HUDUMA_SAN_BIN="$SAN/bin" HUDUMA_BIN="$REL/bin" sh "$t"; then
        echo "[       OK ] $name"; passed=$((passed + 1))
    else
        echo "[  FAILED  ] $name"; note_fail "$name"
    fi
done

echo "== fuzz targets (bounded runs from the seed corpus)"
for f in build/fuzz/bin/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    corpus="tests/fuzz/corpus/${name#fuzz_}"
    work=$(mktemp -d)
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
    if "$f" -runs="${FUZZ_RUNS:-20000}" -max_total_time=30 "$work" >"$work.log" 2>&1; then
        echo "[       OK ] $name ($(grep -o 'Done [0-9]* runs' "$work.log" | tail -n 1))"
        passed=$((passed + 1))
    else
        tail -n 40 "$work.log"; echo "[  FAILED  ] $name"; note_fail "$name"
    fi
    rm -rf "$work" "$work.log"
done

[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
