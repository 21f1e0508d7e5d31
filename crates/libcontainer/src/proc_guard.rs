//! What may be mounted over /proc, and from where (runc's checkProcMount).
//!
//! A mount inside the container's procfs could hide or replace the files
//! the runtime and the kernel rely on (/proc/sys for sysctls and read-only
//! paths, /proc/self/attr for LSM labels, the masked paths), so only a
//! fresh proc mount, or a bind of a procfs root, may cover /proc itself,
//! and below it only the few files lxcfs emulates. The check runs twice:
//! on the destination as written (at validation, naming the field), and on
//! where the destination really resolves inside the rootfs, just before
//! mounting (a symlink in the image may point into /proc).
//!
//! Bind sources that resolve through a /proc magic link (`/proc/self/fd/N`,
//! `/proc/<pid>/cwd`, `/dev/fd/N`, …) are refused: the setup process holds
//! runtime fds (state directory, sync channel) that such a path would hand
//! to the container.

use std::{
    os::fd::{BorrowedFd, OwnedFd},
    path::{Component, Path, PathBuf},
};

use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::procfs_handle::fd_path;

/// The files below /proc a mount may cover: those lxcfs provides.
const PROC_FILES: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
    "/proc/sys/crypto/fips_enabled",
];

/// How the mount entry fills its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A fresh procfs (`type: proc`).
    Proc,
    /// A bind mount; covering /proc needs a procfs source.
    Bind,
    Other,
}

/// `p` with `.` and `..` resolved by name only, as seen from `/`.
pub(crate) fn lexical_clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// /proc/net is a link to /proc/self/net, so /proc/net/dev resolves to
/// /proc/<pid>/net/dev (or …/task/<tid>/net/dev): the same file.
fn unalias_net_dev(p: &Path) -> PathBuf {
    let parts: Vec<&str> = p.to_str().unwrap_or("").split('/').collect();
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        ["", "proc", pid, "net", "dev"] if numeric(pid) => PathBuf::from("/proc/net/dev"),
        ["", "proc", pid, "task", tid, "net", "dev"] if numeric(pid) && numeric(tid) => {
            PathBuf::from("/proc/net/dev")
        }
        _ => p.to_owned(),
    }
}

/// Whether a mount of `kind` may land on `dest` (a clean absolute path
/// inside the container). `source_is_procfs` is asked only for a bind over
/// /proc itself. None means allowed; Some says why not.
pub(crate) fn destination_issue(
    dest: &Path,
    kind: Kind,
    source_is_procfs: impl FnOnce() -> Option<bool>,
) -> Option<String> {
    let dest = unalias_net_dev(dest);
    if dest == Path::new("/proc") {
        return match kind {
            Kind::Proc => None,
            Kind::Bind if source_is_procfs() != Some(false) => None,
            Kind::Bind => Some("/proc may only be covered by a bind of a procfs".into()),
            Kind::Other => Some("/proc may only be covered by a proc mount".into()),
        };
    }
    if !dest.starts_with("/proc") || PROC_FILES.iter().any(|f| dest == Path::new(f)) {
        return None;
    }
    Some(format!(
        "{} is inside /proc, where only {} may be mounted over",
        dest.display(),
        PROC_FILES.join(", ")
    ))
}

/// Where `target` (resolved inside the rootfs at `rootfs`) really is, as a
/// path inside the container, and whether it lies on a procfs.
pub(crate) fn resolved(rootfs: &Path, target: &OwnedFd) -> std::io::Result<(PathBuf, bool)> {
    let on_procfs = rustix::fs::fstatfs(target)?.f_type == rustix::fs::PROC_SUPER_MAGIC;
    let host = std::fs::read_link(fd_path(target))?;
    let inner = host
        .strip_prefix(rootfs)
        .map(|rest| Path::new("/").join(rest))
        .map_err(|_| std::io::Error::other(format!("resolves to {host:?}, outside the rootfs")))?;
    Ok((inner, on_procfs))
}

