//! CVE-2019-5736 protection: the runtime process that enters a container
//! must not be a writable path to the hull binary. A container program
//! whose interpreter is `/proc/self/exe` makes the kernel run *our* binary
//! inside the container, where other container processes could reopen it
//! through /proc/<pid>/exe and overwrite it on the host.
//!
//! So the commands that enter containers (create, run, exec) re-execute
//! themselves from a read-only view of the binary: a detached, read-only
//! bind mount of the file (open_tree + mount_setattr, no copy; the reopen
//! then fails with EROFS). Where mounts are not allowed (rootless) they fall
//! back to a sealed memfd copy, as crun does. A binary already on a
//! read-only mount or in a sealed memfd needs neither.

use std::{
    ffi::{CString, OsString},
    os::unix::ffi::OsStringExt,
};

use rustix::fs::{MemfdFlags, Mode, OFlags, SealFlags, StatVfsMountFlags};

use crate::error::{Error, Result};

const SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// Whether the running binary is already safe to expose to a container.
pub fn exe_is_protected() -> Result<bool> {
    let exe = rustix::fs::open(
        "/proc/self/exe",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("opening /proc/self/exe", e))?;
    if rustix::fs::fcntl_get_seals(&exe).is_ok_and(|s| s.contains(SealFlags::WRITE)) {
        return Ok(true);
    }
    let vfs = rustix::fs::fstatvfs(&exe).map_err(|e| Error::sys("statvfs /proc/self/exe", e))?;
    Ok(vfs.f_flag.contains(StatVfsMountFlags::RDONLY))
}

/// Re-executes this process from a sealed memfd copy of its binary, with
/// the same arguments and environment, unless already protected. Returns
/// only when no re-exec was needed.
pub fn ensure_protected_exe() -> Result<()> {
    if exe_is_protected()? {
        return Ok(());
    }
    if let Some(ro) = readonly_view() {
        return reexec(&ro);
    }
    let exe = rustix::fs::open(
        "/proc/self/exe",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("opening /proc/self/exe", e))?;
    let len = rustix::fs::fstat(&exe)
        .map_err(|e| Error::sys("stat /proc/self/exe", e))?
        .st_size as usize;
    let memfd = rustix::fs::memfd_create("hull", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
        .map_err(|e| Error::sys("memfd_create", e))?;
    // std::io::copy picks sendfile here (copy_file_range refuses to cross
    // from the binary's filesystem to the memfd's tmpfs).
    let mut src = std::fs::File::from(exe);
    let mut dst = std::fs::File::from(memfd);
    let copied = std::io::copy(&mut src, &mut dst)
        .map_err(|e| Error::sys("copying the hull binary into a memfd", e))?
        as usize;
    let memfd = std::os::fd::OwnedFd::from(dst);
    if copied != len {
        return Err(Error::Init(format!(
            "copying the hull binary into a memfd: {copied} of {len} bytes"
        )));
    }
    rustix::fs::fcntl_add_seals(&memfd, SEALS).map_err(|e| Error::sys("sealing the memfd", e))?;
    reexec(&memfd)
}

/// A detached read-only bind mount of the running binary, or None where
/// the mount API is not permitted.
fn readonly_view() -> Option<std::os::fd::OwnedFd> {
    use rustix::mount::OpenTreeFlags;
    let tree = rustix::mount::open_tree(
        rustix::fs::CWD,
        "/proc/self/exe",
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .ok()?;
    let attr = crate::syscall::MountAttr {
        attr_set: crate::syscall::MOUNT_ATTR_RDONLY,
        ..Default::default()
    };
    let r = crate::syscall::mount_setattr(std::os::fd::AsFd::as_fd(&tree), false, &attr);
    r.is_ok().then_some(tree)
}

fn reexec(fd: &std::os::fd::OwnedFd) -> Result<()> {
    let cstrings = |v: Vec<OsString>| {
        v.into_iter()
            .filter_map(|s| CString::new(s.into_vec()).ok())
            .collect::<Vec<_>>()
    };
    let args = cstrings(std::env::args_os().collect());
    let env = cstrings(
        std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                kv
            })
            .collect(),
    );
    let err = nix::unistd::fexecve(fd, &args, &env).unwrap_err();
    Err(Error::sys("re-executing hull from a protected copy", err))
}
