//! Writing a new user namespace's id maps, done by the parent (which holds
//! the privileges in the outer namespace) once the child has created it.
//!
//! An unprivileged caller may write only a single line mapping its own
//! effective id, and a gid_map only once setgroups is denied; any other
//! mapping goes through the setuid helpers newuidmap/newgidmap, which allow
//! the ranges /etc/subuid and /etc/subgid give the user (runc and crun do
//! the same).

use std::process::Command;

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::{
    error::{Error, Result},
    procfs_handle::{ProcBase, ProcfsHandle},
};

fn format_map(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

pub(crate) fn write_id_maps(
    pid: i32,
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
) -> Result<()> {
    let me = Caller::get();
    if me.uid == 0 {
        return write_maps(
            pid,
            [(uid, "linux.uidMappings"), (gid, "linux.gidMappings")],
        );
    }
    let proc = ProcfsHandle::mounted().map_err(|e| Error::sys("opening /proc", e))?;
    let write = |file: &str, data: &[u8], field: &str| {
        proc.write(ProcBase::Pid(pid), file, data)
            .map_err(|e| Error::sys(format!("{field}: writing /proc/{pid}/{file}"), e))
    };
    if is_own(uid, me.uid) {
        write("uid_map", format_map(uid).as_bytes(), "linux.uidMappings")?;
    } else {
        run_helper("newuidmap", pid, uid, "linux.uidMappings")?;
    }
    if is_own(gid, me.gid) {
        // The kernel takes an unprivileged gid_map only once setgroups is
        // denied: otherwise the container could drop supplementary groups
        // that deny it access on the host.
        write("setgroups", b"deny", "linux.gidMappings")?;
        write("gid_map", format_map(gid).as_bytes(), "linux.gidMappings")?;
    } else {
        run_helper("newgidmap", pid, gid, "linux.gidMappings")?;
    }
    Ok(())
}

/// A single line mapping the caller's own id: what it may write itself.
fn is_own(maps: &[LinuxIdMapping], id: u32) -> bool {
    matches!(maps, [m] if m.host_id() == id && m.size() == 1)
}

/// hull's effective ids and, for /etc/subuid, its user name.
struct Caller {
    uid: u32,
    gid: u32,
}

impl Caller {
    fn get() -> Caller {
        Caller {
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
        }
    }
}

fn run_helper(helper: &str, pid: i32, maps: &[LinuxIdMapping], field: &str) -> Result<()> {
    let mut cmd = Command::new(helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let out = cmd.output().map_err(|e| {
        Error::Unsupported(format!(
            "{field}: mapping ids other than your own needs {helper} (Debian package uidmap): {e}"
        ))
    })?;
    if !out.status.success() {
        return Err(Error::InvalidArgument(format!(
            "{field}: {helper} refused the mapping ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Checks, before anything is made, that an unprivileged caller can have
/// the container's user namespace: without one it could create no other
/// namespace, and each mapping must be its own id or a range
/// /etc/subuid (/etc/subgid) gives it.
pub(crate) fn check_unprivileged(spec: &Spec) -> Result<()> {
    let me = Caller::get();
    if me.uid == 0 {
        return Ok(());
    }
    let linux = spec.linux().as_ref();
    let userns = linux
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|ns| ns.iter().find(|n| n.typ() == LinuxNamespaceType::User));
    let Some(userns) = userns else {
        return Err(Error::InvalidArgument(
            "linux.namespaces: an unprivileged user needs a user namespace to create a container (hull spec --rootless writes one)".into(),
        ));
    };
    if userns.path().is_some() {
        return Ok(());
    }
    let name = user_name(me.uid);
    for (field, maps, own, file) in [
        (
            "linux.uidMappings",
            linux.and_then(|l| l.uid_mappings().as_deref()),
            me.uid,
            "/etc/subuid",
        ),
        (
            "linux.gidMappings",
            linux.and_then(|l| l.gid_mappings().as_deref()),
            me.gid,
            "/etc/subgid",
        ),
    ] {
        let maps = maps.unwrap_or(&[]);
        if maps.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "{field}: required for a new user namespace"
            )));
        }
        if is_own(maps, own) {
            continue;
        }
        let ranges = std::fs::read_to_string(file)
            .map(|t| sub_ranges(&t, me.uid, name.as_deref()))
            .unwrap_or_default();
        for (i, m) in maps.iter().enumerate() {
            let start = u64::from(m.host_id());
            let end = start + u64::from(m.size());
            let fits = (start == u64::from(own) && m.size() == 1)
                || ranges.iter().any(|&(s, n)| start >= s && end <= s + n);
            if !fits {
                return Err(Error::InvalidArgument(format!(
                    "{field}[{i}]: host ids {start}..{end} are not this user's (id {own}); {file} gives it {}",
                    describe(&ranges)
                )));
            }
        }
    }
    Ok(())
}

/// The user's name from /etc/passwd, as newuidmap matches /etc/subuid
/// entries by name or by number.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid.to_string()).then(|| name.to_owned())
    })
}

