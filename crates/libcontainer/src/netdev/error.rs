//! Why `linux.netDevices` could not be moved.

use std::io;

/// Why moving `linux.netDevices` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetDevError {
    /// One device could not be moved or configured.
    #[error("linux.netDevices[{host:?}]: {what}: {source}")]
    Device {
        /// The device's name in the runtime's namespace (the entry's key).
        host: String,
        /// The step that failed.
        what: String,
        /// The kernel's answer.
        source: io::Error,
    },
    /// A step not tied to one device (a namespace file, a socket).
    #[error("{what}: {source}")]
    Sys {
        /// The step that failed.
        what: String,
        /// The kernel's answer.
        source: io::Error,
    },
}
