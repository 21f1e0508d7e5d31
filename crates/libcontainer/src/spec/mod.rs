//! Validating a config before anything is created, and `hull check`
//! (loading it: `load.rs`; the errors: `error.rs`).
//!
//! Validation is fail-closed: a field hull cannot enforce yet is an error
//! naming that field, never a silent no-op.

pub(crate) mod error;
mod load;

use std::{collections::HashSet, path::Path};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

pub use error::{FieldIssue, SpecError};
pub(crate) use load::load_or_given;
#[cfg(test)]
pub(crate) use load::parse;
use load::{absolute_root, parse_checked, read, Parsed};

/// Host facts that decide whether a field can be enforced here.
pub(crate) struct HostSupport {
    pub apparmor: bool,
    pub selinux: bool,
    /// This runtime's bounding set; None when it could not be read (then
    /// create fails when it plans the process's capabilities).
    pub bounding: Option<rustix::thread::CapabilitySet>,
    /// Whether rlimits may be raised and oom_score_adj lowered at will.
    pub sys_resource: bool,
    /// What becomes of device rules here.
    pub devices: crate::resources::DeviceRules,
    /// hull's own id ranges (inside start, count) for uids and gids when
    /// it runs in a user namespace.
    pub runtime_maps: Option<crate::userns::IdRanges>,
}

impl HostSupport {
    pub fn probe() -> Self {
        let apparmor = crate::apparmor::is_enabled();
        let selinux = Path::new("/sys/fs/selinux/enforce").exists();
        let bounding = crate::caps::bounding().ok();
        let sys_resource = crate::caps::effective_has(rustix::thread::CapabilitySet::SYS_RESOURCE);
        HostSupport {
            apparmor,
            selinux,
            bounding,
            sys_resource,
            devices: crate::resources::device_rules(),
            runtime_maps: crate::userns::runtime_maps(),
        }
    }

    #[cfg(test)]
    pub fn none() -> Self {
        HostSupport {
            apparmor: false,
            selinux: false,
            bounding: None,
            sys_resource: true,
            devices: crate::resources::DeviceRules::Enforced,
            runtime_maps: None,
        }
    }
}

struct Issues(Vec<FieldIssue>);

impl Issues {
    fn push(&mut self, field: impl Into<String>, reason: impl Into<String>) {
        self.0.push(FieldIssue {
            field: field.into(),
            reason: reason.into(),
        });
    }
}

/// `hull check`: loads `<bundle>/config.json` and reports every problem
/// create would refuse, without creating anything: type errors (each with
/// its JSON path), what the checks of the values find, the rootfs. A bundle create would
/// take gives its `warnings`, and a warning where the kernel will refuse
/// process.oomScoreAdj (create then fails with the kernel's error).
pub fn check_bundle(bundle: &Path) -> Result<Vec<FieldIssue>, SpecError> {
    let (path, raw) = read(bundle)?;
    let host = HostSupport::probe();
    // Everything create would refuse in a spec that parsed.
    let findings = |spec: &Spec| {
        let mut spec = spec.clone();
        absolute_root(&mut spec, bundle);
        let mut found = match validate(&spec, &host, &path) {
            Err(SpecError::Invalid { issues, .. }) => issues,
            _ => host_issues(&spec, None),
        };
        if let Some(root) = spec.root().as_ref().filter(|r| !r.path().is_dir()) {
            found.push(FieldIssue {
                field: "root.path".into(),
                reason: format!("{:?} is not a directory", root.path()),
            });
        }
        found
    };
    let issues = match parse_checked(&raw, &path)? {
        Parsed::Fits(spec) => {
            let issues = findings(&spec);
            if issues.is_empty() {
                // Accepted: what it would run other than as written.
                let mut w = warnings(&spec, &host);
                w.extend(oom_score_adj_warning(&spec, &host));
                return Ok(w);
            }
            issues
        }
        Parsed::Misfits { shape, mut issues } => {
            issues.extend(shape.findings(findings));
            issues
        }
    };
    Err(SpecError::Invalid { path, issues })
}

