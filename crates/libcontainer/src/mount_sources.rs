//! The rootfs and the bind sources, opened by the runtime for the init.
//!
//! In a user namespace the init is that namespace's root, not the host's:
//! a path under a directory only host root may search (a checkout in
//! /root, a 0700 mktemp directory, a container manager's state directory)
//! is out of its reach, and clone3 creates the user namespace with the
//! process, so the child never has the runtime's credentials to open them
//! itself. So when the init comes to a mount it asks the parent, which
//! opens the path through `/proc/<init>/root`: resolved with the runtime's
//! credentials, but in the init's mount namespace as it is at that moment
//! (a source inside the rootfs sees the mounts made before it, as a path
//! would). The O_PATH fd then names the init's own copy of the mount, which
//! a bind may take (the kernel refuses a source from another mount
//! namespace), and which carries the locks the kernel put on mounts copied
//! into a less privileged namespace (a container cannot remount them
//! writable or unmount what covers host files); a tree cloned in the host's
//! namespace before the fork would not. The fd comes back over the channel
//! (SCM_RIGHTS), and the init mounts from it as it would from the path.
//!
//! Idmapped mounts are not here: their detached trees are made before the
//! fork (crate::idmap) and already carry their source.

use std::{
    os::fd::{AsFd, OwnedFd},
    path::{Path, PathBuf},
};

use oci_spec::runtime::{Mount, Spec};
use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::{
    config::mount_options::is_bind,
    error::{Error, Result},
    proc_guard,
    procfs_handle::{open_init_root, read_init_file},
    sync::PHASE_TIMEOUT,
    sync::{Channel, Msg, SyncError},
};

/// What the init asks for, and what each answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The rootfs; asking for it brings [`Slot::RootfsParent`] first.
    Rootfs,
    /// The root of the mount holding the rootfs, made private for
    /// pivot_root (which refuses a new root whose parent mount is shared).
    /// Only ever an answer: it comes with the rootfs, in one round trip.
    RootfsParent,
    /// The source of bind mount `mounts[i]`.
    Bind(usize),
}

impl Slot {
    fn wire(self) -> u32 {
        match self {
            Slot::Rootfs => 0,
            Slot::RootfsParent => 1,
            Slot::Bind(i) => u32::try_from(i).map_or(u32::MAX, |i| i.saturating_add(2)),
        }
    }

    fn from_wire(n: u32) -> Slot {
        match n {
            0 => Slot::Rootfs,
            1 => Slot::RootfsParent,
            n => Slot::Bind((n - 2) as usize),
        }
    }
}

/// Init side: asks the runtime for `slot` and waits for the fd.
pub(crate) fn request(ch: &Channel, slot: Slot) -> Result<OwnedFd> {
    ch.send(&Msg::NeedMountSource(slot.wire()))?;
    receive(ch, slot)
}

/// Init side: asks for the rootfs and gets two fds, the root of the mount
/// holding it (`.0`), then the rootfs itself (`.1`).
pub(crate) fn request_rootfs(ch: &Channel) -> Result<(OwnedFd, OwnedFd)> {
    ch.send(&Msg::NeedMountSource(Slot::Rootfs.wire()))?;
    Ok((receive(ch, Slot::RootfsParent)?, receive(ch, Slot::Rootfs)?))
}

fn receive(ch: &Channel, slot: Slot) -> Result<OwnedFd> {
    const WHAT: &str = "a mount source from the runtime";
    match ch.recv_with_fd(PHASE_TIMEOUT, WHAT)? {
        (Msg::MountSource(n), Some(fd)) if n == slot.wire() => Ok(fd),
        (got, _) => Err(SyncError::unexpected(got, WHAT).into()),
    }
}

