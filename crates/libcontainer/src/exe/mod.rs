//! CVE-2019-5736 protection: no container process may reach a writable
//! path to the binary that runs the runtime. A container program whose
//! interpreter is `/proc/self/exe` makes the kernel run *our* binary inside
//! the container, where other container processes could reopen it through
//! `/proc/<pid>/exe` and overwrite it on the host.
//!
//! The container's process is covered by the library itself:
//! - [`ExecStub`]: create and exec check [`exe_is_protected`]; when the
//!   caller's binary is not, the container's process execs the tiny
//!   [`stub`] from a sealed memfd right before its program, so the
//!   program's path is resolved while /proc/self/exe is the memfd. Until
//!   then the process is non-dumpable (`init::child_prologue`), which
//!   keeps `/proc/<pid>/exe` (and its memory and fds) closed to the
//!   container's other processes, which lack CAP_SYS_PTRACE.
//!
//! What the library does not cover is the caller's own process, which
//! waits while the container runs (the hull CLI's `run` and `exec`). A
//! container that shares its pid namespace and runs as the caller's uid,
//! with capabilities covering the caller's, could open the caller's
//! `/proc/<pid>/exe`, `/proc/<pid>/mem` or `/proc/<pid>/fd`. The library
//! changes no process-wide state behind its caller's back, so the caller
//! chooses one of:
//! - make itself non-dumpable, `prctl(PR_SET_DUMPABLE, 0)` (rustix:
//!   `set_dumpable_behavior(NotDumpable)`), before create, run or exec.
//!   This is what the hull CLI does for create, run and exec: it costs one
//!   syscall and also closes its memory and fds. Its children inherit it
//!   until they exec; it makes its `/proc/<pid>` files root's, which the
//!   library never needs to open.
//! - [`ensure_protected_exe`]: the whole process re-executes itself from a
//!   read-only view of its binary, a detached read-only bind mount of the
//!   file (open_tree + mount_setattr, no copy; a reopen for writing fails
//!   with EROFS), or where mounts are not allowed (rootless) a sealed memfd
//!   copy, as crun does. This protects the binary only, costs a second
//!   exec of the caller (1-2 ms for hull, more for a copy), and makes
//!   [`ExecStub`] unnecessary. The hull CLI uses it only on architectures
//!   without a stub ([`exec_stub_available`]).

mod stub;

use std::{
    ffi::{CStr, CString, OsString},
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
        unix::ffi::OsStringExt,
    },
    sync::atomic::{AtomicI32, Ordering},
};

use rustix::fs::{MemfdFlags, Mode, OFlags, SealFlags, StatVfsMountFlags};

use crate::error::{Error, Result};

const SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// Whether the running binary is already safe to expose to a container:
/// on a read-only mount, or a sealed memfd.
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

/// Re-executes this process from a read-only view of its binary, with the
/// same arguments and environment, unless already protected. Returns only
/// when no re-exec was needed. Call it first thing in `main`, before any
/// thread starts: everything the process did before is lost.
///
/// Opt-in for embedders: create and exec protect the container's process
/// without it (see the module docs), and the hull CLI does not call it
/// where the exec stub exists. It protects the caller's binary while the
/// caller waits for a container that shares its pid namespace; making
/// the caller non-dumpable covers that too, and its memory and fds, for
/// one syscall. Needed on architectures without an exec stub.
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
    let memfd = OwnedFd::from(dst);
    if copied != len {
        return Err(Error::Unsupported(format!(
            "copying the hull binary into a memfd: {copied} of {len} bytes"
        )));
    }
    rustix::fs::fcntl_add_seals(&memfd, SEALS).map_err(|e| Error::sys("sealing the memfd", e))?;
    reexec(&memfd)
}

/// A detached read-only bind mount of the running binary, or None where
/// the mount API is not permitted.
fn readonly_view() -> Option<OwnedFd> {
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
    let r = crate::syscall::mount_setattr(tree.as_fd(), false, &attr);
    r.is_ok().then_some(tree)
}