/// What create runs other than as written, as runc and crun do because it
/// cannot weaken isolation: logged by create, reported by `hull check`.
pub(crate) fn warnings(spec: &Spec, host: &HostSupport) -> Vec<FieldIssue> {
    let mut out = Vec::new();
    if let Some(p) = spec.process() {
        out.extend(process_warnings(p));
    }
    out.extend(device_rules_warning(spec, host));
    for (i, m) in spec
        .mounts()
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, m)| crate::config::mount_options::is_bind(m))
    {
        let ignored =
            crate::config::mount_options::ignored_by_bind(m.options().as_deref().unwrap_or(&[]));
        if !ignored.is_empty() {
            out.push(FieldIssue {
                field: format!("mounts[{i}].options"),
                reason: format!(
                    "{:?} ignored: a bind mount has no filesystem of its own to take them",
                    ignored.join(",")
                ),
            });
        }
    }
    out
}

/// Device rules where hull cannot set them up and nothing is lost
/// ([`crate::resources::DeviceRules::Dropped`]): dropped, as runc and crun
/// drop them. The container cannot get more device access than hull's own
/// user has: the kernel refuses it mknod (CAP_MKNOD counts only in the
/// initial user namespace), and a host node bound in opens only with that
/// user's permissions (an unmapped owner gives the container's root no
/// override).
fn device_rules_warning(spec: &Spec, host: &HostSupport) -> Option<FieldIssue> {
    if host.devices != crate::resources::DeviceRules::Dropped {
        return None;
    }
    let rules = crate::resources::effective(spec)
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    libcgroups::device_rules_restrict(&rules).then(|| FieldIssue {
        field: "linux.resources.devices".into(),
        reason: "ignored: hull runs unprivileged or in a user namespace, where no device rule can be set up; the container gets no device access beyond this user's own (no mknod, host nodes bound in open with this user's permissions)".into(),
    })
}

/// [`warnings`] about `process` alone, which `exec` logs for the process it
/// starts.
pub(crate) fn process_warnings(p: &oci_spec::runtime::Process) -> Vec<FieldIssue> {
    let mut out = Vec::new();
    // The kernel raises an ambient capability only when it is permitted and
    // inheritable; runc and crun ignore the refusal, the init leaves it out.
    if let Some(c) = p.capabilities() {
        let (permitted, inheritable) = (
            cap_names(c.permitted().as_ref()),
            cap_names(c.inheritable().as_ref()),
        );
        for name in cap_names(c.ambient().as_ref())
            .into_iter()
            .filter(|n| !permitted.contains(n) || !inheritable.contains(n))
        {
            out.push(FieldIssue {
                field: "process.capabilities.ambient".into(),
                reason: format!(
                    "{name} ignored: it is not both permitted and inheritable, so the kernel cannot raise it"
                ),
            });
        }
    }
    out
}

