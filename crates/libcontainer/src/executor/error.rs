//! Why an executor could not run the program.

use std::path::PathBuf;

/// Why an [`Executor`](super::Executor) could not run the program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecutorError {
    /// `process.args[0]` is in no directory of the container's PATH.
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    /// execve (or the lookup) failed.
    #[error("exec: {path:?}: {source}")]
    Exec {
        /// The program.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// `process.args` cannot be passed to execve.
    #[error("exec: process.args: {0}")]
    InvalidArgs(&'static str),
    /// Another executor's own failure.
    #[error("{0}")]
    Other(String),
}
