//! The few system calls neither rustix nor nix wraps: clone3 (with the
//! namespace and pidfd flags), keyctl and mount_setattr.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

pub(crate) enum Forked {
    Parent { pid: i32, pidfd: OwnedFd },
    Child,
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Forks like `fork(2)` (copy-on-write, same stack) but creates the child
/// directly in the namespaces named by `ns_flags` and returns a pidfd for it,
/// so the parent can signal and wait without pid-reuse races.
///
/// # Safety
/// The caller must be single-threaded; the child may only run code that is
/// safe after fork and must end with `_exit` or `exec`.
pub(crate) unsafe fn clone3(ns_flags: u64) -> std::io::Result<Forked> {
    clone3_into(ns_flags, None).map(|(f, _)| f)
}

/// [`clone3`], with the child born in the cgroup2 directory `cgroup` when
/// given (CLONE_INTO_CGROUP). The bool says whether that took effect: older
/// kernels refuse the flag, and the child is then created without it.
///
/// # Safety
/// As [`clone3`].
pub(crate) unsafe fn clone3_into(
    ns_flags: u64,
    cgroup: Option<std::os::fd::BorrowedFd<'_>>,
) -> std::io::Result<(Forked, bool)> {
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let mut pidfd: libc::c_int = -1;
    // With CLONE_PARENT the child inherits the caller's own exit signal,
    // and clone3 refuses one given explicitly.
    let exit_signal = if ns_flags & libc::CLONE_PARENT as u64 != 0 {
        0
    } else {
        libc::SIGCHLD as u64
    };
    let mut args = CloneArgs {
        flags: ns_flags | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal,
        ..Default::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = std::os::fd::AsRawFd::as_raw_fd(&fd) as u64;
        let ret = libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        );
        match ret {
            0 => return Ok((Forked::Child, true)),
            pid if pid > 0 => {
                return Ok((
                    Forked::Parent {
                        pid: pid as i32,
                        pidfd: OwnedFd::from_raw_fd(pidfd),
                    },
                    true,
                ))
            }
            _ => {
                // E2BIG/EINVAL (kernel without CLONE_INTO_CGROUP) or a
                // cgroup that refuses it: fall back to migration.
                args.flags &= !CLONE_INTO_CGROUP;
                args.cgroup = 0;
            }
        }
    }
    let mut ret = libc::syscall(
        libc::SYS_clone3,
        &mut args as *mut CloneArgs,
        std::mem::size_of::<CloneArgs>(),
    );
    if ret < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        // Pre-5.3 kernels: clone(2) takes the same flags (minus CLONE_NEWTIME,
        // which callers never pass here) and returns the pidfd via parent_tid.
        ret = libc::syscall(
            libc::SYS_clone,
            ns_flags | libc::CLONE_PIDFD as u64 | exit_signal,
            0usize,
            &mut pidfd as *mut libc::c_int,
            0usize,
            0usize,
        );
    }
    match ret {
        r if r < 0 => Err(std::io::Error::last_os_error()),
        0 => Ok((Forked::Child, false)),
        pid => Ok((
            Forked::Parent {
                pid: pid as i32,
                pidfd: OwnedFd::from_raw_fd(pidfd),
            },
            false,
        )),
    }
}

/// Whether the process behind `pidfd` has not yet exited (signal 0 through
/// the pidfd: an existence check that sends nothing).
pub(crate) fn pidfd_is_alive(pidfd: BorrowedFd<'_>) -> std::io::Result<bool> {
    // SAFETY: pidfd_send_signal takes an fd, a signal number and a null info.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            0,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    match std::io::Error::last_os_error() {
        e if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
        e => Err(e),
    }
}

/// Gives the process a fresh session keyring so containers never share the
/// host's keys (runc does the same unless --no-new-keyring).
pub(crate) fn join_new_session_keyring(name: &str) -> std::io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    let name = std::ffi::CString::new(name).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: the name is a valid NUL-terminated string for the call's duration.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        // Kernels without keyrings (or a seccomp'd host) refuse; runc ignores
        // ENOSYS too, since there is then no shared keyring to protect.
        if e.raw_os_error() == Some(libc::ENOSYS) {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

/// `struct mount_attr` (linux/mount.h), version 0.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

pub(crate) const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub(crate) const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub(crate) const MOUNT_ATTR_NODEV: u64 = 0x4;
pub(crate) const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub(crate) const MOUNT_ATTR__ATIME: u64 = 0x70;
pub(crate) const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub(crate) const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub(crate) const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub(crate) const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub(crate) const MOUNT_ATTR_IDMAP: u64 = 0x10_0000;
pub(crate) const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x20_0000;

/// mount_setattr(2) on the mount `fd` refers to (AT_EMPTY_PATH), and with
/// `recursive` on every mount below it too. rustix 1.1 and nix 0.30 do not
/// wrap it.
pub(crate) fn mount_setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    attr: &MountAttr,
) -> std::io::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: a valid fd, an empty NUL-terminated path with AT_EMPTY_PATH,
    // and a live struct of exactly the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
