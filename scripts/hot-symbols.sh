#!/usr/bin/env bash
# Regenerates crates/hull/hot-symbols.txt, the function order crates/hull/
# build.rs hands to the linker (why: that file's docs, bench/PROFILE.md).
#
# It builds an unstripped release hull with the same compiler and flags as a
# normal release build (so the symbol names match), runs the commands users
# run most, records which of hull's functions execute, and writes them in
# order: those every short command runs first, then the rest of the short
# commands' (state, list, kill, delete, start...), then what create, run and
# exec execute. Short commands run under callgrind, which sees every
# function; create/run/exec need syscalls valgrind lacks (openat2,
# open_tree), so they are sampled with perf at a high rate over many runs.
#
# Run as root from the repository root, on an otherwise idle machine:
#   bash scripts/hot-symbols.sh [ITERATIONS]     (default 150)
# Needs valgrind, perf, busybox-static. Leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
iters=${1:-150}
for t in valgrind perf busybox; do
    command -v $t >/dev/null || { echo "hot-symbols: needs $t" >&2; exit 1; }
done

target=${CARGO_TARGET_DIR:-$PWD/target}
# `cargo rustc ... -- -C strip=none` keeps the release profile, and with it
# the crate metadata that the symbol names' hashes derive from.
cargo rustc --release -p hull --bin hull -- -C strip=none >&2
work=$(mktemp -d /tmp/hull-hot.XXXXXX)
cg=/hull-hot-$$
cleanup() {
    set +e
    for id in $(cat "$work/ids" 2>/dev/null); do
        "$work/hull" --root "$work/root" delete -f "$id" >/dev/null 2>&1
    done
    for d in /sys/fs/cgroup/*/$cg /sys/fs/cgroup/$cg; do
        [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT
cp "$target/release/hull" "$work/hull"
# Cargo links the same file again on the next plain build; the copy keeps
# the unstripped one for nm.
mkdir -p "$work/b/rootfs/bin" "$work/root"
cp "$(command -v busybox)" "$work/b/rootfs/bin/busybox"
for c in sh true sleep; do ln -s busybox "$work/b/rootfs/bin/$c"; done
(cd "$work/b" && "$work/hull" spec)
python3 - "$work/b/config.json" "$cg" <<'EOF'
import json, sys
path, cg = sys.argv[1], sys.argv[2]
c = json.load(open(path))
c["process"]["args"] = ["/bin/sleep", "1000"]
c["process"]["terminal"] = False
c["process"]["capabilities"]["ambient"] = []
c["linux"]["cgroupsPath"] = cg + "/c"
json.dump(c, open(path, "w"))
EOF
h() { "$work/hull" --root "$work/root" "$@"; }
V="valgrind --tool=callgrind --demangle=no -q"
vg() { local name=$1; shift; $V --callgrind-out-file="$work/cg.$name" "$work/hull" --root "$work/root" "$@" >/dev/null 2>&1 || true; }

cd "$work/b"
echo "a b" >"$work/ids"
h create a && h create b && h start b
vg version --version
vg list list
vg state state b
vg ps ps b
vg pause pause b
vg resume resume b
vg start start a
vg kill kill a KILL
# valgrind lacks pidfd_send_signal: the traced kill may not have landed.
h kill a KILL 2>/dev/null || true
for _ in $(seq 100); do
    h state a | grep -q '"status": *"stopped"' && break
    sleep 0.05
done
vg delete delete a
vg deletef delete -f b
vg features features
(mkdir -p "$work/s" && cd "$work/s" && vg spec spec)

# create/start/delete, run and exec, sampled; exec goes into `e`.
h create e && h start e
echo e >"$work/ids"
sed -i 's#"/bin/sleep", "1000"#"/bin/true"#' config.json
# From a read-only bind of the binary (in a mount namespace of its own): an
# older hull re-executes itself from a writable path, and perf cannot name
# the functions of an image run from a detached mount.
mkdir -p "$work/ro" && cp "$work/hull" "$work/ro/hull"
perf record -q -F 49999 -e cpu-clock:u -o "$work/perf.data" -- \
    unshare -m --propagation private bash -c "
    mount --bind '$work/ro' '$work/ro' && mount -o remount,bind,ro '$work/ro' || exit 1
    h() { '$work/ro/hull' --root '$work/root' \"\$@\"; }
    for i in \$(seq $iters); do
        h create c\$i && h start c\$i && h delete -f c\$i
        h run r\$i
        h exec e /bin/true
    done" >/dev/null 2>&1 || true
perf script -i "$work/perf.data" -F ip,sym,dso --no-demangle 2>/dev/null |
    awk -v exe="$work/ro/hull" '$NF == "(" exe ")" { print $2 }' >"$work/sampled"

python3 - "$work" >"$repo/crates/hull/hot-symbols.txt" <<'EOF'
import collections, re, subprocess, sys
work = sys.argv[1]
out = subprocess.run(["nm", "--defined-only", work + "/hull"], capture_output=True, text=True).stdout
text = {p[2] for p in (l.split(" ", 2) for l in out.splitlines()) if len(p) == 3 and p[1] in "tT"}
def executed(name):
    seen = []
    for line in open(f"{work}/cg.{name}"):
        m = re.match(r"^c?fn=\(\d+\) (\S+)", line)
        if m and m.group(1) in text and m.group(1) not in seen:
            seen.append(m.group(1))
    return seen
# The commands the benchmark measures, most frequent first; what they all
# run (argument parsing, state loading) leads, then each one's own code, so
# that `list` or `state` touches one dense block.
core = ["list", "state", "kill", "delete", "start", "deletef"]
rest = ["ps", "pause", "resume", "version", "features", "spec"]
runs = {c: executed(c) for c in core + rest}
common = [n for n in runs["list"] if all(n in runs[c] for c in core)]
order = list(common)
placed = set(order)
def add(names):
    for n in names:
        if n not in placed:
            placed.add(n)
            order.append(n)
for c in core:
    add(runs[c])
short = len(order)
samples = collections.Counter(l.strip() for l in open(work + "/sampled") if l.strip() in text)
add(sorted(samples, key=lambda n: (-samples[n], n)))
sampled = len(order) - short
for c in rest:
    add(runs[c])
print("\n".join(order))
print(f"hot-symbols: {short} functions of the measured short commands ({len(common)} common), "
      f"{sampled} sampled from create/run/exec, {len(order) - short - sampled} of the others",
      file=sys.stderr)
EOF
