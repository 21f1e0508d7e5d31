#!/usr/bin/env bash
# Rootless podman drives an OCI runtime: an unprivileged user, made here
# with useradd and subordinate id ranges, runs podman with the cgroupfs
# manager and the runtime under test. podman runs the runtime inside its
# own user namespace, as root of it; the runtime's state root is its
# default, $XDG_RUNTIME_DIR/<runtime name>.
#
#   RUNTIME=/path/to/hull bash tests/clients/podman-rootless.sh   (default: <repo>/target/release/hull)
#   RUNTIME=/usr/sbin/runc bash tests/clients/podman-rootless.sh  (the reference)
#
# Checks from inside the container (uid_map, gid_map, /proc/self/status,
# mounts) and from outside (the processes' host uids, no root-owned file in
# the user's directories, no cgroup or process left). Prints PASS/FAIL per
# check and, last, "podman-rootless: N passed, M failed". Root only (to make
# the user); everything after that runs as the user.
#
# PODMAN_CGROUP_MANAGER=systemd (pure cgroup v2, systemd as PID 1: the
# tests/vm podman-rootless-v2 guest): the user lingers (loginctl
# enable-linger starts user@UID.service and its D-Bus), podman runs with
# XDG_RUNTIME_DIR=/run/user/UID and that bus, and calls the runtime with
# --systemd-cgroup; then the container's libpod-<id>.scope is checked under
# user@UID.service: the limits in its v2 files (for the controllers the
# user's manager was delegated), pause/unpause through its cgroup.freeze,
# and no scope left after rm. PODMAN_GROUP names the group (the closing
# line), default podman-rootless.
set -u
CLIENT_NAME=${PODMAN_GROUP:-podman-rootless}
PODMAN_CGROUP_MANAGER=${PODMAN_CGROUP_MANAGER:-cgroupfs}
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmds podman conmon newuidmap newgidmap setpriv useradd userdel usermod tar timeout script awk find
require_runtime

# Short: conmon's attach socket path is limited to 108 bytes.
T=$(mktemp -d /tmp/hcr.XXXXXX)
chmod 0755 "$T"
U=hcr$(($$ % 100000))
RT_NAME=$(basename "$RUNTIME")
IMAGE=localhost/hull-clients-busybox:latest

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if id "$U" >/dev/null 2>&1; then
        as_user_pm rm -af -t 0 >/dev/null 2>&1
        if [ "$PODMAN_CGROUP_MANAGER" = systemd ]; then
            loginctl disable-linger "$U" >/dev/null 2>&1
            systemctl stop "user@$UID_.service" >/dev/null 2>&1
        fi
        # Only this user's processes: it exists for this test alone
        # (podman's pause process, a stuck conmon).
        local pid
        for pid in $(user_pids); do kill -KILL "$pid" 2>/dev/null; done
        userdel "$U" >/dev/null 2>&1
        # userdel leaves the subordinate ranges on some shadow versions.
        sed -i "/^$U:/d" /etc/subuid /etc/subgid
    fi
    remove_tree "$T"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

useradd -M -U -d "$T/home" -s /usr/sbin/nologin "$U" || die "useradd $U"
# useradd gives a range where /etc/login.defs says so; else one of our own.
if ! grep -q "^$U:" /etc/subuid || ! grep -q "^$U:" /etc/subgid; then
    start=$((3000000 + ($$ % 1000) * 65536))
    usermod --add-subuids "$start-$((start + 65535))" --add-subgids "$start-$((start + 65535))" "$U" ||
        die "usermod --add-subuids $U"
