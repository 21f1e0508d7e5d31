#!/usr/bin/env bash
# systemd-v1-tests.sh
#
# The systemd cgroup driver (--systemd-cgroup) on cgroup v1, run INSIDE a
# guest booted with systemd as PID 1 and systemd.unified_cgroup_hierarchy=0
# (hybrid: v1 controllers plus the cgroup2 tracking hierarchy at
# /sys/fs/cgroup/unified), or with systemd.legacy_systemd_cgroup_controller=1
# too (pure v1, no cgroup2 at all). The checks follow whichever it finds.
# As root, hull runs busybox containers whose cgroupsPath is
# "slice:prefix:name" and checks what systemd reports about the scope
# (systemctl show: runc's v1 properties MemoryLimit, CPUShares, TasksMax,
# DevicePolicy/DeviceAllow), the container's v1 cgroup files from inside
# (cgroup namespace + cgroup mount) and outside, the controllers systemd
# does not manage (cpuset, freezer: joined by hull at the scope's path),
# exec, pause/resume, update, kill --all, delete, and that failed creates
# leave no unit and no directory behind.
# Prints "PASS name" / "FAIL name: why" and, last,
# "systemd-hybrid-tests: N passed, M failed" (or systemd-legacy-tests, on
# pure v1). Exit status 0 iff nothing failed.
#
# HULL_BIN: the runtime (default <repo>/target/release/hull).
set -uo pipefail   # no -e: a failed check must not stop the batch

HERE=$(cd "$(dirname "$0")" && pwd)
STATE=/run/hull-vm-sd1
WORK=$(mktemp -d /tmp/hull-vm-sd1.XXXXXX)
P=hulltest                    # the scope prefix of every container here

# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ "$(id -u)" = 0 ] || { echo "systemd-v1-tests: must run as root (inside run-guest --systemd)" >&2; exit 2; }

show() { systemctl show -P "$2" "$1" 2>&1; }
# The hierarchies a scope has a directory in: systemd's own (name=systemd,
# memory, pids, devices, cpu), the ones hull joins (freezer, cpuset), and
# the cgroup2 tracking hierarchy on hybrid.
HIERS="systemd memory pids devices cpu freezer cpuset"
# scope_dirs UNIT [SLICE_PATH]: the hierarchies that still have the scope's dir
scope_dirs() {
    local h out=""
    for h in $HIERS $UNIFIED; do
        [ -d "$CG/$h${2:-/system.slice}/$1" ] && out="$out $h"
    done
    echo "${out# }"
}
scope_gone() {
    check "$1: unit not loaded" "$(show "$2" LoadState)" not-found
    check "$1: no scope dir in any hierarchy" "$(scope_dirs "$2")" ""
}
# cg_of PID CONTROLLER: the process's path in that hierarchy ("" = cgroup2)
cg_of() {
    if [ -z "$2" ]; then sed -n 's/^0:://p' "/proc/$1/cgroup" 2>&1
    else sed -n "s/^[0-9]*:\([^:]*,\)\?$2\(,[^:]*\)\?://p" "/proc/$1/cgroup" 2>&1; fi
}

section "guest"
check "PID 1 is systemd" "$(cat /proc/1/comm)" systemd
check "/sys/fs/cgroup is v1's tmpfs" "$(stat -fc %T $CG)" tmpfs
UNIFIED=""
if [ "$(stat -fc %T $CG/unified 2>/dev/null)" = cgroup2fs ]; then
    UNIFIED=unified
    NAME=systemd-hybrid-tests
    echo "mode: hybrid (cgroup2 at $CG/unified)"
else
    NAME=systemd-legacy-tests
    echo "mode: legacy (no cgroup2 mounted)"
fi
echo "systemd $(systemctl --version | head -1); my cgroup: $(tr '\n' ' ' < /proc/self/cgroup)"
make_rootfs
echo; echo "hull: $HULL ($("$HULL" --version 2>&1))"
rm -rf "$STATE"

V1_LIMITS='{ "memory": { "limit": 67108864 }, "pids": { "limit": 32 },
  "cpu": { "shares": 512, "quota": 50000, "period": 100000 } }'
# What the container prints about its own v1 cgroups (cgroup namespace:
# every path is "/"; hull mounts each hierarchy under its host name).
V1_REPORT='echo "mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>&1)"
echo "pids=$(cat /sys/fs/cgroup/pids/pids.max 2>&1)"
echo "quota=$(cat /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us 2>&1)"
echo "shares=$(cat /sys/fs/cgroup/cpu,cpuacct/cpu.shares 2>&1)"
for c in memory freezer cpuset name=systemd; do
    echo "cg_$c=$(sed -n "s/^[0-9]*:$c://p" /proc/self/cgroup)"
