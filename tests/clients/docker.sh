#!/usr/bin/env bash
# dockerd (Debian's docker.io 20.10, through its containerd and the runc v2
# shim) drives an OCI runtime end to end.
#
#   RUNTIME=/path/to/hull bash tests/clients/docker.sh      (default: <repo>/target/release/hull)
#   RUNTIME=/usr/sbin/runc bash tests/clients/docker.sh     (the reference)
#
# A private dockerd is started here with `--add-runtime hull=$RUNTIME
# --default-runtime hull`: data root, exec root (its containerd's state and
# the runtime's --root), pidfile, socket, daemon.json and the trust key all
# live in one temp dir. It changes nothing in the host's network: no bridge,
# no iptables rules, no masquerading, no ip_forward; every container runs
# with `--network none`. The daemon (and the containerd it starts) run in
# /hull-clients-<pid>/daemon, containers go in /hull-clients-<pid>/<id>
# (`--cgroup-parent`). The image is a hand-made docker-archive of a busybox
# rootfs (`docker load`): no registry.
# Prints PASS/FAIL per check and, last, "docker: N passed, M failed".
# Exits non-zero if any check failed. Root only.
set -u
CLIENT_NAME=docker
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

# Debian's client and daemon by path: another docker may come first in PATH.
DOCKER=${DOCKER:-/usr/bin/docker}
DOCKERD=${DOCKERD:-/usr/sbin/dockerd}

require_root
require_cmds "$DOCKER" "$DOCKERD" containerd containerd-shim-runc-v2 tar sha256sum timeout script awk
require_runtime

IMAGE=hull-clients-busybox:latest
CG_PARENT=/hull-clients-$$
# Short: the daemon's and containerd's socket paths are derived from it.
T=$(mktemp -d /tmp/hcd.XXXXXX)
DOCKERD_PID=""
CTRD_CHILD=""
export DOCKER_HOST=unix://$T/docker.sock
# the client's own config (auth, contexts) stays out of ~/.docker
export DOCKER_CONFIG=$T/cli
RUN_OPTS=(--network none)

# Made outside the private roots whatever the flags say: the shim's
# sockets (containerd 1.6), the plugin discovery dirs, the default config
# dir of the daemon.
note_paths /run/containerd /run/containerd/s /run/containerd/fifo /run/containerd/runc \
    /etc/docker /run/docker /run/docker/plugins /var/lib/docker

d() { timeout --kill-after=10 "$CMD_TIMEOUT" "$DOCKER" "$@" </dev/null; }
# dr FILE ARGS...: a docker command, output to FILE, its exit code returned
dr() {
    local out=$1
    shift
    run_to "$out" "$DOCKER" "$@"
}

# stop_daemon: SIGTERM to the PID we started (dockerd stops its containers
# and its containerd), SIGKILL after 40 s.
stop_daemon() {
    stop_by_pid "$DOCKERD_PID" 40
    DOCKERD_PID=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
        local ids
        ids=$(d ps -aq 2>/dev/null)
        [ -n "$ids" ] && d rm -f $ids >/dev/null 2>&1
        stop_daemon
    fi
    # Anything left (containerd, shims, container processes) is in the
    # test's cgroup parent.
    cgroup_remove_parent "$CG_PARENT"
    remove_tree "$T"
    remove_new_paths
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "runtime: $RUNTIME"
log "docker: $("$DOCKERD" --version 2>&1), containerd: $(containerd --version 2>&1)"

# The host's bridges (docker0 would be one): other tests on the machine may
# add and remove interfaces of other kinds meanwhile.
host_links() {
    local i
    for i in /sys/class/net/*; do
        [ -d "$i/bridge" ] && printf '%s ' "${i##*/}"
    done
    echo bridges
}
LINKS_BEFORE=$(host_links)
FORWARD_BEFORE=$(cat /proc/sys/net/ipv4/ip_forward)

