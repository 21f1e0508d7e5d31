//! Writing linux.resources to a cgroup v2 directory.

use std::collections::BTreeSet;
use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxHugepageLimit, LinuxMemory, LinuxResources};

use crate::convert::{blkio_weight_to_io_weight, cpu_shares_to_weight, max_or, nz, swap_to_v2};
use crate::error::{CgroupError, Result};
use crate::fs;
use crate::shared::{blkio, hugetlb, pids, rdma, unified};

const F_MEM: &str = "linux.resources.memory";
const F_LIMIT: &str = "linux.resources.memory.limit";
const F_RESERVATION: &str = "linux.resources.memory.reservation";
const F_SWAP: &str = "linux.resources.memory.swap";

/// Refuses v1-only knobs and checks that each requested controller is
/// enabled for the cgroup, before anything is written.
pub(crate) fn precheck(dir: &Path, r: &LinuxResources) -> Result<()> {
    let avail: BTreeSet<String> =
        fs::read("checking available controllers", dir, "cgroup.controllers")?
            .split_whitespace()
            .map(str::to_string)
            .collect();
    let need = |controller: &str, field: &str| -> Result<()> {
        if avail.contains(controller) {
            Ok(())
        } else {
            Err(CgroupError::unsupported(
                field,
                format!(
                    "{controller} controller is not enabled for {} (cgroup.controllers: {:?})",
                    dir.display(),
                    avail
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ))
        }
    };
    let v1_only = |field: &str| CgroupError::unsupported(field, "not supported on cgroup v2");

    if let Some(m) = r.memory() {
        if m.swappiness().is_some() {
            return Err(v1_only("linux.resources.memory.swappiness"));
        }
        if m.disable_oom_killer() == Some(true) {
            return Err(v1_only("linux.resources.memory.disableOOMKiller"));
        }
        if m.use_hierarchy() == Some(false) {
            return Err(v1_only("linux.resources.memory.useHierarchy"));
        }
        swap_to_v2(nz(m.swap()), nz(m.limit())).map_err(|e| CgroupError::invalid(F_SWAP, e))?;
        let set = [
            (nz(m.limit()).is_some(), F_LIMIT),
            (nz(m.reservation()).is_some(), F_RESERVATION),
            (nz(m.swap()).is_some(), F_SWAP),
        ];
        if let Some((_, f)) = set.iter().find(|(s, _)| *s) {
            need("memory", f)?;
        }
        // A real swap limit without swap accounting cannot be honoured.
        let swap = swap_to_v2(nz(m.swap()), nz(m.limit())).ok().flatten();
        if swap.is_some_and(|s| s > 0) && !fs::exists(dir, "memory.swap.max") {
            return Err(CgroupError::unsupported(
                F_SWAP,
                format!(
                    "memory.swap.max does not exist in {} (swap accounting disabled)",
                    dir.display()
                ),
            ));
        }
    }
    if let Some(c) = r.cpu() {
        if nz(c.realtime_runtime()).is_some() {
            return Err(v1_only("linux.resources.cpu.realtimeRuntime"));
        }
        if nz(c.realtime_period()).is_some() {
            return Err(v1_only("linux.resources.cpu.realtimePeriod"));
        }
        let set = [
            (nz(c.shares()).is_some(), "linux.resources.cpu.shares"),
            (nz(c.quota()).is_some(), "linux.resources.cpu.quota"),
            (nz(c.period()).is_some(), "linux.resources.cpu.period"),
            (c.burst().is_some(), "linux.resources.cpu.burst"),
            (c.idle().is_some(), "linux.resources.cpu.idle"),
        ];
        if let Some((_, f)) = set.iter().find(|(s, _)| *s) {
            need("cpu", f)?;
        }
        if c.cpus().as_deref().is_some_and(|s| !s.trim().is_empty()) {
            need("cpuset", "linux.resources.cpu.cpus")?;
        }
        if c.mems().as_deref().is_some_and(|s| !s.trim().is_empty()) {
            need("cpuset", "linux.resources.cpu.mems")?;
        }
    }
    if r.pids().is_some() {
        need("pids", "linux.resources.pids.limit")?;
    }
    if let Some(b) = r.block_io() {
        if nz(b.leaf_weight()).is_some() {
            return Err(v1_only("linux.resources.blockIO.leafWeight"));
        }
        if b.weight_device()
            .iter()
            .flatten()
            .any(|w| nz(w.leaf_weight()).is_some())
        {
            return Err(v1_only("linux.resources.blockIO.weightDevice.leafWeight"));
        }
        if let Some(f) = blkio::requested(r)? {
            need("io", f)?;
        }
    }
    if let Some(f) = hugetlb::requested(r)? {
        need("hugetlb", f)?;
        if let Some(l) = r.hugepage_limits() {
            hugetlb::check(dir, l, "max")?;
        }
    }
    if let Some(n) = r.network() {
        // Name the v1 controller: users look for it in the error.
        if n.class_id().is_some() {
            return Err(CgroupError::unsupported(
                "linux.resources.network.classID",
                "not supported on cgroup v2 (it has no net_cls controller)",
            ));
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(CgroupError::unsupported(
                "linux.resources.network.priorities",
                "not supported on cgroup v2 (it has no net_prio controller)",
            ));
        }
    }
    if let Some(f) = rdma::requested(r)? {
        need("rdma", f)?;
    }
    if let Some(d) = r.devices() {
        super::devices::check(d)?;
    }
    if let Some(u) = r.unified() {
        unified::validate(u)?;
    }
    Ok(())
}

pub(crate) fn memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = nz(m.limit());
    if m.check_before_update() == Some(true) {
        if let Some(l) = limit.filter(|l| *l > 0) {
            let usage = fs::read_u64(F_LIMIT, dir, "memory.current")?;
            if usage >= l as u64 {
                return Err(CgroupError::invalid(
                    F_LIMIT,
                    format!("rejecting memory limit {l} below current usage {usage} (checkBeforeUpdate)"),
                ));
            }
        }
    }
    let swap = swap_to_v2(nz(m.swap()), limit).map_err(|e| CgroupError::invalid(F_SWAP, e))?;
    if let Some(s) = swap {
        let v = max_or(s);
        if let Err(e) = fs::try_write(dir, "memory.swap.max", &v) {
            // Without swap accounting there is nothing to limit; "max" or
            // "no swap" are then already true (runc behaves the same).
            let harmless = e.kind() == std::io::ErrorKind::NotFound && (s == -1 || s == 0);
            if !harmless {
                return Err(CgroupError::file(
                    F_SWAP,
                    "writing",
                    "memory.swap.max",
                    dir,
                    e,
                ));
            }
        }
    }
    if let Some(l) = limit {
        fs::write(F_LIMIT, dir, "memory.max", &max_or(l))?;
    }
    if let Some(r) = nz(m.reservation()) {
        fs::write(F_RESERVATION, dir, "memory.low", &max_or(r))?;
    }
    if nz(m.kernel()).is_some() || nz(m.kernel_tcp()).is_some() {
        tracing::warn!(
            "{F_MEM}.kernel/kernelTCP are ignored: cgroup v2 has no separate kernel memory limits"
        );
    }
    Ok(())
}

