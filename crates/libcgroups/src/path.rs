//! Resolution of the OCI cgroupsPath into per-hierarchy directories.

use std::path::{Path, PathBuf};

use crate::error::{CgroupError, Result};

/// A validated cgroupsPath, split into components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// Relative to each hierarchy's mount point.
    Absolute(Vec<String>),
    /// Relative to the calling process's own cgroup in each hierarchy.
    Relative(Vec<String>),
}

impl Resolved {
    pub(crate) fn components(&self) -> &[String] {
        match self {
            Resolved::Absolute(c) | Resolved::Relative(c) => c,
        }
    }
}

/// Validates `cgroups_path` (or the container id when it is absent/empty).
pub(crate) fn resolve(cgroups_path: Option<&str>, container_id: &str) -> Result<Resolved> {
    let raw = match cgroups_path {
        Some(p) if !p.is_empty() => p,
        _ => {
            // The id becomes a single directory name; a '/' in it would
            // silently nest the cgroup somewhere the caller did not ask for.
            if container_id.is_empty()
                || container_id.contains('/')
                || container_id == "."
                || container_id == ".."
            {
                return Err(CgroupError::InvalidPath {
                    path: String::new(),
                    reason: format!(
                        "empty cgroupsPath and container id {container_id:?} is not usable as a cgroup name"
                    ),
                });
            }
            container_id
        }
    };
    let mut comps = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(CgroupError::InvalidPath {
                    path: raw.to_string(),
                    reason: "must not contain \"..\" components".to_string(),
                })
            }
            _ if c.contains('\0') => {
                return Err(CgroupError::InvalidPath {
                    path: raw.to_string(),
                    reason: "must not contain NUL bytes".to_string(),
                })
            }
            _ => comps.push(c.to_string()),
        }
    }
    let absolute = raw.starts_with('/');
    if comps.is_empty() {
        // Managing (and later destroying) the root or our own cgroup would
        // put limits on processes that are not the container's.
        return Err(CgroupError::InvalidPath {
            path: raw.to_string(),
            reason: if absolute {
                "resolves to the root cgroup".to_string()
            } else {
                "resolves to the runtime's own cgroup".to_string()
            },
        });
    }
    Ok(if absolute {
        Resolved::Absolute(comps)
    } else {
        Resolved::Relative(comps)
    })
}

/// Path of a cgroup (as listed in /proc/self/cgroup) relative to the root of
/// a mount that exposes only the subtree `mount_root`.
pub(crate) fn strip_mount_root<'a>(cgroup: &'a str, mount_root: &str) -> Result<&'a str> {
    let root = mount_root.trim_end_matches('/');
    if root.is_empty() {
        return Ok(cgroup.trim_start_matches('/'));
    }
    match cgroup.strip_prefix(root) {
        Some("") => Ok(""),
        Some(rest) if rest.starts_with('/') => Ok(rest.trim_start_matches('/')),
        _ => Err(CgroupError::Detect(format!(
            "own cgroup {cgroup:?} is outside the mounted subtree {mount_root:?}"
        ))),
    }
}

/// Joins cgroup-path components onto a directory or cgroup path.
pub(crate) fn join_components(base: &Path, comps: &[String]) -> PathBuf {
    let mut p = base.to_path_buf();
    for c in comps {
        p.push(c);
    }
    p
}

/// Joins components onto a cgroup path string ("/a" + ["b"] => "/a/b").
pub(crate) fn join_cgroup(base: &str, comps: &[String]) -> String {
    let mut s = base.trim_end_matches('/').to_string();
    for c in comps {
        s.push('/');
        s.push_str(c);
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

/// One line of /proc/<pid>/cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcCgroup {
    pub id: u32,
    pub controllers: Vec<String>,
    pub path: String,
}

pub(crate) fn parse_proc_cgroup(text: &str) -> Vec<ProcCgroup> {
    text.lines()
        .filter_map(|line| {
            let mut it = line.splitn(3, ':');
            let id = it.next()?.parse().ok()?;
            let ctrls = it.next()?;
            let path = it.next()?;
            Some(ProcCgroup {
                id,
                controllers: ctrls
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                path: path.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn absolute_and_relative() {
        assert_eq!(
            resolve(Some("/a//b/./c/"), "id").unwrap(),
            Resolved::Absolute(v(&["a", "b", "c"]))
        );
        assert_eq!(
            resolve(Some("x/y"), "id").unwrap(),
            Resolved::Relative(v(&["x", "y"]))
        );
    }

    #[test]
    fn empty_uses_container_id() {
        assert_eq!(resolve(None, "c1").unwrap(), Resolved::Relative(v(&["c1"])));
        assert_eq!(
            resolve(Some(""), "c1").unwrap(),
            Resolved::Relative(v(&["c1"]))
        );
        assert!(resolve(None, "").is_err());
        assert!(resolve(None, "a/b").is_err());
        assert!(resolve(None, "..").is_err());
    }

    #[test]
    fn rejects_dotdot_root_and_self() {
        let e = resolve(Some("/a/../b"), "id").unwrap_err().to_string();
        assert!(e.contains("\"..\""), "{e}");
        assert!(e.contains("/a/../b"), "{e}");
        assert!(resolve(Some("../x"), "id").is_err());
        assert!(resolve(Some("/"), "id")
            .unwrap_err()
            .to_string()
            .contains("root cgroup"));
        assert!(resolve(Some("./"), "id")
            .unwrap_err()
            .to_string()
            .contains("own cgroup"));
    }

    #[test]
    fn strips_mount_root() {
        assert_eq!(strip_mount_root("/a/b", "/").unwrap(), "a/b");
        assert_eq!(strip_mount_root("/", "/").unwrap(), "");
        assert_eq!(strip_mount_root("/docker/x/y", "/docker/x").unwrap(), "y");
        assert_eq!(strip_mount_root("/docker/x", "/docker/x").unwrap(), "");
        assert!(strip_mount_root("/docker/xy", "/docker/x").is_err());
        assert!(strip_mount_root("/other", "/docker/x").is_err());
    }

    #[test]
    fn joins() {
        assert_eq!(join_cgroup("/", &v(&["a", "b"])), "/a/b");
        assert_eq!(join_cgroup("/own/", &v(&["c"])), "/own/c");
        assert_eq!(join_cgroup("/", &[]), "/");
        assert_eq!(
            join_components(Path::new("/m"), &v(&["a", "b"])),
            PathBuf::from("/m/a/b")
        );
    }

    #[test]
    fn parses_proc_cgroup() {
        let p = parse_proc_cgroup("4:memory:/a:b\n2:cpu,cpuacct:/\n0::/u\nbad\n");
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].controllers, v(&["memory"]));
        assert_eq!(p[0].path, "/a:b");
        assert_eq!(p[1].controllers, v(&["cpu", "cpuacct"]));
        assert_eq!(p[2].id, 0);
        assert!(p[2].controllers.is_empty());
        assert_eq!(p[2].path, "/u");
    }
}
