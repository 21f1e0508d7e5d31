//! cgroup v2 driver (Unified setup). What Hybrid's v1 driver also uses on
//! the unified hierarchy (core freezer, raw `unified` writes) is in
//! `shared`.

mod bpf;
pub(crate) mod devices;
pub(crate) mod resources;

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::error::{CgroupError, Result};
use crate::fs;
use crate::handle::Driver;
use crate::shared::{core_freezer, pids};
use crate::stats::{parse_io_stat, HugetlbStats, MemoryEntry, Stats};

pub(crate) struct V2<'a> {
    pub dir: &'a Path,
}

/// Why a cgroup that hull did not create cannot be the parent of a
/// container cgroup with controllers, or `None` when it can: it is the
/// real root (no `cgroup.type`; exempt from the no-internal-processes rule),
/// or an ordinary "domain" cgroup without processes of its own (processes
/// only matter when `enabling` controllers).
fn busy_parent(dir: &Path, enabling: bool) -> Result<Option<String>> {
    const CTX: &str = "checking a parent cgroup";
    let Some(typ) = fs::read_opt(CTX, dir, "cgroup.type")? else {
        return Ok(None);
    };
    let typ = typ.trim();
    if typ != "domain" {
        return Ok(Some(format!(
            "it is of type {typ:?} (part of a threaded subtree), so no domain cgroup can live below it"
        )));
    }
    if !enabling {
        return Ok(None);
    }
    let procs = fs::read(CTX, dir, "cgroup.procs")?;
    let n = procs.lines().filter(|l| !l.trim().is_empty()).count();
    Ok((n > 0).then(|| {
        format!(
            "it has {n} process(es) of its own, and cgroup v2 gives controllers only to \
             cgroups whose parent has none (enabling them anyway would turn it into a \
             threaded domain and leave the new cgroup in an invalid state); move those \
             processes into a leaf cgroup, or choose a cgroupsPath outside it"
        )
    }))
}

/// Enables every available controller in each ancestor of `leaf` (from the
/// mount point down), so the leaf gets all controllers the host offers.
///
/// An ancestor that hull did not create (`created` lists those it did) is
/// first checked with [`busy_parent`]: when it has processes, writing its
/// `cgroup.subtree_control` would fail for domain controllers and succeed
/// for threaded ones (cpu, cpuset, pids), turning it into a "domain
/// threaded" cgroup and the container's cgroup into "domain invalid", which
/// refuses processes. Such an ancestor is never written; the error names it.
///
/// Write failures are otherwise ignored like runc does: a delegated subtree
/// may refuse some controllers; applying a resource that then lacks its
/// controller fails later with an error naming the field.
pub(crate) fn enable_controllers(
    mountpoint: &Path,
    leaf: &Path,
    created: &[PathBuf],
    cgroups_path: &str,
) -> Result<()> {
    let Ok(rel) = leaf.strip_prefix(mountpoint) else {
        return Ok(());
    };
    // Each ancestor of the leaf, outermost first; the leaf itself is never
    // touched (it would then refuse processes).
    let mut parents = Vec::new();
    let mut cur = mountpoint.to_path_buf();
    for c in rel.components() {
        parents.push(cur.clone());
        cur.push(c);
    }
    // Check every parent before writing any. A level's controllers only
    // appear once its parent enables them, so what a level will be asked
    // to enable is predicted: everything offered by the levels above.
    let mut offered: Vec<String> = Vec::new();
    for p in &parents {
        let Ok(avail) = fs::try_read(p, "cgroup.controllers") else {
            break;
        };
        for c in avail.split_whitespace() {
            if !offered.iter().any(|o| o == c) {
                offered.push(c.to_string());
            }
        }
        if created.contains(p) {
            continue;
        }
        let enabled = fs::try_read(p, "cgroup.subtree_control").unwrap_or_default();
        let enabling = offered
            .iter()
            .any(|c| !enabled.split_whitespace().any(|e| e == c));
        if let Some(reason) = busy_parent(p, enabling)? {
            return Err(CgroupError::InvalidPath {
                path: cgroups_path.to_string(),
                reason: format!(
                    "cannot enable controllers for it in {}: {reason}",
                    p.display()
                ),
            });
        }
    }
    for p in &parents {
        let Ok(avail) = fs::try_read(p, "cgroup.controllers") else {
            break;
        };
        let want: Vec<String> = avail.split_whitespace().map(|c| format!("+{c}")).collect();
        if !want.is_empty() && fs::try_write(p, "cgroup.subtree_control", &want.join(" ")).is_err()
        {
            for w in &want {
                let _ = fs::try_write(p, "cgroup.subtree_control", w);
            }
        }
    }
    Ok(())
}