fi
UID_=$(id -u "$U")
GID_=$(id -g "$U")
SUB_UID=$(awk -F: -v u="$U" '$1 == u { print $2; exit }' /etc/subuid)
SUB_GID=$(awk -F: -v u="$U" '$1 == u { print $2; exit }' /etc/subgid)
HOME_=$T/home
XDG=$T/run
USER_ENV=()
if [ "$PODMAN_CGROUP_MANAGER" = systemd ]; then
    # The user's own systemd and session bus, as a login would start them
    # (the bus socket is dbus-user-session's).
    XDG=/run/user/$UID_
    USER_ENV=(DBUS_SESSION_BUS_ADDRESS="unix:path=$XDG/bus")
    USER_SERVICE=/user.slice/user-$UID_.slice/user@$UID_.service
    loginctl enable-linger "$U" || die "loginctl enable-linger $U"
    for _ in $(seq 600); do
        [ -S "$XDG/bus" ] && [ -S "$XDG/systemd/private" ] && break
        sleep 0.1
    done
    [ -S "$XDG/bus" ] || die "user@$UID_.service: no $XDG/bus: $(systemctl status "user@$UID_.service" 2>&1 | tail -5)"
fi
mkdir -p "$HOME_" "$XDG" "$T/bin" "$T/tmp"
# A copy of the runtime under its own name (the default state root follows
# the name), which the user can execute wherever the checkout is.
cp "$RUNTIME" "$T/bin/$RT_NAME"
chmod 0755 "$T/bin/$RT_NAME"
chown -R "$UID_:$GID_" "$HOME_" "$XDG" "$T/tmp"
chmod 0700 "$XDG"
cat >"$T/containers.conf" <<EOF
[engine]
cgroup_manager = "$PODMAN_CGROUP_MANAGER"
events_logger = "file"
events_logfile_path = "$T/tmp/events.log"
[containers]
log_driver = "k8s-file"
default_capabilities = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]
EOF
chmod 0644 "$T/containers.conf"

PM=(podman --cgroup-manager "$PODMAN_CGROUP_MANAGER" --events-backend file
    --storage-driver "${STORAGE_DRIVER:-vfs}" --runtime "$T/bin/$RT_NAME")
# From /: the checkout may sit in a directory the user cannot enter (CI
# clones into root's), and podman fails where it cannot chdir back.
as_user() { (cd / && timeout --kill-after=10 "$CMD_TIMEOUT" setpriv --reuid "$UID_" --regid "$GID_" --init-groups env -i \
    HOME="$HOME_" XDG_RUNTIME_DIR="$XDG" USER="$U" LOGNAME="$U" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
    "${USER_ENV[@]}" CONTAINERS_CONF="$T/containers.conf" TMPDIR="$T/tmp" "$@" </dev/null); }
as_user_pm() { as_user "${PM[@]}" "$@"; }
# pm_to FILE ARGS...: podman as the user, output to FILE, podman's exit code.
pm_to() {
    local out=$1
    shift
    as_user_pm "$@" >"$out" 2>&1
}
# The user's processes; with the systemd manager not its systemd, sd-pam
# and session bus (init.scope, dbus.service), which linger by design.
user_pids() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(stat -c %u "$p" 2>/dev/null)" = "$UID_" ] || continue
        case $(cat "$p/cgroup" 2>/dev/null) in
            "0::${USER_SERVICE:-none}/init.scope" | "0::${USER_SERVICE:-none}/"*/dbus.service) continue ;;
        esac
        echo "${p#/proc/}"
    done
}
one_line() { clean "$1" | tr '\n' ' ' | sed 's/ $//'; }
# podman's rlimits exceed this host's hard limits (no CAP_SYS_RESOURCE);
# a small guest's RLIMIT_NPROC (threads-max / 2) is below 32768.
NPROC=$(ulimit -Hu)
[ "$NPROC" = unlimited ] || [ "$NPROC" -gt 32768 ] && NPROC=32768
RUN_OPTS=(--network none --ulimit nofile=1024:1024 --ulimit "nproc=$NPROC:$NPROC")

