//! Detection of the host's cgroup setup and of the mounted hierarchies.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{CgroupError, Result};
use crate::path::{parse_proc_cgroup, ProcCgroup};

/// How cgroups are mounted on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupSetup {
    /// Only cgroup v1 hierarchies.
    Legacy,
    /// cgroup v1 controllers plus cgroup2 at /sys/fs/cgroup/unified.
    Hybrid,
    /// Pure cgroup v2 at /sys/fs/cgroup.
    Unified,
}

pub(crate) const CGROUP_ROOT: &str = "/sys/fs/cgroup";
pub(crate) const HYBRID_UNIFIED: &str = "/sys/fs/cgroup/unified";
const CGROUP2_SUPER_MAGIC: u64 = 0x6367_7270;

/// The v1 subsystems runc manages; a hierarchy is joined if it carries any
/// of them. Other named hierarchies belong to someone else.
const V1_SUBSYSTEMS: &[&str] = &[
    "cpuset",
    "devices",
    "memory",
    "cpu",
    "cpuacct",
    "pids",
    "blkio",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "freezer",
    "rdma",
    "misc",
    "name=systemd",
];

static SETUP: OnceLock<CgroupSetup> = OnceLock::new();

/// Detects (once per process) whether the host is Legacy, Hybrid or Unified.
pub fn detect_setup() -> Result<CgroupSetup> {
    detect_cached(None)
}

/// As [`detect_setup`]; `mounts` is a mountinfo the caller has read anyway.
fn detect_cached(mounts: Option<&[MountEntry]>) -> Result<CgroupSetup> {
    if let Some(s) = SETUP.get() {
        return Ok(*s);
    }
    let s = if is_cgroup2(CGROUP_ROOT)? {
        CgroupSetup::Unified
    } else {
        match mounts {
            Some(m) => detect_v1(m)?,
            None => detect_v1(&read_mountinfo()?)?,
        }
    };
    Ok(*SETUP.get_or_init(|| s))
}

fn is_cgroup2(path: &str) -> Result<bool> {
    match rustix::fs::statfs(path) {
        // f_type's integer type differs per architecture.
        #[allow(clippy::unnecessary_cast)]
        Ok(st) => Ok(st.f_type as u64 == CGROUP2_SUPER_MAGIC),
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(CgroupError::Detect(format!("statfs {path}: {e}"))),
    }
}

/// Legacy or Hybrid, on a host where /sys/fs/cgroup is not cgroup2.
fn detect_v1(mounts: &[MountEntry]) -> Result<CgroupSetup> {
    let any_v1 = mounts.iter().any(|m| m.fstype == "cgroup");
    if !any_v1 {
        return Err(CgroupError::Detect(format!(
            "neither cgroup2 at {CGROUP_ROOT} nor any cgroup v1 hierarchy is mounted"
        )));
    }
    if is_cgroup2(HYBRID_UNIFIED)? {
        Ok(CgroupSetup::Hybrid)
    } else {
        Ok(CgroupSetup::Legacy)
    }
}

/// One line of /proc/self/mountinfo, reduced to what cgroup code needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountEntry {
    pub dev: String,
    /// Path inside the filesystem that is mounted (non-"/" for bind mounts
    /// of a sub-cgroup, e.g. inside containers).
    pub root: String,
    pub mountpoint: PathBuf,
    pub fstype: String,
    pub super_opts: String,
}

fn read_mountinfo() -> Result<Vec<MountEntry>> {
    let text = crate::fs::read_whole(Path::new("/proc/self/mountinfo"))
        .map_err(|e| CgroupError::Detect(format!("reading /proc/self/mountinfo: {e}")))?;
    Ok(parse_mountinfo(&text))
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' && i + 3 < field.len() {
            let oct = &field[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = u32::from(oct[0] - b'0') * 64
                    + u32::from(oct[1] - b'0') * 8
                    + u32::from(oct[2] - b'0');
                if let Ok(b) = u8::try_from(v) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

pub(crate) fn parse_mountinfo(text: &[u8]) -> Vec<MountEntry> {
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == b"-") else {
            continue;
        };
        if sep < 6 || fields.len() < sep + 4 {
            continue;
        }
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        out.push(MountEntry {
            dev: s(fields[2]),
            root: s(&unescape(fields[3])),
            mountpoint: PathBuf::from(OsString::from_vec(unescape(fields[4]))),
            fstype: s(fields[sep + 1]),
            super_opts: s(fields[sep + 3]),
        });
    }
    out
}

