#!/usr/bin/env bash
# systemd-tests.sh
#
# The systemd cgroup driver (--systemd-cgroup), run INSIDE a guest booted
# with systemd as PID 1 (tests/vm/run-guest --systemd). As root, hull runs
# busybox containers whose cgroupsPath is "slice:prefix:name" and checks
# what systemd reports about the scope (systemctl show), what the container
# sees inside (cgroup namespace + cgroup mount), the lifecycle verbs through
# the scope (exec, pause/resume, update, ps, events, kill --all, delete),
# the system bus fallback, and that failed creates leave no unit behind.
# Prints "PASS name" / "FAIL name: why" and, last,
# "systemd-tests: N passed, M failed". Exit status 0 iff nothing failed.
#
# HULL_BIN: the runtime (default <repo>/target/release/hull).
set -uo pipefail   # no -e: a failed check must not stop the batch

HERE=$(cd "$(dirname "$0")" && pwd)
STATE=/run/hull-vm-sd
WORK=$(mktemp -d /tmp/hull-vm-sd.XXXXXX)
P=hulltest                    # the scope prefix of every container here

# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ "$(id -u)" = 0 ] || { echo "systemd-tests: must run as root (inside run-guest --systemd)" >&2; exit 2; }

# show UNIT PROPERTY: systemd's value
show() { systemctl show -P "$2" "$1" 2>&1; }
# scope_gone NAME UNIT: systemd no longer knows the unit and its cgroup is gone
scope_gone() {
    check "$1: unit not loaded" "$(show "$2" LoadState)" not-found
    check "$1: scope cgroup removed" "$(ls -d "$CG"/*.slice/"$2" 2>/dev/null)" ""
}

section "guest"
check "PID 1 is systemd" "$(cat /proc/1/comm)" systemd
check "cgroup fs is cgroup2" "$(stat -fc %T $CG)" cgroup2fs
echo "systemd $(systemctl --version | head -1); my cgroup: $(cat /proc/self/cgroup)"
make_rootfs
echo; echo "hull: $HULL ($("$HULL" --version 2>&1))"
rm -rf "$STATE"

# -- run: the limits inside the container, then nothing left
section "run"
B=$(mkbundle sd-run "system.slice:$P:sd-run" "$LIMITS" sh -c "$REPORT")
hull --systemd-cgroup run -b "$B" sd-run
expect_ok "run: exit 0"
cat "$OUT" "$ERR"
check_report run
scope_gone run "$P-sd-run.scope"
check "run: state gone" "$(status sd-run)" none

# -- create: systemd's view of the scope and its cgroup
section "create, systemd's view"
# the smoke limits plus an IO weight (runc's conversion: 500 -> 4950)
LIFE_LIMITS='{ "memory": { "limit": 67108864 }, "pids": { "limit": 32 },
  "cpu": { "quota": 50000, "period": 100000 }, "blockIO": { "weight": 500 } }'
B=$(mkbundle sd-life "system.slice:$P:sd-life" "$LIFE_LIMITS" sh -c 'trap "exit 0" TERM; while :; do sleep 1; done')
U=$P-sd-life.scope
D=$CG/system.slice/$U
hull --systemd-cgroup create -b "$B" sd-life
expect_ok "create: exit 0"
pid=$(state_pid sd-life)
check "create: status" "$(status sd-life)" created
check "create: $U active" "$(show "$U" ActiveState)" active
check "create: in system.slice" "$(show "$U" Slice)" system.slice
check "create: delegated" "$(show "$U" Delegate)" yes
check "create: ControlGroup" "$(show "$U" ControlGroup)" "/system.slice/$U"
check "create: MemoryMax" "$(show "$U" MemoryMax)" 67108864
check "create: TasksMax" "$(show "$U" TasksMax)" 32
check "create: CPUQuotaPerSecUSec" "$(show "$U" CPUQuotaPerSecUSec)" 500ms
check "create: IOWeight" "$(show "$U" IOWeight)" 4950
check "create: init in the scope" "$(cat "/proc/${pid:-0}/cgroup" 2>&1)" "0::/system.slice/$U"
check "create: memory.max" "$(cat "$D/memory.max" 2>&1)" 67108864
check "create: pids.max" "$(cat "$D/pids.max" 2>&1)" 32
check "create: cpu.max" "$(cat "$D/cpu.max" 2>&1)" "50000 100000"
check "create: io.weight" "$(cat "$D/io.weight" 2>&1)" "default 4950"
hull start sd-life
expect_ok "start: exit 0"
check "start: status" "$(status sd-life)" running

