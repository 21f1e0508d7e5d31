//! The mount flags the kernel keeps locked on a mount made in a user
//! namespace: what a remount must keep, and the error when it cannot.

use nix::mount::MsFlags;

/// Why a bind mount in a user namespace cannot lose `cleared`: the kernel
/// locks the flags of a mount that a less privileged namespace received
/// from a more privileged one (mount_namespaces(7), "locked mounts").
pub(super) fn locked_flags_error(cleared: MsFlags) -> String {
    let names: Vec<&str> = [
        (MsFlags::MS_NOSUID, "nosuid"),
        (MsFlags::MS_NODEV, "nodev"),
        (MsFlags::MS_NOEXEC, "noexec"),
        (MsFlags::MS_RDONLY, "ro"),
        (MsFlags::MS_NOATIME, "noatime"),
        (MsFlags::MS_NODIRATIME, "nodiratime"),
        (MsFlags::MS_RELATIME, "relatime"),
    ]
    .into_iter()
    .filter(|(f, _)| cleared.contains(*f))
    .map(|(_, n)| n)
    .collect();
    format!(
        "options: the source is mounted {} on the host, and in a user namespace the kernel keeps those flags locked on a bind mount of it (a less privileged namespace may not lift a restriction made outside it); drop the option that clears them",
        names.join(",")
    )
}

/// The flags of the mount at `path` that a remount must keep.
pub(super) fn locked_flags(path: &str) -> MsFlags {
    let Ok(st) = nix::sys::statvfs::statvfs(path) else {
        return MsFlags::empty();
    };
    use nix::sys::statvfs::FsFlags;
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    out
}
