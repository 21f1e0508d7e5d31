use std::path::PathBuf;

use crate::{
    executor::ExecutorError, hooks::HookError, spec::SpecError, state::StateError, sync::SyncError,
};

/// The top-level error: one variant per module, each carrying its context.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Cgroup(#[from] libcgroups::CgroupError),
    #[error(transparent)]
    Hook(#[from] HookError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Executor(#[from] ExecutorError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Criu(#[from] crate::criu::CriuError),
    #[error(transparent)]
    NetDevice(#[from] crate::netdev::NetDevError),
    #[error(transparent)]
    IntelRdt(#[from] crate::rdt::RdtError),
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
    Corrupt { path: PathBuf, message: String },
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    Exists(String),
    /// The operation is not allowed in the container's current status.
    #[error("container {id:?} is {status}: {action}")]
    WrongStatus {
        id: String,
        status: crate::Status,
        action: &'static str,
    },
    #[error("{path}: {source}")]
    Path {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Sys {
        context: String,
        source: std::io::Error,
    },
    #[error("invalid signal {0:?}")]
    InvalidSignal(String),
    /// A caller-supplied argument is out of range.
    #[error("{0}")]
    InvalidArgument(String),
}

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
