#!/usr/bin/env bash
# Runs the whole test suite: the engine runtime's Python tests, the Swift tests (unit, end-to-end
# with real engines, and the terminal under tmux), the example transcripts, and the format lint.
set -euo pipefail
cd "$(dirname "$0")"
python=$(scripts/install-deps.sh | tail -n 1)
# The suite's engines run the python the installer chose.
export PATH="$(dirname "$python"):$PATH"

echo "== engine runtime (Python)"
"$python" -m unittest discover -s Tests/RuntimeTests

echo "== Swift tests"
swift build --build-tests
swift test --skip-build

echo "== example transcripts"
scripts/check-examples.sh .build/debug/pxsh

echo "== format (swift format lint, config .swift-format)"
scripts/format.sh --check
