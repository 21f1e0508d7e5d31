#!/usr/bin/env bash
# guest-tests.sh [TEST_BINARY...]
#
# The batch of tests that needs a pure cgroup v2 host, run INSIDE one guest
# (tests/vm/run-guest; a boot costs seconds under TCG, so everything shares
# one). As root:
#   1. each TEST_BINARY given (the libcgroups test binaries from
#      `cargo test -p libcgroups --no-run`); their root tests make
#      /hull-test-cg-<pid> cgroups and so drive the v2 driver for real;
#   2. hull on v2: limits seen from inside the container through a cgroup
#      namespace and a cgroup mount (also in the host's network namespace),
#      create/start/state/kill/delete seen from the host, kill --all,
#      delete --force, every v2 resource file, limits enforced (pids, OOM),
#      a bare root (no controller enabled), `hull spec`'s default config,
#      device rules (eBPF), a cgroupsPath below a populated cgroup,
#      relative and empty cgroupsPaths (beside hull's own cgroup),
#      checkpoint/restore with the distribution's CRIU (incl. pre-dump);
#   3. the migration tests of tests/integration (lazy pages, pre-dump
#      chains; HULL_VM_MIGRATION_TESTS: their binary; HULL_CRIU: the CRIU,
#      else the distribution's).
# Leaves nothing behind: cgroups under /hull-test-vm (and the libcgroups
# tests' /hull-test-cg-<pid>) are removed, bundles live in a /tmp dir.
# Prints "PASS name" / "FAIL name: why" per check and, last,
# "guest-tests: N passed, M failed". Exit status 0 iff nothing failed.
#
# HULL_BIN: the runtime (default <repo>/target/release/hull).
set -uo pipefail   # no -e: a failed check must not stop the batch

HERE=$(cd "$(dirname "$0")" && pwd)
STATE=/run/hull-vm            # hull --root
WORK=$(mktemp -d /tmp/hull-vm.XXXXXX)   # bundles; /tmp is the guest's tmpfs overlay
TOP=hull-test-vm              # every cgroup hull makes here lives under /$TOP

# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ "$(id -u)" = 0 ] || { echo "guest-tests: must run as root (inside run-guest)" >&2; exit 2; }

section "guest"
echo "kernel $(uname -r); $CG: $(stat -fc %T $CG); root subtree_control: $(cat $CG/cgroup.subtree_control)"
check "cgroup fs is cgroup2" "$(stat -fc %T $CG)" cgroup2fs
check "no v1 hierarchies" "$(grep -c ' cgroup ' /proc/mounts)" 0

# --- 1. libcgroups test binaries -------------------------------------------------
# One check per libtest test ("test NAME ... ok|FAILED"); a binary that dies
# before its summary line counts as one more failure.
# libtest BIN ARGS...: runs a libtest binary, one check per test.
libtest() {
    local bin=$1 name log rc
    shift
    name=$(basename "$bin")
    name=${name%-*}   # strip cargo's hash
    log=$WORK/$name.log
    RUST_BACKTRACE=0 "$bin" --color never "$@" > "$log" 2>&1
    rc=$?
    while read -r _ t _ result; do
        case "$result" in
            ok) pass "$name::$t" ;;
            FAILED) fail "$name::$t" "panic below" ;;
        esac
    done < <(grep -E '^test .* \.\.\. (ok|FAILED)$' "$log")
    # the panics of the failed tests
    sed -n '/^failures:$/,/^test result:/p' "$log" | sed -n '/^---- /,/^failures:$/p' | grep -v '^failures:$'
    if ! grep -q '^test result:' "$log"; then
        tail -20 "$log"
        fail "$name" "no libtest summary (exit $rc)"
    fi
}
for bin in "$@"; do
    section "libcgroups: $bin"
    libtest "$bin"
done

# --- 2. hull on v2 ------------------------------------------------------------------

make_rootfs

