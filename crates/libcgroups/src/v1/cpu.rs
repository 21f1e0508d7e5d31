//! v1 cpu controller (CFS bandwidth, shares, realtime, idle).

use std::path::Path;

use oci_spec::runtime::{LinuxCpu, LinuxResources};

use crate::convert::nz;
use crate::error::{CgroupError, Result};
use crate::fs;
use crate::stats::Throttling;

const F_SHARES: &str = "linux.resources.cpu.shares";
const F_QUOTA: &str = "linux.resources.cpu.quota";
const F_PERIOD: &str = "linux.resources.cpu.period";
const F_BURST: &str = "linux.resources.cpu.burst";
const F_RT_RUNTIME: &str = "linux.resources.cpu.realtimeRuntime";
const F_RT_PERIOD: &str = "linux.resources.cpu.realtimePeriod";
const F_IDLE: &str = "linux.resources.cpu.idle";

pub(super) fn requested(r: &LinuxResources) -> Result<Option<&'static str>> {
    let Some(c) = r.cpu() else { return Ok(None) };
    let fields = [
        (nz(c.shares()).is_some(), F_SHARES),
        (nz(c.quota()).is_some(), F_QUOTA),
        (nz(c.period()).is_some(), F_PERIOD),
        (c.burst().is_some(), F_BURST),
        (nz(c.realtime_runtime()).is_some(), F_RT_RUNTIME),
        (nz(c.realtime_period()).is_some(), F_RT_PERIOD),
        (c.idle().is_some(), F_IDLE),
    ];
    Ok(fields.iter().find(|(set, _)| *set).map(|(_, f)| *f))
}

/// Knobs that only exist with some kernel configs (RT group scheduling,
/// SCHED_IDLE groups); checked before any write.
pub(super) fn check(dir: &Path, c: &LinuxCpu) -> Result<()> {
    let files = [
        (
            nz(c.realtime_runtime()).is_some(),
            F_RT_RUNTIME,
            "cpu.rt_runtime_us",
        ),
        (
            nz(c.realtime_period()).is_some(),
            F_RT_PERIOD,
            "cpu.rt_period_us",
        ),
        (c.idle().is_some(), F_IDLE, "cpu.idle"),
    ];
    for (set, field, file) in files {
        if set && !fs::exists(dir, file) {
            return Err(CgroupError::unsupported(
                field,
                format!(
                    "{file} does not exist in {} (not supported by this kernel)",
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}

pub(super) fn apply(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(shares) = nz(c.shares()) {
        fs::write(F_SHARES, dir, "cpu.shares", &shares.to_string())?;
        // The kernel clamps out-of-range shares silently; surface that.
        let got = fs::read_u64(F_SHARES, dir, "cpu.shares")?;
        if got != shares {
            return Err(CgroupError::invalid(
                F_SHARES,
                format!("{shares} is out of range: the kernel clamped it to {got}"),
            ));
        }
    }

    let quota = nz(c.quota());
    // Period and burst may be rejected (EINVAL) until the new quota is in
    // place because the kernel validates them against the old quota and the
    // parent's limits; retry them after the quota, as runc does.
    let mut pending_period = None;
    if let Some(p) = nz(c.period()) {
        match fs::try_write(dir, "cpu.cfs_period_us", &p.to_string()) {
            Ok(()) => {}
            Err(e) if fs::is_errno(&e, libc::EINVAL) && quota.is_some() => pending_period = Some(p),
            Err(e) => {
                return Err(CgroupError::file(
                    F_PERIOD,
                    "writing",
                    "cpu.cfs_period_us",
                    dir,
                    e,
                ))
            }
        }
    }
    let mut pending_burst = None;
    if let Some(b) = c.burst() {
        match fs::try_write(dir, "cpu.cfs_burst_us", &b.to_string()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Kernels before 5.14 have no burst knob; runc ignores it.
                tracing::warn!("{F_BURST} is ignored: cpu.cfs_burst_us does not exist");
            }
            Err(e) if fs::is_errno(&e, libc::EINVAL) && quota.is_some() => pending_burst = Some(b),
            Err(e) => {
                return Err(CgroupError::file(
                    F_BURST,
                    "writing",
                    "cpu.cfs_burst_us",
                    dir,
                    e,
                ))
            }
        }
    }
    if let Some(q) = quota {
        fs::write(F_QUOTA, dir, "cpu.cfs_quota_us", &q.to_string())?;
        if let Some(p) = pending_period {
            fs::write(F_PERIOD, dir, "cpu.cfs_period_us", &p.to_string())?;
        }
        if let Some(b) = pending_burst {
            fs::write(F_BURST, dir, "cpu.cfs_burst_us", &b.to_string())?;
        }
    }

    if let Some(idle) = c.idle() {
        fs::write(F_IDLE, dir, "cpu.idle", &idle.to_string())?;
    }

    // Same ordering problem between rt period and runtime.
    let rt_runtime = nz(c.realtime_runtime());
    let mut pending_rt_period = None;
    if let Some(p) = nz(c.realtime_period()) {
        match fs::try_write(dir, "cpu.rt_period_us", &p.to_string()) {
            Ok(()) => {}
            Err(e) if fs::is_errno(&e, libc::EINVAL) && rt_runtime.is_some() => {
                pending_rt_period = Some(p)
            }
            Err(e) => {
                return Err(CgroupError::file(
                    F_RT_PERIOD,
                    "writing",
                    "cpu.rt_period_us",
                    dir,
                    e,
                ))
            }
        }
    }
    if let Some(rt) = rt_runtime {
        fs::write(F_RT_RUNTIME, dir, "cpu.rt_runtime_us", &rt.to_string())?;
        if let Some(p) = pending_rt_period {
            fs::write(F_RT_PERIOD, dir, "cpu.rt_period_us", &p.to_string())?;
        }
    }
    Ok(())
}

pub(super) fn stats(dir: &Path, out: &mut Throttling) -> Result<()> {
    if let Some(s) = fs::read_opt("cpu stats", dir, "cpu.stat")? {
        let m = fs::parse_flat_keyed(&s);
        out.periods = m.get("nr_periods").copied().unwrap_or(0);
        out.throttled_periods = m.get("nr_throttled").copied().unwrap_or(0);
        out.throttled_time = m.get("throttled_time").copied().unwrap_or(0);
    }
    Ok(())
}
