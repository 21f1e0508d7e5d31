#!/usr/bin/env bash
# containerd (through ctr and containerd-shim-runc-v2) drives an OCI runtime
# end to end.
#
#   RUNTIME=/path/to/hull bash tests/clients/containerd.sh      (default: <repo>/target/release/hull)
#   RUNTIME=/usr/sbin/runc bash tests/clients/containerd.sh     (the reference)
#
# A private containerd is started here: root, state, gRPC/ttrpc sockets and
# the opt path all live in one temp dir, the CRI plugin is off, and it runs
# in the test's own cgroup (/hull-clients-<pid>/daemon) so that it and its
# shims are found and stopped by PID at the end. Containers go in
# /hull-clients-<pid>/<id>; the shim runs the runtime with
# `--runc-binary $RUNTIME --runc-root <temp dir>`. The image is a
# hand-made docker-archive of a busybox rootfs: no registry.
# Prints PASS/FAIL per check and, last, "containerd: N passed, M failed".
# Exits non-zero if any check failed. Root only.
set -u
CLIENT_NAME=containerd
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmds containerd ctr containerd-shim-runc-v2 tar sha256sum timeout script awk
require_runtime

IMAGE=localhost/hull-clients-busybox:latest
NS=hull-clients
CG_PARENT=/hull-clients-$$
# Short: the shim's socket paths are derived from it, and unix socket paths
# are limited to 108 bytes.
T=$(mktemp -d /tmp/hcc.XXXXXX)
SOCK=$T/containerd.sock
CTRD_PID=""
CTR=(ctr --address "$SOCK" --namespace "$NS")
# For every run/exec: fifos under $T, the runtime under test, its state under $T.
RUNTIME_OPTS=(--runc-binary "$RUNTIME" --runc-root "$T/runtime-state")

# The shim puts its sockets in /run/containerd/s whatever containerd's
# address (containerd 1.6); ctr's default fifo dir is /run/containerd/fifo.
note_paths /run/containerd /run/containerd/s /run/containerd/fifo /run/containerd/runc

