#!/usr/bin/env bash
# podman drives an OCI runtime end to end (through conmon).
#
#   RUNTIME=/path/to/hull bash tests/clients/podman.sh      (default: <repo>/target/release/hull)
#   RUNTIME=/usr/sbin/runc bash tests/clients/podman.sh     (the reference)
#
# Everything is private (podman-env.sh): podman's storage, run root, tmpdir, events log and
# the runtime's state root live in one temp dir; containers go in the cgroup
# parent /hull-clients-<pid>; the network is always `--network none`. The
# image is a busybox rootfs made here and `podman import`ed: no registry.
# Prints PASS/FAIL per check and, last, "podman: N passed, M failed".
# Exits non-zero if any check failed. Root only.
set -u
CLIENT_NAME=${PODMAN_GROUP:-podman}
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmds podman conmon tar sha256sum timeout script awk
require_runtime

# shellcheck source=podman-env.sh
. "$(dirname "$0")/podman-env.sh"

log "runtime: $RUNTIME"
log "podman: $(podman --version 2>&1), conmon: $(conmon --version 2>&1 | head -n1)"

# ---------------------------------------------------------------- image
podman_import_busybox

out=$T/out

# ---------------------------------------------------------------- run --rm
run_to "$out" podman "${PODMAN_BASE[@]}" run --rm "${RUN_OPTS[@]}" "$IMAGE" echo hello from podman
rc=$?
expect_eq "run --rm: output and exit 0" "hello from podman rc=0" "$(clean "$out") rc=$rc"

run_to "$out" podman "${PODMAN_BASE[@]}" run --rm "${RUN_OPTS[@]}" \
    --hostname hc-host --user 65534:65534 --workdir /tmp --env HC_VAR=hc-value "$IMAGE" \
    sh -c 'echo "$(hostname) $(id -u):$(id -g) $(pwd) $HC_VAR"'
expect_eq "run --rm: --hostname, --user, --workdir, --env" "hc-host 65534:65534 /tmp hc-value" "$(clean "$out")"

# --read-only: podman adds tmpfs mounts on /run, /tmp, /var/tmp with the
# "tmpcopyup" option (runc's extension: copy the image's content in).
run_to "$out" podman "${PODMAN_BASE[@]}" run --rm "${RUN_OPTS[@]}" --read-only "$IMAGE" \
    sh -c 'touch /hc-ro 2>/dev/null && echo root-rw || echo root-ro; touch /tmp/x && echo tmp-rw; grep -q "^tmpfs /var/tmp " /proc/mounts && echo var-tmp-tmpfs; cat /var/tmp/hc-copyup'
expect_eq "run --rm --read-only: read-only root, tmpfs /tmp and /var/tmp with the image's content (tmpcopyup)" "root-ro tmp-rw var-tmp-tmpfs copied-up" "$(clean "$out" | tr '\n' ' ' | sed 's/ $//')"

run_to "$out" podman "${PODMAN_BASE[@]}" run --rm "${RUN_OPTS[@]}" --cap-drop all --cap-add CHOWN,KILL,NET_RAW "$IMAGE" \
    sh -c 'grep -E "^(CapEff|CapBnd|Seccomp|NoNewPrivs):" /proc/self/status | tr -s "\t" " "; ulimit -n'
# CHOWN (0) + KILL (5) + NET_RAW (13) = 0x2021
expect_eq "run --rm: --cap-drop all --cap-add CHOWN,KILL,NET_RAW, podman's seccomp filter, --ulimit" \
    "1024 CapBnd: 0000000000002021 CapEff: 0000000000002021 NoNewPrivs: 0 Seccomp: 2" \
    "$(clean "$out" | sort | tr '\n' ' ' | sed 's/ $//')"

# With AppArmor active (the podman-v2 guest), podman loads its default
# profile and passes it as process.apparmorProfile.
if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] && command -v apparmor_parser >/dev/null; then
    run_to "$out" podman "${PODMAN_BASE[@]}" run --rm "${RUN_OPTS[@]}" "$IMAGE" cat /proc/self/attr/current
    expect_match "AppArmor: the container runs confined by podman's containers-default profile" \
        '^containers-default-[0-9.]+ \(enforce\)$' "$(clean "$out")"