# no_leftovers NAME: nothing is left under /sys/fs/cgroup/$TOP (removed if so,
# so that the next test starts clean)
no_leftovers() {
    if [ -e "$CG/$TOP" ]; then
        fail "$1: no cgroup left" "$(find "$CG/$TOP" -type d | tr '\n' ' ')"
        find "$CG/$TOP" -depth -type d -exec rmdir {} \; 2>/dev/null
    else
        pass "$1: no cgroup left"
    fi
}

echo; echo "hull: $HULL ($("$HULL" --version 2>&1))"
[ -x "$HULL" ] || fail "hull binary" "$HULL not found"
rm -rf "$STATE"

# -- run: limits as seen from inside, then nothing left behind
section "hull run"
B=$(mkbundle run "/$TOP/c1" "$LIMITS" sh -c "$REPORT")
hull run -b "$B" vm-run
expect_ok "run: exit 0"
cat "$OUT" "$ERR"
check_report run
no_leftovers run
check "run: state gone" "$(status vm-run)" none

# -- the same in the host's network namespace (docker/podman --network=host):
# /sys is then bind-mounted from the host, with its cgroup2 mount under it
section "hull run, host network namespace"
B=$(NAMESPACES='[ { "type": "pid" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" } ]' \
    mkbundle hostnet "/$TOP/hostnet" "$LIMITS" sh -c "$REPORT")
hull run -b "$B" vm-hostnet
expect_ok "host netns: run exit 0"
check_report "host netns"
no_leftovers "host netns"
check "host netns: state gone" "$(status vm-hostnet)" none

# -- create / start / state / kill / delete, checked from the host side too
section "hull create/start/state/kill/delete"
B=$(mkbundle life "/$TOP/c2" "$LIMITS" sleep 1000)
hull create -b "$B" vm-life
expect_ok "create: exit 0"
check "create: status" "$(status vm-life)" created
pid=$(state_pid vm-life)
D=$CG/$TOP/c2
check "create: init in the cgroup" "$(cat "$D/cgroup.procs" 2>&1 | tr '\n' ' ')" "${pid:-?} "
check "create: /proc/<pid>/cgroup" "$(cat "/proc/${pid:-0}/cgroup" 2>&1)" "0::/$TOP/c2"
check "create: memory.max" "$(cat "$D/memory.max" 2>&1)" 67108864
check "create: pids.max" "$(cat "$D/pids.max" 2>&1)" 32
check "create: cpu.max" "$(cat "$D/cpu.max" 2>&1)" "50000 100000"
hull start vm-life
expect_ok "start: exit 0"
check "start: status" "$(status vm-life)" running
check "start: init runs sleep" "$(cat "/proc/${pid:-0}/comm" 2>&1)" sleep
# a frozen cgroup means paused (the v2 freezer, driven from outside here)
echo 1 > "$D/cgroup.freeze"
if wait_status vm-life paused; then pass "frozen cgroup: status paused"; else fail "frozen cgroup: status paused" "status $(status vm-life); $(tr '\n' ' ' < "$D/cgroup.events")"; fi
echo 0 > "$D/cgroup.freeze"
if wait_status vm-life running; then pass "thawed cgroup: status running"; else fail "thawed cgroup: status running" "status $(status vm-life)"; fi
hull list
if grep -q vm-life "$OUT"; then pass "list: shows the container"; else fail "list: shows the container" "$(cat "$OUT" "$ERR")"; fi
hull kill vm-life KILL
expect_ok "kill KILL: exit 0"
if wait_status vm-life stopped; then pass "kill: status stopped"; else fail "kill: status stopped" "status $(status vm-life)"; fi
check "kill: cgroup empty" "$(cat "$D/cgroup.procs" 2>&1)" ""
hull delete vm-life
expect_ok "delete: exit 0"
check "delete: state gone" "$(status vm-life)" none
check "delete: state dir gone" "$(ls "$STATE" 2>&1)" ""
no_leftovers delete

