# rootless.sh: hull as an unprivileged user on pure cgroup v2, sourced by
# guest-tests.sh (rootless_delegated: a cgroup directory delegated to the
# user, as systemd delegates one) and systemd-tests.sh (rootless_systemd:
# the user's own systemd, started by `loginctl enable-linger`, over its
# bus). Needs lib.sh sourced first ($HULL, $ROOTFS, $WORK, $CG, $LIMITS,
# $REPORT, check/pass/fail, mkbundle, field).
#
# The user is made here with useradd (the guest's /etc is a tmpfs overlay)
# and removed at the end; it runs a copy of hull from a directory it can
# reach, with its own XDG_RUNTIME_DIR and the default --root. Checked from
# inside (uid_map, the limits through a cgroup namespace) and from outside
# (the cgroup files, their owner, no root-owned file in the user's state,
# no process of the user and no cgroup left).

RL_USER=hullvmrl

# rl_setup: the user, $RL (0755: the bundles), a user-owned rootfs copy and
# hull copy.
rl_setup() {
    id "$RL_USER" > /dev/null 2>&1 || useradd -M -U -s /usr/sbin/nologin "$RL_USER" ||
        fail "rootless: useradd" "exit $?"
    RL_UID=$(id -u "$RL_USER")
    RL_GID=$(id -g "$RL_USER")
    RL=$(mktemp -d /tmp/hull-vm-rl.XXXXXX)
    chmod 0755 "$RL"
    cp -a "$ROOTFS" "$RL/rootfs"
    cp "$HULL" "$RL/hull"
    chmod 0755 "$RL/hull"
    mkdir -p "$RL/run"
    chown -R "$RL_UID:$RL_GID" "$RL/rootfs" "$RL/run"
    chmod 0700 "$RL/run"
    RL_XDG=$RL/run
}

# rl_teardown: nothing of the user's may be left; then the user goes.
rl_teardown() {
    local p left=""
    for _ in $(seq 50); do
        left=$(rl_pids)
        [ -z "$left" ] && break
        sleep 0.1
    done
    check "$1: no process of the user left" "$left" ""
    for p in $left; do kill -KILL "$p" 2>/dev/null; done
    check "$1: no root-owned file in the user's state" "$(find "$RL_XDG" -xdev -user 0 2>/dev/null | head -3)" ""
    userdel "$RL_USER" > /dev/null 2>&1
    rm -rf "$RL"
}

rl_pids() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(stat -c %u "$p" 2>/dev/null)" = "$RL_UID" ] && printf '%s ' "${p#/proc/}"
    done
}

# rl_hull ARGS...: hull as the user, the default --root, stdout to $OUT,
# stderr to $ERR, exit status in $RC. RL_CGROUP: a cgroup to start in
# (root moves the shell there, then drops to the user).
rl_hull() {
    timeout -k 2 120 sh -c '[ -z "$1" ] || echo $$ > "$1/cgroup.procs" || exit 99; shift; exec "$@"' x "${RL_CGROUP:-}" \
        setpriv --reuid "$RL_UID" --regid "$RL_GID" --init-groups env -i \
        HOME="$RL" XDG_RUNTIME_DIR="$RL_XDG" USER="$RL_USER" PATH=/usr/bin:/bin:/usr/sbin:/sbin \
        "$RL/hull" "$@" < /dev/null > "$OUT" 2> "$ERR"
    RC=$?
}
rl_status() {
    rl_hull state "$1"
    tr -d ' \n' < "$OUT" | grep -o '"status":"[a-z]*"' | cut -d'"' -f4 || echo none
}

