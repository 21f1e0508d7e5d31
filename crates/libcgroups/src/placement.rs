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

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use crate::error::{CgroupError, Result};

/// The open `tasks` files of a container's cgroup in every v1 hierarchy,
/// made by [`crate::Manager::self_placement`] in the runtime and used by
/// its freshly forked, single-threaded child through
/// [`SelfPlacement::place_self`].
#[derive(Debug)]
pub struct SelfPlacement {
    files: Vec<(PathBuf, bool, OwnedFd)>,
}

impl SelfPlacement {
    pub(crate) fn new(files: Vec<(PathBuf, bool, OwnedFd)>) -> SelfPlacement {
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
        for (dir, cpuset, fd) in &self.files {
            // cgroupfs parses each write(2) as one value.
            match rustix::io::write(fd, b"0") {
                Ok(1) => {}
                Ok(n) => {
                    return Err(CgroupError::file(
                        "moving the new container process into its cgroup",
                        "writing",
                        "tasks",
                        dir,
                        std::io::Error::other(format!("short write ({n} of 1 byte)")),
                    ))
                }
                Err(e) => {
                    let ctx = if e == rustix::io::Errno::NOSPC && *cpuset {
                        "moving the new container process into its cgroup (cpuset.cpus or cpuset.mems of the cgroup is empty)"
                    } else {
                        "moving the new container process into its cgroup"
                    };
                    return Err(CgroupError::file(ctx, "writing", "tasks", dir, e.into()));
                }
            }
        }
        Ok(())
    }
}
