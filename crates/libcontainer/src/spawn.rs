//! Forking the container's first process (create) or the exec'd process,
//! safely for any caller, single- or multi-threaded.
//!
//! The child runs ordinary Rust until it execs: it allocates, formats
//! errors, spawns hooks. After a raw clone3 only the calling thread exists
//! in the child, and a lock another thread of the caller held at that
//! instant stays locked forever; glibc's malloc arena locks first of all,
//! so the child's next allocation can hang. glibc's own fork() takes every
//! arena lock around the fork and resets them in the child, but it cannot
//! create namespaces, return a pidfd, or place the child in its cgroup.
//!
//! So a single-threaded caller (the hull CLI) clones directly: no other
//! thread can hold anything. A multi-threaded one (an engine or a Wasm
//! shim on tokio) first forks a helper with glibc's fork(): single-threaded
//! with a consistent heap, it makes the same clone3 with CLONE_PARENT, so
//! the new process is still the caller's own child (its exit status, pidfd
//! and PR_SET_PDEATHSIG behave as with a direct clone), sends the pidfd
//! back and exits. The child's code must still avoid locks of the caller's
//! that glibc does not reset: it logs nothing (tracing's writers lock) and
//! initialises no shared `OnceLock`. A caller thread that changes the
//! environment (`std::env::set_var`) at that instant can still block the
//! hooks the child spawns; setting the environment of a running
//! multi-threaded program is unsound anyway.
//!
//! Entering a pid namespace for the child (exec) changes the calling
//! thread's `pid_for_children`; the direct path restores it whatever
//! happens ([`PidNsGuard`]); the helper changes only its own.

use std::{
    os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd},
    time::Duration,
};

use rustix::thread::LinkNameSpaceType;

use crate::{
    error::{Error, Result},
    syscall::{self, Forked},
};

/// The parent's view of the new process.
pub(crate) struct Spawned {
    pub pid: i32,
    pub pidfd: OwnedFd,
    /// Whether CLONE_INTO_CGROUP took effect.
    pub born_in_cgroup: bool,
}

pub(crate) enum Side {
    Parent(Spawned),
    Child,
}