pub(crate) fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(idle) = c.idle() {
        fs::write(
            "linux.resources.cpu.idle",
            dir,
            "cpu.idle",
            &idle.to_string(),
        )?;
    }
    if let Some(shares) = nz(c.shares()) {
        let w = cpu_shares_to_weight(shares);
        fs::write(
            "linux.resources.cpu.shares",
            dir,
            "cpu.weight",
            &w.to_string(),
        )?;
    }
    let quota = nz(c.quota());
    let period = nz(c.period());
    // Burst is validated against the current quota; if the quota is about
    // to change, retry the burst afterwards (runc does the same).
    let mut pending_burst = None;
    if let Some(b) = c.burst() {
        match fs::try_write(dir, "cpu.max.burst", &b.to_string()) {
            Ok(()) => {}
            Err(e) if fs::is_errno(&e, libc::EINVAL) && quota.is_some() => pending_burst = Some(b),
            Err(e) => {
                return Err(CgroupError::file(
                    "linux.resources.cpu.burst",
                    "writing",
                    "cpu.max.burst",
                    dir,
                    e,
                ))
            }
        }
    }
    if quota.is_some() || period.is_some() {
        let mut v = match quota {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".to_string(),
        };
        if let Some(p) = period {
            v.push_str(&format!(" {p}"));
        }
        let field = if quota.is_some() {
            "linux.resources.cpu.quota"
        } else {
            "linux.resources.cpu.period"
        };
        fs::write(field, dir, "cpu.max", &v)?;
        if let Some(b) = pending_burst {
            fs::write(
                "linux.resources.cpu.burst",
                dir,
                "cpu.max.burst",
                &b.to_string(),
            )?;
        }
    }
    if let Some(cpus) = c.cpus().as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        fs::write("linux.resources.cpu.cpus", dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        fs::write("linux.resources.cpu.mems", dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

pub(crate) fn io(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    const F_WEIGHT: &str = "linux.resources.blockIO.weight";
    const F_WEIGHT_DEVICE: &str = "linux.resources.blockIO.weightDevice";
    // BFQ takes the v1 weight scale directly and is what actually schedules
    // I/O when it is the active scheduler; io.weight (iocost) is the
    // fallback, on its own 1..10000 scale (runc's choice).
    let bfq = fs::exists(dir, "io.bfq.weight");
    if let Some(w) = nz(b.weight()) {
        if bfq {
            fs::write(F_WEIGHT, dir, "io.bfq.weight", &w.to_string())?;
        } else {
            let v = blkio_weight_to_io_weight(u64::from(w));
            fs::write(F_WEIGHT, dir, "io.weight", &v.to_string())?;
        }
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = nz(wd.weight()) {
            let dev = format!("{}:{}", wd.major(), wd.minor());
            if bfq {
                fs::write(F_WEIGHT_DEVICE, dir, "io.bfq.weight", &format!("{dev} {w}"))?;
            } else {
                let v = blkio_weight_to_io_weight(u64::from(w));
                fs::write(F_WEIGHT_DEVICE, dir, "io.weight", &format!("{dev} {v}"))?;
            }
        }
    }
    for (field, _, key, list) in blkio::throttles(b) {
        for td in list.iter().flatten() {
            let line = format!("{}:{} {key}={}", td.major(), td.minor(), td.rate());
            fs::write(field, dir, "io.max", &line)?;
        }
    }
    Ok(())
}

pub(crate) fn hugepages(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    let mut rsvd = true;
    for (i, l) in limits.iter().enumerate() {
        let field = format!("{}[{i}]", hugetlb::F_HUGETLB);
        let v = max_or(l.limit());
        fs::write(&field, dir, &format!("hugetlb.{}.max", l.page_size()), &v)?;
        if rsvd {
            let file = format!("hugetlb.{}.rsvd.max", l.page_size());
            match fs::try_write(dir, &file, &v) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => rsvd = false,
                Err(e) => return Err(CgroupError::file(field, "writing", file, dir, e)),
            }
        }
    }
    Ok(())
}

pub(crate) fn apply(dir: &Path, r: &LinuxResources) -> Result<()> {
    precheck(dir, r)?;
    // Loading the device program can fail (privileges, verifier): do it
    // before the first write, and attach it first so that a refused attach
    // leaves nothing written either.
    let devices = match r.devices() {
        Some(d) => super::devices::prepare(dir, d)?,
        None => super::devices::Prepared::Nothing,
    };
    super::devices::install(dir, devices)?;
    if let Some(c) = r.cpu() {
        cpu(dir, c)?;
    }
    if let Some(m) = r.memory() {
        memory(dir, m)?;
    }
    if let Some(p) = r.pids() {
        pids::apply(dir, p)?;
    }
    if let Some(b) = r.block_io() {
        io(dir, b)?;
    }
    if let Some(l) = r.hugepage_limits().as_ref().filter(|l| !l.is_empty()) {
        hugepages(dir, l)?;
    }
    if let Some(m) = r.rdma().as_ref().filter(|m| !m.is_empty()) {
        rdma::apply(dir, m)?;
    }
    // Raw keys go last so they can override anything derived above.
    if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
        unified::apply(dir, u)?;
    }
    Ok(())
}
