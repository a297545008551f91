#!/usr/bin/env bash
# Re-runs every transcript in examples/ and compares its output (`pxsh run --check`).
set -uo pipefail
pxsh=${1:-.build/debug/pxsh}
passed=0
failed=0
for transcript in examples/*.pxt; do
    [ -e "$transcript" ] || continue
    if "$pxsh" run --check "$transcript"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
echo "examples: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