/// How long the caller waits for the helper's answer; it only forks once.
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// Creates the child with `flags` (namespaces), born in the cgroup2
/// directory `cgroup` when given, in the pid namespace `pid_ns` when given.
/// `keep` lists the close-on-exec fds the child uses before it execs: with
/// a multi-threaded caller, every other one is released in the child (see
/// [`release_foreign_fds`]).
///
/// # Safety
/// On [`Side::Child`] the caller runs in the new process and must end in
/// exec or `_exit`, taking no lock another thread of the caller may hold.
pub(crate) unsafe fn spawn(
    flags: u64,
    cgroup: Option<BorrowedFd<'_>>,
    pid_ns: Option<BorrowedFd<'_>>,
    keep: &[BorrowedFd<'_>],
) -> Result<Side> {
    if single_threaded()? {
        direct(flags, cgroup, pid_ns)
    } else {
        through_helper(flags, cgroup, pid_ns, keep)
    }
}

/// Points every close-on-exec fd above stderr that is not in `keep` at
/// /dev/null. The caller's other threads open fds at any time (pipes, a
/// concurrent create's sync channel and state lock); a child holding a
/// copy of one until its exec, which for an init may come much later,
/// keeps a peer from ever seeing EOF or a lock from being released: the
/// leak deadlocks. The fd numbers stay taken rather than closed, so that
/// a writer the caller set up (a log file) can never end up writing into
/// a file this process opens later.
fn release_foreign_fds(keep: &[BorrowedFd<'_>]) -> std::io::Result<()> {
    use rustix::fs::{Mode, OFlags};
    use std::os::fd::AsRawFd;
    let null = rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
    let dir = rustix::fs::open(
        "/proc/self/fd",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let foreign: Vec<i32> = crate::fds::fd_numbers(dir)?
        .into_iter()
        .filter(|&fd| fd > 2 && fd != null.as_raw_fd() && !keep.iter().any(|k| k.as_raw_fd() == fd))
        .collect();
    for fd in foreign {
        // SAFETY: `fd` was open when listed and nothing else runs in this
        // process; the borrow ends before the fd is replaced.
        let b = unsafe { BorrowedFd::borrow_raw(fd) };
        match rustix::io::fcntl_getfd(b) {
            Ok(f) if f.contains(rustix::io::FdFlags::CLOEXEC) => {}
            // Not close-on-exec (the caller passes it on), or the listing's
            // own fd, closed since.
            Ok(_) | Err(rustix::io::Errno::BADF) => continue,
            Err(e) => return Err(e.into()),
        }
        // SAFETY: the number is re-pointed, never closed: the OwnedFd is
        // forgotten so nothing drops it.
        let mut target = unsafe { OwnedFd::from_raw_fd(fd) };
        let r = rustix::io::dup3(&null, &mut target, rustix::io::DupFlags::CLOEXEC);
        std::mem::forget(target);
        r?;
    }
    Ok(())
}

/// With one thread, no other can appear meanwhile: only this one could
/// start it.
fn single_threaded() -> Result<bool> {
    let me = std::process::id() as i32;
    let st = crate::procfs::stat(me).map_err(|e| Error::sys("reading /proc/self/stat", e))?;
    Ok(st.threads == 1)
}

unsafe fn direct(
    flags: u64,
    cgroup: Option<BorrowedFd<'_>>,
    pid_ns: Option<BorrowedFd<'_>>,
) -> Result<Side> {
    let guard = pid_ns.map(PidNsGuard::enter).transpose()?;
    let (forked, born_in_cgroup) =
        syscall::clone3_into(flags, cgroup).map_err(|e| Error::sys("clone3", e))?;
    match forked {
        Forked::Child => {
            // The child's own pid_for_children no longer matters, and it
            // may lack the right to re-enter the caller's.
            if let Some(g) = guard {
                g.disarm();
            }
            Ok(Side::Child)
        }
        Forked::Parent { pid, pidfd } => {
            if let Some(Err(e)) = guard.map(PidNsGuard::restore) {
                let _ = rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL);
                let _ = rustix::process::waitid(
                    rustix::process::WaitId::PidFd(pidfd.as_fd()),
                    rustix::process::WaitIdOptions::EXITED,
                );
                return Err(e);
            }
            Ok(Side::Parent(Spawned {
                pid,
                pidfd,
                born_in_cgroup,
            }))
        }
    }
}

unsafe fn through_helper(
    flags: u64,
    cgroup: Option<BorrowedFd<'_>>,
    pid_ns: Option<BorrowedFd<'_>>,
    keep: &[BorrowedFd<'_>],
) -> Result<Side> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let (ours, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::sys("socketpair for the fork helper", e))?;
    // glibc's fork(), not a raw clone: it is the one that leaves the
    // helper a usable heap.
    let helper = libc::fork();
    if helper < 0 {
        return Err(Error::sys(
            "fork (the helper for a multi-threaded caller)",
            std::io::Error::last_os_error(),
        ));
    }
    if helper == 0 {
        drop(ours);
        return helper_main(flags, cgroup, pid_ns, theirs, keep);
    }
    drop(theirs);
    let answer = receive(&ours);
    // The helper exits right after answering (or is killed here if it
    // did not): reap it either way.
    if answer.is_err() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(helper),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(helper), None);
    answer.map(Side::Parent)
}

/// The helper's whole life: [status, born_in_cgroup, pid or errno (i32 LE)]
/// with the pidfd attached on success.
unsafe fn helper_main(
    flags: u64,
    cgroup: Option<BorrowedFd<'_>>,
    pid_ns: Option<BorrowedFd<'_>>,
    sock: OwnedFd,
    keep: &[BorrowedFd<'_>],
) -> Result<Side> {
    let forked = match pid_ns {
        Some(ns) => {
            rustix::thread::move_into_link_name_space(ns, Some(LinkNameSpaceType::ProcessID))
                .map_err(std::io::Error::from)
        }
        None => Ok(()),
    }
    .and_then(|()| syscall::clone3_into(flags | libc::CLONE_PARENT as u64, cgroup));
    let sent = match forked {
        Ok((Forked::Child, _)) => {
            drop(sock);
            if release_foreign_fds(keep).is_err() {
                // The parent sees the sync channel close and fails the call.
                libc::_exit(127);
            }
            return Ok(Side::Child);
        }
        Ok((Forked::Parent { pid, pidfd }, born)) => {
            let mut msg = [0u8, born as u8, 0, 0, 0, 0];
            msg[2..].copy_from_slice(&pid.to_le_bytes());
            crate::fdpass::send_fd(&sock, &msg, pidfd.as_fd())
        }
        Err(e) => {
            let mut msg = [1u8, 0, 0, 0, 0, 0];
            msg[2..].copy_from_slice(&e.raw_os_error().unwrap_or(libc::EIO).to_le_bytes());
            rustix::net::send(&sock, &msg, rustix::net::SendFlags::NOSIGNAL)
                .map(drop)
                .map_err(Into::into)
        }
    };
    // SAFETY: _exit skips the caller's atexit handlers and buffers, which
    // belong to the caller, not to this copy.
    libc::_exit(sent.is_err() as i32)
}

fn receive(sock: &OwnedFd) -> Result<Spawned> {
    let what = "the fork helper";
    if !crate::sync::readable_within(sock, HELPER_TIMEOUT).map_err(|e| Error::sys(what, e))? {
        return Err(Error::Process(format!(
            "{what} did not answer in {}s",
            HELPER_TIMEOUT.as_secs()
        )));
    }
    let (msg, fd) =
        crate::fdpass::recv_fd_into(sock, vec![0u8; 16]).map_err(|e| Error::sys(what, e))?;
    let value = msg
        .get(2..6)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_le_bytes);
    match (msg.first(), value, fd) {
        (Some(0), Some(pid), Some(pidfd)) => Ok(Spawned {
            pid,
            pidfd,
            born_in_cgroup: msg[1] != 0,
        }),
        (Some(1), Some(errno), None) => Err(Error::sys(
            "clone3",
            std::io::Error::from_raw_os_error(errno),
        )),
        _ => Err(Error::Process(format!("{what} exited without an answer"))),
    }
}

/// The calling thread's `pid_for_children`, saved before entering another
/// pid namespace and restored on every path: explicitly with [`restore`]
/// where an error can be returned, by Drop on early returns.
///
/// [`restore`]: PidNsGuard::restore
pub(crate) struct PidNsGuard {
    saved: Option<OwnedFd>,
}

impl PidNsGuard {
    /// Saves the current `pid_for_children` and enters `ns` for the
    /// calling thread's future children.
    pub(crate) fn enter(ns: BorrowedFd<'_>) -> Result<PidNsGuard> {
        use rustix::fs::{Mode, OFlags};
        let path = "/proc/thread-self/ns/pid_for_children";
        let saved = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::sys(format!("opening {path}"), e))?;
        rustix::thread::move_into_link_name_space(ns, Some(LinkNameSpaceType::ProcessID))
            .map_err(|e| Error::sys("joining the pid namespace", e))?;
        Ok(PidNsGuard { saved: Some(saved) })
    }

    /// Back to the saved namespace.
    pub(crate) fn restore(mut self) -> Result<()> {
        match self.saved.take() {
            Some(fd) => setns_pid(fd.as_fd()),
            None => Ok(()),
        }
    }

    /// Forgets the saved namespace (in a child that will never fork again).
    pub(crate) fn disarm(mut self) {
        self.saved = None;
    }
}