/// Checks everything that can be checked before creating anything.
pub(crate) fn validate(spec: &Spec, host: &HostSupport, path: &Path) -> Result<(), SpecError> {
    let mut is = Issues(Vec::new());
    check_version(spec.version(), &mut is);

    match spec.root() {
        None => is.push("root", "required"),
        Some(root) if root.path().as_os_str().is_empty() => {
            is.push("root.path", "must not be empty")
        }
        Some(_) => {}
    }

    match spec.process() {
        None => is.push("process", "required"),
        Some(p) => {
            if p.args().as_ref().is_none_or(|a| a.is_empty()) {
                is.push("process.args", "must name the program to run");
            }
            if !p.cwd().is_absolute() {
                is.push(
                    "process.cwd",
                    format!("{:?} must be an absolute path", p.cwd()),
                );
            }
            if let Some(rl) = p.rlimits() {
                let mut seen = HashSet::new();
                for (i, r) in rl.iter().enumerate() {
                    if !seen.insert(format!("{:?}", r.typ())) {
                        is.push(
                            format!("process.rlimits[{i}].type"),
                            format!("{:?} listed twice", r.typ()),
                        );
                    }
                    if r.soft() > r.hard() {
                        is.push(
                            format!("process.rlimits[{i}]"),
                            "soft limit is above the hard limit",
                        );
                    }
                    if !host.sys_resource {
                        let current = crate::rlimits::current_hard_limit(r.typ());
                        if current.is_some_and(|h| r.hard() > h) {
                            is.push(
                                format!("process.rlimits[{i}].hard"),
                                format!("{} is above this runtime's hard limit {} and raising it needs CAP_SYS_RESOURCE", r.hard(), current.unwrap_or(0)),
                            );
                        }
                    }
                }
            }
            if let (Some(c), Some(bounding)) = (p.capabilities(), &host.bounding) {
                // An ambient capability outside the bounding set cannot be
                // permitted either: left out with a warning (`warnings`).
                let sets = [
                    ("bounding", c.bounding()),
                    ("effective", c.effective()),
                    ("permitted", c.permitted()),
                    ("inheritable", c.inheritable()),
                ];
                for (set, caps) in sets {
                    for name in cap_names(caps.as_ref())
                        .into_iter()
                        .filter(|n| crate::caps::parse(n).is_none_or(|c| !bounding.contains(c)))
                    {
                        is.push(
                            format!("process.capabilities.{set}"),
                            format!("{name} is not in this runtime's bounding set"),
                        );
                    }
                }
            }
            // Applied by the init (apparmor.rs); nothing could confine
            // the process where the LSM is not active.
            if let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
                if !host.apparmor {
                    is.push(
                        "process.apparmorProfile",
                        format!("{profile:?} requested but AppArmor is not enabled on this host"),
                    );
                }
            }
            if let Some(label) = p.selinux_label().as_deref().filter(|s| !s.is_empty()) {
                is.push("process.selinuxLabel", selinux_reason(label, host));
            }
        }
    }

    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            is.push(
                format!("mounts[{i}].destination"),
                format!("{:?} must be an absolute path", m.destination()),
            );
        } else {
            use crate::proc_guard::{self, Kind};
            let kind = match m.typ().as_deref() {
                _ if crate::config::mount_options::is_bind(m) => Kind::Bind,
                Some("proc") => Kind::Proc,
                _ => Kind::Other,
            };
            // The source of a bind over /proc is checked when it is opened.
            if let Some(why) = proc_guard::destination_issue(
                &proc_guard::lexical_clean(m.destination()),
                kind,
                || None,
            ) {
                is.push(
                    format!("mounts[{i}].destination"),
                    format!("{:?}: {why}", m.destination()),
                );
            }
        }
        let options = m.options().as_deref().unwrap_or(&[]);
        let parsed = crate::config::mount_options::parse_options(options);
        if let Err(reason) = &parsed {
            is.push(format!("mounts[{i}].options"), reason.clone());
        } else if parsed.as_ref().is_ok_and(|o| o.copy_up) && m.typ().as_deref() != Some("tmpfs") {
            is.push(
                format!("mounts[{i}].options"),
                "tmpcopyup only applies to a tmpfs",
            );
        }
        for (field, reason) in crate::idmap::issues(spec, i, m) {
            is.push(field, reason);
        }
    }
    for (field, reason) in crate::userns::unmapped_mount_ids(spec, host.runtime_maps.as_ref()) {
        is.push(field, reason);
    }

    check_hooks(spec, &mut is);
    // linux.personality, linux.memoryPolicy, process.ioPriority,
    // process.scheduler, process.execCPUAffinity.
    is.0.extend(crate::attrs::validate(spec));

    if let Some(linux) = spec.linux() {
        check_namespaces(linux, &mut is);
        let has_ns =
            |t: LinuxNamespaceType| linux.namespaces().iter().flatten().any(|n| n.typ() == t);
        if spec.hostname().as_deref().is_some_and(|h| !h.is_empty())
            && !has_ns(LinuxNamespaceType::Uts)
        {
            is.push(
                "hostname",
                "setting a hostname needs a UTS namespace (it would change the host's)",
            );
        }
        if spec.domainname().as_deref().is_some_and(|h| !h.is_empty())
            && !has_ns(LinuxNamespaceType::Uts)
        {
            is.push(
                "domainname",
                "setting a domainname needs a UTS namespace (it would change the host's)",
            );
        }
        if !has_ns(LinuxNamespaceType::Mount) {
            for (field, paths) in [
                ("linux.maskedPaths", linux.masked_paths()),
                ("linux.readonlyPaths", linux.readonly_paths()),
            ] {
                if paths.as_ref().is_some_and(|p| !p.is_empty()) {
                    is.push(field, "needs a mount namespace (without one these mounts would be made in the host's)");
                }
            }
        }
        for key in linux.sysctl().iter().flat_map(|m| m.keys()) {
            match sysctl_namespace(key) {
                Some(t) if has_ns(t) => {}
                Some(t) => is.push(
                    format!("linux.sysctl[{key:?}]"),
                    format!("needs a {t} namespace, or it would change the host's value"),
                ),
                None => is.push(
                    format!("linux.sysctl[{key:?}]"),
                    "not namespaced: it would change the host's value",
                ),
            }
        }
        let rules = crate::resources::effective(spec)
            .and_then(|r| r.devices().clone())
            .unwrap_or_default();
        if host.devices == crate::resources::DeviceRules::Unenforceable
            && libcgroups::device_rules_restrict(&rules)
        {
            is.push(
                "linux.resources.devices",
                "restricts device access, which cannot be enforced in a user namespace (neither the devices cgroup nor an eBPF device program can be set up there), and this one maps the host's root, whose access to device nodes the container's root would have: remove the rules, or run hull outside a user namespace or in one that does not map root",
            );
        }
        is.0.extend(crate::netdev::spec_issues(linux));
        if let Some(rdt) = linux.intel_rdt() {
            is.0.extend(crate::rdt::spec_issues(rdt));
        }
        if let Some(label) = linux.mount_label().as_deref().filter(|s| !s.is_empty()) {
            is.push("linux.mountLabel", selinux_reason(label, host));
        }
        if let Some(p) = linux.rootfs_propagation().as_deref() {
            if crate::config::mount_options::propagation_flags(p).is_none() {
                is.push(
                    "linux.rootfsPropagation",
                    format!("unknown propagation {p:?}"),
                );
            }
        }
        for key in linux.sysctl().iter().flat_map(|m| m.keys()) {
            if key.is_empty() || key.split(['.', '/']).any(|c| c.is_empty() || c == "..") {
                is.push(format!("linux.sysctl[{key:?}]"), "not a valid sysctl name");
            }
        }
    }

    if is.0.is_empty() {
        Ok(())
    } else {
        Err(SpecError::Invalid {
            path: path.to_owned(),
            issues: is.0,
        })
    }
}

