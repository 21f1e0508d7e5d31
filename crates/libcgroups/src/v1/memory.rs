//! v1 memory controller.

use std::path::Path;

use oci_spec::runtime::{LinuxMemory, LinuxResources};

use crate::convert::nz;
use crate::error::{CgroupError, Result};
use crate::fs;
use crate::stats::{MemoryEntry, MemoryStats};

const F_LIMIT: &str = "linux.resources.memory.limit";
const F_RESERVATION: &str = "linux.resources.memory.reservation";
const F_SWAP: &str = "linux.resources.memory.swap";
const F_KERNEL: &str = "linux.resources.memory.kernel";
const F_KERNEL_TCP: &str = "linux.resources.memory.kernelTCP";
const F_SWAPPINESS: &str = "linux.resources.memory.swappiness";
const F_OOM: &str = "linux.resources.memory.disableOOMKiller";
const F_HIERARCHY: &str = "linux.resources.memory.useHierarchy";

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW_LIMIT: &str = "memory.memsw.limit_in_bytes";
const KMEM_TCP_LIMIT: &str = "memory.kmem.tcp.limit_in_bytes";

/// First field that needs the memory controller, after validating values.
pub(super) fn requested(r: &LinuxResources) -> Result<Option<&'static str>> {
    let Some(m) = r.memory() else { return Ok(None) };
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(CgroupError::invalid(
                F_SWAPPINESS,
                format!("{s} is out of range (0-100)"),
            ));
        }
    }
    // kernel/kernelTCP are deliberately absent: they are ignored where the
    // kernel cannot honour them, like runc does.
    let fields = [
        (nz(m.limit()).is_some(), F_LIMIT),
        (nz(m.reservation()).is_some(), F_RESERVATION),
        (nz(m.swap()).is_some(), F_SWAP),
        (m.swappiness().is_some(), F_SWAPPINESS),
        (m.disable_oom_killer() == Some(true), F_OOM),
        (m.use_hierarchy() == Some(false), F_HIERARCHY),
    ];
    Ok(fields.iter().find(|(set, _)| *set).map(|(_, f)| *f))
}

/// Checks that need the cgroup directory, done before any write.
pub(super) fn check(dir: &Path, m: &LinuxMemory) -> Result<()> {
    if nz(m.swap()).is_some() && !fs::exists(dir, MEMSW_LIMIT) {
        return Err(CgroupError::unsupported(
            F_SWAP,
            format!(
                "{MEMSW_LIMIT} does not exist in {} (swap accounting disabled in the kernel)",
                dir.display()
            ),
        ));
    }
    if m.check_before_update() == Some(true) {
        if let Some(l) = nz(m.limit()).filter(|l| *l > 0) {
            let usage = fs::read_u64(F_LIMIT, dir, "memory.usage_in_bytes")?;
            if usage >= l as u64 {
                return Err(CgroupError::invalid(
                    F_LIMIT,
                    format!("rejecting memory limit {l} below current usage {usage} (checkBeforeUpdate)"),
                ));
            }
        }
    }
    Ok(())
}

fn set_limit(dir: &Path, limit: i64) -> Result<()> {
    fs::try_write(dir, LIMIT, &limit.to_string()).map_err(|e| {
        // EBUSY means the kernel could not reclaim down to the new limit;
        // the usage numbers are what the user needs to fix the request.
        let ctx = if fs::is_errno(&e, libc::EBUSY) {
            let usage = fs::read_u64(F_LIMIT, dir, "memory.usage_in_bytes").unwrap_or(0);
            let peak = fs::read_u64(F_LIMIT, dir, "memory.max_usage_in_bytes").unwrap_or(0);
            format!("{F_LIMIT} (cannot set {limit}: current usage {usage}, peak usage {peak})")
        } else {
            F_LIMIT.to_string()
        };
        CgroupError::file(ctx, "writing", LIMIT, dir, e)
    })
}

fn set_swap(dir: &Path, swap: i64) -> Result<()> {
    fs::write(F_SWAP, dir, MEMSW_LIMIT, &swap.to_string())
}

