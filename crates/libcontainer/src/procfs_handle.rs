//! The one way hull writes to /proc (and reads what decides how it sets a
//! process up): through a procfs it can trust, never through the path
//! `/proc`.
//!
//! Once a process is in the container's mount namespace, `/proc` is
//! whatever the container's mounts (or a container sharing one of them)
//! made it: a bind of /proc/sys/kernel/core_pattern over
//! /proc/self/oom_score_adj turns a harmless write into a host escape (runc's
//! CVE-2025-52881). So a [`ProcfsHandle`] is opened before the process
//! enters anything the container controls, and held as an fd:
//!
//! - The container's init uses the runtime's own `/proc`
//!   ([`ProcfsHandle::mounted`]), opened by the parent before the fork in
//!   the caller's mount namespace, which no container can mount into.
//!   Where a path in it crosses a mount (a read-only /proc/sys an engine
//!   bound over it, when hull itself runs in a container) or is hidden
//!   (`subset=pid`), that path comes from a private instance made then.
//!   No instance per container: freeing one (dissolving its detached
//!   mount) waits out an expedited RCU grace period, and those queue up
//!   behind each other when many containers start at once.
//! - Other children (exec) make a private instance with fsopen/fsmount,
//!   never attached to any mount tree ([`ProcfsHandle::new`]); where the
//!   kernel refuses one (no CAP_SYS_ADMIN over the pid namespace, e.g.
//!   hull itself inside a user namespace), the mounted `/proc` is used
//!   instead, checked the same way. If neither can be had, the operation
//!   fails.
//!
//! Every file is opened with openat2 RESOLVE_BENEATH | RESOLVE_NO_XDEV |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS (nothing can be mounted over
//! it, nothing can send the lookup elsewhere) and must be on a procfs
//! (PROC_SUPER_MAGIC) once open. `self` is resolved by reading the link
//! rather than following it, so it names the calling process in the
//! instance's own pid namespace.

use std::os::fd::OwnedFd;

use rustix::{
    fs::{Mode, OFlags, ResolveFlags},
    io::Errno,
    mount::{FsMountFlags, FsOpenFlags, MountAttrFlags},
};

/// Inode number of a procfs root directory (PROC_ROOT_INO).
const PROC_ROOT_INO: u64 = 1;

/// Which directory a path given to a [`ProcfsHandle`] is relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProcBase {
    /// The procfs root, for `sys/...`.
    Root,
    /// The calling process's `<pid>` directory (what `/proc/self` names).
    SelfProcess,
    /// Another process's directory, by its pid in the caller's pid namespace.
    Pid(i32),
}

/// A procfs hull can trust: see the module documentation.
#[derive(Debug)]
pub(crate) struct ProcfsHandle {
    root: OwnedFd,
    /// `root` is the caller's mounted /proc ([`ProcfsHandle::mounted`]).
    mounted: bool,
    /// For a mounted /proc: a private instance, made the first time a
    /// path in the mounted one crosses a mount or is hidden
    /// ([`ProcfsHandle::open`]).
    private: std::cell::OnceCell<OwnedFd>,
}

fn resolve() -> ResolveFlags {
    ResolveFlags::BENEATH
        | ResolveFlags::NO_XDEV
        | ResolveFlags::NO_SYMLINKS
        | ResolveFlags::NO_MAGICLINKS
}