/// What only this host can say about a spec that [`validate`] accepted,
/// checked by create before it makes anything (and by `hull check`): each
/// network device to move exists here, resctrl is mounted and has what
/// `linux.intelRdt` asks for. Not part of `validate`, which exec repeats
/// when the devices are in the container. `id` is the container's, when
/// known.
pub(crate) fn host_issues(spec: &Spec, id: Option<&str>) -> Vec<FieldIssue> {
    let Some(linux) = spec.linux() else {
        return Vec::new();
    };
    let mut out = crate::netdev::host_issues(linux);
    if let Some(rdt) = linux.intel_rdt() {
        out.extend(crate::rdt::host_issues(rdt, id));
    }
    out
}

/// [`host_issues`] as create's error.
pub(crate) fn check_host(spec: &Spec, id: &str, path: &Path) -> Result<(), SpecError> {
    let issues = host_issues(spec, Some(id));
    if issues.is_empty() {
        Ok(())
    } else {
        Err(SpecError::Invalid {
            path: path.to_owned(),
            issues,
        })
    }
}

/// Capability names as the kernel spells them ("CAP_KILL"), sorted.
fn cap_names(set: Option<&oci_spec::runtime::Capabilities>) -> Vec<String> {
    let mut names: Vec<String> = set
        .iter()
        .copied()
        .flatten()
        .map(|c| format!("CAP_{c}"))
        .collect();
    names.sort();
    names
}

fn oom_score_adj_warning(spec: &Spec, host: &HostSupport) -> Option<FieldIssue> {
    let adj = spec.process().as_ref()?.oom_score_adj()?;
    if host.sys_resource {
        return None;
    }
    let e = oom_score_adj_refused(adj)?;
    Some(FieldIssue {
        field: "process.oomScoreAdj".into(),
        reason: format!("{adj}: the kernel refuses it to this runtime ({e}): create will fail"),
    })
}