# ---------------------------------------------------------------- daemon
mkdir -p "$T/data" "$T/exec" "$T/cli"
# Our own daemon.json, so /etc/docker/daemon.json stays out; the trust key
# goes under $T, not /etc/docker. (The runtime could be set here too:
# "runtimes" and "default-runtime", tests/clients/README.md.)
cat >"$T/daemon.json" <<EOF
{
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "deprecated-key-path": "$T/key.json"
}
EOF
DOCKERD_ARGS=(
    --config-file "$T/daemon.json"
    --add-runtime "hull=$RUNTIME" --default-runtime hull
    --data-root "$T/data" --exec-root "$T/exec" --pidfile "$T/docker.pid"
    -H "unix://$T/docker.sock"
    --bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false
    --userland-proxy=false
    --cgroup-parent "$CG_PARENT"
    --storage-driver "${STORAGE_DRIVER:-overlay2}"
)
# In /hull-clients-<pid>/daemon: its containerd and the shims inherit it,
# so cleanup finds them all.
start_daemon "$CG_PARENT" "$T/dockerd.log" "$DOCKERD" "${DOCKERD_ARGS[@]}"
DOCKERD_PID=$DAEMON_PID
await_daemon "dockerd started (pid $DOCKERD_PID, private data/exec roots, socket, no bridge)" "$T/dockerd.log" \
    "$DOCKER" version
CTRD_CHILD=$(cat "$T/exec/containerd/containerd.pid" 2>/dev/null)

expect_eq "docker info: default runtime hull = \$RUNTIME, cgroupfs driver" \
    "hull $RUNTIME cgroupfs" \
    "$(d info -f '{{.DefaultRuntime}} {{(index .Runtimes "hull").Path}} {{.CgroupDriver}}' 2>&1)"
expect_eq "the host's network is untouched (no new bridge, same ip_forward)" \
    "$LINKS_BEFORE $FORWARD_BEFORE" "$(host_links) $(cat /proc/sys/net/ipv4/ip_forward)"

# ---------------------------------------------------------------- image
make_docker_archive "$T/img" "$T/busybox.tar" "$IMAGE"
if dr "$T/load.out" load -i "$T/busybox.tar"; then
    pass "image: docker load of a busybox docker-archive"
else
    fail "image: docker load of a busybox docker-archive" "$(cat "$T/load.out")"
    summary
    exit 1
fi
rm -rf "$T/img" "$T/busybox.tar"

out=$T/out

# ---------------------------------------------------------------- run --rm
dr "$out" run --rm "${RUN_OPTS[@]}" "$IMAGE" echo hello from docker
rc=$?
expect_eq "run --rm: output and exit 0" "hello from docker rc=0" "$(clean "$out") rc=$rc"

dr "$out" run --rm "${RUN_OPTS[@]}" "$IMAGE" sh -c 'exit 42'
expect_eq "run --rm: exit code 42" 42 $?

dr "$out" run --rm "${RUN_OPTS[@]}" "$IMAGE" no-such-binary
rc=$?
expect_eq "run --rm: a missing executable is 127 (docker reads the runtime's error)" 127 "$rc" "$(cat "$out")"

dr "$out" run --rm "${RUN_OPTS[@]}" "$IMAGE" /etc/passwd
rc=$?
expect_eq "run --rm: a non-executable file is 126" 126 "$rc" "$(cat "$out")"

dr "$out" run --rm "${RUN_OPTS[@]}" --hostname hc-host --user 65534:65534 --workdir /tmp --env HC_VAR=hc-value "$IMAGE" \
    sh -c 'echo "$(hostname) $(id -u):$(id -g) $(pwd) $HC_VAR $HOME"'
expect_eq "run --rm: --hostname, --user, --workdir, --env (HOME from the image's /etc/passwd)" \
    "hc-host 65534:65534 /tmp hc-value /nonexistent" "$(clean "$out")"

dr "$out" run --rm "${RUN_OPTS[@]}" "$IMAGE" sh -c 'echo "$(id -u) $HOME"'
expect_eq "run --rm: root's HOME is /root" "0 /root" "$(clean "$out")"

printf 'piped-input\n' | timeout --kill-after=10 "$CMD_TIMEOUT" "$DOCKER" run --rm -i "${RUN_OPTS[@]}" "$IMAGE" \
    sh -c 'read l; echo "got:$l"' >"$out" 2>&1
expect_eq "run --rm -i: stdin reaches the container" "got:piped-input" "$(clean "$out")"

