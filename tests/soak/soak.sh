#!/usr/bin/env bash
# Soak test: many create/start/delete cycles plus creates that fail at
# varied phases, several at a time; afterwards nothing may be left: no
# state dirs, cgroups, mounts, processes or hull fds. Every command runs
# under a generous timeout, which is a hang detector, not a speed test.
#
#   bash tests/soak/soak.sh [--short]     # short: 100 cycles + 40 failures
#   CYCLES=1000 FAILURES=200 JOBS=4 bash tests/soak/soak.sh
#
# Needs root, a release build (target/release/hull) and busybox-static.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
HULL=${HULL:-$REPO/target/release/hull}
CYCLES=${CYCLES:-1000}
FAILURES=${FAILURES:-200}
JOBS=${JOBS:-4}
if [ "${1:-}" = "--short" ]; then CYCLES=100; FAILURES=40; fi
[ -x "$HULL" ] || { echo "soak: $HULL missing (cargo build --release -p hull)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/hull-soak.XXXXXX)
ROOT=$WORK/root
PARENT=hull-soak-$$
mkdir -p "$ROOT"
cleanup() {
    for id in $(ls "$ROOT" 2>/dev/null); do "$HULL" --root "$ROOT" delete --force "$id" >/dev/null 2>&1 || true; done
    for d in /sys/fs/cgroup/*/"$PARENT" /sys/fs/cgroup/"$PARENT"; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# A busybox rootfs: hull-probe is not needed here.
RFS=$WORK/rootfs
mkdir -p "$RFS"/{bin,proc,dev,sys,tmp,etc}
cp /bin/busybox "$RFS/bin/busybox"
for a in sh true false sleep cat echo; do ln -s busybox "$RFS/bin/$a"; done

# spec NAME ARGS_JSON EXTRA_JSON_FRAGMENT
spec() {
    local dir=$WORK/bundles/$1; mkdir -p "$dir"
    cat > "$dir/config.json" <<JSON
{"ociVersion":"1.0.2","root":{"path":"$RFS"},
 "process":{"cwd":"/","user":{"uid":0,"gid":0},"args":$2,"env":["PATH=/bin"],
   "capabilities":{"bounding":["CAP_KILL"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"]}},
 "hostname":"soak",
 "mounts":[{"destination":"/proc","type":"proc","source":"proc"},
           {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","mode=755"]}],
 $3
 "linux":{"cgroupsPath":"/$PARENT/$1","namespaces":[{"type":"pid"},{"type":"mount"},{"type":"ipc"},{"type":"uts"},{"type":"network"}]
   ${4:-}}}
JSON
    echo "$dir"
}

mountinfo_before=$(grep -v hull-soak /proc/self/mountinfo | wc -l)
T="timeout -k 5 60"

# One good cycle: create, start, state, kill, delete.
good() {
    local id=ok-$1 b; b=$(spec "$id" '["sleep","30"]' '')
    $T "$HULL" --root "$ROOT" create -b "$b" "$id" </dev/null >/dev/null 2>&1 || { echo "FAIL create $id"; return 0; }
    $T "$HULL" --root "$ROOT" start "$id" >/dev/null 2>&1 || echo "FAIL start $id"
    $T "$HULL" --root "$ROOT" state "$id" >/dev/null 2>&1 || echo "FAIL state $id"
    $T "$HULL" --root "$ROOT" delete --force "$id" >/dev/null 2>&1 || echo "FAIL delete $id"
    echo "DONE good $id"
}

# One create that must fail, at a phase chosen by $1 mod 5.
bad() {
    local id=bad-$1 b kind=$(( $1 % 5 ))
    case $kind in
        0) b=$(spec "$id" '["sleep","30"]' '"hooks":{"createRuntime":[{"path":"/bin/false"}]},') ;;
        1) b=$(spec "$id" '["sleep","30"]' '' ',"resources":{"memory":{"limit":1}}') ;;
        2) b=$(spec "$id" '["no-such-binary"]' '') ;;
        3) b=$(spec "$id" '["sleep","30"]' '' ',"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}') ;;
        4) b=$(spec "$id" '["sleep","30"]' '"hooks":{"createContainer":[{"path":"/no/such/hook"}]},') ;;
    esac
    if $T "$HULL" --root "$ROOT" create -b "$b" "$id" </dev/null >/dev/null 2>&1; then
        echo "FAIL $id (kind $kind) was created"
        "$HULL" --root "$ROOT" delete --force "$id" >/dev/null 2>&1 || true
    else
        local rc=$?; [ $rc -ge 124 ] && echo "FAIL $id (kind $kind) hung (timeout)"
    fi
    echo "DONE bad $id"
}
export -f good bad spec
export HULL ROOT WORK RFS PARENT T

start=$(date +%s)
{ seq 1 "$CYCLES" | sed 's/^/good /'; seq 1 "$FAILURES" | sed 's/^/bad /'; } | shuf \
    | xargs -P "$JOBS" -n 2 bash -c '"$0" "$1"' > "$WORK/log" 2>&1 || true
elapsed=$(( $(date +%s) - start ))

fails=$(grep -c '^FAIL' "$WORK/log" || true)
done_ops=$(grep -c '^DONE' "$WORK/log" || true)
grep '^FAIL' "$WORK/log" | head -20 || true
left_state=$(ls "$ROOT" | wc -l)
left_cg=$( (find /sys/fs/cgroup/*/"$PARENT" /sys/fs/cgroup/"$PARENT" -mindepth 1 -type d 2>/dev/null || true) | wc -l)
mountinfo_after=$(grep -v hull-soak /proc/self/mountinfo | wc -l)
hull_running=$(for p in /proc/[0-9]*; do if { tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null | grep -q -- "--root $ROOT"; then echo x; fi; done | wc -l)

checks=0; bad_checks=0
check() { checks=$((checks+1)); if [ "$2" = "$3" ]; then echo "PASS $1"; else echo "FAIL $1: $2 (want $3)"; bad_checks=$((bad_checks+1)); fi; }
check "operations completed" "$done_ops" $((CYCLES + FAILURES))
check "operations without error ($CYCLES cycles, $FAILURES failing creates, $JOBS at a time, ${elapsed}s)" "$fails" 0
check "state dirs left" "$left_state" 0
# A cgroup can only be removed once empty: no cgroup left means no
# container process left either.
check "cgroups (and so container processes) left" "$left_cg" 0
check "host mount count unchanged" "$mountinfo_after" "$mountinfo_before"
check "hull processes left" "$hull_running" 0
echo "soak: $((checks-bad_checks)) passed, $bad_checks failed"
[ "$bad_checks" = 0 ]