/// Whether the kernel will refuse `adj` for the container's processes:
/// they inherit this process's oom_score_adj_min (which userspace cannot
/// read), and hull, as the writer, has the same capabilities. A value below
/// the minimum is refused without CAP_SYS_RESOURCE. Anything at or above
/// the current value passes; below it, the value is tried on this process
/// and the old one put back (it is at or above the minimum, so that always
/// succeeds).
fn oom_score_adj_refused(adj: i32) -> Option<std::io::Error> {
    use crate::procfs_handle::{ProcBase, ProcfsHandle};
    const FILE: &str = "oom_score_adj";
    let procfs = ProcfsHandle::mounted().ok()?;
    let own = procfs
        .read_to_string(ProcBase::SelfProcess, FILE)
        .ok()?
        .trim()
        .parse::<i32>()
        .ok()?;
    if adj >= own {
        return None;
    }
    // The kernel's refusal comes from write. An open that fails says
    // nothing about it: a non-dumpable caller's own /proc files are root's,
    // closed to an unprivileged one (an embedder that follows crate::exe's
    // advice and calls check_bundle).
    let file = procfs
        .open(ProcBase::SelfProcess, FILE, rustix::fs::OFlags::WRONLY)
        .ok()?;
    match rustix::io::write(&file, adj.to_string().as_bytes()) {
        Err(e) => Some(e.into()),
        Ok(_) => {
            let _ = rustix::io::write(&file, own.to_string().as_bytes());
            None
        }
    }
}

/// The namespace a sysctl belongs to, as runc's allow list has it.
fn sysctl_namespace(key: &str) -> Option<LinuxNamespaceType> {
    const IPC: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let key = key.replace('/', ".");
    if IPC.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
        Some(LinuxNamespaceType::Ipc)
    } else if key.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(LinuxNamespaceType::Uts)
    } else {
        None
    }
}

fn selinux_reason(label: &str, host: &HostSupport) -> String {
    if host.selinux {
        "SELinux labels are not supported by this version of hull".to_owned()
    } else {
        format!("{label:?} requested but SELinux is not enabled on this host")
    }
}

fn check_version(version: &str, is: &mut Issues) {
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(1) => {}
        Some(m) => is.push(
            "ociVersion",
            format!(
                "{version:?}: major version {m} is not supported (this runtime implements 1.x)"
            ),
        ),
        None => is.push("ociVersion", format!("{version:?} is not a valid version")),
    }
}

fn check_hooks(spec: &Spec, is: &mut Issues) {
    let Some(hooks) = spec.hooks() else { return };
    let kinds = [
        ("prestart", hooks.prestart()),
        ("createRuntime", hooks.create_runtime()),
        ("createContainer", hooks.create_container()),
        ("startContainer", hooks.start_container()),
        ("poststart", hooks.poststart()),
        ("poststop", hooks.poststop()),
    ];
    for (kind, list) in kinds {
        for (i, h) in list.iter().flatten().enumerate() {
            if !h.path().is_absolute() {
                is.push(
                    format!("hooks.{kind}[{i}].path"),
                    format!("{:?} must be an absolute path", h.path()),
                );
            }
            if h.timeout().is_some_and(|t| t <= 0) {
                is.push(
                    format!("hooks.{kind}[{i}].timeout"),
                    "must be a positive number of seconds",
                );
            }
        }
    }
}