impl Drop for PidNsGuard {
    fn drop(&mut self) {
        if let Some(fd) = self.saved.take() {
            if let Err(e) = setns_pid(fd.as_fd()) {
                tracing::error!("{e}");
            }
        }
    }
}

fn setns_pid(fd: BorrowedFd<'_>) -> Result<()> {
    rustix::thread::move_into_link_name_space(fd, Some(LinkNameSpaceType::ProcessID))
        .map_err(|e| Error::sys("restoring the caller's pid_for_children", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid_for_children() -> std::path::PathBuf {
        std::fs::read_link("/proc/thread-self/ns/pid_for_children").unwrap()
    }

    /// A process holding a child pid namespace, killed on drop.
    struct NsHolder(nix::unistd::Pid);

    impl Drop for NsHolder {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(self.0, None);
        }
    }

    /// A child pid namespace to enter: a helper unshares one and forks its
    /// init (a namespace without one cannot be opened); the helper's
    /// pid_for_children is then the new namespace.
    fn child_pid_ns() -> Option<(OwnedFd, NsHolder)> {
        use nix::unistd::{fork, ForkResult};
        if !nix::unistd::geteuid().is_root() {
            eprintln!("note: pid namespace tests need root");
            return None;
        }
        let (ready_r, ready_w) = rustix::pipe::pipe().unwrap();
        // SAFETY: the children only make syscalls, then pause until killed.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::unshare(libc::CLONE_NEWPID) == 0 && libc::fork() == 0 {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                } else {
                    libc::write(
                        std::os::fd::AsRawFd::as_raw_fd(&ready_w),
                        b"x".as_ptr().cast(),
                        1,
                    );
                }
                loop {
                    libc::pause();
                }
            },
            ForkResult::Parent { child } => {
                drop(ready_w);
                let holder = NsHolder(child);
                let mut b = [0u8; 1];
                assert_eq!(
                    rustix::io::read(&ready_r, &mut b).unwrap(),
                    1,
                    "the namespace helper failed"
                );
                let path = format!("/proc/{child}/ns/pid_for_children");
                let fd = rustix::fs::open(
                    path.as_str(),
                    rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )
                .unwrap();
                Some((fd, holder))
            }
        }
    }

    #[test]
    fn the_guard_restores_pid_for_children_on_every_path() {
        let Some((ns, _holder)) = child_pid_ns() else {
            return;
        };
        let before = pid_for_children();
        {
            let _g = PidNsGuard::enter(ns.as_fd()).unwrap();
            assert_ne!(pid_for_children(), before, "entering changed nothing");
            // dropped here, as on an error path
        }
        assert_eq!(pid_for_children(), before);
        let g = PidNsGuard::enter(ns.as_fd()).unwrap();
        g.restore().unwrap();
        assert_eq!(pid_for_children(), before);
    }
}
