#!/usr/bin/env bash
# The test command (as root): unit tests, integration tests running real
# containers through the release binary, the library's example, the cgroup
# v2 suite in a QEMU guest, and podman/containerd driving hull.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

cargo build --release -p hull -p hull-probe
# A debug build that can kill itself at each phase of create (HULL_FAULT)
# and takes its resctrl root from HULL_TEST_RESCTRL_ROOT (the Intel RDT
# tests' tmpfs tree).
cargo build -p hull --features fault-injection,test-resctrl --target-dir "$CARGO_TARGET_DIR/fault"
export HULL_FAULT_BIN=$CARGO_TARGET_DIR/fault/debug/hull
export HULL_TEST_RESCTRL_BIN=$HULL_FAULT_BIN
# A CRIU that works on this kernel, unpacked privately (never installed).
HULL_CRIU=$(tests/criu/fetch-criu "$CARGO_TARGET_DIR/criu")
export HULL_CRIU HULL_REQUIRE_CRIU=1
# Every stage runs even when an earlier one failed, so one CI run reports
# every failure.
failed=0
cargo test --workspace --no-fail-fast -- --test-threads="${HULL_TEST_THREADS:-4}" || failed=1
# The library's example (in-memory spec, whole lifecycle) as a user runs it.
bash tests/examples/run.sh || failed=1
HULL=$CARGO_TARGET_DIR/release/hull bash tests/soak/soak.sh --short || failed=1
HULL_BIN=$CARGO_TARGET_DIR/release/hull bash tests/vm/ci.sh || failed=1
RUNTIME=$CARGO_TARGET_DIR/release/hull bash tests/clients/ci.sh || failed=1
exit $failed