pub(super) fn apply(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = nz(m.limit());
    let mut swap = nz(m.swap());

    // Unlimited memory with unset swap means unlimited memory+swap too;
    // otherwise the old memsw limit would silently keep capping memory.
    if limit == Some(-1) && swap.is_none() && fs::exists(dir, MEMSW_LIMIT) {
        swap = Some(-1);
    }

    match (limit, swap) {
        (Some(l), Some(s)) => {
            // The kernel enforces memsw >= memory at every step, so raise
            // memsw first when growing and lower memory first when shrinking.
            let cur = fs::read_u64(F_LIMIT, dir, LIMIT)?;
            if s == -1 || (s > 0 && cur < s as u64) {
                set_swap(dir, s)?;
                set_limit(dir, l)?;
            } else {
                set_limit(dir, l)?;
                set_swap(dir, s)?;
            }
        }
        (l, s) => {
            if let Some(l) = l {
                set_limit(dir, l)?;
            }
            if let Some(s) = s {
                set_swap(dir, s)?;
            }
        }
    }

    if nz(m.kernel()).is_some() {
        // Kernel memory limits are deprecated (and no-ops or EOPNOTSUPP on
        // current kernels); runc ignores them too.
        tracing::warn!("{F_KERNEL} is ignored: kernel memory limits are not supported");
    }
    if let Some(k) = nz(m.kernel_tcp()) {
        if fs::exists(dir, KMEM_TCP_LIMIT) {
            fs::write(F_KERNEL_TCP, dir, KMEM_TCP_LIMIT, &k.to_string())?;
        } else {
            tracing::warn!("{F_KERNEL_TCP} is ignored: {KMEM_TCP_LIMIT} does not exist");
        }
    }
    if let Some(r) = nz(m.reservation()) {
        fs::write(
            F_RESERVATION,
            dir,
            "memory.soft_limit_in_bytes",
            &r.to_string(),
        )?;
    }
    match m.disable_oom_killer() {
        Some(true) => fs::write(F_OOM, dir, "memory.oom_control", "1")?,
        Some(false) => {
            // Only undo a previous disable (update path); a fresh cgroup
            // already has the OOM killer enabled.
            let cur = fs::read_opt(F_OOM, dir, "memory.oom_control")?.unwrap_or_default();
            if fs::parse_flat_keyed(&cur).get("oom_kill_disable") == Some(&1) {
                fs::write(F_OOM, dir, "memory.oom_control", "0")?;
            }
        }
        None => {}
    }
    if let Some(s) = m.swappiness() {
        fs::write(F_SWAPPINESS, dir, "memory.swappiness", &s.to_string())?;
    }
    if let Some(h) = m.use_hierarchy() {
        let want = if h { 1 } else { 0 };
        // New kernels pin use_hierarchy to 1 and reject writes; only write
        // when it would change something.
        if fs::read_u64(F_HIERARCHY, dir, "memory.use_hierarchy")? != want {
            fs::write(F_HIERARCHY, dir, "memory.use_hierarchy", &want.to_string())?;
        }
    }
    Ok(())
}

fn entry(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    let get = |name: &str| -> Result<u64> {
        Ok(fs::read_u64_opt("memory stats", dir, &format!("{prefix}{name}"))?.unwrap_or(0))
    };
    Ok(MemoryEntry {
        limit: get("limit_in_bytes")?,
        usage: get("usage_in_bytes")?,
        max: get("max_usage_in_bytes")?,
        failcnt: get("failcnt")?,
    })
}

pub(super) fn stats(dir: &Path, out: &mut MemoryStats) -> Result<()> {
    out.usage = entry(dir, "memory.")?;
    out.swap = entry(dir, "memory.memsw.")?;
    out.kernel = entry(dir, "memory.kmem.")?;
    out.kernel_tcp = entry(dir, "memory.kmem.tcp.")?;
    if let Some(s) = fs::read_opt("memory stats", dir, "memory.stat")? {
        out.raw = fs::parse_flat_keyed(&s);
        out.cache = out.raw.get("cache").copied().unwrap_or(0);
    }
    Ok(())
}