/// A mounted hierarchy the runtime places containers in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hierarchy {
    /// v1 controllers (and "name=..." for named hierarchies); empty for cgroup2.
    pub controllers: Vec<String>,
    pub unified: bool,
    pub mountpoint: PathBuf,
    pub root: String,
}

fn v1_controllers(super_opts: &str) -> Vec<String> {
    super_opts
        .split(',')
        .filter(|o| V1_SUBSYSTEMS.contains(o) || o.starts_with("name="))
        .map(str::to_string)
        .collect()
}

/// Picks the hierarchies to use for `setup` from the mount table.
pub(crate) fn hierarchies_from_mounts(
    setup: CgroupSetup,
    mounts: &[MountEntry],
) -> Result<Vec<Hierarchy>> {
    let mut out: Vec<(String, Hierarchy)> = Vec::new();
    if setup != CgroupSetup::Unified {
        for m in mounts.iter().filter(|m| m.fstype == "cgroup") {
            let controllers = v1_controllers(&m.super_opts);
            if !controllers
                .iter()
                .any(|c| V1_SUBSYSTEMS.contains(&c.as_str()))
            {
                continue;
            }
            let h = Hierarchy {
                controllers,
                unified: false,
                mountpoint: m.mountpoint.clone(),
                root: m.root.clone(),
            };
            // The same hierarchy can be mounted several times (bind mounts
            // into container rootfs); prefer a mount of its real root.
            match out.iter_mut().find(|(dev, _)| *dev == m.dev) {
                Some((_, existing)) => {
                    if existing.root != "/" && m.root == "/" {
                        *existing = h;
                    }
                }
                None => out.push((m.dev.clone(), h)),
            }
        }
    }
    let mut hs: Vec<Hierarchy> = out.into_iter().map(|(_, h)| h).collect();
    match setup {
        CgroupSetup::Legacy => {}
        CgroupSetup::Hybrid | CgroupSetup::Unified => {
            let want = if setup == CgroupSetup::Hybrid {
                HYBRID_UNIFIED
            } else {
                CGROUP_ROOT
            };
            // Last entry wins: it is the one visible on top of any over-mount.
            let m = mounts
                .iter()
                .rev()
                .find(|m| m.fstype == "cgroup2" && m.mountpoint == Path::new(want));
            let (mountpoint, root) = match m {
                Some(m) => (m.mountpoint.clone(), m.root.clone()),
                None => {
                    return Err(CgroupError::Detect(format!(
                        "cgroup2 is not mounted at {want} (per /proc/self/mountinfo)"
                    )))
                }
            };
            hs.push(Hierarchy {
                controllers: Vec::new(),
                unified: true,
                mountpoint,
                root,
            });
        }
    }
    if hs.is_empty() {
        return Err(CgroupError::Detect(
            "no usable cgroup hierarchy is mounted".to_string(),
        ));
    }
    Ok(hs)
}

/// Everything `Manager::create` needs to know about the host; injectable so
/// path logic can be tested against plain directories.
#[derive(Debug, Clone)]
pub(crate) struct SystemView {
    pub setup: CgroupSetup,
    pub hierarchies: Vec<Hierarchy>,
    /// The calling process's own cgroups (/proc/self/cgroup).
    pub own: Vec<ProcCgroup>,
}

impl SystemView {
    pub(crate) fn load() -> Result<SystemView> {
        // One read serves both the detection and the hierarchies: the
        // kernel formats every mount of the namespace on each read.
        let mounts = read_mountinfo()?;
        let setup = detect_cached(Some(&mounts))?;
        let hierarchies = hierarchies_from_mounts(setup, &mounts)?;
        let text = crate::fs::read_whole(Path::new("/proc/self/cgroup"))
            .map_err(|e| CgroupError::Detect(format!("reading /proc/self/cgroup: {e}")))?;
        Ok(SystemView {
            setup,
            hierarchies,
            own: parse_proc_cgroup(&String::from_utf8_lossy(&text)),
        })
    }