/// The runtime half of the check: the destination as it resolved.
pub(crate) fn check_resolved(
    rootfs: &Path,
    target: &OwnedFd,
    kind: Kind,
    source: Option<&OwnedFd>,
) -> Result<(), String> {
    let (inner, on_procfs) =
        resolved(rootfs, target).map_err(|e| format!("checking where it resolves: {e}"))?;
    if on_procfs && !inner.starts_with("/proc") {
        // A second procfs elsewhere is /proc under another name: none of
        // its entries is on the allow list.
        return Err(format!(
            "resolves to {}, on a procfs, which mounts may not cover",
            inner.display()
        ));
    }
    let source_is_procfs = || {
        source
            .and_then(|s| rustix::fs::fstatfs(s).ok())
            .map(|st| st.f_type == rustix::fs::PROC_SUPER_MAGIC)
    };
    match destination_issue(&inner, kind, source_is_procfs) {
        None => Ok(()),
        Some(why) => Err(format!("resolves to {}: {why}", inner.display())),
    }
}

/// Opens a bind source (O_PATH) without following /proc magic links, so
/// what gets mounted is exactly what was checked. `root` is the `/` the
/// path starts from (the init's, seen from the runtime), or None for this
/// process's own.
pub(crate) fn open_bind_source(
    root: Option<BorrowedFd<'_>>,
    src: &Path,
) -> Result<OwnedFd, String> {
    let (dir, how) = match root {
        Some(r) => (r, ResolveFlags::NO_MAGICLINKS | ResolveFlags::IN_ROOT),
        None => (rustix::fs::CWD, ResolveFlags::NO_MAGICLINKS),
    };
    match rustix::fs::openat2(dir, src, OFlags::PATH | OFlags::CLOEXEC, Mode::empty(), how) {
        Ok(fd) => Ok(fd),
        Err(rustix::io::Errno::LOOP) if rustix::fs::open(src, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).is_ok() => Err(format!(
            "{src:?} resolves through a /proc magic link (fd/N, cwd, root, exe, …), which could hand a runtime file descriptor to the container"
        )),
        Err(e) => Err(format!("{src:?}: {}", std::io::Error::from(e))),
    }
}

/// Opens `path` in this process's root (the container's, once the setup
/// process is in it) without following /proc magic links: a link the
/// container planted at a file the runtime opens as root must not lead
/// through one of the runtime's fds to a host file.
pub(crate) fn open_in_own_root(path: &str, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    rustix::fs::openat2(
        &root,
        path.trim_start_matches('/'),
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    fn issue(dest: &str, kind: Kind, procfs_source: Option<bool>) -> Option<String> {
        destination_issue(&lexical_clean(Path::new(dest)), kind, || procfs_source)
    }

    #[test]
    fn proc_destinations() {
        assert!(issue("/proc", Kind::Proc, None).is_none());
        assert!(issue("/proc", Kind::Bind, Some(true)).is_none());
        assert!(issue("/proc", Kind::Bind, Some(false)).is_some());
        assert!(issue("/proc", Kind::Other, None).is_some());
        assert!(issue("/proc/cpuinfo", Kind::Bind, None).is_none());
        assert!(issue("/proc/sys/kernel/ns_last_pid", Kind::Bind, None).is_none());
        assert!(issue("/proc/1/net/dev", Kind::Bind, None).is_none());
        assert!(issue("/proc/sys", Kind::Other, None).is_some());
        assert!(issue("/proc/../proc/sys", Kind::Bind, None).is_some());
        assert!(issue("/proc/./self/attr/exec", Kind::Bind, None).is_some());
        assert!(issue("/proc/sys/../sys/kernel", Kind::Proc, None).is_some());
        assert!(issue("/procfoo", Kind::Other, None).is_none());
        assert!(issue("/../../proc/keys", Kind::Bind, None).is_some());
        assert!(issue("/mnt", Kind::Other, None).is_none());
    }

    #[test]
    fn magic_link_sources_are_refused() {
        let err = open_bind_source(None, Path::new("/proc/self/fd/0")).unwrap_err();
        assert!(err.contains("magic link"), "{err}");
        let err = open_bind_source(None, Path::new("/proc/self/cwd")).unwrap_err();
        assert!(err.contains("magic link"), "{err}");
        assert!(open_bind_source(None, Path::new("/proc/self/status")).is_ok());
        assert!(open_bind_source(None, Path::new("/")).is_ok());
        // Seen from a root fd, as the runtime opens the init's sources.
        let root = rustix::fs::open(
            "/",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        let err = open_bind_source(Some(root.as_fd()), Path::new("/proc/self/fd/0")).unwrap_err();
        assert!(err.contains("magic link"), "{err}");
        assert!(open_bind_source(Some(root.as_fd()), Path::new("/proc/self/status")).is_ok());
    }
}
