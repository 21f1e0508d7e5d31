//! Seccomp: `linux.seccomp` compiled into a BPF program in the parent, loaded
//! by the container's init just before exec.
//!
//! Fail-closed: anything in the profile hull cannot enforce exactly as
//! written is an error naming its JSON path, never a warning. The one
//! deliberate leniency is runc's: a syscall *name* libseccomp does not know
//! is skipped (debug-logged), so one profile serves several kernels. And,
//! as runc does, a syscall newer than every one the profile names fails
//! with ENOSYS rather than the default action, so a newer libc falls back
//! to the older call (`enosys`).
//!
//! The split of work:
//! - [`Filter::build`] runs in the parent before fork. libseccomp resolves
//!   names per architecture and generates the BPF program; the program and
//!   the kernel's `SECCOMP_FILTER_FLAG_*` bits are kept as plain data and the
//!   flags are probed against the running kernel, so every error surfaces
//!   before anything is created.
//! - [`Filter::load`] runs in the child, inherited through fork: one
//!   `seccomp(SECCOMP_SET_MODE_FILTER)` call, no allocation, no libseccomp
//!   state. It returns the notify fd when a rule uses `SCMP_ACT_NOTIFY`.
//! - [`send_to_listener`] runs in the parent and hands that fd to the
//!   seccomp agent at `listenerPath`, as the OCI spec describes.
//!
//! The no_new_privs bit is never set here: that is `process.noNewPrivileges`'
//! job. Without it the load needs CAP_SYS_ADMIN (in the container's user
//! namespace), so the init must load before it drops capabilities.

mod arch;
mod compile;
mod enosys;
mod json;
mod listener;
#[cfg(test)]
mod tests;

use std::{
    fmt, io,
    os::fd::{FromRawFd, OwnedFd},
    path::PathBuf,
};

pub(crate) use json::json_issues;
pub(crate) use listener::send_to_listener;

/// Why a seccomp profile was refused or could not be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompError {
    /// A field of `linux.seccomp` hull cannot enforce as written.
    #[error("{path}: {reason}")]
    Field {
        /// The JSON path of the field.
        path: String,
        /// Why.
        reason: String,
    },
    /// The kernel refused the compiled filter in the child.
    #[error("linux.seccomp: loading the filter: {reason}")]
    Load {
        /// The kernel's answer.
        reason: String,
    },
    /// The seccomp agent at `listenerPath` could not be given the notify fd.
    #[error("linux.seccomp.listenerPath: {path:?}: {what}: {source}")]
    Listener {
        /// The agent's socket.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
}

impl SeccompError {
    pub(crate) fn field(path: impl Into<String>, reason: impl Into<String>) -> Self {
        SeccompError::Field {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Kernel flag bits for `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`.
pub(crate) mod flag {
    pub const TSYNC: u32 = 1 << 0;
    pub const LOG: u32 = 1 << 1;
    pub const SPEC_ALLOW: u32 = 1 << 2;
    pub const NEW_LISTENER: u32 = 1 << 3;
    pub const TSYNC_ESRCH: u32 = 1 << 4;
    pub const WAIT_KILLABLE_RECV: u32 = 1 << 5;
}

/// A compiled seccomp filter, ready to load. Built in the parent before
/// fork (errors surface before anything is created); the child inherits it
/// through fork and only loads it.
pub(crate) struct Filter {
    /// The BPF program as libseccomp generated it for every architecture.
    program: Vec<libc::sock_filter>,
    /// `SECCOMP_FILTER_FLAG_*` bits, already checked against this kernel.
    flags: u32,
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.program.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .finish()
    }
}

impl Filter {
    /// Compiles `linux.seccomp`. Every error names the JSON path at fault.
    pub fn build(s: &oci_spec::runtime::LinuxSeccomp) -> Result<Filter, SeccompError> {
        let (program, flags) = compile::compile(s)?;
        Ok(Filter { program, flags })
    }

    /// Whether loading yields a notify fd for the seccomp agent.
    pub fn uses_notify(&self) -> bool {
        self.flags & flag::NEW_LISTENER != 0
    }

    /// Number of BPF instructions (for logs and tests).
    pub fn instructions(&self) -> usize {
        self.program.len()
    }

    /// Installs the filter on the calling thread. Call it in the child as
    /// late as possible before exec: while the process still has
    /// CAP_SYS_ADMIN when `noNewPrivileges` is false, right after setting
    /// no_new_privs otherwise. Returns the notify fd (close-on-exec) when
    /// any rule uses `SCMP_ACT_NOTIFY`.
    ///
    /// Async-signal-safe: one system call, no allocation on success.
    pub fn load(&self) -> Result<Option<OwnedFd>, SeccompError> {
        let prog = libc::sock_fprog {
            len: self.program.len() as libc::c_ushort,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points at `self.program`, alive for the call; the
        // kernel copies the program and does not keep the pointer.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
                self.flags as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc < 0 {
            return Err(load_error(io::Error::last_os_error(), self.flags));
        }
        if self.uses_notify() {
            // SAFETY: with NEW_LISTENER a successful call returns a fresh fd
            // that nothing else owns.
            return Ok(Some(unsafe { OwnedFd::from_raw_fd(rc as i32) }));
        }
        if rc > 0 {
            // TSYNC without TSYNC_ESRCH reports the thread it could not
            // synchronise as a positive return; the filter is not loaded.
            return Err(SeccompError::Load {
                reason: format!("SECCOMP_FILTER_FLAG_TSYNC: thread {rc} could not be synchronised to the filter"),
            });
        }
        Ok(None)
    }
}

fn load_error(e: io::Error, flags: u32) -> SeccompError {
    let hint = match e.raw_os_error() {
        Some(libc::EACCES) => {
            " (without process.noNewPrivileges the filter needs CAP_SYS_ADMIN: it must be loaded before capabilities are dropped)"
        }
        Some(libc::ESRCH) if flags & flag::TSYNC != 0 => " (SECCOMP_FILTER_FLAG_TSYNC: another thread could not be synchronised)",
        Some(libc::EBUSY) if flags & flag::NEW_LISTENER != 0 => " (this process already has a seccomp notify listener)",
        _ => "",
    };
    // Allocation here is acceptable: this is the failure path.
    SeccompError::Load {
        reason: format!("{e}{hint}"),
    }
}
