#!/usr/bin/env bash
# Re-runs every transcript in examples/ and compares its output (`pxsh run --check`).
#
# The transcripts were recorded on 4 engines (`-n 4`), and what they show depends on it
# ([stdout:0-3], scatter blocks, speed-ups), so they are checked on 4 engines whatever the
# number of cores. Usage: scripts/check-examples.sh [PXSH]   (default .build/debug/pxsh)
set -uo pipefail
pxsh=${1:-.build/debug/pxsh}
engines=4
passed=0
failed=0
for transcript in examples/*.pxt; do
    [ -e "$transcript" ] || continue
    if "$pxsh" run --check "$transcript" -n "$engines"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "examples: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
