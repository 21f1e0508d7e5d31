//! Why a checkpoint or restore failed.

use std::path::PathBuf;

/// Why a checkpoint or restore failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CriuError {
    /// CRIU could not be started.
    #[error("starting CRIU {path:?}: {source}")]
    Spawn {
        /// The CRIU binary.
        path: PathBuf,
        /// What spawning it returned.
        source: std::io::Error,
    },
    /// CRIU reported a failure.
    #[error("CRIU {what} failed: {detail}{}", log.as_ref().map(|l| format!(" (log: {})", l.display())).unwrap_or_default())]
    Failed {
        /// The request that failed (dump, restore, ...).
        what: String,
        /// CRIU's reason.
        detail: String,
        /// CRIU's log file, when it wrote one.
        log: Option<PathBuf>,
    },
    /// CRIU's RPC answer was not what the request expects.
    #[error("CRIU protocol error: {0}")]
    Protocol(String),
    /// An I/O error around CRIU (its socket, images or work directory).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// This CRIU is older than a requested feature needs.
    #[error("CRIU {found} is too old for {what}: {need} or newer is needed")]
    TooOld {
        /// The feature.
        what: String,
        /// The version found.
        found: String,
        /// The version needed.
        need: String,
    },
    /// What hull does at one of CRIU's restore notifications (the hooks at
    /// setup-namespaces, the pty master at orphan-pts-master) failed.
    #[error("CRIU notification {script:?}: {reason}")]
    Notify {
        /// The notification (CRIU's name for the step).
        script: String,
        /// Why it failed.
        reason: String,
    },
    /// An option this host or build cannot honour.
    #[error("{option}: {reason}")]
    Unsupported {
        /// runc's flag name.
        option: &'static str,
        /// Why.
        reason: String,
    },
    /// A bad value for an option; `option` is runc's flag name.
    #[error("{option}: {reason}")]
    Invalid {
        /// runc's flag name.
        option: &'static str,
        /// Why the value is refused.
        reason: String,
    },
}
