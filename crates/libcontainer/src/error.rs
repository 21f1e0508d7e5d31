use std::path::PathBuf;

use crate::{
    criu::error::CriuError,
    executor::error::ExecutorError,
    hooks::HookError,
    netdev::error::NetDevError,
    rdt::error::RdtError,
    spec::error::SpecError,
    state::{error::StateError, status::Status},
    sync::SyncError,
};

/// The top-level error: one variant per module, each carrying its context.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The config is invalid or unreadable.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The state directory could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] libcgroups::CgroupError),
    /// A hook failed or timed out.
    #[error(transparent)]
    Hook(#[from] HookError),
    /// The parent and the init lost step.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The executor could not run the program.
    #[error(transparent)]
    Executor(#[from] ExecutorError),
    /// `linux.seccomp` was refused or could not be applied.
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    /// A checkpoint or restore failed.
    #[error(transparent)]
    Criu(#[from] CriuError),
    /// `linux.netDevices` could not be moved.
    #[error(transparent)]
    NetDevice(#[from] NetDevError),
    /// `linux.intelRdt` could not be applied.
    #[error(transparent)]
    IntelRdt(#[from] RdtError),
    /// The container's init (or an exec'd process before its exec)
    /// reported a failure during setup.
    #[error("{0}")]
    Init(String),
    /// A process of the container did not do what the setup needs of it:
    /// it vanished, exited early, or did not die when killed.
    #[error("{0}")]
    Process(String),
    /// What was asked needs something this host or build lacks (an LSM, a
    /// helper program, an architecture's exec stub).
    #[error("{0}")]
    Unsupported(String),
    /// A file read back (the config persisted at create, a checkpoint's
    /// descriptors) does not parse.
    #[error("{path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        message: String,
    },
    /// The id is not a valid container id.
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId {
        /// The id.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No container with this id exists under the root.
    #[error("container {0:?} does not exist")]
    NotFound(String),
    /// A container with this id exists already.
    #[error("container {0:?} already exists")]
    Exists(String),
    /// The operation is not allowed in the container's current status.
    #[error("container {id:?} is {status}: {action}")]
    WrongStatus {
        /// The container.
        id: String,
        /// Its status.
        status: Status,
        /// What was refused.
        action: &'static str,
    },
    /// An operation on a file failed.
    #[error("{path}: {source}")]
    Path {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{context}: {source}")]
    Sys {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// A signal name or number that does not exist.
    #[error("invalid signal {0:?}")]
    InvalidSignal(String),
    /// A caller-supplied argument is out of range.
    #[error("{0}")]
    InvalidArgument(String),
}

/// This crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn sys(context: impl Into<String>, source: impl Into<std::io::Error>) -> Self {
        Error::Sys {
            context: context.into(),
            source: source.into(),
        }
    }
    pub(crate) fn path(path: impl Into<PathBuf>, source: impl Into<std::io::Error>) -> Self {
        Error::Path {
            path: path.into(),
            source: source.into(),
        }
    }
}