# Docker's default capabilities (14 of them, 0xa80425fb), its seccomp
# profile, and no_new_privs off.
dr "$out" run --rm "${RUN_OPTS[@]}" "$IMAGE" sh -c 'grep -E "^(CapEff|CapBnd|Seccomp|NoNewPrivs):" /proc/self/status | tr -s "\t" " "'
expect_eq "inside: docker's default caps and seccomp filter (/proc/self/status)" \
    "CapBnd: 00000000a80425fb CapEff: 00000000a80425fb NoNewPrivs: 0 Seccomp: 2" \
    "$(clean "$out" | sort | tr '\n' ' ' | sed 's/ $//')"

dr "$out" run --rm "${RUN_OPTS[@]}" --cap-drop all --cap-add CHOWN --cap-add KILL --security-opt no-new-privileges "$IMAGE" \
    sh -c 'grep -E "^(CapEff|NoNewPrivs):" /proc/self/status | tr -s "\t" " "'
expect_eq "inside: --cap-drop all --cap-add CHOWN,KILL, no-new-privileges" \
    "CapEff: 0000000000000021 NoNewPrivs: 1" "$(clean "$out" | sort | tr '\n' ' ' | sed 's/ $//')"

dr "$out" run --rm "${RUN_OPTS[@]}" --read-only "$IMAGE" \
    sh -c 'touch /x 2>/dev/null && echo rw || echo ro; cat /proc/net/dev | awk "NR > 2 { print \$1 }" | tr -d :'
expect_eq "inside: --read-only root, --network none has only lo" "ro lo" "$(clean "$out" | tr '\n' ' ' | sed 's/ $//')"

# ---------------------------------------------------------------- run -d
C=hc-detached
dr "$out" run -d --name $C "${RUN_OPTS[@]}" "$IMAGE" \
    sh -c 'echo started; trap "echo got-TERM; exit 0" TERM; trap "exit 10" USR1; while :; do sleep 0.1; done'
rc=$?
if [ $rc = 0 ]; then pass "run -d"; else fail "run -d" "rc=$rc" "$(cat "$out")"; fi
status() { d inspect -f '{{.State.Status}}' "$1" 2>&1; }
expect_eq "run -d: status running" running "$(status $C)"
CID=$(d inspect -f '{{.Id}}' $C 2>/dev/null)
CPID=$(d inspect -f '{{.State.Pid}}' $C 2>/dev/null)
# dockerd 20.10 gives every runtime the root <exec-root>/runtime-runc/<namespace>.
RT_ROOT=$T/exec/runtime-runc/moby
rstate=$(timeout 10 "$RUNTIME" --root "$RT_ROOT" state "$CID" 2>&1)
expect_match "run -d: the runtime's own state (\$RUNTIME --root <exec-root>/runtime-runc/moby state) says running" \
    '"status": ?"running"' "$rstate"

dr "$out" exec $C sh -c 'echo "$(hostname) $(cat /proc/1/cgroup | grep -E ":(memory|pids):" | cut -d: -f3 | sort -u)"'
expect_eq "inside: hostname is the short id, the cgroup is $CG_PARENT/<id> (/proc/1/cgroup)" \
    "${CID:0:12} $CG_PARENT/$CID" "$(clean "$out")"
expect_match "host: the init's memory cgroup is under $CG_PARENT" "^/sys/fs/cgroup/(memory/)?${CG_PARENT#/}/$CID/" \
    "$(cgroup_file_of "$CPID" memory x)"

sleep 0.3
expect_eq "logs: the container's output" started "$(d logs $C 2>&1)"

dr "$out" exec $C sh -c 'echo exec-out; exit 3'
rc=$?
expect_eq "exec: output and exit code 3" "exec-out rc=3" "$(clean "$out") rc=$rc"

dr "$out" exec -u 65534 -e HC_E=1 -w /tmp $C sh -c 'echo "$(id -u) $HC_E $(pwd)"'
expect_eq "exec: --user, --env, --workdir" "65534 1 /tmp" "$(clean "$out")"

# The runtime's error reaches the client in runc's words; Debian's 20.10
# client exits 126 for a failed exec start (newer clients say 127).
dr "$out" exec $C no-such-binary
rc=$?
expect_eq "exec: a missing executable fails in runc's words, exit 126 (docker 20.10's client)" \
    "126 exec: \"no-such-binary\": executable file not found in \$PATH" \
    "$rc $(grep -o 'exec: "no-such-binary": executable file not found in \$PATH' "$out")" "$(cat "$out")"