fn invalid(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

/// A procfs root, and nothing else: the right filesystem, its top directory
/// (not a bind of some subdirectory such as /proc/sys).
fn check_root(fd: OwnedFd, what: &str) -> std::io::Result<OwnedFd> {
    let fs = rustix::fs::fstatfs(&fd)?;
    if fs.f_type != rustix::fs::PROC_SUPER_MAGIC {
        return Err(invalid(format!(
            "{what} is not a procfs (filesystem magic {:#x})",
            fs.f_type
        )));
    }
    let st = rustix::fs::fstat(&fd)?;
    if st.st_ino != PROC_ROOT_INO {
        return Err(invalid(format!(
            "{what} is not the root of a procfs (inode {})",
            st.st_ino
        )));
    }
    Ok(fd)
}

impl ProcfsHandle {
    /// A private procfs instance for the caller's pid namespace, or, where
    /// the kernel refuses one, the caller's own `/proc` (see [`Self::mounted`]).
    /// Call it before entering any namespace the container controls.
    pub fn new() -> std::io::Result<ProcfsHandle> {
        match Self::private() {
            Ok(root) => Ok(ProcfsHandle {
                root,
                mounted: false,
                private: std::cell::OnceCell::new(),
            }),
            Err(e) => {
                tracing::debug!("no private procfs instance ({e}); using the mounted /proc");
                Self::mounted()
            }
        }
    }

    /// The `/proc` of the caller's mount namespace, checked to be a procfs
    /// root. Only for code that has not entered the container's mount
    /// namespace: hull trusts its caller's view of the system. Where a
    /// path in it crosses a mount (a read-only /proc/sys bound over it, as
    /// container engines do) or is hidden (`subset=pid`), [`Self::open`]
    /// takes it from a private instance instead.
    pub fn mounted() -> std::io::Result<ProcfsHandle> {
        let fd = rustix::fs::open(
            "/proc",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(ProcfsHandle {
            root: check_root(fd, "/proc")?,
            mounted: true,
            private: std::cell::OnceCell::new(),
        })
    }

    fn private() -> std::io::Result<OwnedFd> {
        let ctx = rustix::mount::fsopen("proc", FsOpenFlags::FSOPEN_CLOEXEC)?;
        rustix::mount::fsconfig_create(&ctx)?;
        let attrs = MountAttrFlags::MOUNT_ATTR_NOSUID
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOEXEC;
        let mnt = rustix::mount::fsmount(&ctx, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?;
        check_root(mnt, "the new procfs instance")
    }

    /// The calling process's pid as the procfs at `root` names it.
    fn self_pid(root: &OwnedFd) -> std::io::Result<u32> {
        let link = rustix::fs::readlinkat(root, "self", Vec::new()).map_err(|e| match e {
            // The instance belongs to a pid namespace the caller is not in.
            Errno::NOENT => invalid("this process is not visible in hull's procfs".into()),
            e => e.into(),
        })?;
        let s = link
            .to_str()
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
        s.and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(format!("procfs self link reads {link:?}")))
    }

    fn relative(root: &OwnedFd, base: ProcBase, path: &str) -> std::io::Result<String> {
        Ok(match base {
            ProcBase::Root => path.to_owned(),
            ProcBase::SelfProcess => format!("{}/{path}", Self::self_pid(root)?),
            ProcBase::Pid(pid) if pid > 0 => format!("{pid}/{path}"),
            ProcBase::Pid(pid) => return Err(invalid(format!("invalid pid {pid}"))),
        })
    }

    /// Opens `path` under `base` without crossing a mount or following any
    /// link, and checks the result is a procfs file.
    pub fn open(&self, base: ProcBase, path: &str, flags: OFlags) -> std::io::Result<OwnedFd> {
        let (fd, rel) = match Self::open_in(&self.root, base, path, flags) {
            // A mount crossed, or (subset=pid) a top-level entry hidden; a
            // missing file of a process is just missing.
            Err(e)
                if self.mounted
                    && (e.raw_os_error() == Some(libc::EXDEV)
                        || (e.raw_os_error() == Some(libc::ENOENT) && base == ProcBase::Root)) =>
            {
                let private = match self.private.get() {
                    Some(p) => p,
                    None => {
                        // The mounted /proc's answer stands where no
                        // private instance can be had.
                        let p = Self::private().map_err(|_| e)?;
                        self.private.get_or_init(|| p)
                    }
                };
                Self::open_in(private, base, path, flags)?
            }
            r => r?,
        };
        let fs = rustix::fs::fstatfs(&fd)?;
        if fs.f_type != rustix::fs::PROC_SUPER_MAGIC {
            return Err(invalid(format!("{rel} is not on a procfs")));
        }
        Ok(fd)
    }

    fn open_in(
        root: &OwnedFd,
        base: ProcBase,
        path: &str,
        flags: OFlags,
    ) -> std::io::Result<(OwnedFd, String)> {
        let rel = Self::relative(root, base, path)?;
        // openat2 refuses any flag O_PATH ignores.
        let extra = if flags.contains(OFlags::PATH) {
            OFlags::CLOEXEC
        } else {
            OFlags::CLOEXEC | OFlags::NOCTTY
        };
        let fd = rustix::fs::openat2(root, rel.as_str(), flags | extra, Mode::empty(), resolve())
            .map_err(std::io::Error::from)?;
        Ok((fd, rel))
    }

    /// Writes `data` in one write(2), as procfs files such as uid_map require.
    pub fn write(&self, base: ProcBase, path: &str, data: &[u8]) -> std::io::Result<()> {
        let fd = self.open(base, path, OFlags::WRONLY)?;
        let n = rustix::io::write(&fd, data)?;
        if n != data.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                format!("short write ({n} of {} bytes)", data.len()),
            ));
        }
        Ok(())
    }

    pub fn read_to_string(&self, base: ProcBase, path: &str) -> std::io::Result<String> {
        let fd = self.open(base, path, OFlags::RDONLY)?;
        std::io::read_to_string(std::fs::File::from(fd))
    }

    /// Opens the process's `root` magic link: the directory the process sees
    /// as `/`. The link is followed on purpose, from the pid directory of a
    /// trusted procfs, so it is the kernel's and not a path anyone planted.
    /// The caller must prove the pid still names the same process afterwards.
    pub fn open_root_of(&self, pid: i32) -> std::io::Result<OwnedFd> {
        let dir = self.open(ProcBase::Pid(pid), ".", OFlags::PATH | OFlags::DIRECTORY)?;
        let root = rustix::fs::openat(
            &dir,
            "root",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(root)
    }

    /// The handle's root fd (for tests that check where it points).
    #[cfg(test)]
    fn root(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.root)
    }
}