fn check_namespaces(linux: &oci_spec::runtime::Linux, is: &mut Issues) {
    let mut seen = HashSet::new();
    let mut new_user = false;
    let mut has_user = false;
    let mut has_time = false;
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            is.push(
                format!("linux.namespaces[{i}].type"),
                format!("{:?} listed twice", ns.typ().to_string()),
            );
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                is.push(
                    format!("linux.namespaces[{i}].path"),
                    format!("{p:?} must be an absolute path"),
                );
            }
        }
        match ns.typ() {
            LinuxNamespaceType::User => {
                has_user = true;
                new_user = ns.path().is_none();
            }
            LinuxNamespaceType::Time => {
                has_time = true;
                if ns.path().is_some() && linux.time_offsets().is_some() {
                    is.push(
                        "linux.timeOffsets",
                        "cannot be set when joining an existing time namespace",
                    );
                }
            }
            _ => {}
        }
    }
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    let has_gmaps = linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_user && !has_maps {
        is.push("linux.uidMappings", "required with a new user namespace");
    }
    if new_user && !has_gmaps {
        is.push("linux.gidMappings", "required with a new user namespace");
    }
    if !new_user && (has_maps || has_gmaps) {
        is.push(
            "linux.uidMappings",
            "only allowed with a new user namespace",
        );
    }
    let _ = has_user;
    if let Some(offsets) = linux.time_offsets() {
        if !has_time {
            is.push("linux.timeOffsets", "requires a time namespace");
        }
        for clock in offsets.keys() {
            if clock != "monotonic" && clock != "boottime" {
                is.push(
                    format!("linux.timeOffsets[{clock:?}]"),
                    "only \"monotonic\" and \"boottime\" can be offset",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_from(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    fn issues(json: &str) -> Vec<String> {
        let host = HostSupport::none();
        match validate(&spec_from(json), &host, Path::new("config.json")) {
            Ok(()) => vec![],
            Err(SpecError::Invalid { issues, .. }) => {
                issues.iter().map(|i| i.to_string()).collect()
            }
            Err(e) => panic!("{e}"),
        }
    }

    const OK: &str = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
        "process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}},
        "linux":{"namespaces":[{"type":"pid"},{"type":"mount"}]}}"#;

    #[test]
    fn minimal_spec_is_valid() {
        assert!(issues(OK).is_empty(), "{:?}", issues(OK));
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let bad = r#"{"ociVersion":"2.0.0","root":{"path":"rootfs"},
            "process":{"args":[],"cwd":"rel","user":{"uid":0,"gid":0},"apparmorProfile":"x",
              "rlimits":[{"type":"RLIMIT_NOFILE","soft":1,"hard":1},{"type":"RLIMIT_NOFILE","soft":2,"hard":1}]},
            "mounts":[{"destination":"relative","type":"tmpfs"}],
            "hooks":{"prestart":[{"path":"hook"}]},
            "linux":{"namespaces":[{"type":"pid"},{"type":"pid"},{"type":"user"}],
                     "seccomp":{"defaultAction":"SCMP_ACT_ALLOW"},
                     "sysctl":{"net/../x":"1","kernel.foo":"1","net.core.somaxconn":"1"}, "timeOffsets":{"monotonic":{"secs":1}},
                     "maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"]},
            "hostname":"h"}"#;
        let got = issues(bad);
        for want in [
            "ociVersion: \"2.0.0\": major version 2",
            "process.args: must name",
            "process.cwd: \"rel\" must be an absolute path",
            "process.rlimits[1].type: RlimitNofile listed twice",
            "process.rlimits[1]: soft limit is above the hard limit",
            "process.apparmorProfile: \"x\" requested but AppArmor is not enabled",
            "mounts[0].destination",
            "hooks.prestart[0].path",
            "linux.namespaces[1].type: \"pid\" listed twice",
            "linux.uidMappings: required with a new user namespace",
            "linux.sysctl[\"net/../x\"]",
            "linux.timeOffsets: requires a time namespace",
            "linux.sysctl[\"kernel.foo\"]: not namespaced",
            "linux.sysctl[\"net.core.somaxconn\"]: needs a net namespace",
            "hostname: setting a hostname needs a UTS namespace",
            "linux.maskedPaths: needs a mount namespace",
            "linux.readonlyPaths: needs a mount namespace",
        ] {
            assert!(
                got.iter().any(|g| g.contains(want)),
                "missing {want:?} in {got:#?}"
            );
        }
    }

    #[test]
    fn mount_fields_are_checked() {
        let json = r#"{"ociVersion":"1.2.0","root":{"path":"rootfs"},
            "process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}},
            "mounts":[
                {"destination":"/proc/../proc/sys","type":"tmpfs","source":"tmpfs"},
                {"destination":"/proc","type":"tmpfs","source":"tmpfs"},
                {"destination":"/proc/cpuinfo","type":"bind","source":"/x","options":["bind"]},
                {"destination":"/a","type":"bind","source":"/x","options":["bind"],"uidMappings":[{"containerID":0,"hostID":1,"size":1}]},
                {"destination":"/b","type":"tmpfs","source":"tmpfs","uidMappings":[{"containerID":0,"hostID":1,"size":1}],"gidMappings":[{"containerID":0,"hostID":1,"size":1}]},
                {"destination":"/c","type":"bind","source":"/x","options":["rbind","ridmap"]},
                {"destination":"/d","type":"bind","source":"/x","options":["bind"],"uidMappings":[{"containerID":4294967295,"hostID":1,"size":2}],"gidMappings":[{"containerID":0,"hostID":1,"size":1}]},
                {"destination":"/e","type":"bind","source":"/x","options":["bind","idmap"],"uidMappings":[{"containerID":0,"hostID":1,"size":1}],"gidMappings":[{"containerID":0,"hostID":1,"size":1}]},
                {"destination":"/f","type":"bind","source":"/x","options":["bind","idmap=uids=0-1-10"]},
                {"destination":"/g","type":"bind","source":"/x","options":["rbind","nosymfollow","mode=700","ro","sync"]},
                {"destination":"/h","type":"bind","source":"/x","options":["rbind","tmpcopyup"]}
            ],
            "linux":{"namespaces":[{"type":"mount"}]}}"#;
        let got = issues(json);
        for want in [
            "mounts[0].destination: \"/proc/../proc/sys\": /proc/sys is inside /proc",
            "mounts[1].destination: \"/proc\": /proc may only be covered by a proc mount",
            "mounts[3].gidMappings: required with uidMappings",
            "mounts[4].uidMappings: only bind mounts can be idmapped",
            "mounts[5].options: \"idmap\"/\"ridmap\" without uidMappings",
            "mounts[6].uidMappings[0]: size must be positive",
            "mounts[8].options: option \"idmap=uids=0-1-10\" is not supported",
            "mounts[10].options: tmpcopyup only applies to a tmpfs",
        ] {
            assert!(
                got.iter().any(|g| g.starts_with(want)),
                "missing {want:?} in {got:#?}"
            );
        }
        assert_eq!(
            got.len(),
            8,
            "mounts[2] (an allowed /proc file), mounts[7] and mounts[9] are fine: {got:#?}"
        );
        let warned: Vec<String> = warnings(&spec_from(json), &HostSupport::none())
            .iter()
            .map(|w| w.to_string())
            .collect();
        assert_eq!(warned, ["mounts[9].options: \"mode=700,sync\" ignored: a bind mount has no filesystem of its own to take them"]);
    }

    #[test]
    fn ambient_caps_the_kernel_refuses_are_warnings() {
        // `runc spec`'s capabilities (ambient, not inheritable), with one
        // inheritable, and one outside every other set.
        let json = r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
            "process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0},"capabilities":{
                "bounding":["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"],
                "effective":["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"],
                "permitted":["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"],
                "inheritable":["CAP_KILL"],
                "ambient":["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE","CAP_SYS_ADMIN"]}}}"#;
        assert!(issues(json).is_empty(), "{:?}", issues(json));
        let warned: Vec<String> = warnings(&spec_from(json), &HostSupport::none())
            .iter()
            .map(|w| w.to_string())
            .collect();
        let fields: Vec<&str> = warned
            .iter()
            .map(|w| w.split(" ignored").next().unwrap_or_default())
            .collect();
        assert_eq!(
            fields,
            [
                "process.capabilities.ambient: CAP_AUDIT_WRITE",
                "process.capabilities.ambient: CAP_NET_BIND_SERVICE",
                "process.capabilities.ambient: CAP_SYS_ADMIN"
            ],
            "{warned:#?}"
        );
    }

    #[test]
    fn device_rules_hull_cannot_set_up_are_dropped_with_a_warning() {
        let host = HostSupport {
            devices: crate::resources::DeviceRules::Dropped,
            ..HostSupport::none()
        };
        let spec = |linux: &str| {
            spec_from(&format!(
                r#"{{"ociVersion":"1.0.0","root":{{"path":"r"}},"process":{{"cwd":"/","args":["sh"],"user":{{"uid":0,"gid":0}}}},"linux":{linux}}}"#
            ))
        };
        let warned = |linux: &str, host: &HostSupport| -> Vec<String> {
            let s = spec(linux);
            assert!(
                validate(&s, host, Path::new("config.json")).is_ok(),
                "{linux}: refused"
            );
            warnings(&s, host).iter().map(|i| i.field.clone()).collect()
        };
        let deny_all = r#"{"resources":{"devices":[{"allow":false,"access":"rwm"}]}}"#;
        assert_eq!(warned(deny_all, &host), ["linux.resources.devices"]);
        let deny_one = r#"{"resources":{"devices":[{"allow":false,"type":"c","major":10,"minor":200,"access":"rwm"}]}}"#;
        assert_eq!(warned(deny_one, &host), ["linux.resources.devices"]);
        // Nothing to drop: no rules, allow rules only, devices only.
        assert!(warned("{}", &host).is_empty());
        assert!(warned(
            r#"{"resources":{"devices":[{"allow":true,"access":"rwm"}]}}"#,
            &host
        )
        .is_empty());
        assert!(warned(
            r#"{"devices":[{"path":"/dev/fuse","type":"c","major":10,"minor":229}]}"#,
            &host
        )
        .is_empty());
        // Where hull can set them up they are enforced, without a warning.
        assert!(warned(deny_all, &HostSupport::none()).is_empty());
        // In a user namespace mapping the host's root they are an error.
        let root_mapped = HostSupport {
            devices: crate::resources::DeviceRules::Unenforceable,
            ..HostSupport::none()
        };
        match validate(&spec(deny_all), &root_mapped, Path::new("config.json")) {
            Err(SpecError::Invalid { issues, .. }) => {
                assert_eq!(issues[0].field, "linux.resources.devices")
            }
            other => panic!("{other:?}"),
        }
        assert!(validate(&spec("{}"), &root_mapped, Path::new("config.json")).is_ok());
    }

    #[test]
    fn check_reports_type_errors_with_the_rest() {
        let dir = std::env::temp_dir().join(format!("hull-check-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.json"),
            r#"{"ociVersion": "1.0.0", "root": {"path": "no-such-rootfs"},
                "process": {"args": ["sh"], "cwd": "relative", "user": {"uid": "1000", "gid": 0}},
                "linux": {"namespaces": [{"type": "pid"}, {"type": "bogus"}, {"type": "mount"}],
                          "seccomp": {"defaultAction": "SCMP_ACT_FOO"}}}"#,
        )
        .unwrap();
        let err = check_bundle(&dir);
        let create = load::load(&dir).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        let Err(SpecError::Invalid { issues, .. }) = err else {
            panic!("{err:?}")
        };
        let got: Vec<String> = issues.iter().map(|i| i.to_string()).collect();
        for want in [
            "linux.namespaces[1].type: unknown variant `bogus`, expected one of",
            "linux.seccomp.defaultAction: SCMP_ACT_FOO is not a known action",
            "process.user.uid: invalid type: string \"1000\", expected u32",
            "process.cwd: \"relative\" must be an absolute path",
            "root.path: ",
        ] {
            assert!(
                got.iter().any(|g| g.starts_with(want)),
                "missing {want:?} in {got:#?}"
            );
        }
        // The stand-in for namespaces[1] ("pid") is no second finding.
        assert_eq!(got.len(), 5, "{got:#?}");
        // create refuses it naming the type errors.
        assert!(
            create.contains("linux.namespaces[1].type: unknown variant `bogus`")
                && create.contains("process.user.uid"),
            "{create}"
        );
    }

    #[test]
    fn findings_do_not_depend_on_stand_ins() {
        let doc: serde_json::Value = serde_json::from_str(
            r#"{"ociVersion": "1.0.0", "root": {"path": "r"}, "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
                "mounts": [{"destination": "/a", "type": 5}, {"destination": "rel", "type": "tmpfs"}],
                "linux": {"namespaces": [{"type": "pid"}, {"type": "bogus"}, {"type": "pid"}, {"type": "uts", "path": 7}]},
                "hostname": "h"}"#,
        )
        .unwrap();
        let shape = crate::spec_shape::check(doc);
        let host = HostSupport::none();
        let run = |spec: &Spec| match validate(spec, &host, Path::new("config.json")) {
            Err(SpecError::Invalid { issues, .. }) => issues,
            _ => Vec::new(),
        };
        let got: Vec<String> = shape.findings(run).iter().map(|i| i.to_string()).collect();
        // Real findings keep their original indices; the stand-in for
        // namespaces[1] and the dropped uts entry add nothing.
        assert_eq!(
            got,
            [
                "mounts[1].destination: \"rel\" must be an absolute path",
                "linux.namespaces[2].type: \"pid\" listed twice"
            ]
        );
    }
}