fi

# Mounts and namespaces podman users reach for every day.
mkdir -p "$T/hostdir"
echo from-the-host >"$T/hostdir/f"
run_to "$out" podman "${PODMAN_BASE[@]}" run --rm "${RUN_OPTS[@]}" -v "$T/hostdir:/h:ro" "$IMAGE" \
    sh -c 'cat /h/f; (echo x > /h/g) 2>/dev/null && echo writable || echo read-only'
expect_eq "run -v HOST:CTR:ro: bind mount, read-only" "from-the-host read-only" "$(clean "$out" | tr '\n' ' ' | sed 's/ $//')"

run_to "$out" podman "${PODMAN_BASE[@]}" run --rm "${RUN_OPTS[@]}" --tmpfs /scratch:size=1m "$IMAGE" \
    sh -c 'awk "\$2 == \"/scratch\" { print \$3 }" /proc/mounts; echo x > /scratch/y && cat /scratch/y'
expect_eq "run --tmpfs /scratch:size=1m (podman adds tmpcopyup)" "tmpfs x" "$(clean "$out" | tr '\n' ' ' | sed 's/ $//')"

run_to "$out" podman "${PODMAN_BASE[@]}" run --rm "${RUN_OPTS[@]}" --uidmap 0:100000:65536 --gidmap 0:100000:65536 "$IMAGE" \
    sh -c 'echo "$(id -u) $(awk "{ print \$1, \$2, \$3 }" /proc/self/uid_map)"'
expect_eq "run --uidmap/--gidmap: a user namespace" "0 0 100000 65536" "$(clean "$out")"

run_to "$out" podman "${PODMAN_BASE[@]}" run --rm "${RUN_OPTS[@]}" --privileged "$IMAGE" \
    sh -c 'grep "^CapEff:" /proc/self/status | tr -s "\t" " "; [ -e /dev/zero ] && echo dev-ok'
expect_eq "run --privileged: every capability podman holds, host devices" \
    "$(grep '^CapBnd:' /proc/self/status | tr -s '\t' ' ' | sed 's/CapBnd/CapEff/') dev-ok" "$(clean "$out" | tr '\n' ' ' | sed 's/ $//')"

# ---------------------------------------------------------------- exit codes
run_to "$out" podman "${PODMAN_BASE[@]}" run --rm "${RUN_OPTS[@]}" "$IMAGE" sh -c 'exit 42'
expect_eq "exit code: run --rm sh -c 'exit 42'" 42 $?

run_to "$out" podman "${PODMAN_BASE[@]}" run --rm "${RUN_OPTS[@]}" "$IMAGE" /no/such/binary
rc=$?
expect_eq "exit code: missing executable is 127 (podman recognises the runtime's error)" 127 "$rc" "$(cat "$out")"

run_to "$out" podman "${PODMAN_BASE[@]}" run --rm "${RUN_OPTS[@]}" "$IMAGE" /etc/passwd
rc=$?
expect_eq "exit code: non-executable file is 126" 126 "$rc" "$(cat "$out")"

run_to "$out" podman "${PODMAN_BASE[@]}" create --name hc-created "${RUN_OPTS[@]}" "$IMAGE" sh -c 'echo created-then-started; exit 7'
run_to "$out" podman "${PODMAN_BASE[@]}" start -a hc-created
rc=$?
expect_eq "create + start -a: output and exit code 7" "created-then-started rc=7" "$(clean "$out") rc=$rc"
run_to "$out" podman "${PODMAN_BASE[@]}" start -a hc-created
rc=$?
expect_eq "start -a again (the runtime re-creates the same id)" "created-then-started rc=7" "$(clean "$out") rc=$rc"
pm rm -f hc-created >/dev/null 2>&1

# ---------------------------------------------------------------- run -d lifecycle
C=hc-detached
run_to "$out" podman "${PODMAN_BASE[@]}" run -d --name $C "${RUN_OPTS[@]}" "$IMAGE" \
    sh -c 'echo started; trap "echo got-TERM; exit 0" TERM; while :; do sleep 0.1; done'