# With the systemd manager: the limits the detached container gets, for
# the controllers the user's manager was delegated (user@.service's
# Delegate=; the rest are not the user's to set).
LIMIT_OPTS=()
DELEGATED=""
if [ "$PODMAN_CGROUP_MANAGER" = systemd ]; then
    DELEGATED=$(cat "/sys/fs/cgroup$USER_SERVICE/cgroup.controllers" 2>/dev/null)
    log "controllers delegated to user@$UID_.service: ${DELEGATED:-none}"
    for c in memory pids; do
        case " $DELEGATED " in
            *" $c "*) ;;
            *) log "$c: not delegated to the user's manager, its limit is not checked" ;;
        esac
    done
    case " $DELEGATED " in *" memory "*) LIMIT_OPTS+=(--memory 64m) ;; esac
    case " $DELEGATED " in *" pids "*) LIMIT_OPTS+=(--pids-limit 32) ;; esac
fi
has_ctrl() { case " $DELEGATED " in *" $1 "*) return 0 ;; esac; return 1; }

# scope_checks NAME ID PID: the container's scope is the user manager's,
# active, with the limits in its files (outside) and in the container's
# own cgroup namespace (inside). Sets SCOPE_DIR.
scope_checks() {
    local c=$1 id=$2 pid=$3 cg want_in="0::/"
    cg=$(cat "/proc/$pid/cgroup" 2>&1)
    expect_match "outside: the init is in libpod-<id>.scope under user@$UID_.service" \
        "^0::$USER_SERVICE/(.+/)?libpod-$id\.scope\$" "$cg"
    SCOPE_DIR=/sys/fs/cgroup${cg#0::}
    expect_eq "outside: the user's manager has the scope active" active \
        "$(as_user systemctl --user show -P ActiveState "libpod-$id.scope" 2>&1)"
    if has_ctrl memory; then
        expect_eq "outside: --memory 64m in the scope's memory.max" 67108864 "$(cat "$SCOPE_DIR/memory.max" 2>&1)"
        want_in="$want_in 67108864"
    fi
    if has_ctrl pids; then
        expect_eq "outside: --pids-limit 32 in the scope's pids.max" 32 "$(cat "$SCOPE_DIR/pids.max" 2>&1)"
        want_in="$want_in 32"
    fi
    pm_to "$out" exec "$c" sh -c 'head -n1 /proc/self/cgroup
        for f in memory.max pids.max; do [ -f /sys/fs/cgroup/$f ] && cat /sys/fs/cgroup/$f; done'
    expect_eq "inside: exec in the scope (cgroup namespace root), the limits in /sys/fs/cgroup" \
        "$want_in" "$(one_line "$out")"
}

# pause_checks NAME ID: podman pause freezes the scope through cgroup v2's
# cgroup.freeze, unpause thaws it.
pause_checks() {
    local c=$1
    pm_to "$out" pause "$c"
    expect_eq "pause: status paused" paused "$(status "$c")" "$(cat "$out")"
    expect_eq "pause: the scope is frozen (cgroup.events)" 1 "$(sed -n 's/^frozen //p' "$SCOPE_DIR/cgroup.events" 2>&1)"
    pm_to "$out" unpause "$c"
    expect_eq "unpause: status running" running "$(status "$c")" "$(cat "$out")"
    expect_eq "unpause: the scope is thawed (cgroup.events)" 0 "$(sed -n 's/^frozen //p' "$SCOPE_DIR/cgroup.events" 2>&1)"
}

log "runtime: $RUNTIME, user $U ($UID_:$GID_, subordinate uids from $SUB_UID, gids from $SUB_GID)"
log "podman: $(podman --version 2>&1)"

# ---------------------------------------------------------------- image
out=$T/out
make_rootfs_tar "$T/rootfs" "$T/busybox.tar"
chmod 0644 "$T/busybox.tar"
if pm_to "$out" import --change 'CMD ["/bin/sh"]' "$T/busybox.tar" "$IMAGE"; then
    pass "image: podman import of a busybox rootfs (as $U)"
else
    fail "image: podman import of a busybox rootfs (as $U)" "$(cat "$out")"
    summary
    exit 1
fi
rm -rf "$T/rootfs" "$T/busybox.tar"

# ---------------------------------------------------------------- run --rm, inside
pm_to "$out" run --rm "${RUN_OPTS[@]}" "$IMAGE" echo hello from rootless podman
rc=$?
expect_eq "run --rm: output and exit 0" "hello from rootless podman rc=0" "$(clean "$out") rc=$rc"

# podman's user namespace: root is the user, the rest its subordinate range.
pm_to "$out" run --rm "${RUN_OPTS[@]}" "$IMAGE" sh -c \
    'awk "{ print \"u\", \$1, \$2, \$3 }" /proc/self/uid_map; awk "{ print \"g\", \$1, \$2, \$3 }" /proc/self/gid_map'
expect_eq "inside: uid_map and gid_map are the user's own id and its subordinate ranges" \
    "u 0 $UID_ 1 u 1 $SUB_UID 65536 g 0 $GID_ 1 g 1 $SUB_GID 65536" "$(one_line "$out")"

pm_to "$out" run --rm "${RUN_OPTS[@]}" "$IMAGE" sh -c \
    'grep -E "^(Uid|Gid|CapEff|CapBnd|Seccomp|NoNewPrivs):" /proc/self/status | tr -s "\t" " "'
# default_capabilities of our containers.conf (podman's usual list).
expect_eq "inside: /proc/self/status ids, podman's default capabilities, its seccomp filter" \
    "CapBnd: 00000000800405fb CapEff: 00000000800405fb Gid: 0 0 0 0 NoNewPrivs: 0 Seccomp: 2 Uid: 0 0 0 0" \
    "$(clean "$out" | sort | tr '\n' ' ' | sed 's/ $//')"

pm_to "$out" run --rm "${RUN_OPTS[@]}" --cap-drop all --cap-add CHOWN,KILL,NET_RAW "$IMAGE" \
    sh -c 'grep -E "^(CapEff|CapBnd):" /proc/self/status | tr -s "\t" " "; ulimit -n'
expect_eq "inside: --cap-drop all --cap-add CHOWN,KILL,NET_RAW, --ulimit" \
    "1024 CapBnd: 0000000000002021 CapEff: 0000000000002021" "$(clean "$out" | sort | tr '\n' ' ' | sed 's/ $//')"

pm_to "$out" run --rm "${RUN_OPTS[@]}" --hostname hc-host --user 65534:65534 --workdir /tmp \
    --env HC_VAR=hc-value "$IMAGE" sh -c 'echo "$(hostname) $(id -u):$(id -g) $(pwd) $HC_VAR"; grep "^Uid:" /proc/self/status | tr -s "\t" " "'
expect_eq "inside: --hostname, --user 65534:65534, --workdir, --env" \
    "hc-host 65534:65534 /tmp hc-value Uid: 65534 65534 65534 65534" "$(one_line "$out")"

# Mounts: no device node can be made in a user namespace, so /dev/null is
# the host's node bound in; /proc and /sys are mounted, /sys read-only.
pm_to "$out" run --rm "${RUN_OPTS[@]}" "$IMAGE" sh -c \
    'awk "\$5 == \"/dev/null\" || \$5 == \"/dev/zero\" { print \$5, \$4, \$(NF-2) }" /proc/self/mountinfo;
     awk "\$5 == \"/sys\" { print \$5, \$6 }" /proc/self/mountinfo | cut -d, -f1;
     awk "\$5 == \"/proc\" { print \$5, \$(NF-2) }" /proc/self/mountinfo;
     echo x > /dev/null && head -c 1 /dev/zero | od -An -tx1 | tr -d " "'
expect_eq "inside: /dev/null and /dev/zero are the host's nodes bound in, /sys read-only, /proc mounted, the nodes work" \
    "/dev/null /null devtmpfs /dev/zero /zero devtmpfs /sys ro /proc proc 00" "$(one_line "$out")"

# ---------------------------------------------------------------- exit codes
pm_to "$out" run --rm "${RUN_OPTS[@]}" "$IMAGE" sh -c 'exit 42'
expect_eq "exit code: run --rm sh -c 'exit 42'" 42 $?
pm_to "$out" run --rm "${RUN_OPTS[@]}" "$IMAGE" /no/such/binary
expect_eq "exit code: missing executable is 127" 127 $? "$(cat "$out")"
pm_to "$out" run --rm "${RUN_OPTS[@]}" "$IMAGE" /etc/passwd
expect_eq "exit code: non-executable file is 126" 126 $? "$(cat "$out")"

# ---------------------------------------------------------------- run -d lifecycle
C=hcr-detached
# One long sleep, not a loop of short ones: with a cgroup (v2 + systemd)
# podman top lists cgroup.procs and then reads each /proc/PID, which a
# short-lived sleep may have left meanwhile. The trap still runs: a
# trapped signal ends `wait`.
pm_to "$out" run -d --name $C "${RUN_OPTS[@]}" "${LIMIT_OPTS[@]}" "$IMAGE" \
    sh -c 'echo started; trap "echo got-TERM; exit 0" TERM; sleep 1000 & wait'
rc=$?
if [ $rc = 0 ]; then pass "run -d"; else fail "run -d" "rc=$rc" "$(cat "$out")"; fi
status() { as_user_pm inspect -f '{{.State.Status}}' "$1" 2>&1; }
expect_eq "run -d: status running" running "$(status $C)"
CID=$(as_user_pm inspect -f '{{.Id}}' $C 2>/dev/null)
PID=$(as_user_pm inspect -f '{{.State.Pid}}' $C 2>/dev/null)
# The runtime's state is under its default root, owned by the user.
expect_eq "outside: the runtime's state is under \$XDG_RUNTIME_DIR/$RT_NAME, the user's" \
    "$UID_" "$(stat -c %u "$XDG/$RT_NAME/$CID" 2>&1)"
# The container's root is the user's own uid on the host.
expect_eq "outside: the container's init runs as the user's uid on the host" \
    "$UID_" "$(awk '/^Uid:/ { print $2 }' "/proc/$PID/status" 2>&1)"
if [ "$PODMAN_CGROUP_MANAGER" = systemd ]; then
    scope_checks "$C" "$CID" "$PID"
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    log "pure cgroup v2: the container may get a cgroup where one is delegated; not checked here"
else
    # v1/hybrid: nothing is writable by the user, so no cgroup is made and
    # the init stays in conmon's cgroups.
    conmon_pid=$(awk '{ print $4 }' "/proc/$PID/stat" 2>/dev/null)
    expect_eq "outside: no cgroup made on a cgroup v1 host (the init's cgroups are conmon's)" \
        "$(cat "/proc/$conmon_pid/cgroup" 2>&1)" "$(cat "/proc/$PID/cgroup" 2>&1)"
fi

sleep 0.3
expect_eq "logs: the container's output" started "$(as_user_pm logs $C 2>&1)"

pm_to "$out" exec $C sh -c 'sleep 0.5; echo exec-out; exit 3'
rc=$?
expect_eq "exec: output and exit code" "exec-out rc=3" "$(clean "$out") rc=$rc"

pm_to "$out" exec -u 65534 -e HC_E=1 -w /tmp $C sh -c 'echo "$(id -u) $HC_E $(pwd)"; awk "{ print \$1, \$2, \$3 }" /proc/self/uid_map | head -n1'
expect_eq "exec: --user, --env, --workdir, in the container's user namespace" "65534 1 /tmp 0 $UID_ 1" "$(one_line "$out")"

pm_to "$out" exec -t $C sh -c 'sleep 0.3; tty'
expect_match "exec -t: a terminal through conmon's console socket" '^/dev/pts/[0-9]+$' "$(clean "$out")"

pm_to "$out" top $C pid args
expect_match "top: lists the container's processes" 'trap' "$(cat "$out")"

if [ "$PODMAN_CGROUP_MANAGER" = systemd ]; then
    pause_checks "$C" "$CID"
else
    log "pause/unpause: not checked, rootless podman has no cgroup to freeze on a cgroup v1 host"
fi

t0=$(date +%s)
pm_to "$out" stop -t 20 $C
t1=$(date +%s)
expect_eq "stop: SIGTERM reaches the container (exited 0 well before the 20 s timeout)" "exited 0 fast" \
    "$(as_user_pm inspect -f '{{.State.Status}} {{.State.ExitCode}}' $C 2>&1) $([ $((t1 - t0)) -lt 15 ] && echo fast || echo "slow:$((t1 - t0))s")"
expect_match "stop: logs have the trap's output" '^got-TERM$' "$(as_user_pm logs $C 2>&1)"

pm_to "$out" start $C
expect_eq "start again after stop" running "$(status $C)" "$(cat "$out")"

pm_to "$out" rm -f -t 2 $C
expect_eq "rm -f" 0 $? "$(cat "$out")"
expect_eq "rm: the runtime's state dir is gone" "" "$(ls -A "$XDG/$RT_NAME" 2>/dev/null)"
if [ "$PODMAN_CGROUP_MANAGER" = systemd ]; then
    expect_eq "rm: the scope's cgroup is gone" "" "$(ls -d "$SCOPE_DIR" 2>/dev/null)"
    expect_eq "rm: the user's manager has no libpod-$CID.scope loaded" not-found \
        "$(as_user systemctl --user show -P LoadState "libpod-$CID.scope" 2>&1)"
fi

# ---------------------------------------------------------------- kill / wait / terminal
C=hcr-killed
pm_to "$out" run -d --name $C "${RUN_OPTS[@]}" "$IMAGE" sleep 1000
pm_to "$out" kill $C
pm_to "$out" wait $C
expect_eq "kill (SIGKILL) + wait: exit code 137" 137 "$(clean "$out")"
as_user_pm rm -f $C >/dev/null 2>&1

pm_to "$out" run --rm -t "${RUN_OPTS[@]}" "$IMAGE" sh -c 'tty; [ -t 0 ] && echo stdin-is-a-tty'
expect_eq "run -t: the container gets a terminal from conmon" "/dev/pts/0 stdin-is-a-tty" "$(one_line "$out")"

# ---------------------------------------------------------------- nothing left behind
expect_eq "no containers left in the store" "" "$(as_user_pm ps -aq 2>&1)"
expect_eq "no runtime state left under \$XDG_RUNTIME_DIR/$RT_NAME" "" "$(ls -A "$XDG/$RT_NAME" 2>/dev/null)"
# podman keeps one pause process holding its user namespace; nothing else.
pause=$(cat "$XDG/libpod/tmp/pause.pid" 2>/dev/null)
left=""
for _ in $(seq 50); do
    left=$(user_pids | grep -vx "${pause:-none}" | tr '\n' ' ')
    [ -z "$left" ] && break
    sleep 0.1
done
expect_eq "outside: no process of the user left but podman's pause process" "" "$left" \
    "$(for p in $left; do tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null; echo; done)"
expect_eq "outside: no file in the user's directories belongs to root" "" \
    "$(find "$HOME_" "$XDG" -xdev -user 0 2>/dev/null | head -n 5)"
if [ "$PODMAN_CGROUP_MANAGER" = systemd ]; then
    # The user's manager owns its subtree; no container's scope may stay.
    expect_eq "outside: no libpod scope left under user@$UID_.service" "" \
        "$(find "/sys/fs/cgroup$USER_SERVICE" -name 'libpod-*' 2>/dev/null | head -n 5)"
else
    expect_eq "outside: no cgroup belongs to the user" "" \
        "$(for r in $(cgroup_roots); do find "$r" -maxdepth 3 -type d -user "$UID_" 2>/dev/null; done | head -n 5)"
fi

summary
