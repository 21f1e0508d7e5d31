#!/usr/bin/env bash
# containerd's CRI plugin drives an OCI runtime the way kubelet does: the
# test client tests/cri (crate k8s-cri, CRI v1 over containerd's socket)
# runs pods and containers through it; the plugin's runc runtime (the runc
# v2 shim) calls the runtime under test as its BinaryName.
#
#   RUNTIME=/path/to/hull bash tests/clients/cri.sh      (default: <repo>/target/release/hull)
#   RUNTIME=/usr/sbin/runc bash tests/clients/cri.sh     (the reference)
#   HULL_CRI_BIN=/path/to/hull-cri                       (default: built into $CARGO_TARGET_DIR/cri)
#
# A private containerd is started here with the CRI plugin on: root, state,
# gRPC/ttrpc sockets, the opt path, the CNI config and the runtime's state
# root all live in one temp dir; it runs in the test's own cgroup
# (/hull-clients-<pid>/daemon) so that it and its shims are found and
# stopped at the end. Pods get the cgroup parent /hull-clients-<pid>/<pod>.
# Images are hand-made docker-archives (busybox, and a pause image whose
# /pause is a shell loop) imported with `ctr -n k8s.io images import`: no
# registry. The pod network is a CNI plugin of the test's own that puts a
# veth pair inside the pod's network namespace and touches nothing on the
# host (see hull-pod-net below).
# Prints PASS/FAIL per check and, last, "cri: N passed, M failed".
# Exits non-zero if any check failed. Root only.
set -u
CLIENT_NAME=cri
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

require_root
require_cmds containerd ctr containerd-shim-runc-v2 tar sha256sum timeout awk nsenter ip
require_runtime
CNI_BIN=${CNI_BIN:-/usr/lib/cni}
[ -x "$CNI_BIN/loopback" ] || die "no CNI loopback plugin in $CNI_BIN (apt-get install containernetworking-plugins)"

IMAGE=localhost/hull-clients-busybox:latest
PAUSE=localhost/hull-clients-pause:latest
NS=k8s.io
CG_PARENT=/hull-clients-$$
# Short: the shim's socket paths are derived from it (108-byte limit).
T=$(mktemp -d /tmp/hcr.XXXXXX)
SOCK=$T/containerd.sock
CTRD_PID=""
CTR=(ctr --address "$SOCK" --namespace "$NS")

# The client, built (or brought up to date) into a target dir of its own:
# its tonic stack stays out of hull's workspace.
if [ -z "${HULL_CRI_BIN:-}" ]; then
    CRI_TARGET=${CARGO_TARGET_DIR:-$REPO_DIR/target}/cri
    HULL_CRI_BIN=$CRI_TARGET/release/hull-cri
    log "building the CRI test client (tests/cri) into $CRI_TARGET"
    cargo build --release --manifest-path "$REPO_DIR/tests/cri/Cargo.toml" --target-dir "$CRI_TARGET" >&2 ||
        die "cargo build of tests/cri failed (it needs protoc: apt-get install protobuf-compiler)"
fi

# Paths containerd and its plugins make outside their roots whatever the
# config says: the shim's sockets, libcni's result cache, the pods' netns
# mount points.
note_paths /run/containerd /run/containerd/s /var/lib/cni /var/lib/cni/results /run/netns
NETNS_BEFORE=$(ls /run/netns 2>/dev/null)

c() { timeout --kill-after=10 "$CMD_TIMEOUT" "${CTR[@]}" "$@" </dev/null; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$CTRD_PID" ] && kill -0 "$CTRD_PID" 2>/dev/null; then
        local t
        # pods a failed run left: containerd removes their network namespaces
        HULL_CRI_SOCKET=$SOCK timeout --kill-after=10 120 "$HULL_CRI_BIN" cleanup </dev/null >/dev/null
        for t in $(c tasks ls -q 2>/dev/null); do
            c tasks kill -s SIGKILL "$t" >/dev/null 2>&1
        done
        sleep 0.3
        for t in $(c tasks ls -q 2>/dev/null); do
            c tasks delete -f "$t" >/dev/null 2>&1
        done
        # the daemon, by the PID we started it with
        stop_containerd
    fi
    cgroup_remove_parent "$CG_PARENT"
    # network namespaces of pods the client did not get to remove
    local n
    for n in $(ls /run/netns 2>/dev/null); do
        case " $(echo $NETNS_BEFORE) " in *" $n "*) continue ;; esac
        case $n in cni-*) umount "/run/netns/$n" 2>/dev/null; rm -f "/run/netns/$n" ;; esac
    done
    remove_tree "$T"
    remove_new_paths
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "runtime: $RUNTIME"
log "containerd: $(containerd --version 2>&1)"

# ---------------------------------------------------------------- daemon
mkdir -p "$T/root" "$T/state" "$T/opt" "$T/runtime-root" "$T/cni" "$T/logs"
# The pod network: containerd 1.6 wants an eth0 with an address in the CNI
# result ("failed to find network info for sandbox" otherwise), and the
# bridge plugin would change the host. hull-pod-net makes eth0 one end of
# a veth pair whose both ends stay in the pod's namespace; containerd's own
# loopback network brings lo up. The host's namespace is never entered.
mkdir -p "$T/cni-bin"
ln -s "$CNI_BIN/loopback" "$T/cni-bin/loopback"
cat >"$T/cni-bin/hull-pod-net" <<'PLUGIN'
#!/bin/sh
# CNI plugin (spec 0.4.0) for tests/clients/cri.sh: configures only inside
# the pod's network namespace ($CNI_NETNS).
cat >/dev/null
ns() { nsenter --net="$CNI_NETNS" "$@"; }
case $CNI_COMMAND in
ADD)
    ns ip link add "$CNI_IFNAME" type veth peer name hcpeer0 >&2 || exit 1
    ns ip addr add 10.88.77.2/24 dev "$CNI_IFNAME" >&2 || exit 1
    ns ip link set hcpeer0 up >&2 && ns ip link set "$CNI_IFNAME" up >&2 || exit 1
    mac=$(ns cat "/sys/class/net/$CNI_IFNAME/address")
    printf '{"cniVersion":"0.4.0","interfaces":[{"name":"%s","mac":"%s","sandbox":"%s"}],"ips":[{"version":"4","address":"10.88.77.2/24","interface":0}]}\n' \
        "$CNI_IFNAME" "$mac" "$CNI_NETNS"
    ;;
