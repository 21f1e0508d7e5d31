//! cgroup v1 driver, used for Legacy and Hybrid setups. In Hybrid the
//! unified hierarchy only carries the container's placement (and raw
//! `unified` keys); every limit goes to the v1 controllers.

mod blkio;
mod cpu;
mod cpuacct;
pub(crate) mod cpuset;
mod devices;
pub(crate) mod freezer;
mod hugetlb;
mod memory;
mod net_cls;
mod net_prio;

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use crate::dirs::Dirs;
use crate::error::{CgroupError, Result};
use crate::handle::{CgroupHandle, Driver};
use crate::shared::{self, core_freezer, pids, rdma, unified};
use crate::stats::Stats;

pub(crate) struct V1<'a> {
    pub h: &'a CgroupHandle,
    /// The manager's directory fds, where its files are reached from.
    pub dirs: &'a Dirs,
}

impl<'a> V1<'a> {
    fn dir(&self, controller: &str) -> Option<&'a Path> {
        self.h.dir_for(controller)
    }

    fn need(&self, controller: &str, field: &str) -> Result<&'a Path> {
        self.dir(controller).ok_or_else(|| {
            let denied = self.h.denied.iter().find(|m| {
                m.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.split(',').any(|c| c == controller))
            });
            match denied {
                Some(m) => CgroupError::unsupported(
                    field,
                    format!("this user may not create a cgroup in the {controller} hierarchy ({}), so it was left out (rootless); remove the limit or delegate a cgroup there", m.display()),
                ),
                None => CgroupError::unsupported(field, format!("{controller} controller is not mounted")),
            }
        })
    }

    /// Validates everything before the first write so a bad or unsupported
    /// field cannot leave the cgroup half-configured.
    pub(crate) fn precheck(&self, r: &LinuxResources) -> Result<()> {
        let needs = [
            (memory::requested(r)?, "memory"),
            (cpu::requested(r)?, "cpu"),
            (cpuset::requested(r)?, "cpuset"),
            (pids::requested(r)?, "pids"),
            (shared::blkio::requested(r)?, "blkio"),
            (shared::hugetlb::requested(r)?, "hugetlb"),
            (net_cls::requested(r)?, "net_cls"),
            (net_prio::requested(r)?, "net_prio"),
            (shared::device_rules::requested(r)?, "devices"),
            (rdma::requested(r)?, "rdma"),
        ];
        for (field, controller) in needs {
            if let Some(field) = field {
                self.need(controller, field)?;
            }
        }
        if let (Some(d), Some(m)) = (self.dir("memory"), r.memory()) {
            memory::check(d, m)?;
        }
        if let (Some(d), Some(c)) = (self.dir("cpu"), r.cpu()) {
            cpu::check(d, c)?;
        }
        if let (Some(d), Some(b)) = (self.dir("blkio"), r.block_io()) {
            blkio::check(d, b)?;
        }
        if let (Some(d), Some(l)) = (self.dir("hugetlb"), r.hugepage_limits()) {
            shared::hugetlb::check(d, l, "limit_in_bytes")?;
        }
        if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            if self.h.unified_dir().is_none() {
                return Err(CgroupError::unsupported(
                    unified::F_UNIFIED,
                    "cgroup v2 is not mounted (legacy cgroup v1 host)",
                ));
            }
            unified::validate(u)?;
        }
        Ok(())
    }
}

impl Driver for V1<'_> {
    fn apply(&self, r: &LinuxResources) -> Result<()> {
        self.precheck(r)?;
        // Order follows runc's subsystem list: cpuset before memory so that
        // memory migration (if enabled) sees the final node set.
        if let Some(c) = r.cpu() {
            if cpuset::requested(r)?.is_some() {
                cpuset::apply(self.need("cpuset", "linux.resources.cpu")?, c)?;
            }
        }
        if let Some(rules) = r.devices().as_ref().filter(|d| !d.is_empty()) {
            let dir = self.need("devices", shared::device_rules::F_DEVICES)?;
            devices::apply(self.dirs.loc(dir), rules)?;
        }
        if let Some(m) = r.memory() {
            // Kernel-memory-only requests are ignored, so the controller
            // may legitimately be absent here.
            if let Some(dir) = self.dir("memory") {
                memory::apply(dir, m)?;
            }
        }
        if let Some(c) = r.cpu() {
            if cpu::requested(r)?.is_some() {
                cpu::apply(self.need("cpu", "linux.resources.cpu")?, c)?;
            }
        }
        if let Some(p) = r.pids() {
            pids::apply(self.need("pids", "linux.resources.pids")?, p)?;
        }
        if let Some(b) = r.block_io() {
            if shared::blkio::requested(r)?.is_some() {
                blkio::apply(self.need("blkio", "linux.resources.blockIO")?, b)?;
            }
        }
        if let Some(l) = r.hugepage_limits().as_ref().filter(|l| !l.is_empty()) {
            hugetlb::apply(self.need("hugetlb", shared::hugetlb::F_HUGETLB)?, l)?;
        }
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id() {
                net_cls::apply(self.need("net_cls", "linux.resources.network.classID")?, id)?;
            }
            if let Some(p) = n.priorities().as_ref().filter(|p| !p.is_empty()) {
                net_prio::apply(
                    self.need("net_prio", "linux.resources.network.priorities")?,
                    p,
                )?;
            }
        }
        if let Some(m) = r.rdma().as_ref().filter(|m| !m.is_empty()) {
            rdma::apply(self.need("rdma", rdma::F_RDMA)?, m)?;
        }
        if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            if let Some(dir) = self.h.unified_dir() {
                unified::apply(dir, u)?;
            }
        }
        Ok(())
    }

    fn freeze(&self) -> Result<()> {
        match (self.dir("freezer"), self.h.unified_dir()) {
            (Some(d), _) => freezer::freeze(d),
            // cgroup2's core freezer needs no controller, so Hybrid hosts
            // without the v1 freezer can still pause.
            (None, Some(u)) => core_freezer::freeze(u),
            (None, None) => Err(no_freezer()),
        }
    }

    fn thaw(&self) -> Result<()> {
        match (self.dir("freezer"), self.h.unified_dir()) {
            (Some(d), _) => freezer::thaw(d),
            (None, Some(u)) => core_freezer::thaw(u),
            (None, None) => Err(no_freezer()),
        }
    }

    fn is_frozen(&self) -> Result<bool> {
        match (self.dir("freezer"), self.h.unified_dir()) {
            (Some(d), _) => freezer::is_frozen(d),
            (None, Some(u)) => core_freezer::is_frozen(u),
            (None, None) => Err(no_freezer()),
        }
    }

    fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        if let Some(d) = self.dir("cpuacct") {
            cpuacct::stats(d, &mut s.cpu.usage)?;
        }
        if let Some(d) = self.dir("cpu") {
            cpu::stats(d, &mut s.cpu.throttling)?;
        }
        if let Some(d) = self.dir("memory") {
            memory::stats(d, &mut s.memory)?;
        }
        if let Some(d) = self.dir("pids") {
            pids::stats(d, &mut s.pids)?;
        }
        if let Some(d) = self.dir("blkio") {
            blkio::stats(d, &mut s.blkio)?;
        }
        if let Some(d) = self.dir("hugetlb") {
            hugetlb::stats(d, &mut s.hugetlb)?;
        }
        Ok(s)
    }
}

fn no_freezer() -> CgroupError {
    CgroupError::unsupported("freezer", "freezer controller is not mounted")
}