/// The (start, count) ranges of a subuid/subgid file for this user.
fn sub_ranges(text: &str, uid: u32, name: Option<&str>) -> Vec<(u64, u64)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let who = f.next()?;
            let start: u64 = f.next()?.parse().ok()?;
            let count: u64 = f.next()?.parse().ok()?;
            (Some(who) == name || who == uid.to_string()).then_some((start, count))
        })
        .collect()
}

fn describe(ranges: &[(u64, u64)]) -> String {
    if ranges.is_empty() {
        return "no range".into();
    }
    ranges
        .iter()
        .map(|(s, n)| format!("{s}..{}", s + n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes `/proc/<pid>/uid_map` and `gid_map`, each failure naming the
/// spec field the maps came from. Runs in hull itself, outside the
/// container, so its own /proc is the one to use.
pub(crate) fn write_maps(pid: i32, [uid, gid]: [(&[LinuxIdMapping], &str); 2]) -> Result<()> {
    let proc = ProcfsHandle::mounted().map_err(|e| Error::sys("opening /proc", e))?;
    for (file, (maps, field)) in [("uid_map", uid), ("gid_map", gid)] {
        proc.write(ProcBase::Pid(pid), file, format_map(maps).as_bytes())
            .map_err(|e| Error::sys(format!("{field}: writing /proc/{pid}/{file}"), e))?;
    }
    Ok(())
}

/// Inside id ranges (start, count) of a user namespace: uids, then gids.
pub(crate) type IdRanges = (Vec<(u64, u64)>, Vec<(u64, u64)>);

/// `uid=`/`gid=` options of the mounts the container makes (not binds)
/// naming an id its user namespace does not map: the kernel resolves them
/// there and refuses the mount with a bare EINVAL (devpts' `gid=5` where
/// only the caller's own group is mapped). runc refuses them the same way
/// for a rootless container; `hull spec --rootless` leaves them out. The
/// maps are the spec's for a new user namespace, else `runtime_maps` (the
/// runtime's own, when it runs in a user namespace).
pub(crate) fn unmapped_mount_ids(
    spec: &Spec,
    runtime_maps: Option<&IdRanges>,
) -> Vec<(String, String)> {
    let linux = spec.linux().as_ref();
    let new_userns = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none())
        });
    let inside = |m: Option<&Vec<LinuxIdMapping>>| -> Vec<(u64, u64)> {
        m.into_iter()
            .flatten()
            .map(|m| (u64::from(m.container_id()), u64::from(m.size())))
            .collect()
    };
    let (uids, gids) = match (new_userns, runtime_maps) {
        (true, _) => (
            inside(linux.and_then(|l| l.uid_mappings().as_ref())),
            inside(linux.and_then(|l| l.gid_mappings().as_ref())),
        ),
        (false, Some((u, g))) => (u.clone(), g.clone()),
        (false, None) => return Vec::new(),
    };
    let mut out = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if crate::config::mount_options::is_bind(m) {
            continue;
        }
        for opt in m.options().iter().flatten() {
            let Some((key, value)) = opt.split_once('=') else {
                continue;
            };
            let (ranges, what, field) = match key {
                "uid" => (&uids, "user", "linux.uidMappings"),
                "gid" => (&gids, "group", "linux.gidMappings"),
                _ => continue,
            };
            let Ok(id) = value.parse::<u64>() else {
                continue;
            };
            if !ranges.iter().any(|(s, n)| id >= *s && id < s + n) {
                let maps = if new_userns {
                    field.to_owned()
                } else {
                    "the runtime's own user namespace".to_owned()
                };
                out.push((
                    format!("mounts[{i}].options"),
                    format!("{opt:?}: {what} {id} is not mapped in {maps}, and the kernel refuses a {} mount naming it (EINVAL); map it or leave the option out (hull spec --rootless does)", m.typ().as_deref().unwrap_or("")),
                ));
            }
        }
    }
    out
}