done
echo "fstype=$(grep " /sys/fs/cgroup/memory " /proc/mounts | cut -d" " -f3)"'
# check_v1_report PREFIX [MEM PIDS QUOTA SHARES]
check_v1_report() {
    [ "$RC" = 0 ] || return 0
    check "$1: memory.limit_in_bytes inside" "$(field mem)" "${2:-67108864}"
    check "$1: pids.max inside" "$(field pids)" "${3:-32}"
    check "$1: cpu.cfs_quota_us inside" "$(field quota)" "${4:-50000}"
    check "$1: cpu.shares inside" "$(field shares)" "${5:-512}"
    check "$1: memory, freezer, cpuset, name=systemd at the cgroup ns root" \
        "$(field cg_memory) $(field cg_freezer) $(field cg_cpuset) $(field cg_name=systemd)" "/ / / /"
    check "$1: a v1 memory mount inside" "$(field fstype)" cgroup
}

# -- run: the limits inside, then nothing left
section "run"
B=$(mkbundle v1-run "system.slice:$P:v1-run" "$V1_LIMITS" sh -c "$V1_REPORT")
hull --systemd-cgroup run -b "$B" v1-run
expect_ok "run: exit 0"
cat "$OUT" "$ERR"
check_v1_report run
scope_gone run "$P-v1-run.scope"
check "run: state gone" "$(status v1-run)" none

# -- create: systemd's view, the dirs in every hierarchy, the files
section "create, systemd's view"
DENY_ALL='[ { "allow": false, "access": "rwm" } ]'
LIFE=$(sed 's/}$/, "devices": '"$DENY_ALL"' }/' <<< "$V1_LIMITS")
B=$(mkbundle v1-life "system.slice:$P:v1-life" "$LIFE" sh -c 'trap "exit 0" TERM; while :; do sleep 1; done')
U=$P-v1-life.scope
hull --systemd-cgroup create -b "$B" v1-life
expect_ok "create: exit 0"
pid=$(state_pid v1-life)
check "create: $U active" "$(show "$U" ActiveState)" active
check "create: delegated" "$(show "$U" Delegate)" yes
check "create: MemoryLimit" "$(show "$U" MemoryLimit)" 67108864
check "create: TasksMax" "$(show "$U" TasksMax)" 32
check "create: CPUShares" "$(show "$U" CPUShares)" 512
check "create: CPUQuotaPerSecUSec" "$(show "$U" CPUQuotaPerSecUSec)" 500ms
check "create: DevicePolicy" "$(show "$U" DevicePolicy)" strict
# hull's default allow list after the deny-all: /dev/null is c 1:3
case " $(show "$U" DeviceAllow) " in
    *"/dev/char/1:3 rwm"*) pass "create: DeviceAllow has /dev/null" ;;
    *) fail "create: DeviceAllow has /dev/null" "$(show "$U" DeviceAllow)" ;;
esac
want="/system.slice/$U"
for c in name=systemd memory pids devices cpu freezer cpuset; do
    check "create: init in the scope ($c)" "$(cg_of "${pid:-0}" "$c")" "$want"
done
[ -z "$UNIFIED" ] || check "create: init in the scope (cgroup2)" "$(cg_of "${pid:-0}" "")" "$want"
check "create: memory.limit_in_bytes" "$(cat "$CG/memory$want/memory.limit_in_bytes" 2>&1)" 67108864
check "create: pids.max" "$(cat "$CG/pids$want/pids.max" 2>&1)" 32
check "create: cpu.cfs_quota_us" "$(cat "$CG/cpu$want/cpu.cfs_quota_us" 2>&1)" 50000
check "create: cpu.shares" "$(cat "$CG/cpu$want/cpu.shares" 2>&1)" 512
check "create: devices.list has no allow-all" "$(grep -c '^a ' "$CG/devices$want/devices.list" 2>&1)" 0
hull start v1-life
expect_ok "start: exit 0"

# systemd re-applies every unit setting at daemon-reload: the limits (and
# the device list: "auto" would make it "a *:* rwm") must survive it.
systemctl daemon-reload
check "daemon-reload: memory.limit_in_bytes kept" "$(cat "$CG/memory$want/memory.limit_in_bytes" 2>&1)" 67108864
check "daemon-reload: cpu.shares kept" "$(cat "$CG/cpu$want/cpu.shares" 2>&1)" 512
check "daemon-reload: pids.max kept" "$(cat "$CG/pids$want/pids.max" 2>&1)" 32
check "daemon-reload: devices.list has no allow-all" "$(grep -c '^a ' "$CG/devices$want/devices.list" 2>&1)" 0