dr "$out" exec -d $C sleep 30
sleep 1
dr "$out" exec $C sh -c 'ps -o args | grep -c "^sleep 30"'
expect_eq "exec -d: the detached process keeps running" 1 "$(clean "$out")"

dr "$out" exec -t $C tty
expect_match "exec -t: a terminal through the shim" '^/dev/pts/[0-9]+$' "$(clean "$out")"

dr "$out" top $C
expect_match "top: lists the container's processes (the runtime's ps)" 'trap' "$(cat "$out")"

freezer=$(cgroup_file_of "$CPID" freezer freezer.state)
[ -e "$freezer" ] || freezer=$(cgroup_file_of "$CPID" "" cgroup.freeze)
dr "$out" pause $C
expect_eq "pause: status paused" paused "$(status $C)" "$(cat "$out")"
expect_match "pause: the container's cgroup is frozen ($freezer)" '^(FROZEN|1)$' "$(cat "$freezer" 2>&1)"
dr "$out" unpause $C
expect_eq "unpause: status running" running "$(status $C)" "$(cat "$out")"

dr "$out" stop -t 20 $C
expect_eq "stop: SIGTERM reaches the init, exit 0" "exited 0" "$(d inspect -f '{{.State.Status}} {{.State.ExitCode}}' $C 2>&1)"
expect_match "stop: logs have the trap's output" '^got-TERM$' "$(d logs $C 2>&1)"

dr "$out" start $C
expect_eq "start again after stop" running "$(status $C)" "$(cat "$out")"
dr "$out" restart -t 20 $C
expect_eq "restart" running "$(status $C)" "$(cat "$out")"

dr "$out" kill -s USR1 $C
dr "$out" wait $C
expect_eq "kill -s USR1: delivered to the init (its handler exits 10)" 10 "$(clean "$out")"

CPID=$(d inspect -f '{{.State.Pid}}' $C 2>/dev/null)
dr "$out" rm -f $C
expect_eq "rm -f" 0 $? "$(cat "$out")"
left=""
[ -n "$CID" ] && [ -e "$RT_ROOT/$CID" ] && left="$left state:$RT_ROOT/$CID"
for root in $(cgroup_roots); do
    [ -d "$root$CG_PARENT/$CID" ] && left="$left cgroup:$root$CG_PARENT/$CID"
done
expect_eq "rm: the runtime's state dir and the container's cgroups are gone" "" "$left"

# A process that ignores SIGTERM: stop waits -t seconds, then SIGKILL.
C=hc-stubborn
dr "$out" run -d --name $C "${RUN_OPTS[@]}" "$IMAGE" sh -c 'trap "" TERM; echo ready; while :; do sleep 0.1; done'
dr "$out" stop -t 1 $C
expect_eq "stop -t 1 of an init that ignores SIGTERM: SIGKILLed, exit 137" "exited 137" \
    "$(d inspect -f '{{.State.Status}} {{.State.ExitCode}}' $C 2>&1)" "$(cat "$out")"
d rm -f $C >/dev/null 2>&1

C=hc-killed
dr "$out" run -d --name $C "${RUN_OPTS[@]}" "$IMAGE" sleep 1000
dr "$out" kill $C
dr "$out" wait $C
expect_eq "kill (SIGKILL) + wait: exit code 137" 137 "$(clean "$out")"
d rm -f $C >/dev/null 2>&1

# ---------------------------------------------------------------- restart policy
# on-failure:3: three restarts, then the container stays exited; each run
# appends to the same log.
C=hc-restart
dr "$out" run -d --name $C --restart on-failure:3 "${RUN_OPTS[@]}" "$IMAGE" sh -c 'echo run; exit 3'
for _ in $(seq 300); do
    [ "$(d inspect -f '{{.State.Status}} {{.RestartCount}}' $C 2>/dev/null)" = "exited 3" ] && break
    sleep 0.1
done
expect_eq "restart on-failure:3: restarted 3 times, then exited with 3" "exited 3 3" \
    "$(d inspect -f '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}' $C 2>&1)"
expect_eq "restart on-failure:3: four runs in the logs" 4 "$(d logs $C 2>&1 | grep -c '^run$')"
d rm -f $C >/dev/null 2>&1

