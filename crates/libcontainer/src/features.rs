//! What this build of hull supports, as the OCI runtime-spec "features"
//! document (features.md) describes it: what `hull features` prints, so
//! higher-level tools can check a config before handing it over.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The OCI features document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Features {
    /// The oldest OCI runtime spec version supported.
    pub oci_version_min: String,
    /// The newest OCI runtime spec version supported.
    pub oci_version_max: String,
    /// The hooks run, in order.
    pub hooks: Vec<String>,
    /// Mount options recognised as flags (anything else is passed to the
    /// filesystem as data, which the spec lets a runtime leave unlisted).
    pub mount_options: Vec<String>,
    /// The Linux-specific features.
    pub linux: LinuxFeatures,
    /// Runtime-specific annotations (hull's version).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// What of `linux` hull implements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxFeatures {
    /// The namespace types it can create and join.
    pub namespaces: Vec<String>,
    /// Every capability name hull knows ("CAP_CHOWN", ...).
    pub capabilities: Vec<String>,
    /// The cgroup drivers.
    pub cgroup: CgroupFeatures,
    /// `linux.seccomp`.
    pub seccomp: Enabled,
    /// `process.apparmorProfile`.
    pub apparmor: Enabled,
    /// `process.selinuxLabel`.
    pub selinux: Enabled,
    /// `linux.intelRdt`.
    pub intel_rdt: Enabled,
    /// Mount extensions (idmapped mounts).
    pub mount_extensions: MountExtensions,
    /// `linux.netDevices` (a features field since runtime-spec 1.3).
    pub net_devices: Enabled,
}

/// The cgroup drivers and versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CgroupFeatures {
    /// cgroup v1.
    pub v1: bool,
    /// cgroup v2.
    pub v2: bool,
    /// The systemd driver.
    pub systemd: bool,
    /// The systemd user-manager driver.
    pub systemd_user: bool,
    /// The rdma controller.
    pub rdma: bool,
}

/// Whether a feature is implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enabled {
    /// True when it is.
    pub enabled: bool,
}

/// Mount extensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountExtensions {
    /// Idmapped mounts (`idmap`, `ridmap`, mount uid/gid mappings).
    pub idmap: Enabled,
}

/// The hooks the lifecycle runs, in the order it runs them.
const HOOKS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// The flags and propagation types of init/rootfs.rs `parse_options`
/// (a unit test keeps the two in step).
const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ridmap",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "unbindable",
];

/// Every option `parse_options` acts on: the flags above plus the
/// recursive (mount_setattr) ones, sorted.
fn mount_options() -> Vec<String> {
    let mut all: Vec<String> = MOUNT_OPTIONS
        .iter()
        .chain(crate::init::mount_attr::OPTIONS)
        .map(|s| s.to_string())
        .collect();
    all.sort();
    all
}

/// The namespace types namespaces.rs can create and join.
const NAMESPACES: &[&str] = &[
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
];

/// This build's features. Pure: describes hull, not the host (the spec
/// asks for what the runtime implements, whatever this kernel offers).
pub fn features() -> Features {
    let mut caps: Vec<caps::Capability> = caps::all().into_iter().collect();
    caps.sort_by_key(|c| c.index());
    Features {
        oci_version_min: "1.0.0".into(),
        oci_version_max: crate::OCI_VERSION.into(),
        hooks: HOOKS.iter().map(|s| s.to_string()).collect(),
        mount_options: mount_options(),
        linux: LinuxFeatures {
            namespaces: NAMESPACES.iter().map(|s| s.to_string()).collect(),
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
            cgroup: CgroupFeatures {
                v1: true,
                v2: true,
                systemd: true,
                systemd_user: false,
                rdma: true,
            },
            // As runc: support in this build (process.apparmorProfile is
            // applied where the LSM is active and refused elsewhere).
            apparmor: Enabled { enabled: true },
            // Not yet applied by hull: create refuses configs using them
            // (spec.rs validate), so advertising them would be a lie.
            seccomp: Enabled { enabled: false },
            selinux: Enabled { enabled: false },
            // rdt.rs; whether this host has resctrl is create's question.
            intel_rdt: Enabled { enabled: true },
            // mounts[].uidMappings/gidMappings, idmap/ridmap: idmap.rs.
            mount_extensions: MountExtensions {
                idmap: Enabled { enabled: true },
            },
            // netdev.rs.
            net_devices: Enabled { enabled: true },
        },
        annotations: BTreeMap::from([(
            "hull.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let j = serde_json::to_value(features()).unwrap();
        assert_eq!(j["ociVersionMin"], "1.0.0");
        assert_eq!(j["ociVersionMax"], "1.2.0");
        assert_eq!(j["hooks"][0], "prestart");
        assert!(j["mountOptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "rbind"));
        assert!(j["mountOptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "rro"));
        let linux = &j["linux"];
        assert!(linux["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "mount"));
        let caps = linux["capabilities"].as_array().unwrap();
        assert_eq!(caps[0], "CAP_CHOWN");
        assert!(caps.iter().any(|c| c == "CAP_SYS_ADMIN"));
        assert_eq!(
            linux["cgroup"],
            serde_json::json!({"v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": true})
        );
        assert_eq!(linux["seccomp"]["enabled"], false);
        assert_eq!(linux["apparmor"]["enabled"], true);
        assert_eq!(linux["selinux"]["enabled"], false);
        assert_eq!(linux["intelRdt"]["enabled"], true);
        assert_eq!(linux["netDevices"]["enabled"], true);
        assert_eq!(linux["mountExtensions"]["idmap"]["enabled"], true);
        assert!(j["annotations"].is_object());
        let back: Features = serde_json::from_value(j).unwrap();
        assert_eq!(back, features());
    }

    #[test]
    fn namespaces_are_the_spec_names() {
        for n in NAMESPACES {
            let t: oci_spec::runtime::LinuxNamespaceType =
                serde_json::from_value(serde_json::json!(n)).unwrap();
            assert_eq!(serde_json::to_value(t).unwrap(), *n);
        }
    }

    #[test]
    fn mount_options_are_flags_the_parser_knows() {
        for o in mount_options() {
            let m = crate::init::rootfs::parse_options(std::slice::from_ref(&o))
                .unwrap_or_else(|e| panic!("{o}: {e}"));
            // Unknown options end up in the filesystem data instead.
            assert!(m.data.is_empty(), "{o} is not a flag the parser recognises");
        }
    }
}
