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

#![warn(missing_docs)]

mod convert;
mod dirs;
mod error;
mod fs;
mod handle;
mod manager;
mod path;
mod placement;
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
pub use placement::SelfPlacement;
pub use setup::{detect_setup, CgroupSetup};
pub use stats::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, HugetlbStats, MemoryEntry, MemoryStats, PidsStats,
    Stats, Throttling,
};
pub use systemd::dbus::DbusError;
pub use v2::devices::restricts as device_rules_restrict;

/// The caller's uid as its user namespace's parent sees it (the host's
/// view for a namespace made from the initial one, as rootless podman's
/// is); the uid itself outside a user namespace or where the map cannot
/// be read. Root of a user namespace that a user made is that user to the
/// user's systemd: D-Bus authentication and the choice of manager need it.
pub fn outside_uid() -> u32 {
    let uid = rustix::process::getuid().as_raw();
    std::fs::read_to_string("/proc/self/uid_map")
        .ok()
        .and_then(|m| map_outside(&m, uid))
        .unwrap_or(uid)
}

/// `uid` through a uid_map's "inside outside count" lines.
fn map_outside(map: &str, uid: u32) -> Option<u32> {
    map.lines().find_map(|l| {
        let f: Vec<u64> = l
            .split_whitespace()
            .map(str::parse)
            .collect::<std::result::Result<_, _>>()
            .ok()?;
        let [inside, outside, count] = f[..] else {
            return None;
        };
        let uid = u64::from(uid);
        (uid >= inside && uid - inside < count)
            .then(|| u32::try_from(outside + (uid - inside)).ok())
            .flatten()
    })
}

/// True inside a user namespace other than the initial one: there neither
/// the v1 devices controller nor a v2 eBPF device program can be set up.
///
/// Read once per process, as runc does: a runtime does not move itself
/// between user namespaces.
pub fn in_user_namespace() -> bool {
    static CACHE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CACHE.get_or_init(
        || match fs::read_whole(std::path::Path::new("/proc/self/uid_map")) {
            Ok(m) => {
                String::from_utf8_lossy(&m)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    != ["0", "0", "4294967295"]
            }
            Err(_) => false,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::map_outside;

    #[test]
    fn maps_a_uid_to_the_parent_namespace() {
        let podman = "         0       1000          1\n         1     100000      65536\n";
        assert_eq!(map_outside(podman, 0), Some(1000));
        assert_eq!(map_outside(podman, 1), Some(100000));
        assert_eq!(map_outside(podman, 65536), Some(165535));
        assert_eq!(map_outside(podman, 65537), None);
        assert_eq!(map_outside("0 0 4294967295\n", 0), Some(0));
        assert_eq!(map_outside("0 0 4294967295\n", 1234), Some(1234));
        assert_eq!(map_outside("garbage\n", 0), None);
    }
}
