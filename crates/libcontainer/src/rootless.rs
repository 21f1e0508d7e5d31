//! Running as an unprivileged user: runc's `--rootless` rule and the
//! default state root.

use std::path::PathBuf;

use oci_spec::runtime::Spec;
use serde_json::Value;

use crate::error::{Error, Result};

/// The `--rootless` setting: whether cgroups hull cannot create are
/// tolerated (a container without resources then runs without a cgroup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rootless {
    /// Decided from the caller, as runc decides (see [`Rootless::resolve`]).
    #[default]
    Auto,
    /// Always rootless.
    True,
    /// Never: a cgroup that cannot be made is an error.
    False,
}

impl std::str::FromStr for Rootless {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(Rootless::Auto),
            "true" => Ok(Rootless::True),
            "false" => Ok(Rootless::False),
            _ => Err(format!("--rootless: {s:?} is none of true, false and auto")),
        }
    }
}

impl Rootless {
    /// runc's shouldUseRootlessCgroupManager: `auto` means rootless for a
    /// non-root caller (with `--systemd-cgroup` too: its scope then comes
    /// from the user's own systemd), and for root inside a user namespace
    /// (rootless podman runs its runtime there). With `--systemd-cgroup`,
    /// root in a user namespace is rootless when it is a user outside it:
    /// runc asks `busctl --user` for the bus owner's uid, hull maps its
    /// own through uid_map (the same uid wherever the user made the
    /// namespace; a root-owned one, e.g. systemd in a container, keeps
    /// PID 1's manager).
    pub fn resolve(self, systemd_cgroup: bool) -> bool {
        match self {
            Rootless::True => true,
            Rootless::False => false,
            Rootless::Auto if !rustix::process::geteuid().is_root() => true,
            Rootless::Auto if systemd_cgroup => {
                running_in_userns() && libcgroups::outside_uid() != 0
            }
            Rootless::Auto => running_in_userns(),
        }
    }
}

/// runc's default `--root`: `$XDG_RUNTIME_DIR/hull` for a non-root caller
/// (and for root in a user namespace whose `USER` is not root), else
/// [`crate::DEFAULT_ROOT`]. Without XDG_RUNTIME_DIR a non-root caller gets
/// the default too, which it normally cannot write: runc does the same.
pub fn default_root() -> PathBuf {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
    match xdg {
        Some(d) if honor_xdg_runtime_dir() => PathBuf::from(d).join("hull"),
        _ => PathBuf::from(crate::DEFAULT_ROOT),
    }
}

fn honor_xdg_runtime_dir() -> bool {
    if !rustix::process::geteuid().is_root() {
        return true;
    }
    running_in_userns() && std::env::var("USER").map_or(true, |u| u != "root")
}

/// Whether hull runs in a user namespace other than the initial one.
pub(crate) fn running_in_userns() -> bool {
    libcgroups::in_user_namespace()
}

/// A rootless create found no hierarchy it may write (`cause`): the
/// container runs without a cgroup, as runc runs it, unless it asks for a
/// resource, which nothing could then enforce. Device rules are the
/// exception runc and crun both make where hull cannot set them up anyway
/// (`spec::warnings` says so); a caller that could (root with `--rootless
/// true`) gets an error instead of a container its rules do not bind.
pub(crate) fn without_cgroup(spec: &Spec, cause: &libcgroups::CgroupError) -> Result<()> {
    let resources = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| serde_json::to_value(r).ok());
    if let Some(Value::Object(fields)) = &resources {
        for (name, value) in fields.iter().filter(|(n, _)| *n != "devices") {
            if let Some(path) = first_set(value, format!("linux.resources.{name}")) {
                return Err(Error::InvalidArgument(format!(
                    "{path}: needs a cgroup, and this user may create none ({cause}); remove the limit or delegate a cgroup to the user"
                )));
            }
        }
    }
    let rules = crate::resources::effective(spec)
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    if crate::resources::device_rules() == crate::resources::DeviceRules::Enforced
        && libcgroups::device_rules_restrict(&rules)
    {
        return Err(Error::InvalidArgument(format!(
            "linux.resources.devices: needs a cgroup, and none could be made ({cause})"
        )));
    }
    tracing::debug!("running without a cgroup: {cause}");
    Ok(())
}

/// The path of the first value set below `v` (null, empty objects and
/// empty arrays are unset).
fn first_set(v: &Value, path: String) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Object(o) => o
            .iter()
            .find_map(|(k, v)| first_set(v, format!("{path}.{k}"))),
        Value::Array(a) if a.is_empty() => None,
        Value::Array(_) => Some(path),
        _ => Some(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_runc_values() {
        assert_eq!("auto".parse(), Ok(Rootless::Auto));
        assert_eq!("true".parse(), Ok(Rootless::True));
        assert_eq!("false".parse(), Ok(Rootless::False));
        assert!("yes".parse::<Rootless>().is_err());
        assert!(Rootless::True.resolve(true));
        assert!(!Rootless::False.resolve(false));
        // The tests run as root outside a user namespace.
        if rustix::process::geteuid().is_root() && !running_in_userns() {
            assert!(!Rootless::Auto.resolve(true));
            assert!(!Rootless::Auto.resolve(false));
        }
    }

    #[test]
    fn resources_needing_a_cgroup() {
        let set = |j: &str| first_set(&serde_json::from_str(j).unwrap(), "r".into());
        assert_eq!(set(r#"{"limit": null, "swap": null}"#), None);
        assert_eq!(set(r#"{"a": {}, "b": []}"#), None);
        assert_eq!(set(r#"{"a": null, "b": {"c": 5}}"#), Some("r.b.c".into()));
    }
}
