//! The fds of this process before an exec: marking the runtime's own
//! close-on-exec (CVE-2024-21626), listing them through procfs.

use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::fs::OFlags;

use crate::procfs_handle::{ProcBase, ProcfsHandle};

/// Marks every fd from `first` up close-on-exec, so nothing of the runtime's
/// leaks into the container (CVE-2024-21626) while setup can still use them.
///
/// One close_range where the kernel has it with CLOSE_RANGE_CLOEXEC (5.11);
/// where it is missing (ENOSYS), too old for the flag (EINVAL) or refused
/// by a seccomp filter hull itself runs under (EPERM), the fds listed in
/// `procfs`'s fd directory of this process are marked one by one, as runc
/// does with /proc/self/fd.
pub(crate) fn cloexec_from(first: u32, procfs: &ProcfsHandle) -> std::io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range takes plain integers.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOSYS | libc::EINVAL | libc::EPERM) => {
            cloexec_listed(first, procfs).map_err(|listed| {
                std::io::Error::new(
                    listed.kind(),
                    format!("close_range: {e}; then /proc/self/fd: {listed}"),
                )
            })
        }
        _ => Err(e),
    }
}

/// The fd numbers listed in a `/proc/<pid>/fd` directory (the listing's
/// own fd, closed on return, among them).
pub(crate) fn fd_numbers(dir: OwnedFd) -> std::io::Result<Vec<i32>> {
    let mut out = Vec::new();
    for entry in rustix::fs::Dir::new(dir)? {
        if let Some(fd) = entry?
            .file_name()
            .to_str()
            .ok()
            .and_then(|n| n.parse::<i32>().ok())
        {
            out.push(fd);
        }
    }
    Ok(out)
}

fn cloexec_listed(first: u32, procfs: &ProcfsHandle) -> std::io::Result<()> {
    let dir = procfs.open(
        ProcBase::SelfProcess,
        "fd",
        OFlags::RDONLY | OFlags::DIRECTORY,
    )?;
    for fd in fd_numbers(dir)? {
        if fd < 0 || (fd as u32) < first {
            continue;
        }
        // SAFETY: the fd was open when listed and this process is
        // single-threaded; the listing's own fd is listed too, and is
        // already close-on-exec.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let flags = match rustix::io::fcntl_getfd(fd) {
            Ok(f) => f,
            Err(rustix::io::Errno::BADF) => continue,
            Err(e) => return Err(e.into()),
        };
        rustix::io::fcntl_setfd(fd, flags | rustix::io::FdFlags::CLOEXEC)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a forked child: a filter answers close_range with `errno`, then
    /// `cloexec_from` must still mark a plain fd close-on-exec. The exit
    /// code says what happened.
    fn cloexec_when_close_range_fails(errno: i32) -> i32 {
        let profile = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["close_range"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]
        });
        let filter =
            crate::seccomp::Filter::build(&serde_json::from_value(profile).expect("profile"))
                .expect("filter");
        let procfs = ProcfsHandle::new().expect("a procfs");
        // SAFETY: the child makes plain system calls and _exits.
        match unsafe { libc::fork() } {
            0 => {
                // SAFETY: prctl and fcntl on this (child) process's own fds.
                let code = unsafe {
                    if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                        || filter.load().is_err()
                    {
                        100
                    } else if libc::syscall(libc::SYS_close_range, 1000, 1000, 0) != -1
                        || *libc::__errno_location() != errno
                    {
                        101
                    } else {
                        let fd = libc::fcntl(0, libc::F_DUPFD, 500);
                        if fd < 0 || libc::fcntl(fd, libc::F_GETFD) & libc::FD_CLOEXEC != 0 {
                            102
                        } else if cloexec_from(3, &procfs).is_err() {
                            103
                        } else if libc::fcntl(fd, libc::F_GETFD) & libc::FD_CLOEXEC == 0 {
                            104
                        } else if libc::fcntl(0, libc::F_GETFD) & libc::FD_CLOEXEC != 0 {
                            105
                        } else {
                            0
                        }
                    }
                };
                // SAFETY: leave without the test harness's exit handlers.
                unsafe { libc::_exit(code) }
            }
            pid if pid > 0 => {
                let mut status = 0;
                // SAFETY: waiting for our own child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                libc::WEXITSTATUS(status)
            }
            _ => panic!("fork: {}", std::io::Error::last_os_error()),
        }
    }

    #[test]
    fn cloexec_falls_back_to_proc_self_fd() {
        for errno in [libc::EPERM, libc::ENOSYS, libc::EINVAL] {
            assert_eq!(
                cloexec_when_close_range_fails(errno),
                0,
                "errno {errno}: 100 no filter, 101 close_range not refused, 102 no plain fd, 103 cloexec_from failed, 104 fd not marked, 105 stdin marked"
            );
        }
    }
}
