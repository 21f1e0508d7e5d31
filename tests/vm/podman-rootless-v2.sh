#!/usr/bin/env bash
# podman-rootless-v2.sh: tests/clients/podman-rootless.sh, run INSIDE a
# --systemd guest (pure cgroup v2, systemd as PID 1) with podman's systemd
# cgroup manager: an unprivileged user with subordinate ranges lingers
# (user@UID.service and its session bus), and rootless podman calls the
# runtime, as root of its user namespace, with --systemd-cgroup; the
# runtime must then ask the user's manager for the scope. On top of the
# host's checks: the libpod-<id>.scope under user@UID.service, the limits
# in its v2 files (for the delegated controllers), pause/unpause through
# the v2 freezer, and no scope, runtime state or process left after rm.
#
#   tests/vm/run-guest -t 1800 --systemd -- tests/vm/podman-rootless-v2.sh
#
# podman, conmon and newuidmap are the host's (the guest shares its root).
# With BASELINE=1 the same checks run with runc first
# ("podman-rootless-v2-runc: ..."). The last line is
# "podman-rootless-v2: N passed, M failed" (hull, $HULL_BIN).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
HULL_BIN=${HULL_BIN:-$REPO/target/release/hull}
# podman under TCG: minutes per command when the machine is busy.
export PODMAN_CGROUP_MANAGER=systemd CMD_TIMEOUT=${CMD_TIMEOUT:-300}
echo "guest: kernel $(uname -r), init $(ps -p 1 -o comm=), $(stat -f -c %T /sys/fs/cgroup)"
if [ "${BASELINE:-0}" = 1 ] && command -v runc >/dev/null; then
    PODMAN_GROUP=podman-rootless-v2-runc RUNTIME=$(command -v runc) bash "$REPO/tests/clients/podman-rootless.sh"
fi
PODMAN_GROUP=podman-rootless-v2 RUNTIME=$HULL_BIN exec bash "$REPO/tests/clients/podman-rootless.sh"
