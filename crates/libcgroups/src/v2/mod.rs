//! cgroup v2 driver (Unified setup), plus the pieces Hybrid borrows
//! (core freezer, raw `unified` writes).

pub(crate) mod devices;
pub(crate) mod freezer;
pub(crate) mod resources;
pub(crate) mod unified;

use std::path::Path;

use oci_spec::runtime::LinuxResources;

use crate::error::Result;
use crate::fs;
use crate::manager::Driver;
use crate::stats::{parse_io_stat, HugetlbStats, MemoryEntry, Stats};
use crate::v1::pids;

pub(crate) struct V2<'a> {
    pub dir: &'a Path,
}

/// Enables every available controller in each ancestor of `leaf` (from the
/// mount point down), so the leaf gets all controllers the host offers.
/// Failures are ignored like runc does: an ancestor with processes of its
/// own, or a delegated subtree, may refuse; applying a resource that then
/// lacks its controller fails later with an error naming the field.
pub(crate) fn enable_controllers(mountpoint: &Path, leaf: &Path) {
    let Ok(rel) = leaf.strip_prefix(mountpoint) else {
        return;
    };
    let mut cur = mountpoint.to_path_buf();
    // Each iteration enables controllers in the parent of `c`; the leaf
    // itself is never touched (it would then refuse processes).
    for c in rel.components() {
        let Ok(avail) = fs::try_read(&cur, "cgroup.controllers") else {
            return;
        };
        let want: Vec<String> = avail.split_whitespace().map(|c| format!("+{c}")).collect();
        if !want.is_empty()
            && fs::try_write(&cur, "cgroup.subtree_control", &want.join(" ")).is_err()
        {
            for w in &want {
                let _ = fs::try_write(&cur, "cgroup.subtree_control", w);
            }
        }
        cur.push(c);
    }
}

impl Driver for V2<'_> {
    fn apply(&self, r: &LinuxResources) -> Result<()> {
        resources::apply(self.dir, r)
    }

    fn freeze(&self) -> Result<()> {
        freezer::freeze(self.dir)
    }

    fn thaw(&self) -> Result<()> {
        freezer::thaw(self.dir)
    }

    fn is_frozen(&self) -> Result<bool> {
        freezer::is_frozen(self.dir)
    }

    fn stats(&self) -> Result<Stats> {
        stats(self.dir)
    }
}

fn stats(dir: &Path) -> Result<Stats> {
    const CTX: &str = "reading stats";
    let mut s = Stats::default();
    if let Some(c) = fs::read_opt(CTX, dir, "cpu.stat")? {
        let m = fs::parse_flat_keyed(&c);
        let us = |k: &str| m.get(k).copied().unwrap_or(0).saturating_mul(1000);
        s.cpu.usage.total = us("usage_usec");
        s.cpu.usage.user = us("user_usec");
        s.cpu.usage.kernel = us("system_usec");
        s.cpu.throttling.periods = m.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttling.throttled_periods = m.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttling.throttled_time = us("throttled_usec");
    }
    if let Some(usage) = fs::read_u64_opt(CTX, dir, "memory.current")? {
        let events = fs::read_opt(CTX, dir, "memory.events")?.map(|e| fs::parse_flat_keyed(&e));
        s.memory.usage = MemoryEntry {
            usage,
            limit: fs::read_u64_opt(CTX, dir, "memory.max")?.unwrap_or(u64::MAX),
            max: fs::read_u64_opt(CTX, dir, "memory.peak")?.unwrap_or(0),
            failcnt: events
                .as_ref()
                .and_then(|e| e.get("max").copied())
                .unwrap_or(0),
        };
        if let Some(swap) = fs::read_u64_opt(CTX, dir, "memory.swap.current")? {
            // Report memory+swap like v1's memsw so consumers see one meaning.
            let swap_max = fs::read_u64_opt(CTX, dir, "memory.swap.max")?.unwrap_or(u64::MAX);
            s.memory.swap = MemoryEntry {
                usage: swap.saturating_add(usage),
                limit: swap_max.saturating_add(s.memory.usage.limit),
                max: fs::read_u64_opt(CTX, dir, "memory.swap.peak")?.unwrap_or(0),
                failcnt: 0,
            };
        }
        if let Some(st) = fs::read_opt(CTX, dir, "memory.stat")? {
            s.memory.raw = fs::parse_flat_keyed(&st);
            s.memory.cache = s.memory.raw.get("file").copied().unwrap_or(0);
        }
    }
    pids::stats(dir, &mut s.pids)?;
    if let Some(io) = fs::read_opt(CTX, dir, "io.stat")? {
        parse_io_stat(&io, &mut s.blkio);
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for ent in rd.flatten() {
            let name = ent.file_name();
            let Some(size) = name
                .to_str()
                .and_then(|n| n.strip_prefix("hugetlb."))
                .and_then(|n| n.strip_suffix(".current"))
            else {
                continue;
            };
            if size.contains('.') {
                continue; // hugetlb.<size>.rsvd.current
            }
            let usage =
                fs::read_u64_opt(CTX, dir, &format!("hugetlb.{size}.current"))?.unwrap_or(0);
            let failcnt = fs::read_opt(CTX, dir, &format!("hugetlb.{size}.events"))?
                .and_then(|e| fs::parse_flat_keyed(&e).get("max").copied())
                .unwrap_or(0);
            s.hugetlb.insert(
                size.to_string(),
                HugetlbStats {
                    usage,
                    max: 0,
                    failcnt,
                },
            );
        }
    }
    Ok(s)
}