# rl_bundle NAME CGROUPS_PATH RESOURCES ARG...: mkbundle's bundle in $RL,
# on the user's rootfs, with a user namespace mapping the user to root.
rl_bundle() {
    local b
    b=$(WORK=$RL ROOTFS=$RL/rootfs NAMESPACES='[ { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
        { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" }, { "type": "user" } ]' mkbundle "$@")
    sed -i 's|"linux": {|"linux": {\n    "uidMappings": [ { "containerID": 0, "hostID": '"$RL_UID"', "size": 1 } ],\n    "gidMappings": [ { "containerID": 0, "hostID": '"$RL_GID"', "size": 1 } ],|' "$b/config.json"
    echo "$b"
}

RL_REPORT="$REPORT"'
echo "uidmap=$(awk "{ print \$1, \$2, \$3 }" /proc/self/uid_map)"'

# A delegated subtree: /$TOP/rl owned by the user with its cgroup.procs,
# cgroup.subtree_control and cgroup.threads (what systemd chowns for
# Delegate=yes); the user's commands start in its leaf rl/shell. hull makes
# the containers' cgroups beside it and drives them like any v2 cgroup.
rootless_delegated() {
    section "rootless: delegated cgroup v2 subtree"
    rl_setup
    local D=$CG/$TOP/rl B pid
    mkdir -p "$D/shell"
    echo "+memory +pids +cpu" > "$CG/$TOP/cgroup.subtree_control"
    echo "+memory +pids +cpu" > "$D/cgroup.subtree_control"
    chown "$RL_UID:$RL_GID" "$D" "$D/cgroup.procs" "$D/cgroup.subtree_control" "$D/cgroup.threads"
    chown -R "$RL_UID:$RL_GID" "$D/shell"
    local RL_CGROUP=$D/shell

    B=$(rl_bundle rl-run "/$TOP/rl/c1" "$LIMITS" sh -c "$RL_REPORT")
    rl_hull run -b "$B" vm-rl-run
    expect_ok "delegated: run as the user"
    check_report "delegated"
    check "delegated: uid_map inside" "$(field uidmap)" "0 $RL_UID 1"
    check "delegated: run leaves no cgroup" "$(ls -d "$D/c1" 2>/dev/null)" ""

    B=$(rl_bundle rl-life "/$TOP/rl/c2" "$LIMITS" sleep 1000)
    rl_hull create -b "$B" vm-rl-life
    expect_ok "delegated: create"
    rl_hull start vm-rl-life
    expect_ok "delegated: start"
    check "delegated: state under \$XDG_RUNTIME_DIR/hull" "$(stat -c %u "$RL_XDG/hull/vm-rl-life/state.json" 2>&1)" "$RL_UID"
    rl_hull state vm-rl-life
    pid=$(tr -d ' \n' < "$OUT" | grep -o '"pid":[0-9]*' | cut -d: -f2)
    check "delegated: the init in the container's cgroup" "$(cat "/proc/${pid:-0}/cgroup" 2>&1)" "0::/$TOP/rl/c2"
    check "delegated: the cgroup is the user's" "$(stat -c %u "$D/c2" 2>&1)" "$RL_UID"
    check "delegated: memory.max" "$(cat "$D/c2/memory.max" 2>&1)" 67108864
    check "delegated: pids.max" "$(cat "$D/c2/pids.max" 2>&1)" 32
    check "delegated: cpu.max" "$(cat "$D/c2/cpu.max" 2>&1)" "50000 100000"
    rl_hull pause vm-rl-life
    expect_ok "delegated: pause"
    check "delegated: pause: status" "$(rl_status vm-rl-life)" paused
    check "delegated: pause: cgroup frozen" "$(sed -n 's/^frozen //p' "$D/c2/cgroup.events")" 1
    rl_hull resume vm-rl-life
    expect_ok "delegated: resume"
    check "delegated: resume: status" "$(rl_status vm-rl-life)" running
    check "delegated: resume: cgroup thawed" "$(sed -n 's/^frozen //p' "$D/c2/cgroup.events")" 0
    rl_hull events --stats vm-rl-life
    expect_ok "delegated: events --stats"
    if tr -d ' \n' < "$OUT" | grep -q '"pids":{"current":1'; then pass "delegated: events --stats: pids.current 1"; else fail "delegated: events --stats: pids.current 1" "$(head -c 300 "$OUT")"; fi
    rl_hull update --memory 134217728 --pids-limit 64 vm-rl-life
    expect_ok "delegated: update"
    check "delegated: update: memory.max" "$(cat "$D/c2/memory.max" 2>&1)" 134217728
    check "delegated: update: pids.max" "$(cat "$D/c2/pids.max" 2>&1)" 64
    rl_hull exec vm-rl-life sh -c 'cat /proc/self/cgroup; cat /sys/fs/cgroup/pids.max; awk "{ print \$1, \$2, \$3 }" /proc/self/uid_map'
    expect_ok "delegated: exec"
    check "delegated: exec: in the cgroup (ns root), the new limit, the user namespace" "$(tr '\n' ' ' < "$OUT")" "0::/ 64 0 $RL_UID 1 "
    rl_hull delete -f vm-rl-life
    expect_ok "delegated: delete -f"
    check "delegated: delete: cgroup gone" "$(ls -d "$D/c2" 2>/dev/null)" ""
    check "delegated: delete: state gone" "$(ls "$RL_XDG/hull" 2>&1)" ""

    # No eBPF device program for an unprivileged user: the rules are
    # dropped with a warning (the kernel still refuses mknod).
    B=$(rl_bundle rl-dev "/$TOP/rl/c3" "$LIMITS" sh -c 'mknod /tmp/n c 1 11 2>/dev/null && echo mknod=ok || echo mknod=refused')
    sed -i 's|"resources": {|"resources": {\n      "devices": [ { "allow": false, "access": "rwm" } ],|' "$B/config.json"
    rl_hull run -b "$B" vm-rl-dev
    expect_ok "delegated: device rules: run"
    check "delegated: device rules: dropped with a warning" "$(grep -c 'linux.resources.devices: ignored' "$ERR")" 1
    check "delegated: device rules: mknod still refused" "$(field mknod)" refused

    rmdir "$D/shell" "$D" 2>/dev/null
    check "delegated: no cgroup left" "$(ls -d "$D" 2>/dev/null)" ""
    rmdir "$CG/$TOP" 2>/dev/null
    rl_teardown delegated
}

# The user's systemd: lingering starts user@UID.service; hull
# --systemd-cgroup (rootless) asks it for a scope over its private socket
# in XDG_RUNTIME_DIR, with the limits as unit properties and files (the
# manager delegates pids, memory and cpu to the user).
rootless_systemd() {
    section "rootless: the user's systemd"
    rl_setup
    loginctl enable-linger "$RL_USER"
    RL_XDG=/run/user/$RL_UID
    local i U B pid base
    for i in $(seq 600); do
        [ -S "$RL_XDG/systemd/private" ] && break
        sleep 0.1
    done
    if [ ! -S "$RL_XDG/systemd/private" ]; then
        fail "systemd user: user@$RL_UID.service up" "$(systemctl status "user@$RL_UID.service" 2>&1 | tail -5)"
        loginctl disable-linger "$RL_USER"
        rl_teardown "systemd user"
        return
    fi
    pass "systemd user: user@$RL_UID.service up (linger)"
    base=/user.slice/user-$RL_UID.slice/user@$RL_UID.service/user.slice
    U=hulltest-rl.scope
    B=$(rl_bundle rl-sd "user.slice:hulltest:rl" "$LIMITS" sleep 1000)
    rl_hull --systemd-cgroup create -b "$B" vm-rl-sd
    expect_ok "systemd user: create"
    rl_hull state vm-rl-sd
    pid=$(tr -d ' \n' < "$OUT" | grep -o '"pid":[0-9]*' | cut -d: -f2)
    check "systemd user: the init in the user manager's scope" "$(cat "/proc/${pid:-0}/cgroup" 2>&1)" "0::$base/$U"
    check "systemd user: memory.max" "$(cat "$CG$base/$U/memory.max" 2>&1)" 67108864
    check "systemd user: pids.max" "$(cat "$CG$base/$U/pids.max" 2>&1)" 32
    check "systemd user: the unit's MemoryMax" \
        "$(systemctl --user -M "$RL_USER@" show -P MemoryMax "$U" 2>&1)" 67108864
    rl_hull --systemd-cgroup start vm-rl-sd
    expect_ok "systemd user: start"
    # Outside the user's delegation, the exec'd process is moved by the
    # user's manager (which asks PID 1): into the scope, not left out.
    rl_hull --systemd-cgroup exec vm-rl-sd sh -c 'cat /proc/self/cgroup /sys/fs/cgroup/memory.max'
    expect_ok "systemd user: exec"
    check "systemd user: exec: in the scope (ns root), memory.max inside" "$(tr '\n' ' ' < "$OUT")" "0::/ 67108864 "
    rl_hull --systemd-cgroup delete -f vm-rl-sd
    expect_ok "systemd user: delete -f"
    check "systemd user: scope cgroup gone" "$(ls -d "$CG$base/$U" 2>/dev/null)" ""
    loginctl disable-linger "$RL_USER"
    systemctl stop "user@$RL_UID.service" 2>/dev/null
    rl_teardown "systemd user"
}
