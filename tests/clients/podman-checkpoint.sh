#!/usr/bin/env bash
# podman checkpoints and restores containers through an OCI runtime and CRIU.
#
#   RUNTIME=/path/to/hull bash tests/clients/podman-checkpoint.sh   (default: <repo>/target/release/hull)
#   RUNTIME=/usr/sbin/runc bash tests/clients/podman-checkpoint.sh  (the reference)
#
# The CRIU is the one that works on this kernel (Debian bookworm's 3.17
# fails on kernels >= 6.11): $HULL_CRIU, or what tests/criu/fetch-criu
# unpacks under the target dir. It goes first in the PATH podman and the
# runtime see, as `criu` (podman asks CRIU for its version itself; the
# runtime runs `criu` from PATH). The podman setup is podman.sh's
# (podman-env.sh): private storage, state and cgroup parent, --network none.
#
# The container's init keeps a secret made at its start and a counter in
# its memory only, and tells them when asked (/tmp/ask -> /tmp/answer): a
# restored process answers with the same secret and the next count, a fresh
# one could not. A file written in the container's root survives too.
# Prints PASS/FAIL per check and, last, "podman-checkpoint: N passed, M failed".
# Exits non-zero if any check failed. Root only.
set -u
CLIENT_NAME=podman-checkpoint
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmds podman conmon tar timeout awk
require_runtime

if [ -z "${HULL_CRIU:-}" ]; then
    HULL_CRIU=$("$REPO_DIR/tests/criu/fetch-criu" "${CARGO_TARGET_DIR:-$REPO_DIR/target}/criu") ||
        die "tests/criu/fetch-criu failed"
fi
[ -x "$HULL_CRIU" ] || die "no CRIU at $HULL_CRIU"

# shellcheck source=podman-env.sh
. "$(dirname "$0")/podman-env.sh"

mkdir -p "$T/criu-bin"
ln -s "$HULL_CRIU" "$T/criu-bin/criu"
export PATH=$T/criu-bin:$PATH

log "runtime: $RUNTIME"
log "podman: $(podman --version 2>&1), criu: $(criu --version 2>&1 | head -n1)"

expect_match "the CRIU first in PATH is the one for this kernel (4.x)" '^Version: [4-9]\.' "$(criu --version 2>&1 | head -n1)"

podman_import_busybox
out=$T/out

# ask C: the init's secret and count, from its memory.
ask() {
    pm exec "$1" sh -c 'touch /tmp/ask; for i in $(seq 100); do [ -e /tmp/ask ] || break; sleep 0.1; done; cat /tmp/answer' 2>&1
}
# The init: a secret from /dev/urandom and a counter, in shell variables.
INIT='s=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d " \n"); n=0; echo "secret $s"
while :; do
    if [ -e /tmp/ask ]; then n=$((n + 1)); echo "$s $n" > /tmp/answer; rm /tmp/ask; fi
    sleep 0.1
done'
status() { pm inspect -f '{{.State.Status}}' "$1" 2>&1; }
rt_state() { timeout 10 "$RUNTIME" --root "$RT_STATE" state "$1" 2>&1; }

# ---------------------------------------------------------------- checkpoint + restore
C=hc-ckpt
run_to "$out" podman "${PODMAN_BASE[@]}" run -d --name $C "${RUN_OPTS[@]}" --memory 64m "$IMAGE" sh -c "$INIT"
rc=$?
if [ $rc = 0 ]; then pass "run -d the counter"; else fail "run -d the counter" "$(cat "$out")"; fi
CID=$(pm inspect -f '{{.Id}}' $C 2>/dev/null)
sleep 0.5
SECRET=$(pm logs $C 2>&1 | sed -n 's/^secret //p')
expect_match "the init made its secret" '^[0-9a-f]{16}$' "$SECRET"
expect_eq "asked once: secret and count 1" "$SECRET 1" "$(ask $C)"
pm exec $C sh -c 'echo file-state > /tmp/marker' >/dev/null 2>&1

run_to "$out" podman "${PODMAN_BASE[@]}" container checkpoint $C
rc=$?
expect_eq "checkpoint: exit 0" 0 "$rc" "$(cat "$out")"
expect_eq "checkpoint: the container is exited and checkpointed" "exited true" \
    "$(pm inspect -f '{{.State.Status}} {{.State.Checkpointed}}' $C 2>&1)"
