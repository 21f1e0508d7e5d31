//! v1 cpuacct controller (statistics only).

use std::path::Path;

use crate::error::Result;
use crate::fs;
use crate::stats::{parse_u64_list, CpuUsage};

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

pub(super) fn stats(dir: &Path, out: &mut CpuUsage) -> Result<()> {
    const CTX: &str = "cpu stats";
    out.total = fs::read_u64_opt(CTX, dir, "cpuacct.usage")?.unwrap_or(0);
    if let Some(s) = fs::read_opt(CTX, dir, "cpuacct.usage_percpu")? {
        out.percpu = parse_u64_list(&s);
    }
    // usage_user/usage_sys are in ns; cpuacct.stat is in USER_HZ ticks and
    // only the fallback for kernels without the former.
    let user = fs::read_u64_opt(CTX, dir, "cpuacct.usage_user")?;
    let sys = fs::read_u64_opt(CTX, dir, "cpuacct.usage_sys")?;
    if let (Some(u), Some(k)) = (user, sys) {
        out.user = u;
        out.kernel = k;
    } else if let Some(s) = fs::read_opt(CTX, dir, "cpuacct.stat")? {
        let m = fs::parse_flat_keyed(&s);
        let ns_per_tick = 1_000_000_000 / clock_ticks();
        out.user = m
            .get("user")
            .copied()
            .unwrap_or(0)
            .saturating_mul(ns_per_tick);
        out.kernel = m
            .get("system")
            .copied()
            .unwrap_or(0)
            .saturating_mul(ns_per_tick);
    }
    Ok(())
}