# systemd re-applies a unit's memory (pids, io) settings when one of them
# changes: had hull written memory.max only to the file, it would fall
# back to "max" here.
systemctl set-property --runtime "$U" MemoryLow=1M TasksAccounting=yes IOAccounting=yes
check "set-property: MemoryMax kept" "$(show "$U" MemoryMax)" 67108864
check "set-property: memory.max kept" "$(cat "$D/memory.max" 2>&1)" 67108864
check "set-property: pids.max kept" "$(cat "$D/pids.max" 2>&1)" 32
check "set-property: io.weight kept" "$(cat "$D/io.weight" 2>&1)" "default 4950"

section "exec, ps, events, pause, update"
hull exec sd-life sh -c "$REPORT"
expect_ok "exec: exit 0"
check "exec: in the scope's cgroup (the cgroup ns root)" "$(field self)" "0::/"
check "exec: memory.max inside" "$(field memory.max)" 67108864
# the scope is delegated: a sub-cgroup of it can take an exec
mkdir "$D/sub"
hull exec --cgroup sub sd-life cat /proc/self/cgroup
expect_ok "exec --cgroup sub: exit 0"
check "exec --cgroup sub: in the scope's sub-cgroup" "$(cat "$OUT")" "0::/sub"
check "exec --cgroup sub: the scope is still active" "$(show "$U" ActiveState)" active
rmdir "$D/sub"
hull ps sd-life
if grep -qw "${pid:-x}" "$OUT"; then pass "ps: lists the init"; else fail "ps: lists the init" "$(cat "$OUT" "$ERR")"; fi
hull events --stats sd-life
if tr -d ' \n' < "$OUT" | grep -q '"pids":{"current":[1-9]'; then pass "events --stats: pids of the scope"; else fail "events --stats: pids of the scope" "$(head -c 300 "$OUT") $(cat "$ERR")"; fi
hull pause sd-life
expect_ok "pause: exit 0"
check "pause: status" "$(status sd-life)" paused
check "pause: scope frozen" "$(sed -n 's/^frozen //p' "$D/cgroup.events")" 1
hull resume sd-life
expect_ok "resume: exit 0"
check "resume: status" "$(status sd-life)" running
check "resume: scope thawed" "$(sed -n 's/^frozen //p' "$D/cgroup.events")" 0
hull update --memory 134217728 --pids-limit 64 --cpu-quota 20000 --cpu-period 100000 sd-life
expect_ok "update: exit 0"
check "update: MemoryMax" "$(show "$U" MemoryMax)" 134217728
check "update: TasksMax" "$(show "$U" TasksMax)" 64
check "update: CPUQuotaPerSecUSec" "$(show "$U" CPUQuotaPerSecUSec)" 200ms
hull exec sd-life sh -c "$REPORT"
check "update: memory.max inside" "$(field memory.max)" 134217728
check "update: pids.max inside" "$(field pids.max)" 64
check "update: cpu.max inside" "$(field cpu.max)" "20000 100000"

section "delete"
hull delete --force sd-life
expect_ok "delete --force: exit 0"
check "delete: init gone" "$(cat "/proc/${pid:-0}/comm" 2>/dev/null)" ""
check "delete: state gone" "$(status sd-life)" none
scope_gone delete "$U"

# -- kill --all reaches every process of the scope; the emptied scope is
# systemd's to drop, and delete copes with that
section "kill --all"
B=$(mkbundle sd-all "system.slice:$P:sd-all" "$LIMITS" sh -c 'sleep 1000 & sleep 1000 & wait')
hull --systemd-cgroup run -d -b "$B" sd-all
expect_ok "run -d: exit 0"
sleep 0.5
check "run -d: 3 processes in the scope" "$(wc -l < "$CG/system.slice/$P-sd-all.scope/cgroup.procs" 2>&1)" 3
hull kill --all sd-all TERM
expect_ok "kill --all: exit 0"
if wait_status sd-all stopped; then pass "kill --all: stopped"; else fail "kill --all: stopped" "status $(status sd-all)"; fi
hull delete sd-all
expect_ok "delete after kill --all: exit 0"
scope_gone "kill --all" "$P-sd-all.scope"