impl Driver for V2<'_> {
    fn apply(&self, r: &LinuxResources) -> Result<()> {
        resources::apply(self.dir, r)
    }

    fn freeze(&self) -> Result<()> {
        core_freezer::freeze(self.dir)
    }

    fn thaw(&self) -> Result<()> {
        core_freezer::thaw(self.dir)
    }

    fn is_frozen(&self) -> Result<bool> {
        core_freezer::is_frozen(self.dir)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Tree(PathBuf);
    impl Tree {
        fn new() -> Tree {
            static N: AtomicUsize = AtomicUsize::new(0);
            let d = std::env::temp_dir().join(format!(
                "libcgroups-v2-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Tree(d)
        }
        /// A fake cgroup dir; `typ` None = the real root (no cgroup.type).
        fn cg(&self, rel: &str, typ: Option<&str>, procs: &str, avail: &str) -> PathBuf {
            let d = self.0.join(rel);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("cgroup.controllers"), avail).unwrap();
            std::fs::write(d.join("cgroup.subtree_control"), "").unwrap();
            std::fs::write(d.join("cgroup.procs"), procs).unwrap();
            if let Some(t) = typ {
                std::fs::write(d.join("cgroup.type"), format!("{t}\n")).unwrap();
            }
            d
        }
    }
    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn ctl(d: &Path) -> String {
        std::fs::read_to_string(d.join("cgroup.subtree_control")).unwrap()
    }

    #[test]
    fn enables_in_every_parent_but_not_the_leaf() {
        let t = Tree::new();
        let root = t.cg("", None, "1\n2\n", "cpu memory pids\n");
        let a = t.cg("a", Some("domain"), "", "cpu memory pids\n");
        let leaf = t.cg("a/c", Some("domain"), "", "cpu memory pids\n");
        enable_controllers(&root, &leaf, std::slice::from_ref(&leaf), "/a/c").unwrap();
        assert_eq!(ctl(&root), "+cpu +memory +pids");
        assert_eq!(ctl(&a), "+cpu +memory +pids");
        assert_eq!(ctl(&leaf), "");
    }

    #[test]
    fn never_writes_a_populated_parent_it_did_not_create() {
        let t = Tree::new();
        let root = t.cg("", None, "1\n", "cpu memory pids\n");
        // Its controllers appear only once the root enables them: the
        // check must not wait for that.
        let busy = t.cg("busy", Some("domain"), "4242\n", "");
        let leaf = t.cg("busy/c", Some("domain"), "", "");
        let e =
            enable_controllers(&root, &leaf, std::slice::from_ref(&leaf), "/busy/c").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!(
                "cgroupsPath \"/busy/c\": cannot enable controllers for it in {}: it has 1 process(es) of its own",
                busy.display()
            )),
            "{msg}"
        );
        // Checked before anything is written, the root included.
        assert_eq!((ctl(&root), ctl(&busy)), (String::new(), String::new()));

        // Made by this create (cannot really have processes): written.
        std::fs::write(busy.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        enable_controllers(&root, &leaf, &[busy.clone(), leaf.clone()], "/busy/c").unwrap();
        assert_eq!(ctl(&busy), "+cpu +memory +pids");
    }

    #[test]
    fn a_populated_parent_without_controllers_to_give_is_fine() {
        let t = Tree::new();
        let root = t.cg("", None, "1\n", "\n");
        let busy = t.cg("busy", Some("domain"), "4242\n", "\n");
        let leaf = t.cg("busy/c", Some("domain"), "", "");
        enable_controllers(&root, &leaf, std::slice::from_ref(&leaf), "/busy/c").unwrap();
        assert_eq!(ctl(&busy), "");
    }

    #[test]
    fn a_threaded_parent_is_refused() {
        let t = Tree::new();
        let root = t.cg("", None, "1\n", "cpu\n");
        std::fs::write(root.join("cgroup.subtree_control"), "cpu\n").unwrap();
        let thr = t.cg("thr", Some("domain threaded"), "7\n", "cpu\n");
        std::fs::write(thr.join("cgroup.subtree_control"), "cpu\n").unwrap();
        let leaf = t.cg("thr/c", Some("domain invalid"), "", "");
        let e =
            enable_controllers(&root, &leaf, std::slice::from_ref(&leaf), "/thr/c").unwrap_err();
        assert!(
            e.to_string().contains("it is of type \"domain threaded\""),
            "{e}"
        );
    }
}
