#!/bin/sh
# image/test.sh - `make image-test`: the image's boot tests, one after the
# other (image/test-boot.sh, image/test-verity.sh), each counted as one test,
# closing with "N passed, N failed".  They take minutes (QEMU without KVM
# emulates the CPU); each stops what it started, QEMU and swtpm, on any exit.
set -u
cd "$(dirname "$0")/.." || exit 1
passed=0
failed=0
for t in image/test-boot.sh image/test-verity.sh; do
    name=$(basename "$t" .sh)
    echo "[ RUN      ] image/$name"
    t0=$(date +%s)
    if sh "$t"; then
        echo "[       OK ] image/$name ($(($(date +%s) - t0)) s)"
        passed=$((passed + 1))
    else
        echo "[  FAILED  ] image/$name ($(($(date +%s) - t0)) s)"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
