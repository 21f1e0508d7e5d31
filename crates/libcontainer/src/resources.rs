//! The cgroup resources actually applied: the spec's, plus the device
//! rules every container needs (runc's default allow list), so a spec that
//! starts with "deny all" still gets working /dev/null, ttys and mknod.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources, Spec};

fn rule(
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true);
    r.set_typ(Some(typ));
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_owned()));
    r
}

fn default_rules() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{B, C};
    let mut v = vec![rule(C, None, None, "m"), rule(B, None, None, "m")];
    // null, zero, full, random, urandom, tty, console, ptmx, pts/*
    for (maj, min) in [
        (1, Some(3)),
        (1, Some(5)),
        (1, Some(7)),
        (1, Some(8)),
        (1, Some(9)),
        (5, Some(0)),
        (5, Some(1)),
        (5, Some(2)),
        (136, None),
    ] {
        v.push(rule(C, Some(maj), min, "rwm"));
    }
    v
}

/// `linux.resources` with the default device rules appended after the
/// spec's own, and an allow rule for each device node of `linux.devices`
/// (a FIFO, type "p", is no device: the devices cgroup does not govern it
/// and runc makes it with mknod alone).
pub(crate) fn effective(spec: &Spec) -> Option<LinuxResources> {
    let linux = spec.linux().as_ref()?;
    let mut res = linux.resources().clone().unwrap_or_default();
    if res.devices().is_none() && linux.devices().is_none() {
        // No device policy at all: leave the devices cgroup untouched.
        return linux.resources().clone();
    }
    let mut rules = res.devices().clone().unwrap_or_default();
    rules.extend(default_rules());
    for d in linux.devices().iter().flatten() {
        let typ = match d.typ() {
            LinuxDeviceType::U => LinuxDeviceType::C,
            LinuxDeviceType::P => continue,
            t => t,
        };
        rules.push(rule(typ, Some(d.major()), Some(d.minor()), "rwm"));
    }
    res.set_devices(Some(rules));
    Some(res)
}

/// What create applies to the cgroup: [`effective`], without the device
/// rules where hull cannot set any up (rootless; the spec's warnings say
/// so, see `spec::warnings`).
pub(crate) fn applied(spec: &Spec) -> Option<LinuxResources> {
    let mut res = effective(spec)?;
    if device_rules() != DeviceRules::Enforced {
        res.set_devices(None);
    }
    Some(res)
}

/// What becomes of `linux.resources.devices` where hull runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeviceRules {
    /// Set up: the devices cgroup (v1) or an eBPF program (v2).
    Enforced,
    /// Neither can be set up (they need privilege in the initial user
    /// namespace), and nothing is lost: hull runs as an unprivileged user
    /// or in a user namespace that does not map the host's root, so the
    /// container cannot make a device node, and opens a host one only with
    /// that user's permissions. Dropped with a warning, as runc and crun do.
    Dropped,
    /// Neither can be set up, yet the user namespace maps the host's root
    /// (`unshare --map-root-user` by root): the container's root would open
    /// every device node that reaches it with root's permissions, so the
    /// rules are isolation that cannot be had, and an error.
    Unenforceable,
}

/// [`DeviceRules`] for this process.
pub(crate) fn device_rules() -> DeviceRules {
    if !libcgroups::in_user_namespace() {
        return if rustix::process::geteuid().is_root() {
            DeviceRules::Enforced
        } else {
            DeviceRules::Dropped
        };
    }
    let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    if maps_outside_root(&map) {
        DeviceRules::Unenforceable
    } else {
        DeviceRules::Dropped
    }
}

/// Whether an id map gives some id the outside id 0 (in a nested user
/// namespace that is the parent's root: counted too, failing closed).
fn maps_outside_root(map: &str) -> bool {
    map.lines().any(|l| {
        let v: Vec<u64> = l
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        matches!(v[..], [_, 0, n] if n > 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec_rules() {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.0","linux":{"resources":{"devices":[{"allow":false,"access":"rwm"}]},
               "devices":[{"path":"/dev/fuse","type":"c","major":10,"minor":229}]}}"#,
        )
        .unwrap();
        let r = effective(&spec).unwrap();
        let d = r.devices().as_ref().unwrap();
        assert!(!d[0].allow());
        assert!(d
            .iter()
            .any(|r| r.major() == Some(1) && r.minor() == Some(3) && r.allow()));
        assert!(d
            .last()
            .is_some_and(|r| r.major() == Some(10) && r.minor() == Some(229)));
    }

    #[test]
    fn a_fifo_needs_no_device_rule() {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.0","linux":{"devices":[{"path":"/dev/fifo","type":"p","major":0,"minor":0}]}}"#,
        )
        .unwrap();
        let r = effective(&spec).unwrap();
        assert!(r
            .devices()
            .as_ref()
            .unwrap()
            .iter()
            .all(|r| r.typ() != Some(LinuxDeviceType::P)));
    }

    #[test]
    fn no_device_policy_means_no_rules() {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.0","linux":{"resources":{"pids":{"limit":5}}}}"#,
        )
        .unwrap();
        assert!(effective(&spec).unwrap().devices().is_none());
    }

    #[test]
    fn outside_root() {
        assert!(maps_outside_root("         0          0          1\n"));
        assert!(maps_outside_root("0 1000 1\n1 0 65536\n"));
        assert!(!maps_outside_root(
            "         0       1001          1\n         1     100000      65536\n"
        ));
        assert!(!maps_outside_root(""));
    }
}
