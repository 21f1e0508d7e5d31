//! `linux.intelRdt`: cache and memory bandwidth allocation (Intel RDT,
//! AMD PQoS) through the resctrl filesystem, as runc applies it.
//!
//! - The container's group is `<resctrl>/<closID>`, or without a closID
//!   `<resctrl>/<container id>`; closID `/` is the root (default) group.
//! - A closID group is shared by the containers naming it: made if
//!   missing (only when a schema is given: without one it must exist),
//!   compared with the schema asked for if it exists (spec: an error if it
//!   differs; it is never overwritten), and never removed on delete. A
//!   group named after the container must not exist yet; it is removed on
//!   delete.
//! - What hull writes to a `schemata` file is read back and compared
//!   ([`schemata::mismatch`]); a write the kernel refuses is reported
//!   with its `info/last_cmd_status`.
//! - The init (and each exec'd process) is written to the group's
//!   `tasks` before it runs anything of the container's; with
//!   `enableMonitoring` (or the older `enableCMT`/`enableMBM`) also to a
//!   monitoring group `mon_groups/<container id>`, removed on delete.
//! - resctrl is found in /proc/self/mountinfo (type `resctrl`); where
//!   none is mounted, `linux.intelRdt` is an error. Test builds (feature
//!   `test-resctrl`) take the root from `HULL_TEST_RESCTRL_ROOT` and act
//!   for the kernel on a tree that is not resctrl (`fake`); release builds
//!   have no such knob.

pub(crate) mod error;
#[cfg(feature = "test-resctrl")]
mod fake;
pub(crate) mod schemata;

use std::{
    io::{self, Write},
    path::{Path, PathBuf},
};

use oci_spec::runtime::LinuxIntelRdt;
use serde::{Deserialize, Serialize};

use crate::spec::error::FieldIssue;
pub use error::RdtError;
use schemata::Line;

/// statfs type of resctrl.
const RDTGROUP_SUPER_MAGIC: u64 = 0x0765_5821;
/// Names in the resctrl root that are not groups.
const RESERVED: [&str; 3] = ["info", "mon_groups", "mon_data"];

/// The environment variable test builds read for the resctrl root.
#[cfg(feature = "test-resctrl")]
const TEST_ROOT_ENV: &str = "HULL_TEST_RESCTRL_ROOT";

