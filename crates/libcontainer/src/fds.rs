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

/// Closes every fd from `first` up except those in `keep`, right before
/// something whose path the container chose is exec'd (see `exe::execve`).
///
/// close_range where the kernel and the container's seccomp profile (once
/// loaded) allow it; else the fds listed in /proc/self/fd, the container's
/// procfs by then. If neither works the exec must not happen: the error
/// says why.
pub(crate) fn close_from(first: u32, keep: &[i32]) -> std::io::Result<()> {
    let mut kept: Vec<u32> = keep
        .iter()
        .filter_map(|&k| u32::try_from(k).ok())
        .filter(|&k| k >= first)
        .collect();
    kept.sort_unstable();
    kept.dedup();
    // The ranges between the kept fds, the last one open-ended.
    let mut ranges = Vec::with_capacity(kept.len() + 1);
    let mut lo = Some(first);
    for k in kept {
        if let Some(l) = lo.filter(|&l| k > l) {
            ranges.push((l, k - 1));
        }
        lo = k.checked_add(1);
    }
    if let Some(l) = lo {
        ranges.push((l, u32::MAX));
    }
    let mut refused = None;
    for (lo, hi) in ranges {
        // SAFETY: close_range takes plain integers; the fds it closes are
        // the runtime's own, never used again in this process.
        if unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0) } != 0 {
            refused = Some(std::io::Error::last_os_error());
            break;
        }
    }
    let Some(e) = refused else { return Ok(()) };
    if !matches!(
        e.raw_os_error(),
        Some(libc::ENOSYS | libc::EINVAL | libc::EPERM)
    ) {
        return Err(e);
    }
    let listed = rustix::fs::open(
        "/proc/self/fd",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(std::io::Error::from)
    .and_then(fd_numbers)
    .map_err(|l| {
        std::io::Error::new(
            l.kind(),
            format!("close_range: {e}; then /proc/self/fd: {l}"),
        )
    })?;
    for fd in listed {
        if fd >= 0 && (fd as u32) >= first && !keep.contains(&fd) {
            // SAFETY: as above; an fd already gone (the listing's own)
            // fails with EBADF, which is what is wanted.
            unsafe { libc::close(fd) };
        }
    }
    Ok(())
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

    /// Runs `f` in a forked child and returns its exit code (`f`'s value).
    fn in_child(f: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the child makes plain system calls and _exits.
        match unsafe { libc::fork() } {
            0 => {
                let code = f();
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

    /// A filter that answers close_range with `errno`.
    fn refusing_close_range(errno: i32) -> crate::seccomp::Filter {
        let profile = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["close_range"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]
        });
        crate::seccomp::Filter::build(&serde_json::from_value(profile).expect("profile"))
            .expect("filter")
    }

    /// In a forked child: a filter answers close_range with `errno`, then
    /// `cloexec_from` must still mark a plain fd close-on-exec. The exit
    /// code says what happened.
    fn cloexec_when_close_range_fails(errno: i32) -> i32 {
        let filter = refusing_close_range(errno);
        let procfs = ProcfsHandle::new().expect("a procfs");
        // SAFETY: prctl and fcntl on this (child) process's own fds.
        in_child(|| unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || filter.load().is_err() {
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
        })
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

    /// In a forked child, optionally under a filter that answers
    /// close_range with `errno`: `close_from` closes the fds above 2 but
    /// the kept one, and leaves stdio. The exit code says what happened.
    fn close_from_in_child(errno: Option<i32>) -> i32 {
        let filter = errno.map(refusing_close_range);
        // SAFETY: prctl and fcntl on this (child) process's own fds.
        in_child(|| unsafe {
            let loaded = match &filter {
                None => true,
                Some(f) => {
                    libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && f.load().is_ok()
                }
            };
            let low = libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 20);
            let keep = libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 30);
            let high = libc::fcntl(0, libc::F_DUPFD, 900);
            let open = |fd| libc::fcntl(fd, libc::F_GETFD) != -1;
            if !loaded {
                100
            } else if low < 0 || keep < 0 || high < 0 {
                101
            } else if close_from(3, &[keep]).is_err() {
                102
            } else if open(low) || open(high) {
                103
            } else if !open(keep) || !open(0) {
                104
            } else {
                0
            }
        })
    }

    #[test]
    fn close_from_closes_all_but_the_kept_fd() {
        for errno in [None, Some(libc::EPERM), Some(libc::ENOSYS)] {
            assert_eq!(
                close_from_in_child(errno),
                0,
                "close_range refused with {errno:?}: 100 no filter, 101 no fds, 102 close_from failed, 103 an fd left open, 104 the kept fd or stdin closed"
            );
        }
    }
}
