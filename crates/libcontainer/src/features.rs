//! What this build of hull supports, as the OCI runtime-spec "features"
//! document (features.md) describes it: what `hull features` prints, so
//! higher-level tools can check a config before handing it over.

use oci_spec::runtime::{
    Apparmor, Cgroup, Features, IDMap, IntelRdt, LinuxFeature, MountExtensions, NetDevices,
    Seccomp, Selinux,
};

/// The hooks the lifecycle runs, in the order it runs them.
const HOOKS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// The flags and propagation types of config/mount_options.rs `parse_options`
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
        .chain(crate::mount_attr::OPTIONS)
        .map(|s| s.to_string())
        .collect();
    all.sort();
    all
}

/// The namespace types namespaces.rs can create and join.
const NAMESPACES: &[&str] = &[
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
];

/// This build's features: the OCI features document (`hull features`).
/// Pure: describes hull, not the host (the spec asks for what the runtime
/// implements, whatever this kernel offers). Fields hull leaves unset are
/// `None`; runc omits them from its JSON, as `hull features` does.
pub fn features() -> Features {
    let mut cgroup = Cgroup::default();
    cgroup.set_v1(Some(true));
    cgroup.set_v2(Some(true));
    cgroup.set_systemd(Some(true));
    cgroup.set_systemd_user(Some(false));
    cgroup.set_rdma(Some(true));
    let mut seccomp = Seccomp::default();
    // Not yet applied by hull: create refuses configs using them (spec/mod.rs
    // validate), so advertising them would be a lie.
    seccomp.set_enabled(Some(false));
    let mut selinux = Selinux::default();
    selinux.set_enabled(Some(false));
    // As runc: support in this build (process.apparmorProfile is applied
    // where the LSM is active and refused elsewhere).
    let mut apparmor = Apparmor::default();
    apparmor.set_enabled(Some(true));
    // rdt.rs; whether this host has resctrl is create's question.
    let mut intel_rdt = IntelRdt::default();
    intel_rdt.set_enabled(Some(true));
    // mounts[].uidMappings/gidMappings, idmap/ridmap: idmap.rs.
    let mut idmap = IDMap::default();
    idmap.set_enabled(Some(true));
    let mut mount_extensions = MountExtensions::default();
    mount_extensions.set_idmap(Some(idmap));
    // netdev.rs.
    let mut net_devices = NetDevices::default();
    net_devices.set_enabled(Some(true));

    let mut linux = LinuxFeature::default();
    linux.set_namespaces(Some(
        NAMESPACES
            .iter()
            .filter_map(|n| serde_json::from_value(serde_json::Value::from(*n)).ok())
            .collect(),
    ));
    linux.set_capabilities(Some(
        crate::caps::names(rustix::thread::CapabilitySet::all()).collect(),
    ));
    linux.set_cgroup(Some(cgroup));
    linux.set_seccomp(Some(seccomp));
    linux.set_apparmor(Some(apparmor));
    linux.set_selinux(Some(selinux));
    linux.set_intel_rdt(Some(intel_rdt));
    linux.set_mount_extensions(Some(mount_extensions));
    linux.set_net_devices(Some(net_devices));

    let mut f = Features::default();
    f.set_oci_version_min("1.0.0".into());
    f.set_oci_version_max(crate::OCI_VERSION.into());
    f.set_hooks(Some(HOOKS.iter().map(|s| s.to_string()).collect()));
    f.set_mount_options(Some(mount_options()));
    f.set_linux(Some(linux));
    f.set_annotations(Some(
        [(
            "hull.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        )]
        .into(),
    ));
    f
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
        // Every namespace name parsed into oci-spec's type.
        assert_eq!(
            linux["namespaces"].as_array().map(Vec::len),
            Some(NAMESPACES.len())
        );
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
            let m = crate::config::mount_options::parse_options(std::slice::from_ref(&o))
                .unwrap_or_else(|e| panic!("{o}: {e}"));
            // Unknown options end up in the filesystem data instead.
            assert!(m.data.is_empty(), "{o} is not a flag the parser recognises");
        }
    }
}
