#!/usr/bin/env bash
# Installs what is missing, builds pxsh, and starts the REPL with engines.
# Arguments go to pxsh, e.g. `./quickstart.sh -n 4`.
set -euo pipefail
cd "$(dirname "$0")"
python=$(scripts/install-deps.sh | tail -n 1)
# A statically linked Swift runtime makes each engine ~3 MB smaller and start faster.
swift build -c release --static-swift-stdlib >&2
exec .build/release/pxsh --python "$python" "$@"
