#!/usr/bin/env bash
# Real clients drive hull: installs podman/containerd/docker.io if missing,
# builds hull if missing, runs tests/clients/podman.sh, podman-rootless.sh
# (podman as an unprivileged user), containerd.sh, cri.sh (containerd's CRI
# plugin, driven like kubelet by the tests/cri client), docker.sh (a private
# dockerd) and podman-checkpoint.sh (CRIU: $HULL_CRIU, else
# tests/criu/fetch-criu's) against it, and the runc CLI compatibility
# table. Root only.
#
#   bash tests/clients/ci.sh
#   RUNTIME=/path/to/hull bash tests/clients/ci.sh   # use this binary, build nothing
#   BASELINE=1 bash tests/clients/ci.sh              # first run both suites with runc too
#   CLI_COMPAT_STRICT=1 bash tests/clients/ci.sh     # a missing runc flag fails the run
#   CLIENT_GROUPS="docker podman-checkpoint" bash tests/clients/ci.sh   # only these groups
#
# The last line is "clients: N passed, M failed" (podman, rootless podman, containerd, CRI,
# docker and podman checkpoint checks, and the CLI table when strict); the exit code is
# non-zero when M > 0.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO" || exit 2

[ "$(id -u)" = 0 ] || { echo "clients: must run as root" >&2; exit 2; }

# ---------------------------------------------------------------- packages
need=()
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v conmon >/dev/null 2>&1 || need+=(conmon)
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v containerd-shim-runc-v2 >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
[ -x /usr/sbin/dockerd ] || need+=(docker.io)
command -v newuidmap >/dev/null 2>&1 || need+=(uidmap)
command -v script >/dev/null 2>&1 || need+=(bsdutils)
# cri.sh: protoc builds the k8s-cri bindings of its client; the CNI loopback
# plugin brings lo up in each pod; ip and nsenter run its own pod-network
# plugin inside the pod's network namespace.
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
[ -x /usr/lib/cni/loopback ] || need+=(containernetworking-plugins)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then need+=(busybox-static); fi
if [ ${#need[@]} -gt 0 ]; then
    echo "clients: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # No service is started by the install (policy-rc.d / no init here):
    # the tests start their own private containerd.
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null ||
        { echo "clients: apt-get install ${need[*]} failed" >&2; exit 2; }
fi

# ---------------------------------------------------------------- hull
if [ -z "${RUNTIME:-}" ]; then
    RUNTIME=$REPO/target/release/hull
    if [ ! -x "$RUNTIME" ]; then
        echo "clients: building hull (cargo build --release -p hull)"
        cargo build --release -p hull || { echo "clients: build failed" >&2; exit 2; }
    fi
fi
[ -x "$RUNTIME" ] || { echo "clients: $RUNTIME not found" >&2; exit 2; }
export RUNTIME

total_pass=0
total_fail=0
summaries=()

# suite NAME SCRIPT [ENV=VAL...]: run it, add its closing "name: N passed, M failed".
suite() {
    local name=$1 script=$2 log line p f rc
    shift 2
    log=$(mktemp /tmp/hull-clients-"$name".XXXXXX.log)
    echo "===== $name ($(basename "$script"), RUNTIME=$RUNTIME)"
    env "$@" bash "$script" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^[A-Za-z-]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n1)
    rm -f "$log"
    if [ -z "$line" ]; then
        summaries+=("$name: did not finish (exit $rc)")
        return 1
    fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
    summaries+=("[$name] $line")
    SUITE_PASS=$p
    SUITE_FAIL=$f
    [ "$rc" = 0 ] && [ "$f" = 0 ]
}

CLIENT_GROUPS=${CLIENT_GROUPS:-podman podman-rootless containerd cri docker podman-checkpoint}
status=0
if [ "${BASELINE:-0}" = 1 ] && command -v runc >/dev/null 2>&1; then
    for s in $CLIENT_GROUPS; do
        RUNTIME=$(command -v runc) suite "$s-runc" "$HERE/$s.sh" RUNTIME="$(command -v runc)" || true
    done
fi

for s in $CLIENT_GROUPS; do
    SUITE_PASS=0
    SUITE_FAIL=0
    if suite "$s" "$HERE/$s.sh"; then :; else
        status=1
        [ "$SUITE_FAIL" = 0 ] && SUITE_FAIL=1
    fi
    total_pass=$((total_pass + SUITE_PASS))
    total_fail=$((total_fail + SUITE_FAIL))
done

SUITE_PASS=0
SUITE_FAIL=0
if suite cli-compat "$HERE/cli-compat.sh" ALLOW_MISSING=1; then :; fi
if [ "${CLI_COMPAT_STRICT:-0}" = 1 ]; then
    total_pass=$((total_pass + SUITE_PASS))
    total_fail=$((total_fail + SUITE_FAIL))
    [ "$SUITE_FAIL" = 0 ] || status=1
fi

echo "===== summary (runtime: $RUNTIME)"
printf '  %s\n' "${summaries[@]}"
[ "${CLI_COMPAT_STRICT:-0}" = 1 ] || echo "  (cli-compat is informational; CLI_COMPAT_STRICT=1 counts it)"
echo "clients: $total_pass passed, $total_fail failed"
[ $status = 0 ] && [ $total_fail = 0 ]
