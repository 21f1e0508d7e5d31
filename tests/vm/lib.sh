# lib.sh: helpers shared by the guest test batches (guest-tests.sh,
# systemd-tests.sh), sourced after the caller has set HERE (this dir),
# STATE (hull --root) and WORK (a scratch dir). Sets HULL (HULL_BIN, or
# the repo's target/release/hull), BUSYBOX and CG.
#
# check/pass/fail count into $passed/$failed; mkbundle writes busybox
# bundles under $WORK; hull runs the runtime with $STATE.

REPO=$(cd "$HERE/../.." && pwd)
HULL=${HULL_BIN:-$REPO/target/release/hull}
BUSYBOX=${BUSYBOX:-/bin/busybox}
CG=/sys/fs/cgroup

passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
# check NAME GOT WANT
check() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi
}
# section TITLE: a header with the guest's uptime (TCG makes everything slow;
# the stamps show where the time goes)
section() { echo; echo "== $* [t=$(cut -d' ' -f1 /proc/uptime)s]"; }

# make_rootfs: a busybox rootfs at $ROOTFS, shared by the bundles (rootfs.path
# may be absolute).
make_rootfs() {
    ROOTFS=$WORK/rootfs
    mkdir -p "$ROOTFS"/{bin,proc,sys,dev,tmp,etc}
    cp "$BUSYBOX" "$ROOTFS/bin/busybox"
    # One exec instead of ~400 `ln`s (each costs ~0.1 s under TCG). The applet
    # list includes "busybox" itself; --install skips existing names (EEXIST),
    # so the binary is not replaced by a link to itself.
    chroot "$ROOTFS" /bin/busybox --install -s /bin 2>/dev/null
    [ -f "$ROOTFS/bin/busybox" ] && [ ! -L "$ROOTFS/bin/busybox" ] && [ -L "$ROOTFS/bin/sh" ] ||
        fail "busybox rootfs" "$(ls -l "$ROOTFS/bin" | head -5)"
}