fn reexec(fd: &OwnedFd) -> Result<()> {
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

/// Whether this architecture has the exec stub (x86_64, aarch64). Without
/// it, create and exec refuse to run for a caller whose binary is not
/// protected: call [`ensure_protected_exe`] first there.
pub fn exec_stub_available() -> bool {
    stub::AVAILABLE
}

/// The exec stub for one create or exec, made in the parent before the
/// fork: None when the caller's binary is protected already (on a
/// read-only mount, or re-executed by [`ensure_protected_exe`]).
pub(crate) struct ExecStub(Option<OwnedFd>);

impl ExecStub {
    pub(crate) fn prepare() -> Result<ExecStub> {
        if exe_is_protected()? {
            return Ok(ExecStub(None));
        }
        if !stub::AVAILABLE {
            return Err(Error::Unsupported(
                "the calling program's binary is writable and this architecture has no exec stub: call libcontainer::ensure_protected_exe() at the start of main".into(),
            ));
        }
        stub::memfd()
            .map(|fd| ExecStub(Some(fd)))
            .map_err(|e| Error::sys("preparing the exec stub memfd", e))
    }

    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.0.as_ref().map(|f| f.as_fd())
    }
}

/// The stub memfd, the fd that reports a failed execve, and the first fd
/// the container's program does not inherit, set in the container's
/// process just before its executor runs. Each process has its own copy
/// of these statics: setting them in the forked child never touches the
/// caller.
static STUB_FD: AtomicI32 = AtomicI32::new(-1);
static REPORT_FD: AtomicI32 = AtomicI32::new(-1);
static FIRST_CLOSED: AtomicI32 = AtomicI32::new(-1);

/// Makes [`execve`] go through `stub` in this (forked) process (a failed
/// execve is then reported on `report` as `Msg::ExecFailed`), or, with no
/// stub, close every fd from `first_closed` up but `report` first.
pub(crate) fn arm(stub: Option<BorrowedFd<'_>>, report: BorrowedFd<'_>, first_closed: u32) {
    REPORT_FD.store(report.as_raw_fd(), Ordering::Relaxed);
    FIRST_CLOSED.store(
        i32::try_from(first_closed).unwrap_or(i32::MAX),
        Ordering::Relaxed,
    );
    if let Some(s) = stub {
        STUB_FD.store(s.as_raw_fd(), Ordering::Relaxed);
    }
}

/// execve(2) for executors: in a container process set up by this library
/// for an unprotected caller (see the module docs), it goes through the
/// exec stub, so `path` is resolved while /proc/self/exe is a sealed memfd.
/// Elsewhere it is a plain execve; in a container process the runtime's
/// fds are closed first. Returns only on failure; a failure the stub
/// reports after it took over ends the process with status 127 and is
/// reported to the library's caller instead.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> std::io::Error {
    let stub = STUB_FD.load(Ordering::Relaxed);
    let report = REPORT_FD.load(Ordering::Relaxed);
    if stub < 0 {
        let first = FIRST_CLOSED.load(Ordering::Relaxed);
        if first >= 0 {
            // CVE-2024-21626: the kernel resolves `path` before it closes
            // the close-on-exec fds, so /proc/self/fd/N/.. in it would
            // reach the runtime's directories (the state dir, its /proc,
            // the cgroupfs). The stub resolves it after its own exec, when
            // they are gone; here they go first, as runc does. `report`
            // (a socket: no path goes through it) stays for the error.
            if let Err(e) = crate::fds::close_from(first as u32, &[report]) {
                return e;
            }
        }
        return nix::unistd::execve(path, argv, envp)
            .map(|_| ())
            .unwrap_err()
            .into();
    }
    let Ok(fd_arg) = CString::new(report.to_string()) else {
        return std::io::ErrorKind::InvalidInput.into();
    };
    let mut stub_argv: Vec<&CStr> = Vec::with_capacity(argv.len() + 2);
    stub_argv.push(&fd_arg);
    stub_argv.push(path);
    stub_argv.extend(argv.iter().map(CString::as_c_str));
    // SAFETY: both fds are this process's own, open until the exec; the
    // report fd must survive the stub's exec (the stub closes it on the
    // next one) and is restored to close-on-exec if execveat fails here.
    let report_fd = unsafe { BorrowedFd::borrow_raw(report) };
    let stub_fd = unsafe { BorrowedFd::borrow_raw(stub) };
    if let Err(e) = rustix::io::fcntl_setfd(report_fd, rustix::io::FdFlags::empty()) {
        return e.into();
    }
    let err = nix::unistd::execveat(
        stub_fd,
        c"",
        &stub_argv,
        envp,
        nix::fcntl::AtFlags::AT_EMPTY_PATH,
    )
    .map(|_| ())
    .unwrap_err();
    let _ = rustix::io::fcntl_setfd(report_fd, rustix::io::FdFlags::CLOEXEC);
    err.into()
}