fn field_err(field: impl Into<String>, reason: impl Into<String>) -> RdtError {
    RdtError::Field {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The container's resctrl groups, kept in state.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Group {
    /// The resctrl mount the group is in.
    root: PathBuf,
    path: PathBuf,
    /// The monitoring group, with `enableMonitoring`.
    #[serde(default)]
    mon: Option<PathBuf>,
    /// Named after the container (no closID): removed on delete.
    #[serde(default)]
    owned: bool,
    /// Made by this create: removed if the create fails.
    #[serde(default)]
    made: bool,
}

/// A mounted resctrl filesystem.
struct Resctrl {
    root: PathBuf,
}

impl Resctrl {
    /// The first resctrl mount of this mount namespace (there is only ever
    /// one superblock), checked to be resctrl.
    fn find() -> Option<Resctrl> {
        #[cfg(feature = "test-resctrl")]
        if let Some(root) = std::env::var_os(TEST_ROOT_ENV) {
            return Some(Resctrl { root: root.into() });
        }
        let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let root = mountinfo_resctrl(&info)?;
        let fs = rustix::fs::statfs(&root).ok()?;
        (fs.f_type as u64 == RDTGROUP_SUPER_MAGIC).then_some(Resctrl { root })
    }

    fn has(&self, resource: &str) -> bool {
        self.root.join("info").join(resource).is_dir()
    }

    /// A bandwidth resource's rounding step (info/<RES>/bandwidth_gran);
    /// 1 for anything exact.
    fn step(&self, resource: &str) -> u64 {
        std::fs::read_to_string(self.root.join("info").join(resource).join("bandwidth_gran"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1)
    }

    fn group_path(&self, clos: Option<&str>, id: &str) -> PathBuf {
        match clos {
            Some("/") => self.root.clone(),
            Some(c) => self.root.join(c),
            None => self.root.join(id),
        }
    }
}

/// The mount point of the first resctrl mount in a mountinfo text.
fn mountinfo_resctrl(info: &str) -> Option<PathBuf> {
    crate::mountinfo::entries(info)
        .find(|e| e.fstype == "resctrl")
        .map(|e| e.mount_point)
}

/// The `info/last_cmd_status` of resctrl, formatted to follow an error.
fn last_status(root: &Path) -> String {
    std::fs::read_to_string(root.join("info").join("last_cmd_status"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s != "ok")
        .map(|s| format!(" (resctrl: {s})"))
        .unwrap_or_default()
}

fn io_err(root: &Path, field: &str, path: &Path, source: io::Error) -> RdtError {
    RdtError::Io {
        field: field.to_owned(),
        path: path.to_owned(),
        source,
        status: last_status(root),
    }
}

/// The closID asked for (an empty string is no closID).
fn clos(rdt: &LinuxIntelRdt) -> Option<&str> {
    rdt.clos_id().as_deref().filter(|c| !c.is_empty())
}

/// Whether the container gets a monitoring group: `enableMonitoring`, or
/// the 1.1-1.2 flags it replaced (both asked for monitoring of the
/// container, which a monitoring group is).
#[allow(deprecated)]
fn monitoring(rdt: &LinuxIntelRdt) -> bool {
    rdt.enable_monitoring().unwrap_or(false)
        || rdt.enable_cmt().unwrap_or(false)
        || rdt.enable_mbm().unwrap_or(false)
}

/// What the spec alone says is wrong with `linux.intelRdt`.
pub(crate) fn spec_issues(rdt: &LinuxIntelRdt) -> Vec<FieldIssue> {
    let mut out = Vec::new();
    let mut push = |field: &str, reason: String| {
        out.push(FieldIssue {
            field: field.into(),
            reason,
        })
    };
    if let Some(c) = rdt.clos_id() {
        let bad = if c.is_empty() || c == "/" {
            None
        } else if c == "." || c == ".." || c.contains(['/', '\n', '\0']) {
            Some(format!(
                "{c:?} is not a resctrl group name (a single path component, or \"/\" for the default group)"
            ))
        } else if RESERVED.contains(&c.as_str()) {
            Some(format!("{c:?} is a resctrl directory, not a group"))
        } else {
            None
        };
        if let Some(why) = bad {
            push("linux.intelRdt.closID", why);
        }
    }
    if let Some(mb) = rdt.mem_bw_schema().as_deref().filter(|m| !m.is_empty()) {
        if !mb.trim_start().starts_with("MB:") || mb.contains(['\n', '\r']) {
            push(
                "linux.intelRdt.memBwSchema",
                format!("{mb:?} must be one line starting with \"MB:\""),
            );
        }
    }
    for line in schemata::compose(rdt) {
        if let Some(why) = schemata::line_issue(&line.text) {
            push(&line.field, why);
        }
    }
    for (i, l) in rdt.schemata().iter().flatten().enumerate() {
        if l.contains(['\n', '\r']) {
            push(
                &format!("linux.intelRdt.schemata[{i}]"),
                format!("{l:?} must be a single line"),
            );
        }
    }
    out
}

/// What the host says is wrong with `linux.intelRdt`: resctrl must be
/// mounted and have each resource asked for, and the group must be usable
/// as asked (`id`, the container's, when known).
pub(crate) fn host_issues(rdt: &LinuxIntelRdt, id: Option<&str>) -> Vec<FieldIssue> {
    let Some(res) = Resctrl::find() else {
        return vec![FieldIssue {
            field: "linux.intelRdt".into(),
            reason: "no resctrl filesystem is mounted (no mount of type resctrl in /proc/self/mountinfo): Intel RDT cannot be applied on this host".into(),
        }];
    };
    let mut out = Vec::new();
    let lines = schemata::compose(rdt);
    for line in &lines {
        if let Some(r) = schemata::resource(&line.text).filter(|r| !res.has(r)) {
            let what = match r {
                "L3" => " (Intel RDT/CAT is not enabled)",
                "MB" => " (Intel RDT/MBA is not enabled)",
                _ => "",
            };
            out.push(FieldIssue {
                field: line.field.clone(),
                reason: format!(
                    "resctrl at {} has no {r} resource (no info/{r}){what}",
                    res.root.display()
                ),
            });
        }
    }
    if monitoring(rdt) && !res.has("L3_MON") {
        out.push(FieldIssue {
            field: "linux.intelRdt.enableMonitoring".into(),
            reason: format!(
                "resctrl at {} has no monitoring (no info/L3_MON)",
                res.root.display()
            ),
        });
    }
    if !out.is_empty() {
        return out;
    }
    if let Err(RdtError::Field { field, reason }) = check_group(&res, rdt, id, &lines) {
        out.push(FieldIssue { field, reason });
    }
    out
}

/// Whether the group can be used as asked: an existing closID group holds
/// the schema given, a missing one has a schema to be made with, and the
/// group named after the container does not exist yet. Ok(true) if the
/// group exists.
fn check_group(
    res: &Resctrl,
    rdt: &LinuxIntelRdt,
    id: Option<&str>,
    lines: &[Line],
) -> Result<bool, RdtError> {
    match (clos(rdt), id) {
        (Some(c), _) => {
            let path = res.group_path(Some(c), "");
            if !path.is_dir() {
                if lines.is_empty() {
                    return Err(field_err(
                        "linux.intelRdt.closID",
                        format!("resctrl group {c:?} does not exist: without a schema, a closID must name a group made beforehand"),
                    ));
                }
                return Ok(false);
            }
            if !lines.is_empty() {
                let file = path.join("schemata");
                let got = std::fs::read_to_string(&file)
                    .map_err(|e| io_err(&res.root, "linux.intelRdt.closID", &file, e))?;
                if let Some((line, why)) = schemata::mismatch(lines, &got, |r| res.step(r)) {
                    return Err(field_err(
                        line.field.clone(),
                        format!("resctrl group {c:?} exists with other schemata ({why}): a shared group's schemata are compared, never overwritten"),
                    ));
                }
            }
            Ok(true)
        }
        (None, Some(id)) => {
            let path = res.group_path(None, id);
            if path.exists() {
                return Err(field_err(
                    "linux.intelRdt",
                    format!("resctrl group {id:?}, named after the container, already exists (give a closID to share a group)"),
                ));
            }
            Ok(false)
        }
        (None, None) => Ok(false),
    }
}

/// Makes (or checks) the container's groups before its init exists:
/// the group with its schemata, and the monitoring group. On error,
/// whatever it made is removed.
pub(crate) fn create(rdt: &LinuxIntelRdt, id: &str) -> Result<Group, RdtError> {
    let res = Resctrl::find().ok_or_else(|| {
        field_err(
            "linux.intelRdt",
            "no resctrl filesystem is mounted (no mount of type resctrl in /proc/self/mountinfo)",
        )
    })?;
    let lines = schemata::compose(rdt);
    let exists = check_group(&res, rdt, Some(id), &lines)?;
    let path = res.group_path(clos(rdt), id);
    let mut group = Group {
        root: res.root.clone(),
        path: path.clone(),
        mon: None,
        owned: clos(rdt).is_none(),
        made: false,
    };
    let result = (|| {
        if !exists {
            let field = match clos(rdt) {
                Some(_) => "linux.intelRdt.closID",
                None => "linux.intelRdt",
            };
            std::fs::create_dir(&path).map_err(|e| io_err(&res.root, field, &path, e))?;
            group.made = true;
            #[cfg(feature = "test-resctrl")]
            fake::made_group(&res.root, &path).map_err(|e| io_err(&res.root, field, &path, e))?;
            if !lines.is_empty() {
                write_schemata(&res, &path, &lines)?;
            }
        }
        if monitoring(rdt) {
            let mon = path.join("mon_groups").join(id);
            let field = "linux.intelRdt.enableMonitoring";
            std::fs::create_dir(&mon).map_err(|e| io_err(&res.root, field, &mon, e))?;
            group.mon = Some(mon.clone());
            #[cfg(feature = "test-resctrl")]
            fake::made_mon_group(&mon).map_err(|e| io_err(&res.root, field, &mon, e))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(group),
        Err(e) => {
            remove(&group, true);
            Err(e)
        }
    }
}

/// Writes `lines` to the group's `schemata` and checks what the kernel
/// reads back.
fn write_schemata(res: &Resctrl, dir: &Path, lines: &[Line]) -> Result<(), RdtError> {
    let file = dir.join("schemata");
    let first = lines
        .first()
        .map(|l| l.field.as_str())
        .unwrap_or("linux.intelRdt");
    let text = schemata::text(lines);
    #[cfg(feature = "test-resctrl")]
    let written = if fake::is_fake(dir) {
        fake::write_schemata(&file, &text)
    } else {
        write_once(&file, &text)
    };
    #[cfg(not(feature = "test-resctrl"))]
    let written = write_once(&file, &text);
    written.map_err(|e| io_err(&res.root, first, &file, e))?;
    let got = std::fs::read_to_string(&file).map_err(|e| io_err(&res.root, first, &file, e))?;
    if let Some((line, why)) = schemata::mismatch(lines, &got, |r| res.step(r)) {
        return Err(field_err(
            line.field.clone(),
            format!(
                "wrote {:?} to {}, but it reads back otherwise: {why}",
                line.text,
                file.display()
            ),
        ));
    }
    Ok(())
}

/// One write: the kernel parses the lines together, and a line it refuses
/// fails the write with info/last_cmd_status saying why.
fn write_once(file: &Path, text: &str) -> io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .and_then(|mut f| f.write_all(text.as_bytes()))
}

/// Puts the task `pid` in the container's group (and monitoring group).
pub(crate) fn add_task(group: &Group, pid: i32) -> Result<(), RdtError> {
    for (dir, field) in [
        (Some(&group.path), "linux.intelRdt"),
        (group.mon.as_ref(), "linux.intelRdt.enableMonitoring"),
    ] {
        let Some(dir) = dir else { continue };
        let file = dir.join("tasks");
        // Append: the kernel adds the task whatever the offset, and a
        // shared test tree keeps every container's pid.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .and_then(|mut f| f.write_all(format!("{pid}\n").as_bytes()))
            .map_err(|e| io_err(&group.root, field, &file, e))?;
    }
    Ok(())
}

/// `update --l3-cache-schema/--mem-bw-schema`: writes the schemas to the
/// container's group, making one named after the container (with `pid`
/// in it) if it has none, as runc does. Returns the group to record.
pub(crate) fn update(
    group: Option<&Group>,
    id: &str,
    pid: i32,
    l3: Option<&str>,
    mb: Option<&str>,
) -> Result<Group, RdtError> {
    let mut lines = schemata::compose_parts(l3, mb, &[]);
    for l in &mut lines {
        l.field = match l.field.as_str() {
            "linux.intelRdt.memBwSchema" => "--mem-bw-schema".into(),
            _ => "--l3-cache-schema".into(),
        };
    }
    for l in &lines {
        if let Some(why) = schemata::line_issue(&l.text) {
            return Err(field_err(l.field.clone(), why));
        }
    }
    if let Some(m) = mb.filter(|m| !m.trim_start().starts_with("MB:")) {
        return Err(field_err(
            "--mem-bw-schema",
            format!("{m:?} must start with \"MB:\""),
        ));
    }
    let res = match group {
        Some(g) => Resctrl {
            root: g.root.clone(),
        },
        None => Resctrl::find().ok_or_else(|| {
            field_err(
                "linux.intelRdt",
                "no resctrl filesystem is mounted (no mount of type resctrl in /proc/self/mountinfo)",
            )
        })?,
    };
    for l in &lines {
        if let Some(r) = schemata::resource(&l.text).filter(|r| !res.has(r)) {
            return Err(field_err(
                l.field.clone(),
                format!(
                    "resctrl at {} has no {r} resource (no info/{r})",
                    res.root.display()
                ),
            ));
        }
    }
    let group = match group {
        Some(g) => g.clone(),
        None => {
            let g = create(&LinuxIntelRdt::default(), id)?;
            if let Err(e) = add_task(&g, pid) {
                remove(&g, true);
                return Err(e);
            }
            Group { made: false, ..g }
        }
    };
    if !lines.is_empty() {
        write_schemata(&res, &group.path, &lines)?;
    }
    Ok(group)
}

/// Removes the monitoring group, and the group itself if it is the
/// container's own (or `failed_create` and this create made it). Best
/// effort: a group that is already gone is fine.
pub(crate) fn remove(group: &Group, failed_create: bool) {
    let mut dirs = Vec::new();
    dirs.extend(group.mon.clone());
    if group.owned || (failed_create && group.made) {
        dirs.push(group.path.clone());
    }
    for dir in dirs {
        #[cfg(feature = "test-resctrl")]
        if fake::is_fake(&dir) {
            fake::clear(&dir);
        }
        match std::fs::remove_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("removing resctrl group {}: {e}", dir.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rdt(json: serde_json::Value) -> LinuxIntelRdt {
        serde_json::from_value(json).unwrap()
    }

    fn issues(json: serde_json::Value) -> Vec<String> {
        spec_issues(&rdt(json))
            .iter()
            .map(|i| i.to_string())
            .collect()
    }

    #[test]
    fn valid_configs_pass() {
        for j in [
            serde_json::json!({}),
            serde_json::json!({"closID": "gold", "l3CacheSchema": "L3:0=f0;1=1f", "memBwSchema": "MB:0=20"}),
            serde_json::json!({"closID": "/", "enableMonitoring": true}),
            serde_json::json!({"l3CacheSchema": "L3CODE:0=f\nL3DATA:0=f0", "schemata": ["L2:0=3"]}),
        ] {
            assert!(issues(j.clone()).is_empty(), "{j}: {:?}", issues(j.clone()));
        }
    }

    #[test]
    fn bad_values_name_their_field() {
        let v = issues(
            serde_json::json!({"closID": "a/b", "memBwSchema": "L3:0=1", "schemata": ["L2:0=3\nMB:0=1", "junk"]}),
        );
        for want in [
            "linux.intelRdt.closID: \"a/b\" is not a resctrl group name",
            "linux.intelRdt.memBwSchema: \"L3:0=1\" must be one line starting with \"MB:\"",
            "linux.intelRdt.schemata[0]: \"L2:0=3\\nMB:0=1\" must be a single line",
            "linux.intelRdt.schemata[1]: \"junk\" is not a schemata line",
        ] {
            assert!(
                v.iter().any(|i| i.starts_with(want)),
                "missing {want:?} in {v:?}"
            );
        }
        for c in ["..", "info", "mon_groups"] {
            let v = issues(serde_json::json!({ "closID": c }));
            assert!(
                v.len() == 1 && v[0].starts_with("linux.intelRdt.closID"),
                "{c}: {v:?}"
            );
        }
    }

    #[test]
    fn resctrl_is_found_by_type_in_mountinfo() {
        let info = "25 1 0:22 / /sys rw - sysfs sysfs rw\n\
                    40 25 0:36 / /sys/fs/resctrl rw,relatime - resctrl resctrl rw\n\
                    41 25 0:37 / /mnt/other\\040dir rw - resctrl resctrl rw\n";
        assert_eq!(
            mountinfo_resctrl(info),
            Some(PathBuf::from("/sys/fs/resctrl"))
        );
        assert_eq!(
            mountinfo_resctrl("25 1 0:22 / /sys rw - sysfs sysfs rw\n"),
            None
        );
        let info = "41 25 0:37 / /mnt/other\\040dir rw - resctrl resctrl rw\n";
        assert_eq!(
            mountinfo_resctrl(info),
            Some(PathBuf::from("/mnt/other dir"))
        );
    }
}
