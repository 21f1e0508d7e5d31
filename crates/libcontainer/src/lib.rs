//! Container control: the OCI runtime library behind `hull`.
//!
//! Every lifecycle operation is a typed method: [`ContainerBuilder`] creates a
//! container from a bundle, [`Container`] loads, starts, signals and deletes
//! one. The library never prints; it returns data and errors.

mod apparmor;
mod criu;
mod error;
mod exe;
mod executor;
mod fault;
mod fdpass;
mod features;
mod fifo;
#[cfg(test)]
mod fuzz;
mod hooks;
mod id;
mod idmap;
mod init;
mod mount_sources;
mod namespaces;
mod netdev;
mod notify;
mod procfs;
mod procfs_handle;
mod rdt;
mod resources;
mod rootless;
mod seccomp;
mod signal;
mod spawn;
mod spec;
mod state;
mod sync;
mod syscall;
mod terminal;
mod untrusted_dir;
mod userns;

pub mod container;
pub mod spec_default;
mod spec_shape;

pub use container::{
    block_forwarded_signals, list, remove_stateless_dir, Container, ContainerBuilder,
    ContainerInfo, ExecOptions, ExecProcess, ExitStatus,
};
pub use container::{Event, Events, RestoreBuilder};
pub use criu::{CheckpointOptions, CriuCommon, CriuError, ManageCgroupsMode, PageServer};
pub use error::{Error, Result};
pub use exe::{ensure_protected_exe, exe_is_protected, execve};
pub use executor::{DefaultExecutor, Executor, ExecutorError};
pub use features::{features, CgroupFeatures, Enabled, Features, LinuxFeatures, MountExtensions};
pub use hooks::HookError;
pub use id::validate_id;
pub use libcgroups::Stats;
pub use netdev::NetDevError;
/// The OCI types in this library's API (e.g. `LinuxResources` for `Container::update`).
pub use oci_spec;
pub use rdt::RdtError;
pub use rootless::{default_root, Rootless};
pub use seccomp::SeccompError;
pub use signal::parse_signal;
pub use spec::{check_bundle, FieldIssue, SpecError};
pub use state::StateError;
pub use state::{rfc3339_now, OciState, Status};
pub use sync::SyncError;
pub use untrusted_dir::open_log_file;

pub use fault::PHASES as FAULT_PHASES;

/// The OCI runtime spec version this build implements.
pub const OCI_VERSION: &str = "1.2.0";
/// Default state directory, as `runc` uses `/run/runc`.
pub const DEFAULT_ROOT: &str = "/run/hull";
