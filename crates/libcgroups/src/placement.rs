//! A forked child that moves itself into its v1 cgroups.
//!
//! Moving another process (writing its pid to `tasks` or `cgroup.procs`)
//! takes the kernel's global `cgroup_threadgroup_rwsem` for writing, and
//! taking it waits a whole RCU grace period whenever no other migration
//! happened within the last one: 8-19 ms measured on this kind of host,
//! with `cgroup_mutex` held all along, so every concurrent create, delete
//! and migration on the machine queues behind it. A thread that writes `0`
//! moves itself, and the kernel skips that lock. So the runtime opens the
//! `tasks` files (the permission check uses the opener's credentials) and
//! the child writes `0` to each as its first step, before it has made
//! anything that should be charged to the container.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use crate::error::{CgroupError, Result};

/// The open `tasks` files of a container's cgroup in every v1 hierarchy,
/// made by [`crate::Manager::self_placement`] in the runtime and used by
/// its freshly forked, single-threaded child through
/// [`SelfPlacement::place_self`].
#[derive(Debug)]
pub struct SelfPlacement {
    files: Vec<(PathBuf, bool, File)>,
}

impl SelfPlacement {
    pub(crate) fn new(files: Vec<(PathBuf, bool, File)>) -> SelfPlacement {
        SelfPlacement { files }
    }

    /// The fds, for a spawn that must keep them open in the child.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.files.iter().map(|(_, _, f)| f.as_fd())
    }

    /// The fd numbers, for the child to close once it is placed.
    pub fn raw_fds(&self) -> Vec<i32> {
        self.files.iter().map(|(_, _, f)| f.as_raw_fd()).collect()
    }

    /// Moves the calling thread into the container's cgroup in every v1
    /// hierarchy. Only the calling thread moves: the caller must be a
    /// single-threaded process (a freshly forked child is).
    pub fn place_self(&self) -> Result<()> {
        for (dir, cpuset, f) in &self.files {
            crate::fs::write_one(f, "0").map_err(|e| {
                placing_error(
                    "moving the new container process into its cgroup",
                    "tasks",
                    dir,
                    *cpuset,
                    e,
                )
            })?;
        }
        Ok(())
    }
}

/// The error of a write that moves a process into a cgroup: ENOSPC there
/// means an empty cpuset, which the kernel does not say.
pub(crate) fn placing_error(
    what: impl Into<String>,
    file: &str,
    dir: &Path,
    cpuset: bool,
    e: std::io::Error,
) -> CgroupError {
    let mut ctx = what.into();
    if cpuset && e.raw_os_error() == Some(libc::ENOSPC) {
        ctx.push_str(" (cpuset.cpus or cpuset.mems of the cgroup is empty)");
    }
    CgroupError::file(ctx, "writing", file, dir, e)
}

#[cfg(test)]
mod tests {
    use super::placing_error;
    use std::path::Path;

    #[test]
    fn an_empty_cpuset_is_named_only_for_enospc_in_a_cpuset_hierarchy() {
        let nospc = || std::io::Error::from_raw_os_error(libc::ENOSPC);
        let dir = Path::new("/sys/fs/cgroup/cpuset/c");
        let e = placing_error("adding pid 7", "tasks", dir, true, nospc()).to_string();
        assert!(
            e.contains("adding pid 7 (cpuset.cpus or cpuset.mems of the cgroup is empty)"),
            "{e}"
        );
        assert!(
            e.contains("tasks") && e.contains("/sys/fs/cgroup/cpuset/c"),
            "{e}"
        );
        let e = placing_error("adding pid 7", "tasks", dir, false, nospc()).to_string();
        assert!(!e.contains("cpuset.cpus"), "{e}");
        let eperm = std::io::Error::from_raw_os_error(libc::EPERM);
        let e = placing_error("adding pid 7", "tasks", dir, true, eperm).to_string();
        assert!(!e.contains("cpuset.cpus"), "{e}");
    }
}
