#!/usr/bin/env bash
# podman-v2.sh: tests/clients/podman.sh, run INSIDE a --systemd guest (pure
# cgroup v2, systemd as PID 1) with podman's systemd cgroup manager: podman
# asks systemd for conmon's scope and passes --systemd-cgroup and a
# cgroupsPath "<slice>:libpod:<id>" to the runtime. ci.sh boots it with
# AppArmor as the LSM ("apparmor=1 security=apparmor"): podman then loads
# its containers-default profile and hands it to the runtime as
# process.apparmorProfile, which podman.sh checks from inside.
#
#   HULLVM_APPEND="apparmor=1 security=apparmor" tests/vm/run-guest --systemd -- tests/vm/podman-v2.sh
#
# podman and conmon are the host's (the guest shares its root). Their
# storage goes on a tmpfs (/run): the guest's root is an overlay, which
# podman's overlay driver cannot stack on. With BASELINE=1 the same checks
# run with runc first ("podman-v2-runc: ..."). The last line is
# "podman-v2: N passed, M failed" (hull, $HULL_BIN).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
HULL_BIN=${HULL_BIN:-$REPO/target/release/hull}
export PODMAN_CGROUP_MANAGER=systemd PODMAN_TMP=/run
echo "guest: kernel $(uname -r), init $(ps -p 1 -o comm=), $(stat -f -c %T /sys/fs/cgroup), LSMs $(cat /sys/kernel/security/lsm 2>&1)"
if [ "${BASELINE:-0}" = 1 ] && command -v runc >/dev/null; then
    PODMAN_GROUP=podman-v2-runc RUNTIME=$(command -v runc) bash "$REPO/tests/clients/podman.sh"
fi
PODMAN_GROUP=podman-v2 RUNTIME=$HULL_BIN exec bash "$REPO/tests/clients/podman.sh"