impl std::os::fd::AsFd for ProcfsHandle {
    /// The root fd, for a child to inherit the handle across clone.
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.root.as_fd()
    }
}

/// The magic link naming `fd` in this process, for the calls that take only
/// a path: what they reach is exactly the file the fd holds (no path is
/// looked up again), and the string is short whatever the file's own path.
pub(crate) fn fd_path(fd: impl std::os::fd::AsFd) -> String {
    use std::os::fd::AsRawFd;
    format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())
}

/// The init's root directory, opened through /proc/<pid>/root while
/// `pinned` (a pidfd checked to be the init) holds the process: if it is
/// still alive afterwards, the pid named the init throughout, so a recycled
/// pid cannot hand us another process's root.
pub(crate) fn open_init_root(pid: i32, pinned: &OwnedFd) -> crate::error::Result<OwnedFd> {
    use crate::error::Error;
    let procfs = ProcfsHandle::mounted().map_err(|e| Error::sys("opening /proc", e))?;
    let root = procfs.open_root_of(pid).map_err(|e| {
        Error::sys(
            format!("opening /proc/{pid}/root (the container's root)"),
            e,
        )
    })?;
    ensure_alive(pid, pinned, "its root was opened")?;
    Ok(root)
}

/// The init's `/proc/<pid>/<file>`, read from a trusted procfs and checked
/// (as [`open_init_root`]) to have been the init's.
pub(crate) fn read_init_file(
    pid: i32,
    pinned: &OwnedFd,
    file: &str,
) -> crate::error::Result<String> {
    use crate::error::Error;
    let procfs = ProcfsHandle::mounted().map_err(|e| Error::sys("opening /proc", e))?;
    let text = procfs
        .read_to_string(ProcBase::Pid(pid), file)
        .map_err(|e| Error::sys(format!("reading /proc/{pid}/{file}"), e))?;
    ensure_alive(pid, pinned, &format!("/proc/{pid}/{file} was read"))?;
    Ok(text)
}