expect_match "checkpoint: the runtime no longer has it" 'does not exist|not exist|not found' "$(rt_state "$CID")"

run_to "$out" podman "${PODMAN_BASE[@]}" container restore $C
rc=$?
expect_eq "restore: exit 0, running" "0 running" "$rc $(status $C)" "$(cat "$out")"
expect_match "restore: the runtime's own state says running" '"status": ?"running"' "$(rt_state "$CID")"
expect_eq "restore: the same process (its secret) with its count, now 2" "$SECRET 2" "$(ask $C)"
expect_eq "restore: the file in the container's root is there" file-state "$(pm exec $C cat /tmp/marker 2>&1)"
run_to "$out" podman "${PODMAN_BASE[@]}" exec $C sh -c 'echo $$ > /dev/null; cat /proc/1/cmdline | tr "\0" " "; echo'
expect_match "restore: pid 1 is still the init's shell" '^sh -c ' "$(clean "$out")"
CPID=$(pm inspect -f '{{.State.Pid}}' $C 2>/dev/null)
if [ -d /sys/fs/cgroup/memory ]; then
    f=$(cgroup_file_of "$CPID" memory memory.limit_in_bytes)
else
    f=$(cgroup_file_of "$CPID" "" memory.max)
fi
expect_eq "restore: in its cgroup with --memory 64m ($f)" 67108864 "$(cat "$f" 2>&1)"

# ---------------------------------------------------------------- --leave-running
run_to "$out" podman "${PODMAN_BASE[@]}" container checkpoint --leave-running $C
rc=$?
expect_eq "checkpoint --leave-running: exit 0, still running" "0 running" "$rc $(status $C)" "$(cat "$out")"
expect_eq "checkpoint --leave-running: the process went on (count 3)" "$SECRET 3" "$(ask $C)"

# ---------------------------------------------------------------- --export / --import
run_to "$out" podman "${PODMAN_BASE[@]}" container checkpoint --export "$T/ckpt.tar" --compress none $C
rc=$?
expect_eq "checkpoint --export (an uncompressed tar): exit 0, exited" "0 exited" "$rc $(status $C)" "$(cat "$out")"
expect_match "checkpoint --export: the tar file holds CRIU's images and the rootfs diff" \
    'checkpoint/inventory.img.*rootfs-diff.tar|rootfs-diff.tar.*checkpoint/inventory.img' \
    "$(tar -tf "$T/ckpt.tar" 2>&1 | tr '\n' ' ')"
run_to "$out" podman "${PODMAN_BASE[@]}" rm -f $C
expect_eq "the checkpointed container removed" "" "$(pm ps -aq 2>&1)"

C2=hc-imported
run_to "$out" podman "${PODMAN_BASE[@]}" container restore --import "$T/ckpt.tar" --name $C2
rc=$?
expect_eq "restore --import --name: exit 0, running" "0 running" "$rc $(status $C2)" "$(cat "$out")"
expect_eq "restore --import: the same process, count 4" "$SECRET 4" "$(ask $C2)"
expect_eq "restore --import: the rootfs diff came along" file-state "$(pm exec $C2 cat /tmp/marker 2>&1)"
CID2=$(pm inspect -f '{{.Id}}' $C2 2>/dev/null)
expect_match "restore --import: the runtime's own state says running (new id)" '"status": ?"running"' \
    "$([ "$CID2" != "$CID" ] && rt_state "$CID2")"

# A second container from the same export, beside the first.
C3=hc-imported2
run_to "$out" podman "${PODMAN_BASE[@]}" container restore --import "$T/ckpt.tar" --name $C3
rc=$?
expect_eq "restore --import again, beside the first: both running, each its own count" "0 running $SECRET 4 $SECRET 5" \
    "$rc $(status $C3) $(ask $C3) $(ask $C2)" "$(cat "$out")"

run_to "$out" podman "${PODMAN_BASE[@]}" stop -t 2 $C2
expect_eq "stop after restore" exited "$(status $C2)" "$(cat "$out")"

# ---------------------------------------------------------------- nothing left behind
pm rm -f -t 0 $C2 $C3 >/dev/null 2>&1
expect_eq "no containers left in the store" "" "$(pm ps -aq 2>&1)"
expect_eq "no runtime state left under the runtime's --root" "" "$(ls -A "$RT_STATE" 2>/dev/null)"

summary
