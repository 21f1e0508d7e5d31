//! pids controller: v1 and v2 share pids.max and pids.current.

use std::path::Path;

use oci_spec::runtime::{LinuxPids, LinuxResources};

use crate::error::Result;
use crate::fs;
use crate::stats::PidsStats;

const F_LIMIT: &str = "linux.resources.pids.limit";

pub(crate) fn requested(r: &LinuxResources) -> Result<Option<&'static str>> {
    Ok(r.pids().as_ref().map(|_| F_LIMIT))
}

/// pids.max value: the spec says <= 0 means unlimited.
pub(crate) fn limit_value(p: &LinuxPids) -> String {
    if p.limit() > 0 {
        p.limit().to_string()
    } else {
        "max".to_string()
    }
}

pub(crate) fn apply(dir: &Path, p: &LinuxPids) -> Result<()> {
    fs::write(F_LIMIT, dir, "pids.max", &limit_value(p))
}

/// Shared by v1 and v2: both use pids.current / pids.max.
pub(crate) fn stats(dir: &Path, out: &mut PidsStats) -> Result<()> {
    const CTX: &str = "pids stats";
    out.current = fs::read_u64_opt(CTX, dir, "pids.current")?.unwrap_or(0);
    out.limit = match fs::read_u64_opt(CTX, dir, "pids.max")? {
        Some(u64::MAX) | None => 0,
        Some(v) => v,
    };
    Ok(())
}
