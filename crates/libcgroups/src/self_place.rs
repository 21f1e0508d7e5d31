//! Placing a new child in its v1 cgroups without the kernel's global
//! migration lock.
//!
//! Moving another task into a cgroup (`cgroup.procs` or `tasks` with its
//! pid) takes the kernel's `cgroup_threadgroup_rwsem` for writing, and
//! that waits for an RCU grace period unless another migration happened
//! within the last one: 7-15 ms measured on this project's hosts, on the
//! critical path of every create. A thread that moves *itself* (`0` into
//! `tasks`) skips that lock. So create moves its own thread into the
//! container's leaf in every v1 hierarchy, forks the init there (a child
//! is born in its parent thread's cgroups), and moves back. cgroup2 needs
//! none of this: clone3's CLONE_INTO_CGROUP places the child directly.

use std::path::PathBuf;

use rustix::thread::CpuSet;

use crate::error::{CgroupError, Result};
use crate::fs;
use crate::handle::CgroupHandle;
use crate::path::parse_proc_cgroup;

/// The calling thread, moved into a container's v1 cgroups by
/// [`Manager::enter_v1_leaves`](crate::Manager::enter_v1_leaves) until
/// [`SelfPlacement::leave`] moves it back.
#[derive(Debug)]
#[must_use = "the calling thread stays in the container's cgroups until leave()"]
pub struct SelfPlacement {
    /// The calling thread's own cgroup directory of each hierarchy moved.
    back: Vec<PathBuf>,
    /// The thread's CPU affinity: joining and leaving a v1 cpuset resets it.
    affinity: Option<CpuSet>,
}

impl SelfPlacement {
    /// Moves the calling thread into every v1 leaf of `handle`, or moves
    /// nothing and returns None where that cannot be done cleanly: under
    /// systemd, without v1 hierarchies, without root, when the thread's own
    /// cgroup is not reachable under a hierarchy's mount point (a
    /// containerised runtime seeing a subtree), or when a write fails. The
    /// caller then places the child by pid, which reports any real error.
    pub(crate) fn enter(handle: &CgroupHandle) -> Option<SelfPlacement> {
        if handle.systemd.is_some() || !rustix::process::geteuid().is_root() {
            return None;
        }
        let own = std::fs::read_to_string("/proc/thread-self/cgroup").ok()?;
        let own = parse_proc_cgroup(&own);
        let mut plan = Vec::new();
        for h in handle.hierarchies.iter().filter(|h| !h.unified) {
            let first = h.controllers.first()?;
            let entry = own
                .iter()
                .find(|p| p.controllers.iter().any(|c| c == first))?;
            let back = h.mountpoint.join(entry.path.trim_start_matches('/'));
            if !back.is_dir() {
                return None;
            }
            plan.push((h.dir.clone(), back));
        }
        if plan.is_empty() {
            return None;
        }
        let affinity = if handle.hierarchies.iter().any(|h| h.has("cpuset")) {
            Some(rustix::thread::sched_getaffinity(None).ok()?)
        } else {
            None
        };
        let mut placed = SelfPlacement {
            back: Vec::with_capacity(plan.len()),
            affinity,
        };
        for (leaf, back) in plan {
            if fs::try_write(&leaf, "tasks", "0").is_err() {
                if let Err(e) = placed.leave() {
                    tracing::warn!("{e}");
                }
                return None;
            }
            placed.back.push(back);
        }
        Some(placed)
    }

    /// Moves the calling thread back into its own cgroups and restores its
    /// CPU affinity. Call it in the parent only: a forked child must stay.
    pub fn leave(self) -> Result<()> {
        let mut failed = None;
        for back in self.back.iter().rev() {
            if let Err(e) = fs::try_write(back, "tasks", "0") {
                failed.get_or_insert(CgroupError::file(
                    "moving the runtime back into its own cgroup",
                    "writing",
                    "tasks",
                    back,
                    e,
                ));
            }
        }
        if let Some(set) = &self.affinity {
            // Only the runtime's own scheduling is at stake, not the
            // container's: a warning, not a failed create.
            if let Err(e) = rustix::thread::sched_setaffinity(None, set) {
                tracing::warn!("restoring the runtime's CPU affinity: {e}");
            }
        }
        failed.map_or(Ok(()), Err)
    }
}
