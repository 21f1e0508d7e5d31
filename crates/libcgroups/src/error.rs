//! Error type shared by every driver.

use std::io;
use std::path::{Path, PathBuf};

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, CgroupError>;

/// Every error names the spec field, file or path at fault so that a user
/// can act on the message without reading hull's source.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// The cgroup setup of the host could not be determined.
    #[error("cgroup setup detection: {0}")]
    Detect(String),

    /// The requested cgroupsPath (or the id used in its place) is unusable.
    #[error("cgroupsPath {path:?}: {reason}")]
    InvalidPath {
        /// The path as given (or as derived from it).
        path: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// A cgroupfs operation failed; `context` is the spec field or the
    /// manager operation that needed it.
    #[error("{context}: {op} {file} in {}: {}", .dir.display(), os_msg(.source))]
    File {
        /// The spec field or manager operation that needed the file.
        context: String,
        /// What was done to it ("reading", "writing", "creating directory").
        op: &'static str,
        /// The file's name within `dir`.
        file: String,
        /// The cgroup directory.
        dir: PathBuf,
        /// The kernel's error.
        source: io::Error,
    },

    /// A requested resource cannot be applied on this host/setup
    /// (controller not mounted, knob not available on this cgroup version).
    #[error("{field}: {reason}")]
    Unsupported {
        /// The spec field, e.g. `linux.resources.memory.swap`.
        field: String,
        /// Why this host cannot apply it.
        reason: String,
    },

    /// A requested resource value is malformed or rejected before writing.
    #[error("{field}: {reason}")]
    InvalidValue {
        /// The spec field (or argument) holding the value.
        field: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A cgroup file had unexpected content.
    #[error("parsing {}: {reason}", .path.display())]
    Parse {
        /// The file read.
        path: PathBuf,
        /// What did not fit.
        reason: String,
    },

    /// A bpf(2) command failed (cgroup v2 device programs); `detail` holds
    /// the verifier's last words when it rejected a program.
    #[error("{context}: bpf({op}) for {}: {}{detail}", .dir.display(), os_msg(.source))]
    Bpf {
        /// The spec field or operation that needed the program.
        context: String,
        /// The bpf(2) command ("BPF_PROG_LOAD", "BPF_PROG_ATTACH", ...).
        op: &'static str,
        /// The cgroup the program is for.
        dir: PathBuf,
        /// The kernel's error.
        source: io::Error,
        /// Appended to the message: the verifier's log, or why no program
        /// can be loaded here; often empty.
        detail: String,
    },

    /// A bounded wait (freeze, thaw) did not complete.
    #[error("{context}: {reason}")]
    Timeout {
        /// The operation that waited.
        context: String,
        /// What it was still waiting for.
        reason: String,
    },

    /// A request to systemd failed (the systemd driver).
    #[error("{context}: {source}")]
    Systemd {
        /// What hull asked systemd for.
        context: String,
        /// The bus or systemd error.
        source: crate::systemd::dbus::DbusError,
    },

    /// destroy() refuses to remove a cgroup that still holds processes.
    #[error("cgroup {} still has processes {pids:?}; kill them before destroying it", .dir.display())]
    NotEmpty {
        /// The cgroup directory.
        dir: PathBuf,
        /// The processes still in it (and its sub-cgroups).
        pids: Vec<i32>,
    },
}

impl CgroupError {
    /// The caller may not write the hierarchy (an unprivileged user on a
    /// cgroup v1 or hybrid host, a read-only cgroupfs): what a rootless
    /// runtime may run without.
    pub fn is_permission_denied(&self) -> bool {
        let CgroupError::File { source, .. } = self else {
            return false;
        };
        matches!(
            source.raw_os_error(),
            Some(libc::EACCES | libc::EPERM | libc::EROFS)
        )
    }

    pub(crate) fn file(
        context: impl Into<String>,
        op: &'static str,
        file: impl Into<String>,
        dir: &Path,
        source: io::Error,
    ) -> Self {
        CgroupError::File {
            context: context.into(),
            op,
            file: file.into(),
            dir: dir.to_path_buf(),
            source,
        }
    }

    pub(crate) fn unsupported(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CgroupError::Unsupported {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CgroupError::InvalidValue {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The errno behind a failed cgroupfs or bpf(2) operation, if that is
    /// what failed.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            CgroupError::File { source, .. } | CgroupError::Bpf { source, .. } => {
                source.raw_os_error()
            }
            _ => None,
        }
    }
}

/// `io::Error` appends " (os error N)"; users want the plain strerror text.
fn os_msg(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_error_message_names_field_file_and_dir() {
        let e = CgroupError::file(
            "linux.resources.memory.limit",
            "writing",
            "memory.limit_in_bytes",
            Path::new("/sys/fs/cgroup/memory/hull-test-1/c"),
            io::Error::from_raw_os_error(libc::EINVAL),
        );
        assert_eq!(
            e.to_string(),
            "linux.resources.memory.limit: writing memory.limit_in_bytes in /sys/fs/cgroup/memory/hull-test-1/c: Invalid argument"
        );
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }
}