C=hc-always
dr "$out" run -d --name $C --restart always "${RUN_OPTS[@]}" "$IMAGE" sh -c 'echo run; sleep 0.5; exit 0'
for _ in $(seq 300); do
    [ "$(d inspect -f '{{.RestartCount}}' $C 2>/dev/null)" -ge 2 ] 2>/dev/null && break
    sleep 0.1
done
expect_match "restart always: a clean exit is restarted too" '^([2-9]|[1-9][0-9]+)$' "$(d inspect -f '{{.RestartCount}}' $C 2>&1)"
dr "$out" stop -t 5 $C
expect_eq "restart always: docker stop ends it for good" exited "$(status $C)"
d rm -f $C >/dev/null 2>&1

# ---------------------------------------------------------------- terminals
dr "$out" run --rm -t "${RUN_OPTS[@]}" "$IMAGE" sh -c 'tty; [ -t 1 ] && echo stdout-is-a-tty'
expect_eq "run -t: the container gets a terminal" "/dev/pts/0 stdout-is-a-tty" "$(clean "$out" | tr '\n' ' ' | sed 's/ $//')"

docker_cmd=$(printf '%q ' "$DOCKER" run --rm -it "${RUN_OPTS[@]}" "$IMAGE" sh -c 'read line; echo "got:$line"; exit 5')
printf 'typed-input\n' | timeout --kill-after=10 "$CMD_TIMEOUT" script -qec "$docker_cmd" /dev/null >"$out" 2>&1
rc=$?
expect_eq "run -it under a terminal: input reaches the container, exit code 5" "got:typed-input rc=5" \
    "$(clean "$out" | grep '^got:') rc=$rc" "$(cat "$out")"

# ---------------------------------------------------------------- resources
C=hc-limits
dr "$out" run -d --name $C "${RUN_OPTS[@]}" --memory 64m --pids-limit 77 --cpu-quota 50000 "$IMAGE" sleep 1000
CPID=$(d inspect -f '{{.State.Pid}}' $C 2>/dev/null)
if [ -d /sys/fs/cgroup/memory ]; then
    expect_eq "--memory 64m, --pids-limit 77, --cpu-quota 50000: host cgroup files" "67108864 77 50000" \
        "$(cat "$(cgroup_file_of "$CPID" memory memory.limit_in_bytes)" "$(cgroup_file_of "$CPID" pids pids.max)" \
            "$(cgroup_file_of "$CPID" cpu cpu.cfs_quota_us)" 2>&1 | tr '\n' ' ' | sed 's/ $//')"
else
    expect_eq "--memory 64m, --pids-limit 77, --cpu-quota 50000: host cgroup files" "67108864 77 50000 100000" \
        "$(cat "$(cgroup_file_of "$CPID" "" memory.max)" "$(cgroup_file_of "$CPID" "" pids.max)" \
            "$(cgroup_file_of "$CPID" "" cpu.max)" 2>&1 | tr '\n' ' ' | sed 's/ $//')"
fi
d rm -f $C >/dev/null 2>&1

dr "$out" run --rm "${RUN_OPTS[@]}" --pids-limit 5 "$IMAGE" \
    sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; echo all-forked'
expect_match "--pids-limit 5 is enforced (fork fails)" "can't fork" "$(clean "$out")"

# ---------------------------------------------------------------- nothing left behind
expect_eq "no containers left" "" "$(d ps -aq 2>&1)"
expect_eq "no runtime state left under <exec-root>/runtime-runc/moby" "" "$(ls -A "$RT_ROOT" 2>/dev/null)"

stop_daemon
left=""
[ -n "$CTRD_CHILD" ] && kill -0 "$CTRD_CHILD" 2>/dev/null && left="$left containerd:$CTRD_CHILD"
m=$(awk -v d="$T" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo)
[ -n "$m" ] && left="$left mounts:$m"
expect_eq "daemon stopped by its PID: its containerd exited, no mount left under $T" "" "$left"
cgroup_remove_parent "$CG_PARENT"
left=""
for root in $(cgroup_roots); do
    [ -d "$root$CG_PARENT" ] && left="$left $root$CG_PARENT"
done
expect_eq "the cgroup parent $CG_PARENT is removed in every hierarchy" "" "$left"
expect_eq "the host's network is still untouched" "$LINKS_BEFORE $FORWARD_BEFORE" "$(host_links) $(cat /proc/sys/net/ipv4/ip_forward)"

summary