DEL)
    [ -n "${CNI_NETNS:-}" ] && [ -e "$CNI_NETNS" ] && ns ip link del "$CNI_IFNAME" 2>/dev/null
    exit 0
    ;;
CHECK) exit 0 ;;
VERSION) echo '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}' ;;
*) exit 4 ;;
esac
PLUGIN
chmod 0755 "$T/cni-bin/hull-pod-net"
cat >"$T/cni/10-hull-cri.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "hull-cri-pod", "plugins": [{"type": "hull-pod-net"}]}
EOF
# The CRI runtime entry is the one tests/clients/README.md documents for
# Kubernetes; restrict_oom_score_adj because this host refuses a negative
# oom_score_adj (the sandbox's default is -998).
containerd_config "$T" "$SOCK" >"$T/config.toml"
cat >>"$T/config.toml" <<EOF

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  restrict_oom_score_adj = true

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "hull"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hull]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hull.options]
        BinaryName = "$RUNTIME"
        Root = "$T/runtime-root"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$T/cni-bin"
    conf_dir = "$T/cni"
    max_conf_num = 1
EOF

if start_containerd "$T/config.toml" "$T/containerd.log" "$CG_PARENT" "$SOCK"; then
    pass "containerd started (pid $CTRD_PID, private root/state/sockets)"
else
    fail "containerd started" "$(tail -n 30 "$T/containerd.log")"
    summary
    exit 1
fi
plugins=$(ctr --address "$SOCK" plugins ls 2>&1)
expect_match "the CRI plugin is loaded" 'io\.containerd\.grpc\.v1 +cri +linux/amd64 +ok' "$plugins"

# ---------------------------------------------------------------- images
printf '#!/bin/sh\n# The sandbox process: holds the pod'"'"'s namespaces until stopped.\ntrap "exit 0" TERM INT\nwhile :; do sleep 3600 & wait; done\n' >"$T/pause"
make_docker_archive "$T/image" "$T/busybox.tar" "$IMAGE"
make_docker_archive "$T/pause-image" "$T/pause.tar" "$PAUSE" '["/pause"]' "$T/pause"
out=$T/out
for tarball in "$T/busybox.tar" "$T/pause.tar"; do
    run_to "$out" "${CTR[@]}" images import "$tarball"
    rc=$?
    expect_eq "ctr -n $NS images import $(basename "$tarball")" 0 $rc "$(cat "$out")"
done
listed=$(c images ls -q 2>&1)
expect_eq "both images in the CRI namespace" "$IMAGE $PAUSE" \
    "$(printf '%s\n' "$listed" | grep -xE "$IMAGE|$PAUSE" | sort -u | tr '\n' ' ' | sed 's/ $//')" "$listed"
rm -rf "$T/image" "$T/pause-image" "$T/busybox.tar" "$T/pause.tar"

# ---------------------------------------------------------------- the client
HULL_CRI_SOCKET=$SOCK HULL_CRI_CGROUP_PARENT=$CG_PARENT HULL_CRI_LOG_DIR=$T/logs \
    HULL_CRI_RUNTIME_ROOT=$T/runtime-root/$NS HULL_CRI_IMAGE=$IMAGE \
    timeout --kill-after=10 900 "$HULL_CRI_BIN" >"$out" 2>&1 </dev/null
rc=$?
cat "$out"
client_pass=$(grep -c '^PASS: ' "$out")
client_fail=$(grep -c '^FAIL: ' "$out")
N_PASS=$((N_PASS + client_pass))
N_FAIL=$((N_FAIL + client_fail))
mapfile -t failed < <(sed -n 's/^FAIL: //p' "$out")
FAILED_CHECKS+=("${failed[@]}")
if grep -qE '^cri-client: [0-9]+ passed, [0-9]+ failed$' "$out"; then
    expect_eq "the client ran to the end (exit 0 when all its checks passed)" "$([ "$client_fail" = 0 ] && echo 0 || echo 1)" "$rc"
else
    fail "the client ran to the end" "exit $rc"
fi

# ---------------------------------------------------------------- nothing left behind
expect_eq "no tasks left in containerd" "" "$(c tasks ls -q 2>&1)"
expect_eq "no runtime state left under the shim's Root" "" "$(ls -A "$T/runtime-root/$NS" 2>/dev/null)"
left=$(for root in $(cgroup_roots); do
    [ -d "$root$CG_PARENT" ] && find "$root$CG_PARENT" -mindepth 2 -type d ! -path "*$CG_PARENT/daemon*"
done)
expect_eq "no container cgroup left under $CG_PARENT" "" "$left"

if [ "$N_FAIL" -gt 0 ]; then
    echo "--- containerd log (errors)"
    grep -E 'level=(error|warning)' "$T/containerd.log" | tail -n 40
fi
summary