# -- kill vs kill --all, and delete --force of a running container
section "hull kill, kill --all, delete --force"
B=$(mkbundle all "/$TOP/c3" "$LIMITS" sh -c 'sleep 1000 & sleep 1000 & wait')
hull run -d -b "$B" vm-all
expect_ok "run -d: exit 0"
check "run -d: status" "$(status vm-all)" running
sleep 0.5
check "run -d: 3 processes in the cgroup" "$(wc -l < "$CG/$TOP/c3/cgroup.procs" 2>&1)" 3
# sh is the init of its pid namespace: a TERM it has no handler for is dropped
hull kill vm-all TERM
expect_ok "kill TERM: exit 0"
sleep 0.5
check "kill TERM: init ignores it" "$(status vm-all)" running
# --all signals every process in the cgroup: the sleeps die, wait returns
hull kill --all vm-all TERM
expect_ok "kill --all TERM: exit 0"
if wait_status vm-all stopped; then pass "kill --all: status stopped"; else fail "kill --all: status stopped" "status $(status vm-all)"; fi
check "kill --all: cgroup empty" "$(cat "$CG/$TOP/c3/cgroup.procs" 2>&1)" ""
hull delete vm-all
expect_ok "delete after kill --all: exit 0"
no_leftovers "kill --all"

B=$(mkbundle force "/$TOP/c4" "$LIMITS" sh -c 'sleep 1000 & sleep 1000 & wait')
hull run -d -b "$B" vm-force
expect_ok "run -d (2): exit 0"
pid=$(state_pid vm-force)
hull delete --force vm-force
expect_ok "delete --force (running): exit 0"
check "delete --force: state gone" "$(status vm-force)" none
check "delete --force: init gone" "$(cat "/proc/${pid:-0}/comm" 2>/dev/null)" ""
no_leftovers "delete --force"

# -- every linux.resources field v2 can express lands in the right file with
# the value runc writes (runc's conversions: cpu.weight = 1 + (shares - 2) *
# 9999 / 262142, io.weight = 1 + (weight - 10) * 9999 / 990, memory.swap.max
# = swap - limit).
section "hull resources"
RES='{
      "memory": { "limit": 67108864, "reservation": 33554432, "swap": 100663296 },
      "cpu": { "shares": 512, "quota": 20000, "period": 50000, "burst": 10000, "cpus": "0", "mems": "0" },
      "pids": { "limit": 100 },
      "blockIO": { "weight": 500 },
      "hugepageLimits": [ { "pageSize": "2MB", "limit": 4194304 } ],
      "unified": { "memory.high": "52428800" }
    }'
B=$(mkbundle res "/$TOP/res" "$RES" sleep 1000)
hull create -b "$B" vm-res
expect_ok "resources: create exit 0"
D=$CG/$TOP/res
for kv in memory.max=67108864 memory.low=33554432 memory.swap.max=33554432 memory.high=52428800 \
          cpu.weight=20 "cpu.max=20000 50000" cpu.max.burst=10000 cpuset.cpus=0 cpuset.mems=0 \
          pids.max=100 "io.weight=default 4950" hugetlb.2MB.max=4194304; do
    check "resources: ${kv%%=*}" "$(cat "$D/${kv%%=*}" 2>&1)" "${kv#*=}"
done
hull delete --force vm-res
expect_ok "resources: delete --force exit 0"
no_leftovers resources

