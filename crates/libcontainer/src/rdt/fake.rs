//! Test builds only: what the kernel does by itself in a resctrl group,
//! done by hand on a tree that is not resctrl (a tmpfs made by a test),
//! so the rest of the module runs unchanged against it. A new group gets
//! `tasks`, a copy of the root's `schemata` and `mon_groups/`; a new
//! monitoring group gets `tasks`; a write to `schemata` replaces only the
//! lines written; removing a group removes those files first.

use std::{io, path::Path};

/// Whether `path` is outside any resctrl mount.
pub(super) fn is_fake(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|fs| fs.f_type as u64 != super::RDTGROUP_SUPER_MAGIC)
}

pub(super) fn made_group(root: &Path, dir: &Path) -> io::Result<()> {
    if !is_fake(dir) {
        return Ok(());
    }
    std::fs::write(dir.join("tasks"), "")?;
    let schemata = std::fs::read_to_string(root.join("schemata")).unwrap_or_default();
    std::fs::write(dir.join("schemata"), schemata)?;
    std::fs::create_dir(dir.join("mon_groups"))
}

pub(super) fn made_mon_group(dir: &Path) -> io::Result<()> {
    if !is_fake(dir) {
        return Ok(());
    }
    std::fs::write(dir.join("tasks"), "")
}

/// Replaces the lines of the resources in `text`, keeping the others.
pub(super) fn write_schemata(file: &Path, text: &str) -> io::Result<()> {
    let old = std::fs::read_to_string(file)?;
    let new: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for line in old.lines() {
        let res = super::schemata::resource(line);
        if !new.iter().any(|n| super::schemata::resource(n) == res) {
            out.push_str(line);
            out.push('\n');
        }
    }
    for line in new {
        out.push_str(line);
        out.push('\n');
    }
    std::fs::write(file, out)
}

/// Removes what the kernel would take with the group's directory.
pub(super) fn clear(dir: &Path) {
    let _ = std::fs::remove_file(dir.join("tasks"));
    let _ = std::fs::remove_file(dir.join("schemata"));
    if let Ok(entries) = std::fs::read_dir(dir.join("mon_groups")) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path().join("tasks"));
            let _ = std::fs::remove_dir(e.path());
        }
    }
    let _ = std::fs::remove_dir(dir.join("mon_groups"));
}
