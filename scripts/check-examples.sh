#!/usr/bin/env bash
# Re-runs every transcript in examples/ and compares its output (`pxsh run --check`).
#
# Each transcript's header says how many engines it was recorded with (what it shows depends on
# it: [stdout:0-3], scatter blocks, speed-ups), and `--check` starts as many, whatever the number
# of cores. Usage: scripts/check-examples.sh [PXSH]   (default .build/debug/pxsh)
set -uo pipefail
pxsh=${1:-.build/debug/pxsh}
passed=0
failed=0
for transcript in examples/*.pxt; do
    [ -e "$transcript" ] || continue
    # A transcript whose "Check it:" line names a launcher (the MPI one) is checked with it.
    launcher=$(grep -m 1 '^# Check it:' "$transcript" | grep -o -- '--launcher [a-z]*' || true)
    # shellcheck disable=SC2086 # "--launcher mpi" is two words
    if "$pxsh" run --check "$transcript" $launcher; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "examples: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
