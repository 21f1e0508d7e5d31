//! Mounts CRIU must not dump but re-create from the host: binds, the
//! container's cgroup directories, masked files and device nodes.
//!
//! CRIU's external mounts are named twice: at dump, a mount point in the
//! container gets an identifier; at restore, each identifier gets a host
//! path. The identifier is the mount point itself, except for masked files,
//! which are all "/dev/null" (runc's convention, so images move between
//! runtimes).

use std::path::{Path, PathBuf};

use libcgroups::CgroupHandle;
use oci_spec::runtime::Spec;

/// One external mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct External {
    /// Mount point inside the container.
    pub mount_point: String,
    pub identifier: String,
    /// What to bind there at restore.
    pub host: PathBuf,
}

const DEFAULT_DEVICES: [&str; 6] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

/// Every external mount of a container made from `spec`, whose cgroup is
/// `cgroup`. Entries CRIU finds no mount for are ignored by it, so this
/// errs on the side of listing too much -- except masked paths, where only
/// files are /dev/null binds (`masked_is_file`): a masked directory is a
/// tmpfs CRIU dumps itself.
pub(crate) fn externals(
    spec: &Spec,
    bundle: &Path,
    cgroup: Option<&CgroupHandle>,
    masked_is_file: &dyn Fn(&str) -> bool,
) -> Vec<External> {
    let mut out = Vec::new();
    let same = |p: &str, host: PathBuf| External {
        mount_point: p.to_owned(),
        identifier: p.to_owned(),
        host,
    };
    for m in spec.mounts().iter().flatten() {
        let dest = m.destination().to_string_lossy().into_owned();
        let typ = m.typ().as_deref().unwrap_or("");
        if crate::config::mount_options::is_bind(m) {
            let src = m.source().clone().unwrap_or_default();
            let src = if src.is_absolute() {
                src
            } else {
                bundle.join(src)
            };
            out.push(same(&dest, src));
        } else if typ == "cgroup" || typ == "cgroup2" {
            for h in cgroup.map(|c| c.hierarchies.as_slice()).unwrap_or(&[]) {
                // The layout init::rootfs makes: the one cgroup2 mount at
                // the destination itself, else one dir per host hierarchy.
                let inside = if h.mountpoint == Path::new("/sys/fs/cgroup") {
                    PathBuf::from(&dest)
                } else {
                    match h.mountpoint.file_name() {
                        Some(n) => Path::new(&dest).join(n),
                        None => continue,
                    }
                };
                out.push(same(&inside.to_string_lossy(), h.dir.clone()));
            }
        }
    }
    let linux = spec.linux().as_ref();
    for p in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
        .filter(|p| masked_is_file(p))
    {
        out.push(External {
            mount_point: p.clone(),
            identifier: "/dev/null".into(),
            host: "/dev/null".into(),
        });
    }
    let devices = linux
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
        .map(|d| d.path().to_string_lossy().into_owned());
    for d in devices.chain(DEFAULT_DEVICES.iter().map(|s| s.to_string())) {
        if !out.iter().any(|e| e.mount_point == d) {
            let host = PathBuf::from(&d);
            out.push(same(&d, host));
        }
    }
    out
}

/// Adds `pairs` (from [`for_dump`] or [`for_restore`]) to CRIU's options.
pub(crate) fn add_to(
    opts: &mut rust_criu::rust_criu_protobuf::rpc::Criu_opts,
    pairs: Vec<(String, String)>,
) {
    for (key, val) in pairs {
        let mut m = rust_criu::rust_criu_protobuf::rpc::Ext_mount_map::new();
        m.set_key(key);
        m.set_val(val);
        opts.ext_mnt.push(m);
    }
}

/// Dump side: mount point -> identifier, each identifier once per mount.
pub(crate) fn for_dump(ext: &[External]) -> Vec<(String, String)> {
    ext.iter()
        .map(|e| (e.mount_point.clone(), e.identifier.clone()))
        .collect()
}

/// Restore side: identifier -> host path, each identifier once.
pub(crate) fn for_restore(ext: &[External]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for e in ext {
        if !out.iter().any(|(k, _)| *k == e.identifier) {
            out.push((e.identifier.clone(), e.host.to_string_lossy().into_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcgroups::{CgroupHandle, HierarchyDir};

    fn spec(json: serde_json::Value) -> Spec {
        serde_json::from_value(json).unwrap()
    }

    fn hier(mp: &str, dir: &str) -> HierarchyDir {
        HierarchyDir {
            controllers: vec![],
            unified: false,
            mountpoint: mp.into(),
            dir: dir.into(),
            created: vec![],
        }
    }

    #[test]
    fn binds_cgroups_masks_and_devices_are_external() {
        let s = spec(serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "mounts": [
                {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind"]},
                {"destination": "/rel", "source": "sub", "options": ["bind"]},
                {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"}
            ],
            "linux": {"maskedPaths": ["/proc/keys", "/proc/acpi"], "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]}
        }));
        let cg = CgroupHandle {
            setup: libcgroups::CgroupSetup::Hybrid,
            path: "/t/c".into(),
            hierarchies: vec![
                hier("/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/t/c"),
                hier("/sys/fs/cgroup/unified", "/sys/fs/cgroup/unified/t/c"),
            ],
            systemd: None,
            denied: vec![],
        };
        let e = externals(&s, Path::new("/b"), Some(&cg), &|p| p != "/proc/acpi");
        let dump = for_dump(&e);
        assert!(dump.contains(&("/data".into(), "/data".into())));
        assert!(dump.contains(&("/proc/keys".into(), "/dev/null".into())));
        assert!(dump.contains(&(
            "/sys/fs/cgroup/memory".into(),
            "/sys/fs/cgroup/memory".into()
        )));
        assert!(!dump.iter().any(|(k, _)| k == "/tmp" || k == "/proc/acpi"));
        let rst = for_restore(&e);
        assert!(rst.contains(&("/data".into(), "/srv/data".into())));
        assert!(rst.contains(&("/rel".into(), "/b/sub".into())));
        assert!(rst.contains(&(
            "/sys/fs/cgroup/unified".into(),
            "/sys/fs/cgroup/unified/t/c".into()
        )));
        assert!(rst.contains(&("/dev/fuse".into(), "/dev/fuse".into())));
        assert_eq!(rst.iter().filter(|(k, _)| k == "/dev/null").count(), 1);
    }

    #[test]
    fn a_unified_host_maps_the_cgroup_mount_itself() {
        let s = spec(
            serde_json::json!({"ociVersion": "1.2.0", "mounts": [{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"}]}),
        );
        let cg = CgroupHandle {
            setup: libcgroups::CgroupSetup::Unified,
            path: "/t/c".into(),
            hierarchies: vec![hier("/sys/fs/cgroup", "/sys/fs/cgroup/t/c")],
            systemd: None,
            denied: vec![],
        };
        let rst = for_restore(&externals(&s, Path::new("/b"), Some(&cg), &|_| true));
        assert!(rst.contains(&("/sys/fs/cgroup".into(), "/sys/fs/cgroup/t/c".into())));
    }
}
