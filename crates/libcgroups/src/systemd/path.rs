//! `linux.cgroupsPath` under the systemd driver: "slice:prefix:name", as
//! runc reads it, turned into a scope unit and its cgroup path.

use crate::error::{CgroupError, Result};

/// Where a scope goes when the slice part is empty (runc's default).
pub(crate) const DEFAULT_SLICE: &str = "system.slice";
/// The same for a user manager's scope (runc's rootless default).
pub(crate) const DEFAULT_USER_SLICE: &str = "user.slice";
/// The scope prefix when cgroupsPath is empty (runc uses "runc").
pub(crate) const DEFAULT_PREFIX: &str = "hull";

/// The unit to start and where systemd will put its cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnitPath {
    pub slice: String,
    pub unit: String,
    /// The scope's cgroup relative to the cgroup2 root, e.g.
    /// "/system.slice/hull-c1.scope".
    pub cgroup: String,
}

fn invalid(path: &str, reason: impl Into<String>) -> CgroupError {
    CgroupError::InvalidPath {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// Parses `cgroups_path` ("" or absent: `system.slice`, prefix `hull`, the
/// container id as the name). An empty slice is `system.slice` (for a
/// `user` manager `user.slice`), an empty name the container id, an empty
/// prefix gives `<name>.scope`.
pub(crate) fn parse(
    cgroups_path: Option<&str>,
    container_id: &str,
    user: bool,
) -> Result<UnitPath> {
    let raw = cgroups_path.unwrap_or("");
    let default_slice = if user {
        DEFAULT_USER_SLICE
    } else {
        DEFAULT_SLICE
    };
    let (slice, prefix, name) = if raw.is_empty() {
        (default_slice, DEFAULT_PREFIX, container_id)
    } else {
        let parts: Vec<&str> = raw.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            return Err(invalid(
                raw,
                "with --systemd-cgroup, linux.cgroupsPath must be \"slice:prefix:name\" (e.g. \"system.slice:hull:c1\")",
            ));
        };
        let slice = if slice.is_empty() {
            default_slice
        } else {
            slice
        };
        let name = if name.is_empty() { container_id } else { name };
        (slice, prefix, name)
    };
    if name.ends_with(".slice") {
        // runc would make the container a slice unit of its own; hull
        // only runs containers in scopes.
        return Err(invalid(raw, format!("linux.cgroupsPath: name {name:?} is a slice; hull puts containers in scope units only")));
    }
    let slice_path = expand_slice(slice)
        .map_err(|r| invalid(raw, format!("linux.cgroupsPath: slice {slice:?} {r}")))?;
    let unit = if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    valid_unit_name(&unit)
        .map_err(|r| invalid(raw, format!("linux.cgroupsPath: unit name {unit:?} {r}")))?;
    let cgroup = format!("{}/{unit}", slice_path.trim_end_matches('/'));
    Ok(UnitPath {
        slice: slice.to_string(),
        unit,
        cgroup,
    })
}

/// The cgroup path of a slice: "a-b.slice" is "/a.slice/a-b.slice" (systemd
/// nests slices by their dashes), "-.slice" is the root.
pub(crate) fn expand_slice(slice: &str) -> std::result::Result<String, &'static str> {
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err("must end in \".slice\"");
    };
    if stem.is_empty() {
        return Err("has no name before \".slice\"");
    }
    if slice.contains('/') {
        return Err("must not contain '/'");
    }
    valid_unit_name(slice)?;
    if stem == "-" {
        return Ok("/".to_string());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for comp in stem.split('-') {
        if comp.is_empty() {
            // "a--b.slice", "-a.slice", "a-.slice"
            return Err("has an empty component between dashes");
        }
        path.push('/');
        path.push_str(&prefix);
        path.push_str(comp);
        path.push_str(".slice");
        prefix.push_str(comp);
        prefix.push('-');
    }
    Ok(path)
}

/// systemd's rule for unit names: at most 255 bytes of `[A-Za-z0-9:_.\-]`
/// (plus `\` escapes). '@' is left out: it would make a template instance.
fn valid_unit_name(s: &str) -> std::result::Result<(), &'static str> {
    if s.len() > 255 {
        return Err("is longer than 255 bytes");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b":_.-\\".contains(&b))
    {
        return Err("may contain only ASCII letters, digits and \":_.-\\\"");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_like_runc_with_our_prefix() {
        let p = parse(None, "c1", false).unwrap();
        assert_eq!(
            (p.slice.as_str(), p.unit.as_str(), p.cgroup.as_str()),
            (
                "system.slice",
                "hull-c1.scope",
                "/system.slice/hull-c1.scope"
            )
        );
        assert_eq!(parse(Some(""), "c1", false).unwrap(), p);
        // A user manager's scope goes to its user.slice.
        let p = parse(Some("::"), "c1", true).unwrap();
        assert_eq!(
            (p.slice.as_str(), p.cgroup.as_str()),
            ("user.slice", "/user.slice/c1.scope")
        );
    }

    #[test]
    fn slice_prefix_name() {
        let p = parse(Some("system.slice:docker:1234"), "id", false).unwrap();
        assert_eq!(p.unit, "docker-1234.scope");
        assert_eq!(p.cgroup, "/system.slice/docker-1234.scope");
        let p = parse(Some("machine-a-b.slice:crio:x"), "id", false).unwrap();
        assert_eq!(
            p.cgroup,
            "/machine.slice/machine-a.slice/machine-a-b.slice/crio-x.scope"
        );
        let p = parse(Some("::"), "id", false).unwrap();
        assert_eq!(
            (p.slice.as_str(), p.unit.as_str()),
            ("system.slice", "id.scope")
        );
        let p = parse(Some("-.slice:p:n"), "id", false).unwrap();
        assert_eq!(p.cgroup, "/p-n.scope");
    }

    #[test]
    fn refuses_bad_paths_naming_the_field() {
        for bad in [
            "/a/b",
            "a:b",
            "a:b:c:d",
            "a:p:n",
            "a-.slice:p:n",
            "a--b.slice:p:n",
            ".slice:p:n",
            "a/b.slice:p:n",
            "system.slice:p:x/y",
            "system.slice:p@:n",
            "system.slice:p:n.slice",
        ] {
            let e = parse(Some(bad), "id", false).unwrap_err().to_string();
            assert!(e.contains("cgroupsPath"), "{bad}: {e}");
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
        let e = parse(Some("a:b"), "id", false).unwrap_err().to_string();
        assert!(e.contains("\"slice:prefix:name\""), "{e}");
        let long = format!("system.slice:p:{}", "x".repeat(250));
        assert!(parse(Some(&long), "id", false).is_err());
    }
}
