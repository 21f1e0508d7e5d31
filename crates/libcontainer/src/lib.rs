//! Container control: the OCI runtime library behind `hull`.
//!
//! Every lifecycle operation is a typed method: [`ContainerBuilder`] creates a
//! container from a bundle or from a [`oci_spec::runtime::Spec`] built in
//! memory, [`Container`] loads, starts, signals, execs into, pauses,
//! checkpoints and deletes one, [`RestoreBuilder`] brings a checkpoint back.
//! The library never prints; it returns data and errors. It changes nothing
//! process-wide in the caller (no subreaper, no signal mask, no
//! `pid_for_children`), and may be called from any number of threads.
//!
//! Creating a container needs root (or a user namespace for a rootless
//! one: see [`Rootless`]). A spec is validated, against the OCI spec and
//! this host, before anything is made; every problem comes back at once,
//! each naming its field:
//!
//! ```
//! use libcontainer::{oci_spec::runtime::Spec, ContainerBuilder, Error, SpecError};
//!
//! let mut spec = Spec::default();
//! spec.set_process(None); // a container needs a process
//! let root = std::env::temp_dir().join("libcontainer-doc-crate");
//! match ContainerBuilder::new("web", &root).spec(spec).create() {
//!     Err(Error::Spec(SpecError::Invalid { issues, .. })) => {
//!         assert!(issues.iter().any(|i| i.field == "process"));
//!     }
//!     other => panic!("expected a refusal, got {other:?}"),
//! }
//! // Refused before anything was made.
//! assert!(!root.join("web").exists());
//! ```
//!
//! The whole lifecycle, with the container's stdio this program's own (the
//! same as `examples/run.rs`; `cargo run -p libcontainer --example run --
//! ROOTFS CMD...` runs it):
//!
//! ```no_run
//! use libcontainer::{oci_spec::runtime::Spec, ContainerBuilder};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut spec = Spec::default();
//! let mut root = spec.root().clone().unwrap_or_default();
//! root.set_path("/srv/rootfs".into());
//! spec.set_root(Some(root));
//! let mut linux = spec.linux().clone().unwrap_or_default();
//! // An absolute cgroup path under a parent of the caller's own.
//! linux.set_cgroups_path(Some("/my-engine/web".into()));
//! spec.set_linux(Some(linux));
//!
//! let mut c = ContainerBuilder::new("web", "/run/my-engine").spec(spec).create()?;
//! c.start()?;
//! let status = c.wait()?; // the init is this process's child
//! c.delete(true)?;
//! println!("exited with {}", status.exit_code());
//! # Ok(())
//! # }
//! ```
//!
//! Module map: `container/` holds one file per verb (`builder.rs` create,
//! `start.rs`, `exec.rs`, `kill.rs`, `pause.rs`, `checkpoint.rs`,
//! `restore.rs`, `delete.rs`, `wait.rs`, `events.rs`, `update.rs`); `init/`
//! is the code that runs in the container's first process and only
//! executes; `spec/` validates, through the pure `config/` layer the init
//! reads too; `spawn.rs` forks safely for any caller. No module imports one
//! that imports it back. See ARCHITECTURE.md.

#![warn(missing_docs)]

mod apparmor;
mod attrs;
mod caps;
mod config;
mod criu;
mod error;
mod exe;
mod executor;
mod fault;
mod fdpass;
mod fds;
mod features;
mod fifo;
#[cfg(test)]
mod fuzz;
mod hooks;
mod id;
mod idmap;
mod init;
mod mount_attr;
mod mount_fd;
mod mount_sources;
mod mountinfo;
mod namespaces;
mod netdev;
mod notify;
mod proc_guard;
mod procfs;
mod procfs_handle;
mod rdt;
mod resources;
mod rlimits;
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
    block_forwarded_signals, for_each_container, list, oci_state, remove_stateless_dir, Container,
    ContainerBuilder, ContainerInfo, ExecOptions, ExecProcess, ExitStatus,
};
pub use container::{Event, Events, RestoreBuilder};
pub use criu::{CheckpointOptions, CriuCommon, CriuError, ManageCgroupsMode, PageServer};
pub use error::{Error, Result};
pub use exe::{ensure_protected_exe, exe_is_protected, exec_stub_available, execve};
pub use executor::{DefaultExecutor, Executor, ExecutorError};
pub use features::features;
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
