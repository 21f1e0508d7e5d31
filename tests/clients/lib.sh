# shellcheck shell=bash
# Shared helpers for the real-client tests (podman.sh, containerd.sh).
# Sourced, not run. Bash only.
#
# Provides: check reporting (pass/fail/expect_*), the busybox rootfs and
# image archives, cgroup and mount cleanup limited to what the test owns.

: "${CLIENT_NAME:?set CLIENT_NAME before sourcing lib.sh}"

CLIENTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$CLIENTS_DIR/../.." && pwd)
RUNTIME=${RUNTIME:-$REPO_DIR/target/release/hull}
# Seconds any single client command may take before it counts as hung.
CMD_TIMEOUT=${CMD_TIMEOUT:-60}
VERBOSE=${VERBOSE:-0}

N_PASS=0
N_FAIL=0
FAILED_CHECKS=()

pass() {
    N_PASS=$((N_PASS + 1))
    echo "PASS: $1"
}

# fail NAME [DETAIL...]
fail() {
    local name=$1
    shift
    N_FAIL=$((N_FAIL + 1))
    FAILED_CHECKS+=("$name")
    echo "FAIL: $name"
    if [ $# -gt 0 ]; then
        printf '%s\n' "$*" | sed -e 's/^/    | /' | head -n 40
    fi
}

# expect_eq NAME WANT GOT [CONTEXT]
expect_eq() {
    if [ "$2" = "$3" ]; then
        pass "$1"
    else
        fail "$1" "want: $2" "got:  $3" "${4:-}"
    fi
}

# expect_match NAME EXTENDED-REGEX TEXT [CONTEXT]
expect_match() {
    if printf '%s\n' "$3" | grep -Eq -- "$2"; then
        pass "$1"
    else
        fail "$1" "want a line matching: $2" "got: $3" "${4:-}"
    fi
}

# summary: the closing line, exactly "<name>: N passed, M failed".
summary() {
    if [ "$N_FAIL" -gt 0 ]; then
        echo "failed checks: ${FAILED_CHECKS[*]}"
    fi
    echo "$CLIENT_NAME: $N_PASS passed, $N_FAIL failed"
    [ "$N_FAIL" -eq 0 ]
}

log() { echo "[$CLIENT_NAME] $*" >&2; }
vlog() { [ "$VERBOSE" = 1 ] && echo "[$CLIENT_NAME] $*" >&2 || true; }

die() {
    echo "$CLIENT_NAME: setup failed: $*" >&2
    N_FAIL=$((N_FAIL + 1))
    FAILED_CHECKS+=("setup")
    echo "FAIL: setup"
    exit 1
}

require_root() {
    [ "$(id -u)" = 0 ] || die "must run as root"
}

require_cmds() {
    local c missing=()
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    [ ${#missing[@]} -eq 0 ] || die "missing commands: ${missing[*]} (tests/clients/ci.sh installs them)"
}

require_runtime() {
    [ -x "$RUNTIME" ] || die "runtime $RUNTIME not found or not executable (build hull, or set RUNTIME=)"
}

# A static busybox: Debian's busybox-static installs it as /bin/busybox.
busybox_path() {
    local b
    for b in "${BUSYBOX:-}" /bin/busybox /usr/bin/busybox; do
        [ -n "$b" ] && [ -x "$b" ] || continue
        if ! ldd "$b" >/dev/null 2>&1; then
            echo "$b"
            return 0
        fi
    done
    return 1
}

# make_rootfs DIR: a busybox root filesystem (static busybox, applet
# symlinks, /etc/passwd with root and nobody).
make_rootfs() {
    local r=$1 bb a
    bb=$(busybox_path) || die "no static busybox (apt-get install busybox-static)"
    mkdir -p "$r/bin" "$r/etc" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" "$r/root" "$r/run" "$r/var/tmp"
    chmod 1777 "$r/tmp" "$r/var/tmp"
    cp "$bb" "$r/bin/busybox"
    chmod 0755 "$r/bin/busybox"
    for a in $("$bb" --list); do
        [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$r/etc/passwd"
    printf 'root:x:0:\ntty:x:5:\nnobody:x:65534:\n' >"$r/etc/group"
    : >"$r/etc/hosts"
    # for tmpcopyup: a tmpfs mounted over /var/tmp must show this file
    echo copied-up >"$r/var/tmp/hc-copyup"
    : >"$r/etc/resolv.conf"
}

# make_rootfs_tar DIR TARBALL: the rootfs as a tarball (for podman import).
make_rootfs_tar() {
    make_rootfs "$1"
    tar --numeric-owner -C "$1" -cf "$2" . || die "tar $1"
}

# make_docker_archive WORKDIR ARCHIVE REF [ENTRYPOINT [EXECUTABLE]]: a docker-archive (what
# `podman save --format docker-archive` / `docker save` write) holding one
# busybox layer, tagged REF. Built by hand so the test needs no registry and
# no second client.
#
# With ENTRYPOINT (a JSON array) the image runs that instead of /bin/sh, and
# EXECUTABLE, if given, is copied into the rootfs's / (a pause image: the
# CRI sandbox's process).
make_docker_archive() {
    local w=$1 out=$2 ref=$3 entrypoint=${4:-} executable=${5:-}
    local d="$w/docker-archive" run='"Cmd":["/bin/sh"]'
    mkdir -p "$d"
    make_rootfs "$w/rootfs"
    if [ -n "$executable" ]; then
        install -m 0755 "$executable" "$w/rootfs/$(basename "$executable")" || die "copy $executable"
    fi
    [ -n "$entrypoint" ] && run="\"Entrypoint\":$entrypoint"
    tar --numeric-owner -C "$w/rootfs" -cf "$d/layer.tar" . || die "tar layer"
    local diff_id
    diff_id=$(sha256sum "$d/layer.tar" | cut -d' ' -f1)
    mkdir -p "$d/$diff_id"
    mv "$d/layer.tar" "$d/$diff_id/layer.tar"
    cat >"$d/config.json" <<EOF
{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],$run,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},"history":[{"created":"2024-01-01T00:00:00Z","created_by":"hull tests/clients"}]}
EOF
    local cfg_id
    cfg_id=$(sha256sum "$d/config.json" | cut -d' ' -f1)
    mv "$d/config.json" "$d/$cfg_id.json"
    printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' "$cfg_id" "$ref" "$diff_id" >"$d/manifest.json"
    tar -C "$d" -cf "$out" manifest.json "$cfg_id.json" "$diff_id" || die "tar docker archive"
}

# The cgroup v1 hierarchies and/or the v2 root mounted on this host.
cgroup_roots() {
    while read -r _ mnt fstype _; do
        case $fstype in
            cgroup | cgroup2) echo "$mnt" ;;
        esac
    done </proc/self/mounts
}

# containerd_config DIR SOCKET [PLUGIN...]: the private part of a
# containerd config.toml (version 2): root, state, opt path under DIR, the
# gRPC and ttrpc sockets at SOCKET, no debug or metrics listener, and
# PLUGIN... disabled besides the snapshotters this host lacks.
containerd_config() {
    local dir=$1 sock=$2 p disabled=""
    shift 2
    for p in "$@" io.containerd.snapshotter.v1.btrfs io.containerd.snapshotter.v1.zfs \
        io.containerd.snapshotter.v1.devmapper io.containerd.snapshotter.v1.aufs; do
        disabled="$disabled${disabled:+, }\"$p\""
    done
    cat <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = [$disabled]

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
EOF
}

# start_containerd CONFIG LOG PARENT SOCKET: a private containerd with
# CONFIG, its output to LOG, in the test's own cgroup PARENT/daemon in the
# hierarchies where that costs nothing (not cpuset/memory): its shims
# inherit it, so cleanup finds them all. Sets CTRD_PID; returns 0 once the
# daemon answers on SOCKET, 1 if it died or did not answer in 15 s.
start_containerd() {
    local config=$1 logf=$2 parent=$3 sock=$4
    start_daemon "$parent" "$logf" containerd --config "$config" --log-level info
    CTRD_PID=$DAEMON_PID
    for _ in $(seq 150); do
        ctr --address "$sock" version >/dev/null 2>&1 && return 0
        kill -0 "$CTRD_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# stop_by_pid PID SECONDS: a daemon the test started, by its PID: TERM,
# then KILL after SECONDS.
stop_by_pid() {
    local pid=$1 secs=$2
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq $((secs * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# stop_containerd: the daemon start_containerd started, by its PID: TERM,
# then KILL after 5 s.
stop_containerd() { stop_by_pid "${CTRD_PID:-}" 5; }

# cgroup_file_of PID CONTROLLER FILE: the host path of FILE in the cgroup of
# PID for CONTROLLER (v1), or in its unified cgroup (v2 / "" controller).
cgroup_file_of() {
    local pid=$1 ctl=$2 file=$3 path=""
    if [ -d "/sys/fs/cgroup/$ctl" ] && [ -n "$ctl" ]; then
        path=$(awk -F: -v c="$ctl" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$pid/cgroup" | head -n1)
        [ -n "$path" ] && { echo "/sys/fs/cgroup/$ctl$path/$file"; return 0; }
    fi
    path=$(awk -F: '$1 == "0" { print $3 }' "/proc/$pid/cgroup" | head -n1)
    echo "/sys/fs/cgroup$path/$file"
}

# cgroup_remove_parent NAME: remove the test's own cgroup parent /NAME in
# every hierarchy, children first. Processes still inside belong to this
# test (only it puts anything there): they are SIGKILLed first.
cgroup_remove_parent() {
    local name=${1#/}
    [ -n "$name" ] || return 0
    case $name in
        hull-clients-*) ;;
        *) echo "refusing to remove cgroup /$name: not a test parent" >&2; return 1 ;;
    esac
    local root top d pid
    for root in $(cgroup_roots); do
        top="$root/$name"
        [ -d "$top" ] || continue
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            local left=0
            # thaw first: a frozen task cannot die
            while IFS= read -r d; do
                [ -w "$d/freezer.state" ] && echo THAWED >"$d/freezer.state" 2>/dev/null
                [ -w "$d/cgroup.freeze" ] && echo 0 >"$d/cgroup.freeze" 2>/dev/null
                if [ -r "$d/cgroup.procs" ]; then
                    while read -r pid; do
                        [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && left=1
                    done <"$d/cgroup.procs"
                fi
            done < <(find "$top" -depth -type d 2>/dev/null)
            [ $left = 1 ] && sleep 0.2
            find "$top" -depth -type d -exec rmdir {} \; 2>/dev/null
            [ -d "$top" ] || break
            sleep 0.3
        done
        [ -d "$top" ] && echo "warning: could not remove cgroup $top" >&2
    done
    return 0
}

# umount_under DIR: unmount everything mounted at or below DIR, deepest first.
umount_under() {
    local dir
    dir=$(realpath -m "$1")
    [ -n "$dir" ] && [ "$dir" != / ] || return 0
    local m
    # /proc/self/mountinfo field 5 is the mount point (octal-escaped).
    awk -v d="$dir" '{ m = $5; gsub(/\\040/, " ", m); if (m == d || index(m, d "/") == 1) print m }' /proc/self/mountinfo |
        sort -r | while IFS= read -r m; do
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "warning: could not unmount $m" >&2
        done
}

# remove_tree DIR: unmount what is under it, then delete it.
remove_tree() {
    local dir=$1
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    umount_under "$dir"
    rm -rf --one-file-system "$dir" 2>/dev/null || { umount_under "$dir"; rm -rf "$dir"; }
}

# Paths a client creates outside its private roots no matter what (image
# blob-info cache, netavark's run dir, the containerd shim's dirs...).
# note_paths P...: remember which of them exist before the test;
# remove_new_paths: remove those that did not, only if they are empty
# (or hold only the client's well-known cache file).
declare -A PREEXISTING=()
NOTED_PATHS=()
note_paths() {
    local p
    for p in "$@"; do
        NOTED_PATHS+=("$p")
        [ -e "$p" ] && PREEXISTING[$p]=1
    done
    return 0
}
remove_new_paths() {
    local i p
    # deepest first
    for ((i = ${#NOTED_PATHS[@]} - 1; i >= 0; i--)); do
        p=${NOTED_PATHS[$i]}
        [ -n "${PREEXISTING[$p]:-}" ] && continue
        [ -e "$p" ] || continue
        if [ -d "$p" ]; then
            rmdir "$p" 2>/dev/null || vlog "left $p (not empty)"
        else
            rm -f "$p"
        fi
    done
}

# run_to FILE CMD...: run CMD with the command timeout, stdout+stderr to FILE;
# returns CMD's exit code (124 on timeout).
run_to() {
    local out=$1
    shift
    timeout --kill-after=10 "$CMD_TIMEOUT" "$@" >"$out" 2>&1 </dev/null
}

# output without carriage returns and NULs (terminals add them)
clean() { tr -d '\r\000' <"$1"; }

# start_daemon PARENT LOG CMD...: CMD in the background (output to LOG), in
# the cgroup PARENT/daemon of the hierarchies where that costs nothing (not
# cpuset/memory): what it starts (containerd, shims) inherits it, so
# cgroup_remove_parent finds them all. Sets DAEMON_PID.
start_daemon() {
    local parent=$1 log=$2 root
    shift 2
    local cgs=()
    for root in $(cgroup_roots); do
        case $(basename "$root") in
            pids | systemd | unified) cgs+=("$root$parent/daemon") ;;
            *) [ "$(stat -f -c %T "$root")" = cgroup2fs ] && cgs+=("$root$parent/daemon") ;;
        esac
    done
    (
        for c in "${cgs[@]}"; do
            mkdir -p "$c" && echo "$BASHPID" >"$c/cgroup.procs"
        done
        exec "$@"
    ) >"$log" 2>&1 &
    DAEMON_PID=$!
}

# await_daemon WHAT LOG CMD...: poll CMD (up to 30 s, while $DAEMON_PID
# lives); passes the check "WHAT", or fails it with LOG's tail and ends
# the group.
await_daemon() {
    local what=$1 log=$2
    shift 2
    for _ in $(seq 300); do
        if "$@" >/dev/null 2>&1; then
            pass "$what"
            return 0
        fi
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        sleep 0.1
    done
    fail "$what" "$(tail -n 30 "$log")"
    summary
    exit 1
}