rc=$?
if [ $rc = 0 ]; then pass "run -d"; else fail "run -d" "rc=$rc" "$(cat "$out")"; fi
status() { pm inspect -f '{{.State.Status}}' "$1" 2>&1; }
expect_eq "run -d: status running" running "$(status $C)"
PID=$(pm inspect -f '{{.State.Pid}}' $C 2>/dev/null)
rstate=$(timeout 10 "$RUNTIME" --root "$RT_STATE" state "$(pm inspect -f '{{.Id}}' $C 2>/dev/null)" 2>&1)
expect_match "run -d: the runtime's own state (runtime --root … state) says running" '"status": ?"running"' "$rstate"

sleep 0.3
expect_eq "logs: the container's output" started "$(pm logs $C 2>&1)"

run_to "$out" podman "${PODMAN_BASE[@]}" exec $C sh -c 'sleep 0.5; echo exec-out; exit 3'
rc=$?
expect_eq "exec: output and exit code (process outlives the runtime's exec -d)" "exec-out rc=3" "$(clean "$out") rc=$rc"

run_to "$out" podman "${PODMAN_BASE[@]}" exec -u 65534 -e HC_E=1 -w /tmp $C sh -c 'echo "$(id -u) $HC_E $(pwd)"'
expect_eq "exec: --user, --env, --workdir" "65534 1 /tmp" "$(clean "$out")"

run_to "$out" podman "${PODMAN_BASE[@]}" exec -d $C sleep 30
sleep 1
run_to "$out" podman "${PODMAN_BASE[@]}" exec $C sh -c 'ps -o args | grep -c "^sleep 30"'
expect_eq "exec -d: the detached process keeps running" 1 "$(clean "$out")"

run_to "$out" podman "${PODMAN_BASE[@]}" exec -t $C sh -c 'sleep 0.3; tty'
rc=$?
expect_match "exec -t: a terminal through conmon's console socket" '^/dev/pts/[0-9]+$' "$(clean "$out")" "rc=$rc"

run_to "$out" podman "${PODMAN_BASE[@]}" top $C pid args
expect_match "top: lists the container's processes" 'trap' "$(cat "$out")"

freezer=""
[ -n "$PID" ] && [ "$PID" != 0 ] && freezer=$(cgroup_file_of "$PID" freezer freezer.state)
[ -n "$freezer" ] && [ ! -e "$freezer" ] && freezer=$(cgroup_file_of "$PID" "" cgroup.freeze)
run_to "$out" podman "${PODMAN_BASE[@]}" pause $C
expect_eq "pause: status paused" "paused" "$(status $C)" "$(cat "$out")"
expect_match "pause: the container's cgroup is frozen ($freezer)" '^(FROZEN|1)$' "$(cat "$freezer" 2>&1)"
run_to "$out" podman "${PODMAN_BASE[@]}" exec $C true
rc=$?
[ $rc != 0 ] && pass "pause: exec into a paused container is refused" || fail "pause: exec into a paused container is refused" "exec succeeded"
run_to "$out" podman "${PODMAN_BASE[@]}" unpause $C
expect_eq "unpause: status running" "running" "$(status $C)" "$(cat "$out")"
expect_match "unpause: the cgroup is thawed" '^(THAWED|0)$' "$(cat "$freezer" 2>&1)"

t0=$(date +%s)
run_to "$out" podman "${PODMAN_BASE[@]}" stop -t 20 $C
t1=$(date +%s)
expect_eq "stop: SIGTERM reaches the container (exited 0 well before the 20 s timeout)" "exited 0 fast" \
    "$(pm inspect -f '{{.State.Status}} {{.State.ExitCode}}' $C 2>&1) $([ $((t1 - t0)) -lt 15 ] && echo fast || echo "slow:$((t1 - t0))s")"
expect_match "stop: logs have the trap's output" '^got-TERM$' "$(pm logs $C 2>&1)"