# -- defaults: empty cgroupsPath is system.slice, prefix hull, the id as name;
# a slice that does not exist yet is made by systemd, nested by its dashes
section "defaults and new slices"
B=$(mkbundle sd-def "" "$LIMITS" sleep 1000)
hull --systemd-cgroup create -b "$B" sd-def
expect_ok "empty cgroupsPath: create"
pid=$(state_pid sd-def)
check "empty cgroupsPath: hull-<id>.scope in system.slice" "$(cat "/proc/${pid:-0}/cgroup" 2>&1)" "0::/system.slice/hull-sd-def.scope"
hull delete --force sd-def
scope_gone "empty cgroupsPath" hull-sd-def.scope
B=$(mkbundle sd-slice "$P-a.slice:$P:sd-slice" "$LIMITS" sleep 1000)
hull --systemd-cgroup create -b "$B" sd-slice
expect_ok "new slice: create"
pid=$(state_pid sd-slice)
check "new slice: nested by dashes" "$(cat "/proc/${pid:-0}/cgroup" 2>&1)" "0::/$P.slice/$P-a.slice/$P-sd-slice.scope"
check "new slice: systemd made it" "$(show "$P-a.slice" ActiveState)" active
check "new slice: memory.max" "$(cat "$CG/$P.slice/$P-a.slice/$P-sd-slice.scope/memory.max" 2>&1)" 67108864
hull delete --force sd-slice
expect_ok "new slice: delete"
check "new slice: scope gone" "$(show "$P-sd-slice.scope" LoadState)" not-found

