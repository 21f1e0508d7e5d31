//! Opening paths inside the rootfs without ever leaving it: every lookup
//! is confined to the rootfs fd by openat2(RESOLVE_IN_ROOT).

use std::{
    os::{fd::OwnedFd, unix::ffi::OsStrExt},
    path::{Component, Path, PathBuf},
};

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// A readable directory fd for what the O_PATH `fd` names: mkdirat,
/// mknodat and reading entries need one.
pub(super) fn reopen_dir(fd: &OwnedFd) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens (creating if needed) `dest` inside the rootfs without ever leaving
/// it: every lookup is confined to `root` by RESOLVE_IN_ROOT.
pub(crate) fn open_in_root(
    root: &OwnedFd,
    dest: &Path,
    create_file: bool,
) -> std::io::Result<OwnedFd> {
    open_in_root_depth(root, dest, create_file, 0)
}

pub(super) fn open_in_root_depth(
    root: &OwnedFd,
    dest: &Path,
    create_file: bool,
    depth: u32,
) -> std::io::Result<OwnedFd> {
    // Same bound as the kernel's for nested symlinks.
    if depth > 40 {
        return Err(rustix::io::Errno::LOOP.into());
    }
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let path_flags = OFlags::PATH | OFlags::CLOEXEC;
    match rustix::fs::openat2(root, dest, path_flags, Mode::empty(), how) {
        Ok(fd) => return Ok(fd),
        Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(e.into()),
    }
    let comps: Vec<&std::ffi::OsStr> = dest
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            _ => None,
        })
        .collect();
    let mut cur = rustix::fs::openat2(
        root,
        ".",
        path_flags | OFlags::DIRECTORY,
        Mode::empty(),
        how,
    )?;
    let mut walked = PathBuf::from("/");
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let next = match rustix::fs::openat2(&cur, *comp, path_flags, Mode::empty(), how) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => {
                // mkdirat/mknodat need a real directory fd, not O_PATH.
                let dir = rustix::fs::openat2(
                    &cur,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                    how,
                )?;
                if let Ok(target) = rustix::fs::readlinkat(&dir, *comp, Vec::new()) {
                    // A dangling symlink: create what it points to, read as
                    // a path inside the rootfs (RESOLVE_IN_ROOT keeps even
                    // "/host/path" and "../../.." under the root).
                    let target = PathBuf::from(std::ffi::OsStr::from_bytes(target.as_bytes()));
                    let mut next = if target.is_absolute() {
                        target
                    } else {
                        walked.join(target)
                    };
                    for rest in &comps[i + 1..] {
                        next.push(rest);
                    }
                    return open_in_root_depth(root, &next, create_file, depth + 1);
                }
                let made = if last && create_file {
                    rustix::fs::mknodat(
                        &dir,
                        *comp,
                        rustix::fs::FileType::RegularFile,
                        Mode::from_raw_mode(0o644),
                        0,
                    )
                } else {
                    rustix::fs::mkdirat(&dir, *comp, Mode::from_raw_mode(0o755))
                };
                match made {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                rustix::fs::openat2(&cur, *comp, path_flags, Mode::empty(), how)?
            }
            Err(e) => return Err(e.into()),
        };
        walked.push(comp);
        cur = next;
    }
    Ok(cur)
}

/// `dest` resolved inside the rootfs `root` (see [`open_in_root`]).
pub(super) fn resolve_dest(root: &OwnedFd, dest: &Path) -> crate::error::Result<OwnedFd> {
    open_in_root(root, dest, false)
        .map_err(|e| crate::error::Error::sys(format!("resolving destination {dest:?}"), e))
}

/// mount(2) with no source, type or data on the mount `target` names:
/// a remount or a propagation change, as `flags` say.
pub(super) fn remount(target: &OwnedFd, flags: nix::mount::MsFlags) -> nix::Result<()> {
    const NONE: Option<&str> = None;
    nix::mount::mount(
        NONE,
        crate::procfs_handle::fd_path(target).as_str(),
        NONE,
        flags,
        NONE,
    )
}