run_to "$out" podman "${PODMAN_BASE[@]}" start $C
expect_eq "start again after stop" running "$(status $C)" "$(cat "$out")"
run_to "$out" podman "${PODMAN_BASE[@]}" restart -t 20 $C
expect_eq "restart" running "$(status $C)" "$(cat "$out")"

CID=$(pm inspect -f '{{.Id}}' $C 2>/dev/null)
CPID=$(pm inspect -f '{{.State.Pid}}' $C 2>/dev/null)
mem_cg=""
[ -n "$CPID" ] && [ "$CPID" != 0 ] && mem_cg=$(dirname "$(cgroup_file_of "$CPID" pids pids.max)")
run_to "$out" podman "${PODMAN_BASE[@]}" rm -f -t 2 $C
rc=$?
expect_eq "rm -f" 0 "$rc" "$(cat "$out")"
left=""
[ -n "$CID" ] && [ -e "$RT_STATE/$CID" ] && left="$left state:$RT_STATE/$CID"
[ -n "$mem_cg" ] && [ -d "$mem_cg" ] && left="$left cgroup:$mem_cg"
expect_eq "rm: the runtime's state dir and the container's cgroup are gone" "" "$left"

# ---------------------------------------------------------------- kill / wait
C=hc-killed
run_to "$out" podman "${PODMAN_BASE[@]}" run -d --name $C "${RUN_OPTS[@]}" "$IMAGE" sleep 1000
run_to "$out" podman "${PODMAN_BASE[@]}" kill $C
run_to "$out" podman "${PODMAN_BASE[@]}" wait $C
expect_eq "kill (SIGKILL) + wait: exit code 137" 137 "$(clean "$out")"
run_to "$out" podman "${PODMAN_BASE[@]}" run -d --name hc-usr1 "${RUN_OPTS[@]}" "$IMAGE" \
    sh -c 'trap "exit 10" USR1; while :; do sleep 0.1; done'
sleep 0.5
run_to "$out" podman "${PODMAN_BASE[@]}" kill -s USR1 hc-usr1
run_to "$out" podman "${PODMAN_BASE[@]}" wait hc-usr1
expect_eq "kill -s USR1: delivered to the container's init" 10 "$(clean "$out")"
pm rm -f $C hc-usr1 >/dev/null 2>&1

# ---------------------------------------------------------------- terminals
run_to "$out" podman "${PODMAN_BASE[@]}" run --rm -t "${RUN_OPTS[@]}" "$IMAGE" sh -c 'tty; [ -t 0 ] && echo stdin-is-a-tty'
expect_eq "run -t: the container gets a terminal from conmon" "/dev/pts/0 stdin-is-a-tty" "$(clean "$out" | tr '\n' ' ' | sed 's/ $//')"

# A real terminal on podman's side too (script(1)), input through it. The
# terminal echoes what script(1) writes at the end of its input (a control
# character shown as ^@) anywhere in the output, so the line is matched
# where it starts.
podman_cmd=$(printf '%q ' podman "${PODMAN_BASE[@]}" run --rm -it "${RUN_OPTS[@]}" "$IMAGE" \
    sh -c 'read line; echo "got:$line"; exit 5')
printf 'typed-input\n' | timeout --kill-after=10 "$CMD_TIMEOUT" script -qec "$podman_cmd" /dev/null >"$out" 2>&1
rc=$?
expect_eq "run -it under a terminal: input reaches the container, exit code 5" "got:typed-input rc=5" \
    "$(clean "$out" | grep -o 'got:.*') rc=$rc" "$(cat "$out")"

# ---------------------------------------------------------------- resources
C=hc-limits
run_to "$out" podman "${PODMAN_BASE[@]}" run -d --name $C "${RUN_OPTS[@]}" \
    --memory 64m --pids-limit 77 --cpu-shares 512 --cpu-quota 50000 --cpu-period 100000 "$IMAGE" sleep 1000