c() { timeout --kill-after=10 "$CMD_TIMEOUT" "${CTR[@]}" "$@" </dev/null; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$CTRD_PID" ] && kill -0 "$CTRD_PID" 2>/dev/null; then
        local t
        for t in $(c tasks ls -q 2>/dev/null); do
            c tasks kill -s SIGKILL "$t" >/dev/null 2>&1
            c tasks resume "$t" >/dev/null 2>&1
        done
        sleep 0.3
        for t in $(c tasks ls -q 2>/dev/null); do
            c tasks delete -f "$t" >/dev/null 2>&1
        done
        for t in $(c containers ls -q 2>/dev/null); do
            c containers delete "$t" >/dev/null 2>&1
        done
        # the daemon, by the PID we started it with
        stop_containerd
    fi
    # Anything left (shims, container processes) is in the test's cgroup.
    cgroup_remove_parent "$CG_PARENT"
    remove_tree "$T"
    remove_new_paths
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "runtime: $RUNTIME"
log "containerd: $(containerd --version 2>&1)"

# ---------------------------------------------------------------- daemon
mkdir -p "$T/root" "$T/state" "$T/opt" "$T/fifo" "$T/runtime-state"
containerd_config "$T" "$SOCK" io.containerd.grpc.v1.cri >"$T/config.toml"

if start_containerd "$T/config.toml" "$T/containerd.log" "$CG_PARENT" "$SOCK"; then
    pass "containerd started (pid $CTRD_PID, private root/state/sockets, CRI off)"
else
    fail "containerd started" "$(tail -n 30 "$T/containerd.log")"
    summary
    exit 1
fi
plugins=$(ctr --address "$SOCK" plugins ls 2>&1)
if printf '%s\n' "$plugins" | grep -q 'io.containerd.grpc.v1.*cri.*ok'; then
    fail "the CRI plugin is disabled" "$plugins"
else
    pass "the CRI plugin is disabled"
fi

# ---------------------------------------------------------------- image
make_docker_archive "$T/image" "$T/busybox-docker.tar" "$IMAGE"
out=$T/out
run_to "$out" "${CTR[@]}" images import "$T/busybox-docker.tar"
rc=$?
if [ $rc = 0 ] && c images ls -q 2>/dev/null | grep -qx "$IMAGE"; then
    pass "image: ctr images import of a docker-archive"
else
    fail "image: ctr images import of a docker-archive" "rc=$rc" "$(cat "$out")" "$(c images ls 2>&1)"
    summary
    exit 1
fi
rm -rf "$T/image" "$T/busybox-docker.tar"

task_status() { c tasks ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }
task_pid() { c tasks ls 2>/dev/null | awk -v id="$1" '$1 == id { print $2 }'; }

# ---------------------------------------------------------------- run --rm
run_to "$out" "${CTR[@]}" run --rm --fifo-dir "$T/fifo" "${RUNTIME_OPTS[@]}" --cgroup "$CG_PARENT/hc-rm" \
    "$IMAGE" hc-rm echo hello from containerd
rc=$?
expect_eq "run --rm: output and exit 0" "hello from containerd rc=0" "$(clean "$out") rc=$rc"
expect_eq "run --rm: the container is gone" "" "$(c containers ls -q 2>&1 | grep -x hc-rm)"

run_to "$out" "${CTR[@]}" run --rm --fifo-dir "$T/fifo" "${RUNTIME_OPTS[@]}" --cgroup "$CG_PARENT/hc-exit" \
    "$IMAGE" hc-exit sh -c 'exit 42'
expect_eq "run --rm: exit code 42 propagated" 42 $?

run_to "$out" "${CTR[@]}" run --rm --fifo-dir "$T/fifo" "${RUNTIME_OPTS[@]}" --cgroup "$CG_PARENT/hc-env" \
    --env HC_VAR=hc-value --cwd /tmp --read-only --cap-drop CAP_NET_RAW --seccomp \
    "$IMAGE" hc-env sh -c 'echo "$HC_VAR $(pwd)"; touch /x 2>/dev/null && echo rw || echo ro; grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status | tr -s "\t" " "'
expect_eq "run --rm: --env, --cwd, --read-only, default seccomp profile, no_new_privs" \
    "hc-value /tmp ro NoNewPrivs: 1 Seccomp: 2" "$(clean "$out" | tr '\n' ' ' | sed 's/ $//')"

run_to "$out" "${CTR[@]}" run --rm --fifo-dir "$T/fifo" "${RUNTIME_OPTS[@]}" --cgroup "$CG_PARENT/hc-missing" \
    "$IMAGE" hc-missing /no/such/binary
rc=$?
[ $rc != 0 ] && pass "run --rm: a missing executable fails the run (rc=$rc)" || fail "run --rm: a missing executable fails the run" "$(cat "$out")"
expect_match "run --rm: the runtime's error reaches the user" 'no such file|not found|No such file' "$(cat "$out")"
c containers delete hc-missing >/dev/null 2>&1

# ---------------------------------------------------------------- run -d lifecycle
C=hc-detached
run_to "$out" "${CTR[@]}" run -d --fifo-dir "$T/fifo" "${RUNTIME_OPTS[@]}" --cgroup "$CG_PARENT/$C" \
    "$IMAGE" $C sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done'
rc=$?
if [ $rc = 0 ]; then pass "run -d"; else fail "run -d" "rc=$rc" "$(cat "$out")" "$(tail -n 20 "$T/containerd.log")"; fi
expect_eq "run -d: task RUNNING" RUNNING "$(task_status $C)"
PID=$(task_pid $C)
rstate=$(timeout 10 "$RUNTIME" --root "$T/runtime-state/$NS" state $C 2>&1)
expect_match "run -d: the runtime's own state (runtime --root <runc-root>/$NS state) says running" '"status": ?"running"' "$rstate"
if [ -n "$PID" ] && [ -d /sys/fs/cgroup/memory ]; then
    expect_eq "run -d: the container's cgroup is $CG_PARENT/$C" "/sys/fs/cgroup/memory$CG_PARENT/$C/x" "$(cgroup_file_of "$PID" memory x)"
elif [ -n "$PID" ]; then
    expect_eq "run -d: the container's cgroup is $CG_PARENT/$C" "/sys/fs/cgroup$CG_PARENT/$C/x" "$(cgroup_file_of "$PID" "" x)"
fi

run_to "$out" "${CTR[@]}" tasks exec --exec-id e1 --fifo-dir "$T/fifo" $C sh -c 'sleep 0.5; echo exec-out; exit 3'
rc=$?
expect_eq "task exec: output and exit code (process outlives the runtime's exec -d)" "exec-out rc=3" "$(clean "$out") rc=$rc"

run_to "$out" "${CTR[@]}" tasks exec --exec-id e2 --fifo-dir "$T/fifo" --user 65534 --cwd /tmp $C sh -c 'echo "$(id -u) $(pwd)"'
expect_eq "task exec: --user, --cwd" "65534 /tmp" "$(clean "$out")"

run_to "$out" "${CTR[@]}" tasks exec -d --exec-id e3 --fifo-dir "$T/fifo" $C sleep 30
sleep 1
run_to "$out" "${CTR[@]}" tasks exec --exec-id e4 --fifo-dir "$T/fifo" $C sh -c 'ps -o args | grep -c "^sleep 30"'
expect_eq "task exec -d: the detached process keeps running" 1 "$(clean "$out")"

run_to "$out" "${CTR[@]}" tasks ps $C
expect_match "task ps: lists the container's processes" "^$PID " "$(cat "$out")"

freezer=""
[ -n "$PID" ] && freezer=$(cgroup_file_of "$PID" freezer freezer.state)
[ -n "$freezer" ] && [ ! -e "$freezer" ] && freezer=$(cgroup_file_of "$PID" "" cgroup.freeze)
run_to "$out" "${CTR[@]}" tasks pause $C
expect_eq "pause: task PAUSED" PAUSED "$(task_status $C)" "$(cat "$out")"
expect_match "pause: the container's cgroup is frozen ($freezer)" '^(FROZEN|1)$' "$(cat "$freezer" 2>&1)"
run_to "$out" "${CTR[@]}" tasks resume $C
expect_eq "resume: task RUNNING" RUNNING "$(task_status $C)" "$(cat "$out")"
expect_match "resume: the cgroup is thawed" '^(THAWED|0)$' "$(cat "$freezer" 2>&1)"

run_to "$out" "${CTR[@]}" tasks kill $C
sleep 1
expect_eq "kill (SIGTERM): the container's trap exits 0, task STOPPED" STOPPED "$(task_status $C)" "$(cat "$out")"
run_to "$out" "${CTR[@]}" tasks delete $C
expect_eq "task delete: exit status 0 (ctr warns on any other)" "rc=0 " "rc=$? $(clean "$out")"
run_to "$out" "${CTR[@]}" containers delete $C
expect_eq "container delete" "" "$(clean "$out")"
left=""
[ -e "$T/runtime-state/$NS/$C" ] && left="$left state:$T/runtime-state/$NS/$C"
for d in /sys/fs/cgroup/*"$CG_PARENT/$C" /sys/fs/cgroup"$CG_PARENT/$C"; do
    [ -d "$d" ] && left="$left cgroup:$d"
done
expect_eq "delete: the runtime's state dir and the container's cgroups are gone" "" "$left"

# SIGKILL + exit status 137
C=hc-killed
run_to "$out" "${CTR[@]}" run -d --fifo-dir "$T/fifo" "${RUNTIME_OPTS[@]}" --cgroup "$CG_PARENT/$C" "$IMAGE" $C sleep 1000
run_to "$out" "${CTR[@]}" tasks kill -s SIGKILL $C
sleep 0.5
expect_eq "kill -s SIGKILL: task STOPPED" STOPPED "$(task_status $C)"
run_to "$out" "${CTR[@]}" tasks delete $C
expect_match "kill -s SIGKILL: exit status 137" 'exit code 137' "$(cat "$out")"
c containers delete $C >/dev/null 2>&1

# kill --all reaches exec'd processes too
C=hc-killall
run_to "$out" "${CTR[@]}" run -d --fifo-dir "$T/fifo" "${RUNTIME_OPTS[@]}" --cgroup "$CG_PARENT/$C" "$IMAGE" $C sleep 1000
run_to "$out" "${CTR[@]}" tasks exec -d --exec-id k1 --fifo-dir "$T/fifo" $C sleep 1001
run_to "$out" "${CTR[@]}" tasks kill -a -s SIGKILL $C
sleep 0.5
expect_eq "kill --all: task STOPPED" STOPPED "$(task_status $C)"
c tasks delete $C >/dev/null 2>&1
c containers delete $C >/dev/null 2>&1

# ---------------------------------------------------------------- resources
C=hc-limits
run_to "$out" "${CTR[@]}" run -d --fifo-dir "$T/fifo" "${RUNTIME_OPTS[@]}" --cgroup "$CG_PARENT/$C" \
    --memory-limit 67108864 --cpu-quota 50000 --cpu-period 100000 --cpu-shares 512 "$IMAGE" $C sleep 1000
PID=$(task_pid $C)
if [ -n "$PID" ] && [ -d /sys/fs/cgroup/memory ]; then
    expect_eq "--memory-limit: host memory.limit_in_bytes" 67108864 "$(cat "/sys/fs/cgroup/memory$CG_PARENT/$C/memory.limit_in_bytes" 2>&1)"
    expect_eq "--cpu-quota: host cpu.cfs_quota_us" 50000 "$(cat "/sys/fs/cgroup/cpu$CG_PARENT/$C/cpu.cfs_quota_us" 2>&1)"
    expect_eq "--cpu-shares: host cpu.shares" 512 "$(cat "/sys/fs/cgroup/cpu$CG_PARENT/$C/cpu.shares" 2>&1)"
elif [ -n "$PID" ]; then
    expect_eq "--memory-limit: host memory.max" 67108864 "$(cat "/sys/fs/cgroup$CG_PARENT/$C/memory.max" 2>&1)"
    expect_eq "--cpu-quota: host cpu.max" "50000 100000" "$(cat "/sys/fs/cgroup$CG_PARENT/$C/cpu.max" 2>&1)"
else
    fail "run -d with --memory-limit/--cpu-quota/--cpu-shares" "$(cat "$out")"
fi
c tasks kill -s SIGKILL $C >/dev/null 2>&1
sleep 0.3
c tasks delete $C >/dev/null 2>&1
c containers delete $C >/dev/null 2>&1

# ---------------------------------------------------------------- terminals
# ctr --tty needs a terminal on its own stdin: script(1) provides one.
ctr_cmd=$(printf '%q ' "${CTR[@]}" run --rm --tty --fifo-dir "$T/fifo" "${RUNTIME_OPTS[@]}" --cgroup "$CG_PARENT/hc-tty" \
    "$IMAGE" hc-tty sh -c 'tty; read line; echo "got:$line"; exit 4')
printf 'typed-input\n' | timeout --kill-after=10 "$CMD_TIMEOUT" script -qec "$ctr_cmd" /dev/null >"$out" 2>&1
rc=$?
expect_eq "run --rm --tty: a terminal in the container, input through it, exit code 4" \
    "/dev/pts/0 got:typed-input rc=4" "$(clean "$out" | grep -E '^(/dev/|got:)' | tr '\n' ' ')rc=$rc" "$(cat "$out")"

C=hc-tty-exec
run_to "$out" "${CTR[@]}" run -d --fifo-dir "$T/fifo" "${RUNTIME_OPTS[@]}" --cgroup "$CG_PARENT/$C" "$IMAGE" $C sleep 1000
ctr_cmd=$(printf '%q ' "${CTR[@]}" tasks exec --tty --exec-id t1 --fifo-dir "$T/fifo" $C sh -c 'sleep 0.3; tty; exit 6')
timeout --kill-after=10 "$CMD_TIMEOUT" script -qec "$ctr_cmd" /dev/null </dev/null >"$out" 2>&1
rc=$?
expect_eq "task exec --tty: a terminal for the exec'd process, exit code 6" "/dev/pts/0 rc=6" \
    "$(clean "$out" | grep -oE '/dev/pts/[0-9]+' | tr '\n' ' ')rc=$rc" "$(cat "$out")"
c tasks kill -s SIGKILL $C >/dev/null 2>&1
sleep 0.3
c tasks delete $C >/dev/null 2>&1
c containers delete $C >/dev/null 2>&1

# ---------------------------------------------------------------- nothing left behind
expect_eq "no tasks left" "" "$(c tasks ls -q 2>&1)"
expect_eq "no containers left" "" "$(c containers ls -q 2>&1)"
expect_eq "no runtime state left under --runc-root" "" "$(ls -A "$T/runtime-state/$NS" 2>/dev/null)"

if [ "$N_FAIL" -gt 0 ] && [ "$VERBOSE" = 1 ]; then
    echo "--- containerd log (tail)"
    tail -n 40 "$T/containerd.log"
fi
summary