# -- the limits are enforced
section "limits enforced"
B=$(mkbundle pids "/$TOP/pids" "$LIMITS" sh -c \
    '(i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i + 1)); done) 2>/dev/null   # a failed fork ends the subshell
     echo "current=$(cat /sys/fs/cgroup/pids.current)"; echo "events=$(cat /sys/fs/cgroup/pids.events)"')
hull run -b "$B" vm-pids
expect_ok "pids: run exit 0"
cur=$(field current)
if [ "${cur:-99}" -le 32 ] && [[ "$(field events)" =~ ^max\ [1-9] ]]; then
    pass "pids: fork refused at pids.max"
else
    fail "pids: fork refused at pids.max" "pids.current=$cur pids.events='$(field events)'"
fi
no_leftovers pids
B=$(mkbundle mem "/$TOP/mem" "$LIMITS" sh -c \
    'awk "BEGIN { s = sprintf(\"%100000000s\", \"\"); print \"survived\" }"; echo "awk=$?"
     echo "oom_kill=$(sed -n "s/^oom_kill //p" /sys/fs/cgroup/memory.events)"')
hull run -b "$B" vm-mem
expect_ok "memory: run exit 0"
check "memory: 100 MB allocation OOM-killed" "$(field awk)/$(field oom_kill)" "137/1"
no_leftovers memory

# -- a bare root: no controller enabled anywhere, as on a host without
# systemd; hull must enable them from the root down (runc does).
section "bare root"
root_ctl=$(cat $CG/cgroup.subtree_control)
if echo "$(for c in $root_ctl; do printf -- '-%s ' "$c"; done)" > $CG/cgroup.subtree_control 2>/dev/null; then
    B=$(mkbundle bare "/$TOP/bare" "$LIMITS" sh -c "$REPORT")
    hull run -b "$B" vm-bare
    expect_ok "bare root: run exit 0"
    check_report "bare root"
    no_leftovers "bare root"
    echo "$(for c in $root_ctl; do printf -- '+%s ' "$c"; done)" > $CG/cgroup.subtree_control
else
    fail "bare root" "cannot clear $CG/cgroup.subtree_control (busy children: $(ls -d $CG/*/ 2>/dev/null | tr '\n' ' '))"
fi

# -- `hull spec`'s own default config (it restricts devices) runs here, as
# `runc spec` does on cgroup v2.
section "default spec"
B=$WORK/default
mkdir -p "$B"
"$HULL" spec -b "$B"
sed -i -e 's/"terminal": true/"terminal": false/' -e 's|"path": "rootfs"|"path": "'"$ROOTFS"'"|' \
       -e 's/"sh"$/"sh", "-c", "echo x > \/dev\/null \&\& echo devnull=ok; echo devfull=$( (echo x > \/dev\/full) 2>\&1 )"/' \
       -e 's|"linux": {|"linux": {\n    "cgroupsPath": "/'"$TOP"'/default",|' "$B/config.json"
hull run -b "$B" vm-default
expect_ok "default spec: run exit 0"
check "default spec: /dev/null writable" "$(field devnull)" ok
# allowed, so the write reaches the device (which is always full)
check "default spec: /dev/full opens" "$(field devfull | sed 's/.*: //')" "No space left on device"
no_leftovers "default spec"

# -- device rules on v2 are an eBPF program on the container's cgroup:
# "deny all" plus hull's default allow list (null, zero, full, random,
# urandom, tty, console, ptmx, pts/*, mknod of anything). CAP_MKNOD lets
# the container make nodes of devices it may not open; a tmpfs /dev
# (without nodev) lets it try to open them.
section "devices (eBPF)"
DENY_ALL='{ "devices": [ { "allow": false, "access": "rwm" } ] }'
B=$(CAPS='"CAP_KILL", "CAP_MKNOD", "CAP_AUDIT_WRITE"' mkbundle devs "/$TOP/devs" "$DENY_ALL" sh -c '
    echo x > /dev/null && echo null=ok
    echo zero=$(head -c 4 /dev/zero | wc -c)
    mknod /dev/k c 1 11 && echo mknod_c=ok
    echo kmsg=$( (echo hull-vm-test > /dev/k) 2>&1 )
    mknod /dev/loopx b 7 0 && echo mknod_b=ok
    echo loop=$( (head -c 1 /dev/loopx) 2>&1 )')
hull run -b "$B" vm-devs
expect_ok "devices: run exit 0"
check "devices: /dev/null allowed" "$(field null)" ok
check "devices: /dev/zero allowed" "$(field zero)" 4
check "devices: mknod c 1:11 allowed (c *:* m)" "$(field mknod_c)" ok
check "devices: open c 1:11 denied" "$(field kmsg | sed 's/.*: //')" "Operation not permitted"
check "devices: mknod b 7:0 allowed (b *:* m)" "$(field mknod_b)" ok
check "devices: open b 7:0 denied" "$(field loop | sed 's/.*: //')" "Operation not permitted"
no_leftovers devices
# linux.devices entries get an allow rule of their own
B=$(DEVICES='[ { "path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11 } ]' \
    mkbundle devs2 "/$TOP/devs2" "$DENY_ALL" sh -c 'echo hull-vm-test > /dev/kmsg && echo kmsg=ok')
hull run -b "$B" vm-devs2
expect_ok "devices: linux.devices run exit 0"
check "devices: linux.devices entry allowed" "$(field kmsg)" ok
no_leftovers "devices linux.devices"

# -- a cgroupsPath below a cgroup that has processes of its own: enabling
# controllers there would make it "domain threaded" and the container's
# cgroup "domain invalid"; hull must refuse and leave it untouched.
section "populated parent"
BUSY=$CG/$TOP-busy
mkdir "$BUSY"
sleep 1000 &
busy_pid=$!
echo "$busy_pid" > "$BUSY/cgroup.procs"
B=$(mkbundle busy "/$TOP-busy/c" "$LIMITS" true)
hull run -b "$B" vm-busy
if [ "$RC" != 0 ] && grep -q "cannot enable controllers for it in $BUSY: it has 1 process(es) of its own" "$ERR"; then
    pass "populated parent: refused, naming it"
else
    fail "populated parent: refused, naming it" "exit $RC: $(tr '\n' ' ' < "$ERR")"
fi
check "populated parent: still a domain" "$(cat "$BUSY/cgroup.type")" domain
check "populated parent: subtree_control untouched" "$(cat "$BUSY/cgroup.subtree_control")" ""
check "populated parent: no child left" "$(ls -d "$BUSY"/*/ 2>/dev/null)" ""
check "populated parent: process still there" "$(cat "$BUSY/cgroup.procs")" "$busy_pid"
check "populated parent: state gone" "$(status vm-busy)" none
kill "$busy_pid"; wait "$busy_pid" 2>/dev/null
rmdir "$BUSY"

# -- a relative (or empty) cgroupsPath starts at the parent of hull's own
# cgroup, as in runc: that one always holds hull itself, and v2 gives
# controllers only to cgroups whose parent has no processes.
section "relative cgroupsPath"
OWN=$CG/$TOP/own
mkdir -p "$OWN"
# hull_in_own ARGS...: hull (like `hull` above) started from inside $OWN
hull_in_own() {
    timeout -k 2 60 sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' x "$OWN" \
        "$HULL" --root "$STATE" "$@" < /dev/null > "$OUT" 2> "$ERR"
    RC=$?
}
B=$(mkbundle rel "rel" "$LIMITS" sh -c "$REPORT")
hull_in_own run -b "$B" vm-rel
expect_ok "relative: run exit 0"
check_report relative
B=$(mkbundle relid "" "$LIMITS" sleep 1000)
hull_in_own create -b "$B" vm-relid
expect_ok "empty cgroupsPath: create exit 0"
pid=$(state_pid vm-relid)
check "empty cgroupsPath: beside hull's own cgroup, named by the id" "$(cat "/proc/${pid:-0}/cgroup" 2>&1)" "0::/$TOP/vm-relid"
check "empty cgroupsPath: memory.max" "$(cat "$CG/$TOP/vm-relid/memory.max" 2>&1)" 67108864
hull delete --force vm-relid
expect_ok "empty cgroupsPath: delete"
rmdir "$OWN" "$CG/$TOP"
no_leftovers relative

# -- checkpoint/restore with the distribution's CRIU (3.17 works on this
# kernel, unlike on the 6.18 hosts): a counter in a bind-mounted dir freezes
# at checkpoint and continues after restore, in the same cgroup with the
# same limits; pre-dump (soft-dirty tracking exists here) then a final dump
# with --parent-path, restored again.
section "checkpoint/restore (CRIU)"
if [ -z "$CRIU" ]; then
    fail "criu" "not installed (apt-get install criu)"
else
    echo "criu: $("$CRIU" --version | head -1)"
    B=$(counter_bundle cr "/$TOP/cr")
    cr run -d -b "$B" vm-cr
    expect_ok "criu: run -d"
    above 3 || fail "criu: counter runs" "stuck at $(count)"
    cr checkpoint --image-path "$WORK/crimg" vm-cr
    expect_ok "criu: checkpoint"
    check "criu: stopped after checkpoint" "$(status vm-cr)" stopped
    c1=$(count); sleep 0.5
    check "criu: counter frozen" "$(count)" "$c1"
    cr restore -d --image-path "$WORK/crimg" --work-path "$WORK/crimg.w" -b "$B" vm-cr
    expect_ok "criu: restore"
    check "criu: running after restore" "$(status vm-cr)" running
    if above "$c1"; then pass "criu: counter continues after restore"; else fail "criu: counter continues after restore" "stuck at $(count)"; fi
    pid=$(state_pid vm-cr)
    check "criu: restored init in the container cgroup" "$(cat /proc/"$pid"/cgroup 2>&1)" "0::/$TOP/cr"
    check "criu: memory.max after restore" "$(cat $CG/$TOP/cr/memory.max 2>&1)" 67108864
    check "criu: pids.max after restore" "$(cat $CG/$TOP/cr/pids.max 2>&1)" 32
    hull exec vm-cr cat /proc/1/cmdline
    grep -q "while true" "$OUT" && pass "criu: pid 1 is the restored shell" || fail "criu: pid 1 is the restored shell" "$(tr '\0' ' ' < "$OUT")"
    cr checkpoint --pre-dump --image-path "$WORK/pre" vm-cr
    expect_ok "criu: pre-dump"
    check "criu: running after pre-dump" "$(status vm-cr)" running
    cr checkpoint --parent-path ../pre --image-path "$WORK/final" vm-cr
    expect_ok "criu: dump on top of the pre-dump"
    c2=$(count)
    cr restore -d --image-path "$WORK/final" -b "$B" vm-cr
    expect_ok "criu: restore from pre-dump + dump"
    if above "$c2"; then pass "criu: counter continues after the second restore"; else fail "criu: counter continues after the second restore" "stuck at $(count)"; fi
    hull delete -f vm-cr
    expect_ok "criu: delete -f"
    check "criu: state gone" "$(status vm-cr)" none
    no_leftovers "criu"
fi

# --- rootless: a delegated subtree (tests/vm/rootless.sh) --------------------------
. "$HERE/rootless.sh"
rootless_delegated

# -- tests/integration/tests/criu_migration.rs: here, unlike on the hosts,
# the kernel has the soft-dirty bits pre-dump chains need and root has the
# CAP_SYS_RESOURCE CRIU's lazy page server needs, so neither test may take
# its "refused here" branch. The CRIU the host tests use (4.1, from
# tests/criu/fetch-criu) when given, else the distribution's.
section "migration: lazy pages, pre-dump chains (tests/integration)"
if [ -z "${HULL_VM_MIGRATION_TESTS:-}" ]; then
    fail "migration" "HULL_VM_MIGRATION_TESTS not set (tests/vm/ci.sh sets it)"
elif [ -z "${HULL_CRIU:-$CRIU}" ]; then
    fail "migration" "no CRIU"
else
    HULL_CRIU=${HULL_CRIU:-$CRIU} HULL_REQUIRE_CRIU=1 HULL_EXPECT_DIRTY_TRACKING=1 HULL_EXPECT_LAZY=1 \
        HULL_TEST_TIMEOUT=300 libtest "$HULL_VM_MIGRATION_TESTS" --test-threads=1
fi

# --- summary ----------------------------------------------------------------------
"$HULL" --root "$STATE" list 2>/dev/null | grep -q vm- && echo "note: containers left in $STATE"
rm -rf "$WORK"
echo
echo "guest-tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
