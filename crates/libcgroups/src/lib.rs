//! Cgroup management for hull.
//!
//! [`Manager`] owns one container's cgroup on every hierarchy of the host.
//! The driver is chosen by [`detect_setup`]: **Legacy** (cgroup v1 only),
//! **Hybrid** (v1 controllers plus cgroup2 at /sys/fs/cgroup/unified, where
//! the container is placed too) or **Unified** (pure cgroup v2).
//! A [`CgroupHandle`] captures everything needed to rebuild the manager in
//! later commands without the spec.
//!
//! With `--systemd-cgroup` the cgroup is a transient systemd scope instead
//! (see `systemd`): created over D-Bus with the container's first process,
//! then driven through its cgroup2 directory like a Unified one.
//!
//! Device rules go to the v1 devices controller on Legacy and Hybrid, and
//! become an eBPF program attached to the container's cgroup on Unified
//! (see `v2::devices`).

mod convert;
mod error;
mod fs;
mod handle;
mod manager;
mod path;
mod setup;
mod shared;
mod stats;
mod systemd;
mod v1;
mod v2;

pub use convert::{blkio_weight_to_io_weight, cpu_shares_to_weight, swap_to_v2};
pub use error::{CgroupError, Result};
pub use handle::{CgroupHandle, CgroupOptions, HierarchyDir, SystemdUnit};
pub use manager::Manager;
pub use setup::{detect_setup, CgroupSetup};
pub use stats::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, HugetlbStats, MemoryEntry, MemoryStats, PidsStats,
    Stats, Throttling,
};
pub use systemd::dbus::DbusError;
pub use v2::devices::restricts as device_rules_restrict;

/// True inside a user namespace other than the initial one: there neither
/// the v1 devices controller nor a v2 eBPF device program can be set up.
pub fn in_user_namespace() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(m) => m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"],
        Err(_) => false,
    }
}
