#!/usr/bin/env bash
# The library example crates/libcontainer/examples/run.rs, run as a user
# would: `cargo run -p libcontainer --example run -- ROOTFS CMD...` builds
# the spec in memory and runs a busybox container with the example's stdio.
# Checks, from inside and outside the container: its output reaches the
# example's stdout, its stdin is the example's, the exit code comes back,
# a signal to the example reaches the container, the cgroup is under the example's own parent
# while it runs, and nothing (cgroup, state directory) is left afterwards.
# Needs root and a static busybox. Last line: "examples: N passed, M failed".
set -uo pipefail
CLIENT_NAME=examples
# shellcheck source=../clients/lib.sh
source "$(dirname "$0")/../clients/lib.sh"
require_root
cd "$REPO_DIR" || die "cd $REPO_DIR"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_DIR/target}

WORK=$(mktemp -d /tmp/hull-examples.XXXXXX)
EX_PID=
cleanup() {
    [ -n "$EX_PID" ] && kill -KILL "$EX_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

make_rootfs "$WORK/rootfs"
cargo build -q -p libcontainer --example run || die "building the example"
EX=$CARGO_TARGET_DIR/debug/examples/run

# The cgroup hierarchies mounted here (v1 controllers and cgroup2).
hierarchies() { awk '/ - cgroup2? / {print $5}' /proc/self/mountinfo; }

# leftovers PID: what an example with that pid left behind.
leftovers() {
    local h
    for h in $(hierarchies); do
        [ -e "$h/hull-example-$1" ] && echo "$h/hull-example-$1"
    done
    [ -e "/tmp/hull-example-$1" ] && echo "/tmp/hull-example-$1"
    true
}

# 1. Through cargo run, exactly as documented: output and exit code.
out=$(cargo run -q -p libcontainer --example run -- "$WORK/rootfs" \
    sh -c 'echo "inside: $(hostname) pid $$"; exit 3' 2>"$WORK/err1")
rc=$?
expect_eq "cargo run: the container's output on the example's stdout" "inside: hull-example pid 1" "$out" "$(cat "$WORK/err1")"
expect_eq "cargo run: the exit code comes back" 3 "$rc"

# 2. While it runs: stdin is the example's, the cgroup sits under the
# example's own parent; afterwards nothing is left.
mkfifo "$WORK/in"
exec 3<>"$WORK/in"
"$EX" "$WORK/rootfs" sh -c 'echo ready; read line; echo "got $line"; exit 0' \
    <"$WORK/in" >"$WORK/out2" 2>"$WORK/err2" &
EX_PID=$!
for _ in $(seq 600); do
    grep -q ready "$WORK/out2" 2>/dev/null && break
    sleep 0.1
done
found=
for h in $(hierarchies); do
    [ -d "$h/hull-example-$EX_PID/example" ] && found="$found $h"
done
if [ -n "$found" ]; then
    pass "the container's cgroup is /hull-example-<pid>/example"
else
    fail "the container's cgroup is /hull-example-<pid>/example" "in no hierarchy" "$(cat "$WORK/err2")"
fi
echo from-stdin >&3
exec 3>&-
wait "$EX_PID"
rc=$?
pid2=$EX_PID
EX_PID=
expect_eq "stdin: the container read the example's" "ready
got from-stdin" "$(cat "$WORK/out2")" "$(cat "$WORK/err2")"
expect_eq "exit code 0 comes back" 0 "$rc"
expect_eq "nothing left behind (cgroups, state)" "" "$(leftovers "$pid2")"

# 3. A signal to the example goes to the container (it exits as its trap
# says).
"$EX" "$WORK/rootfs" sh -c 'trap "echo term; exit 7" TERM; echo ready; while :; do sleep 0.1; done' \
    >"$WORK/out3" 2>"$WORK/err3" &
EX_PID=$!
for _ in $(seq 600); do
    grep -q ready "$WORK/out3" 2>/dev/null && break
    sleep 0.1
done
kill -TERM "$EX_PID"
wait "$EX_PID"
rc=$?
pid3=$EX_PID
EX_PID=
expect_eq "SIGTERM is forwarded to the container" "ready
term" "$(cat "$WORK/out3")" "$(cat "$WORK/err3")"
expect_eq "its trap's exit code comes back" 7 "$rc"
expect_eq "nothing left behind after a signal" "" "$(leftovers "$pid3")"

summary