# json_args ARG... -> a JSON array of strings (backslash, quote, newline, tab escaped)
json_args() {
    local a out="" sep=""
    for a in "$@"; do
        a=${a//\\/\\\\}
        a=${a//\"/\\\"}
        a=${a//$'\n'/\\n}
        a=${a//$'\t'/\\t}
        out+="$sep\"$a\""
        sep=", "
    done
    echo "[$out]"
}

# The limits of the smoke test.
LIMITS='{
      "memory": { "limit": 67108864 },
      "pids": { "limit": 32 },
      "cpu": { "quota": 50000, "period": 100000 }
    }'

NAMESPACES='[ { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                   { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" } ]'

# The capabilities of mkbundle's process (CAPS=... overrides them).
CAPS='"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"'

# mkbundle NAME CGROUPS_PATH RESOURCES_JSON ARG... -> prints the bundle dir
# terminal false, $NAMESPACES (a cgroup namespace) and a cgroup mount at
# /sys/fs/cgroup; $CAPS; DEVICES=JSON sets linux.devices.
mkbundle() {
    local name=$1 cgpath=$2 res=$3
    shift 3
    local b=$WORK/$name devices=""
    [ -z "${DEVICES:-}" ] || devices=$'\n    "devices": '"$DEVICES,"
    mkdir -p "$b"
    cat > "$b/config.json" <<JSON
{
  "ociVersion": "1.2.0",
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": $(json_args "$@"),
    "env": [ "PATH=/bin" ],
    "cwd": "/",
    "capabilities": {
      "bounding": [ $CAPS ],
      "effective": [ $CAPS ],
      "permitted": [ $CAPS ]
    },
    "noNewPrivileges": true
  },
  "root": { "path": "$ROOTFS", "readonly": true },
  "hostname": "$name",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
    { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": [ "nosuid", "nodev" ] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [ "nosuid", "noexec", "nodev", "ro" ] },
    { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
      "options": [ "nosuid", "noexec", "nodev", "relatime", "ro" ] }
  ],
  "linux": {
    "cgroupsPath": "$cgpath",
    "resources": $res,$devices
    "namespaces": $NAMESPACES,
    "maskedPaths": [ "/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware" ],
    "readonlyPaths": [ "/proc/sys", "/proc/sysrq-trigger" ]
  }
}
JSON
    echo "$b"
}

# hull ARGS...: the runtime with our state root; stdout to $OUT, stderr to
# $ERR, exit status in $RC. stdin is /dev/null: a created container keeps
# its stdio, so no pipe of ours may be held open by it.
OUT=$WORK/out
ERR=$WORK/err
hull() {
    timeout -k 2 60 "$HULL" --root "$STATE" "$@" < /dev/null > "$OUT" 2> "$ERR"
    RC=$?
}
# expect_ok NAME: pass when the last hull call exited 0, else fail with stderr
expect_ok() {
    if [ "$RC" = 0 ]; then pass "$1"; else fail "$1" "exit $RC: $(tr '\n' ' ' < "$ERR")"; fi
}
# field KEY: a value from the key=value lines the container printed
field() { sed -n "s/^$1=//p" "$OUT" | head -1; }
# status ID: the status in `hull state`, or "none"
status() {
    "$HULL" --root "$STATE" state "$1" 2>/dev/null | tr -d ' \n' |
        grep -o '"status":"[a-z]*"' | cut -d'"' -f4 || echo none
}
state_pid() {
    "$HULL" --root "$STATE" state "$1" 2>/dev/null | tr -d ' \n' | grep -o '"pid":[0-9]*' | cut -d: -f2
}
# wait_status ID WANT: poll for up to 5 s
wait_status() {
    local i
    for i in $(seq 50); do
        [ "$(status "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# What the container prints about its own cgroup, one key=value per line.
REPORT='for f in memory.max pids.max cpu.max; do echo "$f=$(cat /sys/fs/cgroup/$f 2>&1)"; done
echo "self=$(cat /proc/self/cgroup)"
echo "fstype=$(grep " /sys/fs/cgroup " /proc/mounts | cut -d" " -f3)"'

# check_report PREFIX: the limits and cgroup namespace as seen inside
# (nothing to check when the run failed: expect_ok has counted that)
check_report() {
    [ "$RC" = 0 ] || return 0
    check "$1: memory.max inside" "$(field memory.max)" 67108864
    check "$1: pids.max inside" "$(field pids.max)" 32
    check "$1: cpu.max inside" "$(field cpu.max)" "50000 100000"
    check "$1: /proc/self/cgroup inside (cgroup ns)" "$(field self)" "0::/"
    check "$1: /sys/fs/cgroup inside is cgroup2" "$(field fstype)" cgroup2
}

# -- checkpoint/restore (guest-tests, systemd-tests) --------------------------------
# The distribution's CRIU: 3.17 works on the guest's 6.1 kernel.
CRIU=${HULL_VM_CRIU:-$(command -v criu || true)}
DATA=$WORK/crdata

# counter_bundle NAME CGROUPS_PATH -> a bundle whose init counts into
# $DATA/count (a bind mount at /data) every 100 ms, with $LIMITS
counter_bundle() {
    mkdir -p "$DATA" "$ROOTFS/data"
    rm -f "$DATA/count"
    local b
    b=$(mkbundle "$1" "$2" "$LIMITS" sh -c 'i=0; while true; do echo $i > /data/c.new; mv /data/c.new /data/count; i=$((i+1)); sleep 0.1; done')
    sed -i 's|"mounts": \[|"mounts": [\n    { "destination": "/data", "type": "bind", "source": "'"$DATA"'", "options": [ "rbind", "rw" ] },|' "$b/config.json"
    echo "$b"
}
# cr ARGS...: hull with --criu, stdio on /dev/null (CRIU cannot dump a host
# file); `run -d` leaves its stderr to the container, so /dev/null there
# too. On failure, CRIU's errors from the log hull names are printed.
cr() {
    local err=$ERR log
    [ "$1" != run ] && [ "${2:-}" != run ] || err=/dev/null
    : > "$ERR"
    timeout -k 2 120 "$HULL" --root "$STATE" --criu "$CRIU" "$@" < /dev/null > /dev/null 2> "$err"
    RC=$?
    log=$(sed -n 's/.*(log: \(.*\))$/\1/p' "$ERR")
    [ "$RC" = 0 ] || [ -z "$log" ] || grep -E 'Error|Warn' "$log" | tail -15
}
count() { cat "$DATA/count" 2>/dev/null || echo 0; }
# above N: wait up to 10 s for the counter to pass N
above() { local i; for i in $(seq 100); do [ "$(count)" -gt "$1" ] && return 0; sleep 0.1; done; return 1; }
