#!/usr/bin/env bash
# The test command: unit tests, then integration tests that run real
# containers through the release binary (as root).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p hull -p hull-probe
cargo test --workspace --no-fail-fast -- --test-threads="${HULL_TEST_THREADS:-4}"
