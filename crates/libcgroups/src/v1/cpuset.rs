//! v1 cpuset controller.

use std::path::Path;

use oci_spec::runtime::{LinuxCpu, LinuxResources};

use crate::dirs::Dirs;
use crate::error::Result;
use crate::fs;

const F_CPUS: &str = "linux.resources.cpu.cpus";
const F_MEMS: &str = "linux.resources.cpu.mems";

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub(super) fn requested(r: &LinuxResources) -> Result<Option<&'static str>> {
    let Some(c) = r.cpu() else { return Ok(None) };
    if non_empty(c.cpus()).is_some() {
        return Ok(Some(F_CPUS));
    }
    if non_empty(c.mems()).is_some() {
        return Ok(Some(F_MEMS));
    }
    Ok(None)
}

pub(super) fn apply(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = non_empty(c.cpus()) {
        fs::write(F_CPUS, dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = non_empty(c.mems()) {
        fs::write(F_MEMS, dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

/// A new v1 cpuset cgroup starts with empty cpus/mems and refuses tasks
/// (ENOSPC) until they are set, so inherit the parent's values into every
/// empty level given, outermost first.
pub(crate) fn init_created(dirs: &Dirs, created: &[&Path]) -> Result<()> {
    const CTX: &str = "initialising cpuset of a new cgroup";
    for dir in created {
        let Some(parent) = dir.parent() else { continue };
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if !fs::read(CTX, dirs.loc(dir), file)?.trim().is_empty() {
                continue;
            }
            let from_parent = fs::read(CTX, dirs.loc(parent), file)?;
            let v = from_parent.trim();
            if !v.is_empty() {
                fs::write(CTX, dirs.loc(dir), file, v)?;
            }
        }
    }
    Ok(())
}
