#!/usr/bin/env bash
# Formats the Swift sources in place with `swift format` (config: .swift-format, based on
# swift-nio's), then lints them. `scripts/format.sh --check` only lints, for CI-style checks.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != "--check" ]; then
    swift format format --in-place --parallel --recursive Sources Tests Package.swift python/EmbeddedPackage.swift
fi
swift format lint --strict --parallel --recursive Sources Tests Package.swift python/EmbeddedPackage.swift
