//! Why `linux.intelRdt` could not be applied.

use std::{io, path::PathBuf};

/// Why `linux.intelRdt` (or an update of its schemas) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RdtError {
    /// What resctrl holds does not allow what the field asks.
    #[error("{field}: {reason}")]
    Field {
        /// The JSON field (or `update` flag) at fault.
        field: String,
        /// Why.
        reason: String,
    },
    /// A resctrl file or directory could not be made, written or read.
    #[error("{field}: {path}: {source}{status}")]
    Io {
        /// The JSON field (or `update` flag) it was for.
        field: String,
        /// The file or directory.
        path: PathBuf,
        /// The kernel's answer.
        source: io::Error,
        /// The kernel's `info/last_cmd_status`, when it says more.
        status: String,
    },
}