    /// Own cgroup path in `h`, as listed in /proc/self/cgroup.
    pub(crate) fn own_path(&self, h: &Hierarchy) -> Result<&str> {
        let found = self.own.iter().find(|p| {
            if h.unified {
                p.controllers.is_empty() && p.id == 0
            } else {
                h.controllers
                    .first()
                    .is_some_and(|c| p.controllers.iter().any(|pc| pc == c))
            }
        });
        found.map(|p| p.path.as_str()).ok_or_else(|| {
            CgroupError::Detect(format!(
                "/proc/self/cgroup has no entry for the hierarchy mounted at {}",
                h.mountpoint.display()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:7 - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
42 31 0:39 / /sys/fs/cgroup/other rw,relatime - cgroup cgroup rw,name=other
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 20 0:32 /docker/x /var/lib/c/rootfs/sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";

    #[test]
    fn parses_mountinfo_fields_and_escapes() {
        let m = parse_mountinfo(b"36 35 98:0 /a\\040b /mnt\\040x rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].root, "/a b");
        assert_eq!(m[0].mountpoint, PathBuf::from("/mnt x"));
        assert_eq!(m[0].fstype, "ext3");
        assert_eq!(m[0].super_opts, "rw,errors=continue");
        assert_eq!(m[0].dev, "98:0");
    }

    #[test]
    fn hybrid_hierarchies() {
        let mounts = parse_mountinfo(HYBRID.as_bytes());
        let hs = hierarchies_from_mounts(CgroupSetup::Hybrid, &mounts).unwrap();
        let names: Vec<String> = hs
            .iter()
            .map(|h| {
                if h.unified {
                    "unified".to_string()
                } else {
                    h.controllers.join(",")
                }
            })
            .collect();
        assert_eq!(
            names,
            [
                "cpu",
                "cpuacct",
                "cpuset",
                "memory",
                "name=systemd",
                "unified"
            ]
        );
        // The bind mount of a sub-cgroup of the memory hierarchy is ignored.
        assert_eq!(hs[3].mountpoint, PathBuf::from("/sys/fs/cgroup/memory"));
        assert_eq!(hs[5].mountpoint, PathBuf::from(HYBRID_UNIFIED));
    }

    #[test]
    fn legacy_has_no_unified() {
        let mounts = parse_mountinfo(HYBRID.as_bytes());
        let hs = hierarchies_from_mounts(CgroupSetup::Legacy, &mounts).unwrap();
        assert!(hs.iter().all(|h| !h.unified));
    }

    #[test]
    fn unified_needs_cgroup2_at_root() {
        let mounts = parse_mountinfo(HYBRID.as_bytes());
        assert!(hierarchies_from_mounts(CgroupSetup::Unified, &mounts).is_err());
        let v2 = parse_mountinfo(
            b"29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
        );
        let hs = hierarchies_from_mounts(CgroupSetup::Unified, &v2).unwrap();
        assert_eq!(hs.len(), 1);
        assert!(hs[0].unified);
        assert_eq!(hs[0].mountpoint, PathBuf::from(CGROUP_ROOT));
    }

    #[test]
    fn own_path_matches_by_controller() {
        let mounts = parse_mountinfo(HYBRID.as_bytes());
        let hs = hierarchies_from_mounts(CgroupSetup::Hybrid, &mounts).unwrap();
        let view = SystemView {
            setup: CgroupSetup::Hybrid,
            hierarchies: hs.clone(),
            own: parse_proc_cgroup("4:memory:/a/b\n3:cpu,cpuacct:/\n9:name=systemd:/s\n0::/u\n"),
        };
        assert_eq!(view.own_path(&hs[3]).unwrap(), "/a/b");
        assert_eq!(view.own_path(&hs[0]).unwrap(), "/");
        assert_eq!(view.own_path(&hs[4]).unwrap(), "/s");
        assert_eq!(view.own_path(&hs[5]).unwrap(), "/u");
        assert!(view.own_path(&hs[2]).is_err()); // cpuset missing
    }

    #[test]
    fn detect_setup_is_cached_and_consistent() {
        // Works on any Linux host that has cgroups; just exercise the cache.
        if let Ok(a) = detect_setup() {
            assert_eq!(detect_setup().unwrap(), a);
        }
    }
}