/// Runtime side: opens what the init asked for (a [`Msg::NeedMountSource`]
/// number) in the mount namespace of `init` (held by `init_pidfd`) and
/// sends it.
pub(crate) fn answer(
    ch: &Channel,
    init: i32,
    init_pidfd: &OwnedFd,
    wanted: u32,
    spec: &Spec,
    bundle: &Path,
    rootfs: &Path,
) -> Result<()> {
    let root = open_init_root(init, init_pidfd)?;
    let open_dir = |p: &Path| {
        rustix::fs::openat2(
            &root,
            p,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT,
        )
    };
    let fd = match Slot::from_wire(wanted) {
        Slot::Rootfs => {
            let holder = match open_holder(&open_dir, rootfs)? {
                Some(fd) => fd,
                None => {
                    let info = read_init_file(init, init_pidfd, "mountinfo")?;
                    let holder = mount_point_of(&info, rootfs);
                    open_dir(&holder).map_err(|e| {
                        Error::sys(
                            format!("root.path: opening {holder:?}, the mount holding the rootfs"),
                            e,
                        )
                    })?
                }
            };
            ch.send_fd(&Msg::MountSource(Slot::RootfsParent.wire()), holder.as_fd())?;
            open_dir(rootfs).map_err(|e| Error::sys(format!("root.path: opening {rootfs:?}"), e))?
        }
        Slot::RootfsParent => {
            return Err(Error::Process(
                "the container init asked for the rootfs's parent mount alone".into(),
            ))
        }
        Slot::Bind(i) => {
            let m = spec
                .mounts()
                .as_deref()
                .and_then(|ms| ms.get(i))
                .filter(|m| is_bind(m));
            let m = m.ok_or_else(|| Error::Process(format!("the container init asked for the source of mounts[{i}], which is no bind mount")))?;
            let src = bind_source(m, i, bundle)?;
            proc_guard::open_bind_source(Some(root.as_fd()), &src)
                .map_err(|r| Error::InvalidArgument(format!("mounts[{i}].source: {r}")))?
        }
    };
    Ok(ch.send_fd(&Msg::MountSource(wanted), fd.as_fd())?)
}

/// The root of the mount holding `rootfs`: the nearest of its ancestors,
/// itself included, that statx calls a mount's root. A few statx calls
/// instead of having the kernel format the whole mountinfo. `None` where
/// the kernel does not say (STATX_ATTR_MOUNT_ROOT is Linux 5.8) or statx
/// is refused.
fn open_holder(
    open_dir: &dyn Fn(&Path) -> rustix::io::Result<OwnedFd>,
    rootfs: &Path,
) -> Result<Option<OwnedFd>> {
    use rustix::fs::{AtFlags, StatxAttributes, StatxFlags};
    for dir in rootfs.ancestors() {
        let fd = open_dir(dir).map_err(|e| {
            Error::sys(
                format!("root.path: opening {dir:?}, looking for the mount holding the rootfs"),
                e,
            )
        })?;
        // Refused (old kernel, a seccomp profile the caller runs under):
        // the mountinfo says it instead.
        let Ok(st) = rustix::fs::statx(&fd, "", AtFlags::EMPTY_PATH, StatxFlags::empty()) else {
            return Ok(None);
        };
        if !st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) {
            return Ok(None);
        }
        if st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT) {
            return Ok(Some(fd));
        }
    }
    Ok(None)
}

/// A bind mount's source as a path: relative ones are the bundle's.
pub(crate) fn bind_source(m: &Mount, index: usize, bundle: &Path) -> Result<PathBuf> {
    let src = m.source().as_ref().ok_or_else(|| {
        Error::InvalidArgument(format!("mounts[{index}].source: required for a bind mount"))
    })?;
    Ok(if src.is_relative() {
        bundle.join(src)
    } else {
        src.clone()
    })
}

/// The mount point of the mount holding `path` (the longest that is a
/// prefix of it), from a mountinfo text.
fn mount_point_of(mountinfo: &str, path: &Path) -> PathBuf {
    let mut best = PathBuf::from("/");
    for mp in crate::mountinfo::entries(mountinfo).map(|e| e.mount_point) {
        if path.starts_with(&mp) && mp.as_os_str().len() > best.as_os_str().len() {
            best = mp;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_round_trip() {
        for s in [
            Slot::Rootfs,
            Slot::RootfsParent,
            Slot::Bind(0),
            Slot::Bind(41),
        ] {
            assert_eq!(Slot::from_wire(s.wire()), s);
        }
    }

    #[test]
    fn the_longest_mount_point_holds_the_path() {
        let info = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
                    30 22 0:40 / /tmp/x rw - tmpfs tmpfs rw\n\
                    31 22 0:41 / /tmp/x\\040y rw - tmpfs tmpfs rw\n\
                    32 30 0:42 / /tmp/x/rootfs rw - overlay overlay rw\n";
        assert_eq!(
            mount_point_of(info, Path::new("/tmp/x/rootfs")),
            Path::new("/tmp/x/rootfs")
        );
        assert_eq!(
            mount_point_of(info, Path::new("/tmp/x/other/rootfs")),
            Path::new("/tmp/x")
        );
        assert_eq!(
            mount_point_of(info, Path::new("/tmp/x y/rootfs")),
            Path::new("/tmp/x y")
        );
        assert_eq!(mount_point_of(info, Path::new("/tmp/xy")), Path::new("/"));
    }
}