# -- device rules are hull's eBPF program on the scope's cgroup
section "devices in a scope"
DENY_ALL='{ "devices": [ { "allow": false, "access": "rwm" } ], "pids": { "limit": 32 } }'
B=$(CAPS='"CAP_KILL", "CAP_MKNOD", "CAP_AUDIT_WRITE"' mkbundle sd-devs "system.slice:$P:sd-devs" "$DENY_ALL" sh -c '
    echo x > /dev/null && echo null=ok
    mknod /dev/k c 1 11 && echo kmsg=$( (echo hull-vm-test > /dev/k) 2>&1 )')
hull --systemd-cgroup run -b "$B" sd-devs
expect_ok "devices: run exit 0"
check "devices: /dev/null allowed" "$(field null)" ok
check "devices: c 1:11 denied" "$(field kmsg | sed 's/.*: //')" "Operation not permitted"

# -- without systemd's private socket, the system bus (dbus-daemon) is used
section "system bus"
B=$(mkbundle sd-bus "system.slice:$P:sd-bus" "$LIMITS" sh -c "$REPORT")
unshare -m --propagation private sh -c 'mount --bind /dev/null /run/systemd/private && exec "$@"' x \
    "$HULL" --root "$STATE" --systemd-cgroup run -b "$B" sd-bus < /dev/null > "$OUT" 2> "$ERR"
RC=$?
expect_ok "system bus: run exit 0"
check_report "system bus"
scope_gone "system bus" "$P-sd-bus.scope"

# -- failures leave nothing behind
# -- checkpoint/restore under the systemd driver: the scope empties at
# checkpoint; restore starts it again (with CRIU in it) and the restored
# tasks keep it alive, with the unit's limits.
section "checkpoint/restore in a scope"
if [ -z "$CRIU" ]; then
    fail "criu" "not installed (apt-get install criu)"
else
    B=$(counter_bundle sd-cr "system.slice:$P:sd-cr")
    U=$P-sd-cr.scope
    cr --systemd-cgroup run -d -b "$B" sd-cr
    expect_ok "criu: run -d in a scope"
    above 3 || fail "criu: counter runs" "stuck at $(count)"
    cr --systemd-cgroup checkpoint --image-path "$WORK/sdimg" sd-cr
    expect_ok "criu: checkpoint"
    check "criu: stopped after checkpoint" "$(status sd-cr)" stopped
    c1=$(count); sleep 0.5
    check "criu: counter frozen" "$(count)" "$c1"
    cr --systemd-cgroup restore -d --image-path "$WORK/sdimg" -b "$B" sd-cr
    expect_ok "criu: restore in a scope"
    if above "$c1"; then pass "criu: counter continues after restore"; else fail "criu: counter continues after restore" "stuck at $(count)"; fi
    check "criu: scope active after restore" "$(show "$U" ActiveState)" active
    check "criu: scope MemoryMax after restore" "$(show "$U" MemoryMax)" 67108864
    pid=$(state_pid sd-cr)
    check "criu: restored init in the scope" "$(cat /proc/"$pid"/cgroup 2>&1)" "0::/system.slice/$U"
    check "criu: pids.max after restore" "$(cat "$CG/system.slice/$U/pids.max" 2>&1)" 32
    hull --systemd-cgroup delete -f sd-cr
    expect_ok "criu: delete -f"
    scope_gone criu "$U"
fi

section "failed creates"
B=$(mkbundle sd-fail "system.slice:$P:sd-fail" "$LIMITS" /no/such/binary)
hull --systemd-cgroup create -b "$B" sd-fail
if [ "$RC" != 0 ] && grep -q "/no/such/binary" "$ERR"; then pass "bad executable: create fails"; else fail "bad executable: create fails" "exit $RC: $(cat "$ERR")"; fi
scope_gone "bad executable" "$P-sd-fail.scope"
check "bad executable: state gone" "$(status sd-fail)" none
check "bad executable: no failed unit" "$(systemctl list-units --failed --plain --no-legend "$P-*" 2>&1)" ""
# A limit that cannot be applied fails after the scope started.
B=$(mkbundle sd-badres "system.slice:$P:sd-badres" '{ "memory": { "swappiness": 10 } }' true)
hull --systemd-cgroup create -b "$B" sd-badres
if [ "$RC" != 0 ] && grep -q "swappiness" "$ERR"; then pass "bad resource: create fails naming it"; else fail "bad resource: create fails naming it" "exit $RC: $(cat "$ERR")"; fi
scope_gone "bad resource" "$P-sd-badres.scope"
B=$(mkbundle sd-badpath "system.slice:$P" "$LIMITS" true)
hull --systemd-cgroup create -b "$B" sd-badpath
if [ "$RC" != 0 ] && grep -q 'linux.cgroupsPath must be "slice:prefix:name"' "$ERR"; then pass "bad cgroupsPath: refused"; else fail "bad cgroupsPath: refused" "exit $RC: $(cat "$ERR")"; fi
check "bad cgroupsPath: state gone" "$(status sd-badpath)" none
# The same name as a running container's scope: refused, the other untouched.
B=$(mkbundle sd-one "system.slice:$P:same" "$LIMITS" sleep 1000)
hull --systemd-cgroup create -b "$B" sd-one
expect_ok "unit taken: first create"
pid=$(state_pid sd-one)
B2=$(mkbundle sd-two "system.slice:$P:same" "$LIMITS" sleep 1000)
hull --systemd-cgroup create -b "$B2" sd-two
if [ "$RC" != 0 ] && grep -q "UnitExists" "$ERR"; then pass "unit taken: second create refused"; else fail "unit taken: second create refused" "exit $RC: $(cat "$ERR")"; fi
check "unit taken: first still in it" "$(cat "$CG/system.slice/$P-same.scope/cgroup.procs" 2>&1)" "${pid:-?}"
check "unit taken: first still created" "$(status sd-one)" created
hull delete --force sd-one
scope_gone "unit taken" "$P-same.scope"

# --- rootless: the user's systemd (tests/vm/rootless.sh) ---------------------------
. "$HERE/rootless.sh"
rootless_systemd

# --- summary ----------------------------------------------------------------------
"$HULL" --root "$STATE" list 2>/dev/null | grep -q sd- && echo "note: containers left in $STATE"
rm -rf "$WORK"
echo
echo "systemd-tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
