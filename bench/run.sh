#!/usr/bin/env bash
# hull vs crun vs runc benchmark (issue #18, "Performance"). Not part of the test suite.
#
#   bash bench/run.sh [--quick] [--only OPS] [--hull PATH] [--crun PATH] [--runc PATH]
#
# Needs root, hyperfine, /usr/bin/time, crun, runc, busybox-static and a
# release build of hull (cargo build --release -p hull; or pass --hull).
# Writes bench/RESULTS.md and the raw hyperfine JSON to bench/results/.
# Full mode takes 4.5-9 minutes on 2 cores (aim: at most 12); --quick about 1.
# --quick and --only write to bench/results-quick/ (with its own RESULTS.md),
# so only a full run replaces bench/RESULTS.md and bench/results/.
#
# crun 1.8 refuses this host's hybrid cgroup layout, so the whole comparison
# runs (for all three runtimes alike) in a private mount namespace where
# /sys/fs/cgroup/unified is unmounted: everyone sees pure cgroup v1.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "run.sh: must run as root" >&2; exit 1; }
for tool in hyperfine unshare python3; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "run.sh: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
    echo "run.sh: needs a static /bin/busybox (apt-get install busybox-static)" >&2; exit 1
fi
hull=target/release/hull
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    [ "${args[$i]}" = --hull ] && hull=${args[$((i + 1))]:-}
done
case " $* " in *" --report-only "*) exec python3 bench/bench.py "$@" ;; esac
[ -x "$hull" ] || { echo "run.sh: $hull missing: cargo build --release -p hull" >&2; exit 1; }

export BENCH_COMMAND="bash bench/run.sh${*:+ $*}"
# bench.py writes its tag (hull-bench-<pid>) here, so that the check below
# looks at this run's leftovers only, not at another bench running meanwhile.
BENCH_TAG_FILE=$(mktemp)
export BENCH_TAG_FILE
rc=0
# Ctrl-C reaches bench.py too, which cleans up and exits; a trap (not an
# ignore, which the children would inherit) keeps this script alive for the
# leftover check below.
trap 'echo "run.sh: interrupted; checking for leftovers" >&2' INT TERM
unshare -m --propagation private sh -c '
    if mountpoint -q /sys/fs/cgroup/unified; then umount -l /sys/fs/cgroup/unified; fi
    exec "$@"' x python3 bench/bench.py "$@" || rc=$?

# Nothing may be left behind, also after Ctrl-C (bench.py cleans up in a
# finally block with SIGINT ignored): cgroups, mounts, the work dir with the
# state roots, processes, the rootless user. The namespace and its mounts go
# when the last process in it does, so a leftover process is the thing to find.
# crun also leaves plain directories under the unmounted unified/ (only
# visible with it unmounted); bench.py removes them, this checks.
tag=$(cat "$BENCH_TAG_FILE" 2>/dev/null || true)
rm -f "$BENCH_TAG_FILE"
glob=${tag:-hull-bench-*}   # without a tag (an early failure): any bench's
left=$(ls -d /sys/fs/cgroup/*/$glob /sys/fs/cgroup/$glob /tmp/$glob 2>/dev/null || true)
left+=$(unshare -m --propagation private sh -c '
    if mountpoint -q /sys/fs/cgroup/unified; then umount -l /sys/fs/cgroup/unified; fi
    ls -d /sys/fs/cgroup/unified/$1 2>/dev/null' x "$glob" || true)
while read -r _ _ _ _ mnt _; do
    case $mnt in */$glob | */$glob/*) left+=" mount:$mnt" ;; esac
done </proc/self/mountinfo
for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = $$ ] && continue
    cg=$(cat "$p/cgroup" 2>/dev/null) || continue
    cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
    case "$cg $cmd" in */$glob/*)
        left+=" process:$pid(${cmd:0:80})" ;;
    esac
done
# The rootless user's comment is the tag.
left+=$(getent passwd | awk -F: -v t="${tag:-hull-bench-}" '
    (t ~ /-$/ ? index($5, t) == 1 : $5 == t) { printf " user:%s", $1 }')
if [ -n "$left" ]; then
    echo "run.sh: WARNING: left behind:" $left >&2
    rc=1
else
    echo "run.sh: nothing left behind (cgroups, mounts, work dir, processes, user)"
fi
exit $rc