section "exec, ps, pause, update"
hull exec v1-life sh -c "$V1_REPORT"
expect_ok "exec: exit 0"
check_v1_report exec
hull ps v1-life
if grep -qw "${pid:-x}" "$OUT"; then pass "ps: lists the init"; else fail "ps: lists the init" "$(cat "$OUT" "$ERR")"; fi
hull pause v1-life
expect_ok "pause: exit 0"
check "pause: status" "$(status v1-life)" paused
check "pause: freezer.state" "$(cat "$CG/freezer$want/freezer.state" 2>&1)" FROZEN
hull resume v1-life
expect_ok "resume: exit 0"
check "resume: freezer.state" "$(cat "$CG/freezer$want/freezer.state" 2>&1)" THAWED
hull update --memory 134217728 --pids-limit 64 --cpu-quota 20000 --cpu-period 100000 --cpu-share 256 v1-life
expect_ok "update: exit 0"
check "update: MemoryLimit" "$(show "$U" MemoryLimit)" 134217728
check "update: TasksMax" "$(show "$U" TasksMax)" 64
check "update: CPUShares" "$(show "$U" CPUShares)" 256
check "update: CPUQuotaPerSecUSec" "$(show "$U" CPUQuotaPerSecUSec)" 200ms
hull exec v1-life sh -c "$V1_REPORT"
check_v1_report update 134217728 64 20000 256

section "delete"
hull delete --force v1-life
expect_ok "delete --force: exit 0"
check "delete: init gone" "$(cat "/proc/${pid:-0}/comm" 2>/dev/null)" ""
check "delete: state gone" "$(status v1-life)" none
scope_gone delete "$U"

# -- kill --all: systemd drops the emptied scope; delete then removes the
# directories hull made (freezer, cpuset)
section "kill --all"
B=$(mkbundle v1-all "system.slice:$P:v1-all" "$V1_LIMITS" sh -c 'sleep 1000 & sleep 1000 & wait')
hull --systemd-cgroup run -d -b "$B" v1-all
expect_ok "run -d: exit 0"
sleep 0.5
check "run -d: 3 processes in the freezer cgroup" "$(wc -l < "$CG/freezer/system.slice/$P-v1-all.scope/cgroup.procs" 2>&1)" 3
hull kill --all v1-all TERM
expect_ok "kill --all: exit 0"
if wait_status v1-all stopped; then pass "kill --all: stopped"; else fail "kill --all: stopped" "status $(status v1-all)"; fi
hull delete v1-all
expect_ok "delete after kill --all: exit 0"
scope_gone "kill --all" "$P-v1-all.scope"

# -- a slice that does not exist yet: systemd makes it in its hierarchies,
# hull the levels of the others
section "new slice, devices"
B=$(mkbundle v1-slice "$P-a.slice:$P:v1-slice" "$V1_LIMITS" sleep 1000)
hull --systemd-cgroup create -b "$B" v1-slice
expect_ok "new slice: create"
pid=$(state_pid v1-slice)
check "new slice: freezer path nested by dashes" "$(cg_of "${pid:-0}" freezer)" "/$P.slice/$P-a.slice/$P-v1-slice.scope"
hull delete --force v1-slice
expect_ok "new slice: delete"
check "new slice: no scope dir left" "$(scope_dirs "$P-v1-slice.scope" "/$P.slice/$P-a.slice")" ""
DEVS='{ "devices": [ { "allow": false, "access": "rwm" } ], "pids": { "limit": 32 } }'
B=$(CAPS='"CAP_KILL", "CAP_MKNOD", "CAP_AUDIT_WRITE"' mkbundle v1-devs "system.slice:$P:v1-devs" "$DEVS" sh -c '
    echo x > /dev/null && echo null=ok
    mknod /dev/k c 1 11 && echo kmsg=$( (echo hull-vm-test > /dev/k) 2>&1 )')
hull --systemd-cgroup run -b "$B" v1-devs
expect_ok "devices: run exit 0"
check "devices: /dev/null allowed" "$(field null)" ok
check "devices: c 1:11 denied" "$(field kmsg | sed 's/.*: //')" "Operation not permitted"

section "failed creates"
B=$(mkbundle v1-fail "system.slice:$P:v1-fail" "$V1_LIMITS" /no/such/binary)
hull --systemd-cgroup create -b "$B" v1-fail
if [ "$RC" != 0 ] && grep -q "/no/such/binary" "$ERR"; then pass "bad executable: create fails"; else fail "bad executable: create fails" "exit $RC: $(cat "$ERR")"; fi
scope_gone "bad executable" "$P-v1-fail.scope"
check "bad executable: state gone" "$(status v1-fail)" none
# A cpuset the kernel refuses: fails after the scope started and hull made
# the cpuset and freezer dirs.
B=$(mkbundle v1-badcpu "system.slice:$P:v1-badcpu" '{ "cpu": { "cpus": "999" } }' true)
hull --systemd-cgroup create -b "$B" v1-badcpu
if [ "$RC" != 0 ] && grep -q "linux.resources.cpu.cpus" "$ERR"; then pass "bad cpuset: create fails naming it"; else fail "bad cpuset: create fails naming it" "exit $RC: $(cat "$ERR")"; fi
scope_gone "bad cpuset" "$P-v1-badcpu.scope"
check "no failed units" "$(systemctl list-units --failed --plain --no-legend "$P-*" 2>&1)" ""

"$HULL" --root "$STATE" list 2>/dev/null | grep -q v1- && echo "note: containers left in $STATE"
rm -rf "$WORK"
echo
echo "$NAME: $passed passed, $failed failed"
[ "$failed" = 0 ]