/// The inside ranges (start, count) of `/proc/self/uid_map` and `gid_map`
/// when hull runs in a user namespace; None in the initial one.
pub(crate) fn runtime_maps() -> Option<IdRanges> {
    if !crate::rootless::running_in_userns() {
        return None;
    }
    let read = |f: &str| -> Vec<(u64, u64)> {
        std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let v: Vec<u64> = l
                    .split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect();
                match v[..] {
                    [inside, _, count] => Some((inside, count)),
                    _ => None,
                }
            })
            .collect()
    };
    Some((read("/proc/self/uid_map"), read("/proc/self/gid_map")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_ids_must_be_mapped() {
        let spec = |maps: &str| -> Spec {
            serde_json::from_str(&format!(
                r#"{{"ociVersion":"1.0.0","mounts":[
                {{"destination":"/dev/pts","type":"devpts","source":"devpts","options":["newinstance","gid=5","mode=0620"]}},
                {{"destination":"/b","type":"bind","source":"/tmp","options":["bind","gid=7"]}}],
                "linux":{{"namespaces":[{{"type":"user"}}],{maps}}}}}"#
            ))
            .unwrap()
        };
        let one = r#""uidMappings":[{"containerID":0,"hostID":1000,"size":1}],"gidMappings":[{"containerID":0,"hostID":1000,"size":1}]"#;
        let found = unmapped_mount_ids(&spec(one), None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "mounts[0].options");
        assert!(found[0].1.contains("group 5") && found[0].1.contains("linux.gidMappings"));
        let range = r#""uidMappings":[{"containerID":0,"hostID":100000,"size":65536}],"gidMappings":[{"containerID":0,"hostID":100000,"size":65536}]"#;
        assert!(unmapped_mount_ids(&spec(range), None).is_empty());
        // No user namespace of its own: the runtime's maps decide.
        let mut s = spec(one);
        s.linux_mut().as_mut().unwrap().set_namespaces(Some(vec![]));
        assert!(unmapped_mount_ids(&s, None).is_empty());
        let runtime = (vec![(0, 1)], vec![(0, 1)]);
        assert_eq!(unmapped_mount_ids(&s, Some(&runtime)).len(), 1);
    }

    #[test]
    fn subordinate_ranges() {
        let t = "alice:100000:65536\n1001:200000:10\nbob:300000:5\nbad line\n";
        assert_eq!(
            sub_ranges(t, 1001, Some("alice")),
            vec![(100000, 65536), (200000, 10)]
        );
        assert_eq!(sub_ranges(t, 7, None), vec![]);
    }

    #[test]
    fn map_lines() {
        let m: Vec<LinuxIdMapping> =
            serde_json::from_str(r#"[{"containerID":0,"hostID":100000,"size":65536},{"containerID":65536,"hostID":5,"size":1}]"#).unwrap();
        assert_eq!(format_map(&m), "0 100000 65536\n65536 5 1\n");
    }
}
