# shellcheck shell=bash
# A private podman for the podman client groups (podman.sh,
# podman-checkpoint.sh, and podman.sh in the cgroup v2 guest). Sourced
# after lib.sh, not run. Bash only.
#
# Everything is private: podman's storage, run root, tmpdir, events log and
# the runtime's state root live in one temp dir $T; containers go in the
# cgroup parent $CG_PARENT; the network is always `--network none`.
# Provides: $T, $IMAGE, $CG_PARENT, $PODMAN_BASE, $RUN_OPTS, $RT_STATE, pm,
# podman_import_busybox, and the cleanup trap.
#
# PODMAN_CGROUP_MANAGER=systemd (systemd as init, cgroup v2) makes podman
# pass --systemd-cgroup to the runtime: then the cgroup parent is a slice,
# hullclients<pid>.slice, which systemd removes when it empties.

IMAGE=localhost/hull-clients-busybox:latest
PODMAN_CGROUP_MANAGER=${PODMAN_CGROUP_MANAGER:-cgroupfs}
if [ "$PODMAN_CGROUP_MANAGER" = systemd ]; then
    # no dash: a dash in a slice name nests it (a-b.slice is in a.slice)
    CG_PARENT=hullclients$$.slice
else
    CG_PARENT=/hull-clients-$$
fi
# Short: conmon's attach socket path is limited to 108 bytes.
T=$(mktemp -d "${PODMAN_TMP:-/tmp}/hcp.XXXXXX")
RT_STATE=$T/runtime-state
PODMAN_BASE=(
    --root "$T/root" --runroot "$T/runroot" --tmpdir "$T/tmp"
    --volumepath "$T/volumes" --network-config-dir "$T/networks"
    --storage-driver "${STORAGE_DRIVER:-overlay}"
    --cgroup-manager "$PODMAN_CGROUP_MANAGER" --events-backend file
    --runtime "$T/bin/$(basename "$RUNTIME")"
)
# The runtime keeps its state under $T too. Not with --runtime-flag
# root=...: podman 4.3 leaves runtime flags out of conmon's exit command
# (`podman container cleanup`), whose `delete` then looks in the default
# root and the next `start` of that container fails with "already exists".
# A wrapper with the runtime's own name adds --root to every invocation.
mkdir -p "$T/bin"
printf '#!/bin/sh\nexec %q --root %q "$@"\n' "$RUNTIME" "$RT_STATE" >"$T/bin/$(basename "$RUNTIME")"
chmod 0755 "$T/bin/$(basename "$RUNTIME")"
# podman's default rlimits exceed this host's hard limits (no CAP_SYS_RESOURCE).
RUN_OPTS=(
    --network none --cgroup-parent "$CG_PARENT"
    --ulimit nofile=1024:1024 --ulimit nproc=32768:32768
)
# Keep host configuration out: our own (near empty) containers.conf and
# storage.conf, and image temp files under $T.
export CONTAINERS_CONF=$T/containers.conf
export CONTAINERS_STORAGE_CONF=$T/storage.conf
export TMPDIR=$T/tmp-images
mkdir -p "$T/tmp-images" "$T/networks"
cat >"$CONTAINERS_CONF" <<EOC
[engine]
cgroup_manager = "$PODMAN_CGROUP_MANAGER"
events_logger = "file"
events_logfile_path = "$T/events.log"
[containers]
log_driver = "k8s-file"
EOC
cat >"$CONTAINERS_STORAGE_CONF" <<EOC
[storage]
driver = "${STORAGE_DRIVER:-overlay}"
graphroot = "$T/root"
runroot = "$T/runroot"
EOC

# Made by podman outside its roots whatever the flags say.
note_paths /var/lib/containers /var/lib/containers/cache /var/lib/containers/cache/blob-info-cache-v1.boltdb \
    /run/containers /run/containers/networks

pm() { timeout --kill-after=10 "$CMD_TIMEOUT" podman "${PODMAN_BASE[@]}" "$@" </dev/null; }

podman_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -d "$T/root" ]; then
        # stop and remove every container of this private store
        local ids
        ids=$(pm ps -aq 2>/dev/null)
        [ -n "$ids" ] && pm rm -f -t 0 $ids >/dev/null 2>&1
        pm rmi -af >/dev/null 2>&1
    fi
    if [ "$PODMAN_CGROUP_MANAGER" = systemd ]; then
        systemctl stop "$CG_PARENT" >/dev/null 2>&1
    else
        cgroup_remove_parent "$CG_PARENT"
    fi
    remove_tree "$T"
    remove_new_paths
    exit $rc
}
trap podman_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# podman_import_busybox: the image, from a busybox rootfs made here; a
# failure ends the group.
podman_import_busybox() {
    make_rootfs_tar "$T/rootfs" "$T/busybox.tar"
    if pm import --change 'CMD ["/bin/sh"]' "$T/busybox.tar" "$IMAGE" >"$T/import.out" 2>&1; then
        pass "image: podman import of a busybox rootfs"
    else
        fail "image: podman import of a busybox rootfs" "$(cat "$T/import.out")"
        summary
        exit 1
    fi
    rm -rf "$T/rootfs" "$T/busybox.tar"
}
