use super::Container;
use crate::error::Result;

impl Container {
    /// Pids (as seen from the host) of every process in the container's
    /// cgroup, sub-cgroups included. Read-only, so no lock: a process may
    /// start or exit right after the listing anyway.
    pub fn processes(&self) -> Result<Vec<i32>> {
        let mut pids = self.require_cgroup("listing processes")?.pids()?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }
}