fn ensure_alive(pid: i32, pinned: &OwnedFd, while_: &str) -> crate::error::Result<()> {
    use crate::error::Error;
    if !crate::syscall::pidfd_is_alive(std::os::fd::AsFd::as_fd(pinned))
        .map_err(|e| Error::sys("checking the container's init", e))?
    {
        return Err(Error::Process(format!(
            "the container's init (pid {pid}) exited while {while_}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    /// The init's files come from its own pid directory, and once the init
    /// is gone (reaped: its pid may be anyone's) reading them is an error
    /// naming it.
    #[test]
    fn init_files_need_the_init() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let pidfd = rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(pid).unwrap(),
            rustix::process::PidfdFlags::empty(),
        )
        .unwrap();
        let status = read_init_file(pid, &pidfd, "status").unwrap();
        assert!(status.contains(&format!("\nPid:\t{pid}\n")), "{status}");
        if is_root() {
            open_init_root(pid, &pidfd).unwrap();
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let e = read_init_file(pid, &pidfd, "status")
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("{pid}")), "{e}");
    }

    #[test]
    fn reads_own_files_through_both_kinds() {
        let mounted = ProcfsHandle::mounted().unwrap();
        let status = mounted
            .read_to_string(ProcBase::SelfProcess, "status")
            .unwrap();
        assert!(
            status.contains(&format!("Pid:\t{}", std::process::id())),
            "{status}"
        );
        assert!(mounted
            .read_to_string(ProcBase::Root, "sys/kernel/ostype")
            .unwrap()
            .starts_with("Linux"));
        if is_root() {
            // Root on the host may make an instance of its own: a superblock
            // other than the mounted /proc's.
            let private = ProcfsHandle {
                root: ProcfsHandle::private().unwrap(),
                mounted: false,
                private: std::cell::OnceCell::new(),
            };
            let st = rustix::fs::fstat(private.root()).unwrap();
            assert_eq!(st.st_ino, PROC_ROOT_INO);
            assert_ne!(st.st_dev, rustix::fs::stat("/proc").unwrap().st_dev);
            let status = private
                .read_to_string(ProcBase::SelfProcess, "status")
                .unwrap();
            assert!(
                status.contains(&format!("Pid:\t{}", std::process::id())),
                "{status}"
            );
        }
    }

    /// A mounted /proc with a mount over /proc/sys/kernel (as engines
    /// bind read-only copies over /proc/sys): the path is taken from a
    /// private instance, never from what covers it.
    #[test]
    fn a_path_under_a_mount_in_the_mounted_proc_comes_from_a_private_instance() {
        if !is_root() {
            eprintln!("note: not root; no mount namespace to cover /proc/sys/kernel in");
            return;
        }
        use nix::sys::wait::{waitpid, WaitStatus};
        use nix::unistd::{fork, ForkResult};
        // SAFETY: the child makes system calls and small allocations on a
        // heap no other thread of it uses, then _exits.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                let code = (|| {
                    use rustix::mount::{mount, mount_change, MountFlags, MountPropagationFlags};
                    // SAFETY: a new mount namespace for this single-threaded
                    // child only; no fs state is shared with anything.
                    let unshared = unsafe {
                        rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)
                    };
                    if unshared.is_err() {
                        return 10;
                    }
                    let rec = MountPropagationFlags::PRIVATE | MountPropagationFlags::REC;
                    if mount_change("/", rec).is_err()
                        || mount(
                            "tmpfs",
                            "/proc/sys/kernel",
                            "tmpfs",
                            MountFlags::empty(),
                            None,
                        )
                        .is_err()
                    {
                        return 11;
                    }
                    let Ok(p) = ProcfsHandle::mounted() else {
                        return 12;
                    };
                    match p.read_to_string(ProcBase::Root, "sys/kernel/ostype") {
                        Ok(s) if s.starts_with("Linux") && p.private.get().is_some() => 0,
                        Ok(_) => 13,
                        Err(_) => 14,
                    }
                })();
                // SAFETY: leave without running the harness's exit handlers.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
                WaitStatus::Exited(_, code) => assert_eq!(code, 0, "see the child's codes"),
                other => panic!("child ended with {other:?}"),
            },
        }
    }

    #[test]
    fn refuses_links_and_escapes() {
        let p = ProcfsHandle::mounted().unwrap();
        // /proc/self and /proc/mounts are symlinks, /proc/self/exe a magic link.
        assert!(p
            .open(ProcBase::Root, "self/status", OFlags::RDONLY)
            .is_err());
        assert!(p.open(ProcBase::Root, "mounts", OFlags::RDONLY).is_err());
        assert!(p
            .open(ProcBase::SelfProcess, "exe", OFlags::RDONLY)
            .is_err());
        assert!(p
            .open(ProcBase::Root, "../etc/passwd", OFlags::RDONLY)
            .is_err());
        assert!(p
            .open(ProcBase::Root, "/etc/passwd", OFlags::RDONLY)
            .is_err());
        assert!(p.open(ProcBase::Pid(0), "status", OFlags::RDONLY).is_err());
    }

    #[test]
    fn refuses_what_is_not_a_procfs_root() {
        let tmp = rustix::fs::open(
            "/tmp",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        assert!(check_root(tmp, "/tmp")
            .unwrap_err()
            .to_string()
            .contains("not a procfs"));
        let sys = rustix::fs::open(
            "/proc/sys",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        assert!(check_root(sys, "/proc/sys")
            .unwrap_err()
            .to_string()
            .contains("not the root"));
    }

    #[test]
    fn opens_another_process_root() {
        let p = ProcfsHandle::mounted().unwrap();
        let root = p.open_root_of(std::process::id() as i32).unwrap();
        let a = rustix::fs::fstat(&root).unwrap();
        let b = rustix::fs::stat("/").unwrap();
        assert_eq!((a.st_dev, a.st_ino), (b.st_dev, b.st_ino));
    }
}