CPID=$(pm inspect -f '{{.State.Pid}}' $C 2>/dev/null)
if [ -n "$CPID" ] && [ "$CPID" != 0 ]; then
    pass "run -d with --memory/--pids-limit/--cpu-*"
    if [ -d /sys/fs/cgroup/memory ]; then
        f=$(cgroup_file_of "$CPID" memory memory.limit_in_bytes)
        expect_eq "--memory 64m: host $f" 67108864 "$(cat "$f" 2>&1)"
        f=$(cgroup_file_of "$CPID" pids pids.max)
        expect_eq "--pids-limit 77: host $f" 77 "$(cat "$f" 2>&1)"
        f=$(cgroup_file_of "$CPID" cpu cpu.shares)
        expect_eq "--cpu-shares 512: host $f" 512 "$(cat "$f" 2>&1)"
        f=$(cgroup_file_of "$CPID" cpu cpu.cfs_quota_us)
        expect_eq "--cpu-quota 50000: host $f" 50000 "$(cat "$f" 2>&1)"
        expect_match "the container's cgroup is under the test parent $CG_PARENT" "^/sys/fs/cgroup/memory$CG_PARENT/" \
            "$(cgroup_file_of "$CPID" memory x)"
        # Inside: podman mounts the container's own cgroups at /sys/fs/cgroup.
        # (a fresh container, not exec: the same limits seen by an init)
        run_to "$out" podman "${PODMAN_BASE[@]}" run --rm "${RUN_OPTS[@]}" --memory 64m --pids-limit 77 --cpu-quota 50000 "$IMAGE" sh -c \
            'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us;
             (echo 1 > /sys/fs/cgroup/pids/pids.max) 2>/dev/null && echo writable || echo read-only'
        expect_eq "limits visible inside the container under /sys/fs/cgroup, read-only" "67108864 77 50000 read-only" "$(clean "$out" | tr '\n' ' ' | sed 's/ $//')"
    else
        f=$(cgroup_file_of "$CPID" "" memory.max)
        expect_eq "--memory 64m: host $f" 67108864 "$(cat "$f" 2>&1)"
        f=$(cgroup_file_of "$CPID" "" pids.max)
        expect_eq "--pids-limit 77: host $f" 77 "$(cat "$f" 2>&1)"
        expect_match "the container's cgroup is under the test parent $CG_PARENT" "^/sys/fs/cgroup/${CG_PARENT#/}/" \
            "$(cgroup_file_of "$CPID" "" x)"
        if [ "$PODMAN_CGROUP_MANAGER" = systemd ]; then
            expect_eq "systemd: the runtime made the scope libpod-<id>.scope in $CG_PARENT, delegated" \
                "ActiveState=active Delegate=yes Slice=$CG_PARENT" \
                "$(systemctl show -p ActiveState -p Slice -p Delegate "libpod-$(pm inspect -f '{{.Id}}' $C 2>/dev/null).scope" 2>&1 | sort | tr '\n' ' ' | sed 's/ $//')"
        fi
        run_to "$out" podman "${PODMAN_BASE[@]}" run --rm "${RUN_OPTS[@]}" --memory 64m --pids-limit 77 "$IMAGE" sh -c 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max'
        expect_eq "limits visible inside the container under /sys/fs/cgroup" "67108864 77" "$(clean "$out" | tr '\n' ' ' | sed 's/ $//')"
    fi
else
    fail "run -d with --memory/--pids-limit/--cpu-*" "$(cat "$out")"
fi
pm rm -f -t 0 $C >/dev/null 2>&1

# pids.max is enforced: with a limit of 5 the shell cannot fork 10 sleeps
# (busybox sh gives up at the first failed fork).
run_to "$out" podman "${PODMAN_BASE[@]}" run --rm "${RUN_OPTS[@]}" --pids-limit 5 "$IMAGE" \
    sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; echo all-forked'
expect_match "--pids-limit 5 is enforced (fork fails)" "can't fork" "$(clean "$out")"

# ---------------------------------------------------------------- nothing left behind
left=$(pm ps -aq 2>&1)
expect_eq "no containers left in the store" "" "$left"
left=$(ls -A "$RT_STATE" 2>/dev/null)
expect_eq "no runtime state left under the runtime's --root" "" "$left"

summary
