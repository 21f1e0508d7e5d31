#!/usr/bin/env bash
# CI entry point for the tests that need pure cgroup v2: installs what the
# guest needs, builds hull and the libcgroups test binaries, boots a guest
# (tests/vm/run-guest) for tests/vm/guest-tests.sh, then one with systemd as
# PID 1 (run-guest --systemd) for tests/vm/systemd-tests.sh, then systemd
# on cgroup v1 (hybrid, then pure v1) for tests/vm/systemd-v1-tests.sh, and
# a guest with AppArmor as its LSM for tests/vm/apparmor-tests.sh, and
# tests/clients/podman.sh with podman's systemd cgroup manager under systemd
# with AppArmor (tests/vm/podman-v2.sh, group podman-v2), and rootless
# podman with the user's systemd (tests/vm/podman-rootless-v2.sh).
# Runs as root on the host; the guest is QEMU under TCG, no kvm needed.
#
# Last line: "vm: N passed, M failed". Exit status non-zero iff M > 0.
#
# HULL_BIN=path: test that binary instead of building target/release/hull.
# HULL_CRIU=path: the CRIU for the migration tests in the guest (scripts/test.sh
# sets it to tests/criu/fetch-criu's); else the guest's distribution CRIU.
# VM_TIMEOUT: seconds for the whole guest run (default 900).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}

# Packages: only the missing ones, so a prepared machine needs no network.
# uidmap (newuidmap for rootless podman's subordinate ranges) and
# dbus-user-session (the user's session bus, which podman's systemd cgroup
# manager needs rootless): the podman-rootless-v2 guest.
PKGS="qemu-system-x86 linux-image-amd64 busybox-static cpio xz-utils binutils systemd dbus apparmor podman conmon runc uidmap dbus-user-session"
missing=""
for p in $PKGS; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "vm: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y $missing > /dev/null
fi

# A build failure is a failure too, with the same closing line.
build_failed() { echo "vm: build failed: $1"; echo "vm: 0 passed, 1 failed"; exit 1; }
if [ -z "${HULL_BIN:-}" ]; then
    cargo build --release -p hull || build_failed "cargo build --release -p hull"
    HULL_BIN=$CARGO_TARGET_DIR/release/hull
fi
# `cargo test --no-run` names each test binary: "Executable <src> (<path>)"
out=$(cargo test -p libcgroups --no-run 2>&1) || { echo "$out"; build_failed "cargo test -p libcgroups --no-run"; }
echo "$out"
abs=()
for b in $(sed -n 's/^ *Executable .*(\(.*\))$/\1/p' <<< "$out"); do
    abs+=("$(realpath "$b")")
done
[ ${#abs[@]} -gt 0 ] || echo "vm: warning: no libcgroups test binaries found" >&2
# The migration tests of tests/integration: pre-dump chains need the
# soft-dirty bits of the guest's Debian kernel and lazy pages the
# CAP_SYS_RESOURCE of the guest's root, neither of which the hosts have.
out=$(cargo test -p hull-integration --test criu_migration --no-run 2>&1) || { echo "$out"; build_failed "cargo test -p hull-integration --test criu_migration --no-run"; }
MIGRATION_TESTS=$(realpath "$(sed -n 's/^ *Executable .*(\(.*\))$/\1/p' <<< "$out" | head -1)")
cargo build --release -p hull-probe || build_failed "cargo build --release -p hull-probe"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
n=0
m=0
# guest NAME RUN_GUEST_ARGS... -- CMD...: one boot; adds the batch's
# "NAME: N passed, M failed" to n and m. When the guest died (124 timeout,
# 125 no result) it counts what the batch managed and one failure for the
# lost rest.
guest() {
    local name=$1 rc=0 summary a b
    shift
    tests/vm/run-guest -t "${VM_TIMEOUT:-900}" -e HULL_BIN="$HULL_BIN" \
        -e HULL_VM_MIGRATION_TESTS="$MIGRATION_TESTS" -e HULL_PROBE="$CARGO_TARGET_DIR/release/hull-probe" \
        -e HULL_CRIU="${HULL_CRIU:-}" "$@" | tee "$log" || rc=$?
    summary=$(sed -n "s/^$name: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p" "$log" | tail -1)
    if [ -n "$summary" ]; then
        read -r a b <<< "$summary"
    else
        a=$(grep -c '^PASS ' "$log" || true)
        b=$(( $(grep -c '^FAIL ' "$log" || true) + 1 ))
        echo "vm: $name: the guest did not finish (exit $rc)"
    fi
    [ "$rc" = 0 ] || [ "$b" != 0 ] || b=1
    n=$((n + a))
    m=$((m + b))
}
guest guest-tests -- "$REPO/tests/vm/guest-tests.sh" "${abs[@]}"
guest systemd-tests --systemd -- "$REPO/tests/vm/systemd-tests.sh"
V1=systemd.unified_cgroup_hierarchy=0
HULLVM_APPEND="$V1" guest systemd-hybrid-tests --systemd -- "$REPO/tests/vm/systemd-v1-tests.sh"
HULLVM_APPEND="$V1 systemd.legacy_systemd_cgroup_controller=1" \
    guest systemd-legacy-tests --systemd -- "$REPO/tests/vm/systemd-v1-tests.sh"
HULLVM_APPEND="apparmor=1 security=apparmor" guest apparmor-tests -- "$REPO/tests/vm/apparmor-tests.sh"
# podman's own commands are slow under TCG: a longer bound; BASELINE=1
# runs the same checks with runc first (podman-v2-runc, not counted).
VM_TIMEOUT=${VM_TIMEOUT_PODMAN:-1800} HULLVM_APPEND="apparmor=1 security=apparmor" \
    guest podman-v2 --systemd -e BASELINE -- "$REPO/tests/vm/podman-v2.sh"
VM_TIMEOUT=${VM_TIMEOUT_PODMAN:-1800} \
    guest podman-rootless-v2 --systemd -e BASELINE -- "$REPO/tests/vm/podman-rootless-v2.sh"
echo "vm: $n passed, $m failed"
[ "$m" = 0 ]
