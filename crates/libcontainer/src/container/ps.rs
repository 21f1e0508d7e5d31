use super::Container;
use crate::{error::Result, procfs};

impl Container {
    /// Pids (as seen from the host) of every process in the container's
    /// cgroup, sub-cgroups included; for a container without a cgroup
    /// (rootless), the init and its descendants. Read-only, so no lock: a
    /// process may start or exit right after the listing anyway.
    pub fn processes(&self) -> Result<Vec<i32>> {
        let mut pids = match self.cgroup() {
            Some(cg) => cg.pids()?,
            None => self.init_and_descendants(),
        };
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }
}

impl Container {
    /// Without a cgroup, the container is the init's process tree and,
    /// when it has a pid namespace of its own, every process in that
    /// namespace (an exec'd process is a child of `hull exec`, outside).
    pub(super) fn init_and_descendants(&self) -> Vec<i32> {
        let Some(_pin) = self.init_pidfd() else {
            return Vec::new();
        };
        let init = self.state.pid;
        let pid_ns = |p: i32| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
        let own_ns =
            pid_ns(init).filter(|ns| Some(ns) != pid_ns(std::process::id() as i32).as_ref());
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return vec![init];
        };
        let parents: Vec<(i32, i32)> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter_map(|p| Some((p, procfs::stat(p).ok()?.ppid)))
            .collect();
        let mut out = vec![init];
        if let Some(ns) = &own_ns {
            out.extend(
                parents
                    .iter()
                    .map(|(p, _)| *p)
                    .filter(|&p| p != init && pid_ns(p).as_ref() == Some(ns)),
            );
        }
        let mut i = 0;
        while let Some(&p) = out.get(i) {
            let children = parents
                .iter()
                .filter(|(c, pp)| *pp == p && !out.contains(c));
            let children: Vec<i32> = children.map(|(c, _)| *c).collect();
            out.extend(children);
            i += 1;
        }
        out
    }
}
