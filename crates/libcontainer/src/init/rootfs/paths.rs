//! After pivot_root: masked paths (bound from a checked /dev/null, or an
//! empty read-only tmpfs), read-only paths and the read-only root.

use std::os::fd::OwnedFd;

use nix::mount::{mount, MsFlags};
use rustix::fs::{Mode, OFlags, ResolveFlags};

use super::locked::locked_flags;
use crate::{
    error::{Error, Result},
    mount_fd::{bind_fd, describe_type},
};

const NONE: Option<&str> = None;

/// Post-pivot: stdio that is the host's /dev/null becomes the container's
/// own, as runc does. A file on a mount outside the container cannot be
/// checkpointed by CRIU, and /dev/null is the usual stdio of a detached
/// container.
pub(crate) fn reopen_dev_null() -> Result<()> {
    let mut ours = None;
    for n in 0..3 {
        // SAFETY: stdio fds stay open for the whole of the init.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(n) };
        let Ok(st) = rustix::fs::fstat(fd) else {
            continue;
        };
        if !is_null_device(&st) {
            continue;
        }
        if ours.is_none() {
            // No link followed, and never a controlling terminal: this
            // process is a session leader.
            let f = match rustix::fs::open(
                "/dev/null",
                OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(f) => f,
                // A symlink: not a null device of ours, keep the host's.
                Err(rustix::io::Errno::LOOP) => return Ok(()),
                Err(e) => return Err(Error::sys("opening the container's /dev/null", e)),
            };
            let st = rustix::fs::fstat(&f)
                .map_err(|e| Error::sys("stat of the container's /dev/null", e))?;
            if !is_null_device(&st) {
                // Not a null device (an odd rootfs): keep the host's.
                return Ok(());
            }
            ours = Some(f);
        }
        if let Some(f) = &ours {
            let r = match n {
                0 => rustix::stdio::dup2_stdin(f),
                1 => rustix::stdio::dup2_stdout(f),
                _ => rustix::stdio::dup2_stderr(f),
            };
            r.map_err(|e| Error::sys("reopening /dev/null on stdio", e))?;
        }
    }
    Ok(())
}

/// Post-pivot: masked paths get /dev/null (files) or a read-only tmpfs
/// (directories); missing paths are skipped, as runc does.
///
/// Everything here is by fd: the target is resolved inside the root, the
/// tmpfs is made detached and moved onto it, and /dev/null is opened once
/// without following a link and checked to be the null device before it is
/// bound (runc's CVE-2025-31133: a /dev/null swapped for a symlink to a
/// procfs file would otherwise expose that file, writable, at the masked
/// path).
pub(crate) fn mask_paths(paths: &[String]) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("opening the container's /", e))?;
    let mut null = None;
    for p in paths {
        // A final symlink is followed: it can only lead elsewhere inside
        // the container's own root, and runc masks what it points to too.
        let target = match rustix::fs::openat2(
            &root,
            p.as_str(),
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(Error::sys(format!("linux.maskedPaths: {p:?}"), e)),
        };
        let st = rustix::fs::fstat(&target)
            .map_err(|e| Error::sys(format!("linux.maskedPaths: {p:?}"), e))?;
        let (r, with) =
            if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory {
                (mount_masking_tmpfs(&target), "an empty tmpfs")
            } else {
                let null = match &null {
                    Some(n) => n,
                    None => null.insert(open_dev_null(&root)?),
                };
                // Fails (ENOENT) if /dev/null was renamed over meanwhile:
                // the checked inode is never swapped for another.
                (bind_fd(null, &target), "the container's /dev/null")
            };
        r.map_err(|e| Error::sys(format!("linux.maskedPaths: masking {p:?} with {with}"), e))?;
    }
    Ok(())
}

/// The container's /dev/null, proven to be the null device. A char device
/// inode 1:3 opens the null driver whatever filesystem holds it (procfs and
/// sysfs have none), so the type and number are the whole proof; they are
/// read from the very fd that gets bound.
pub(super) fn open_dev_null(root: &OwnedFd) -> Result<OwnedFd> {
    let null = rustix::fs::openat2(
        root,
        "/dev/null",
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| Error::sys("linux.maskedPaths: opening the container's /dev/null", e))?;
    let st = rustix::fs::fstat(&null)
        .map_err(|e| Error::sys("linux.maskedPaths: stat of the container's /dev/null", e))?;
    if !is_null_device(&st) {
        let ft = rustix::fs::FileType::from_raw_mode(st.st_mode);
        let what = match ft {
            rustix::fs::FileType::CharacterDevice => format!(
                "the char device {}:{}",
                rustix::fs::major(st.st_rdev),
                rustix::fs::minor(st.st_rdev)
            ),
            other => describe_type(other).to_owned(),
        };
        return Err(Error::Init(format!("linux.maskedPaths: the container's /dev/null is {what}, not the null device 1:3; refusing to mask with it")));
    }
    Ok(null)
}

fn is_null_device(st: &rustix::fs::Stat) -> bool {
    rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::CharacterDevice
        && st.st_rdev == rustix::fs::makedev(1, 3)
}

/// An empty read-only tmpfs onto `target`, made detached (fsopen/fsmount)
/// so it lands on the directory the fd names.
fn mount_masking_tmpfs(target: &OwnedFd) -> std::io::Result<()> {
    use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags};
    let fs = rustix::mount::fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC)?;
    rustix::mount::fsconfig_set_string(&fs, "source", "tmpfs")?;
    rustix::mount::fsconfig_set_string(&fs, "size", "0")?;
    rustix::mount::fsconfig_set_string(&fs, "mode", "0755")?;
    rustix::mount::fsconfig_set_flag(&fs, "ro")?;
    rustix::mount::fsconfig_create(&fs)?;
    let mnt = rustix::mount::fsmount(
        &fs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY,
    )?;
    crate::mount_fd::move_onto(&mnt, target)?;
    Ok(())
}

pub(crate) fn readonly_paths(paths: &[String]) -> Result<()> {
    for p in paths {
        match mount(
            Some(p.as_str()),
            p.as_str(),
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            NONE,
        ) {
            Ok(()) => {}
            Err(nix::errno::Errno::ENOENT) => continue,
            Err(e) => return Err(Error::sys(format!("linux.readonlyPaths: binding {p:?}"), e)),
        }
        let keep = locked_flags(p);
        mount(
            NONE,
            p.as_str(),
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep,
            NONE,
        )
        .map_err(|e| {
            Error::sys(
                format!("linux.readonlyPaths: remounting {p:?} read-only"),
                e,
            )
        })?;
    }
    Ok(())
}

pub(crate) fn remount_root_readonly() -> Result<()> {
    let keep = locked_flags("/");
    mount(
        NONE,
        "/",
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep,
        NONE,
    )
    .map_err(|e| Error::sys("root.readonly: remounting / read-only", e))
}
