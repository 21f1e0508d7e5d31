//! Which namespaces a container gets and how: created by clone3 at fork
//! time when possible (one fork, the fast path), otherwise joined by path
//! and unshared in the child, with a second fork when a pid namespace must
//! be entered.

use std::{
    os::fd::{AsFd, OwnedFd},
    path::PathBuf,
};

use oci_spec::runtime::{Linux, LinuxNamespaceType};
use rustix::{
    fs::{Mode, OFlags},
    thread::{LinkNameSpaceType, UnshareFlags},
};

use crate::{
    error::{Error, Result},
    procfs_handle::{ProcBase, ProcfsHandle},
};

/// The namespace part of the create plan, computed once in the parent and
/// inherited by the child through fork.
#[derive(Debug, Default, Clone)]
pub(crate) struct NsPlan {
    /// Namespaces created by clone3 itself.
    pub clone_flags: u64,
    /// Namespaces joined by path in the child, in spec order.
    pub joins: Vec<(LinuxNamespaceType, PathBuf)>,
    /// Namespaces the child unshares before reporting ready.
    pub unshare_early: u64,
    /// Unshared after the parent placed the child in its cgroup, so the
    /// cgroup namespace is rooted at the container's cgroup.
    pub new_cgroup: bool,
    /// Unshared after Proceed, so offsets can be written before any process
    /// lives in it.
    pub new_time: bool,
    pub time_offsets: Option<String>,
    /// The child must fork once more to enter a pid namespace (a new one
    /// made by unshare, or one joined by path).
    pub fork_for_pid: bool,
    pub new_user: bool,
    pub new_mount: bool,
    pub new_pid: bool,
    pub new_net: bool,
    pub new_uts: bool,
    pub new_ipc: bool,
    /// Whether the container has its own mount namespace at all.
    pub has_mount: bool,
    pub has_net: bool,
}

fn flag(t: LinuxNamespaceType) -> u64 {
    (match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }) as u64
}

impl NsPlan {
    /// Whether the container's processes live in a user namespace other
    /// than hull's (made or joined).
    pub fn in_userns(&self) -> bool {
        self.new_user
            || self
                .joins
                .iter()
                .any(|(t, _)| *t == LinuxNamespaceType::User)
    }

    pub fn from_spec(linux: Option<&Linux>) -> NsPlan {
        let mut plan = NsPlan::default();
        let Some(linux) = linux else { return plan };
        let mut new = 0u64;
        for ns in linux.namespaces().iter().flatten() {
            let t = ns.typ();
            match ns.path() {
                Some(p) => plan.joins.push((t, p.clone())),
                None => new |= flag(t),
            }
            match t {
                LinuxNamespaceType::Mount => plan.has_mount = true,
                LinuxNamespaceType::Network => plan.has_net = true,
                _ => {}
            }
        }
        let has = |f: libc::c_int| new & f as u64 != 0;
        plan.new_user = has(libc::CLONE_NEWUSER);
        plan.new_mount = has(libc::CLONE_NEWNS);
        plan.new_pid = has(libc::CLONE_NEWPID);
        plan.new_net = has(libc::CLONE_NEWNET);
        plan.new_uts = has(libc::CLONE_NEWUTS);
        plan.new_ipc = has(libc::CLONE_NEWIPC);
        plan.new_cgroup = has(libc::CLONE_NEWCGROUP);
        plan.new_time = has(libc::CLONE_NEWTIME);
        let late = (libc::CLONE_NEWCGROUP | libc::CLONE_NEWTIME) as u64;
        let joins_pid = plan
            .joins
            .iter()
            .any(|(t, _)| *t == LinuxNamespaceType::Pid);
        if plan.joins.is_empty() {
            // Fast path: clone3 creates user (first, so it owns the rest),
            // pid, mount, net, uts and ipc in one go.
            plan.clone_flags = new & !late;
        } else {
            // A pid namespace made by unshare applies to children only:
            // the fork that follows puts the init in it.
            plan.unshare_early = new & !late;
            plan.fork_for_pid = plan.new_pid || joins_pid;
        }
        if let Some(offsets) = linux.time_offsets() {
            let mut s = String::new();
            for (clock, off) in offsets {
                s.push_str(&format!(
                    "{clock} {} {}\n",
                    off.secs().unwrap_or(0),
                    off.nanosecs().unwrap_or(0)
                ));
            }
            plan.time_offsets = Some(s);
        }
        plan
    }
}

fn ns_type(t: LinuxNamespaceType) -> LinkNameSpaceType {
    match t {
        LinuxNamespaceType::Mount => LinkNameSpaceType::Mount,
        LinuxNamespaceType::Cgroup => LinkNameSpaceType::ControlGroup,
        LinuxNamespaceType::Uts => LinkNameSpaceType::HostNameAndNISDomainName,
        LinuxNamespaceType::Ipc => LinkNameSpaceType::InterProcessCommunication,
        LinuxNamespaceType::User => LinkNameSpaceType::User,
        LinuxNamespaceType::Pid => LinkNameSpaceType::ProcessID,
        LinuxNamespaceType::Network => LinkNameSpaceType::Network,
        LinuxNamespaceType::Time => LinkNameSpaceType::Time,
    }
}

/// Opens every namespace path first: joining the mount namespace would
/// change what the remaining paths resolve to.
pub(crate) fn open_all(
    joins: &[(LinuxNamespaceType, PathBuf)],
) -> Result<Vec<(LinuxNamespaceType, OwnedFd)>> {
    joins
        .iter()
        .map(|(t, p)| {
            rustix::fs::open(p, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                .map(|fd| (*t, fd))
                .map_err(|e| {
                    Error::sys(format!("linux.namespaces: opening {t} namespace {p:?}"), e)
                })
        })
        .collect()
}

/// Joins namespaces by fd. Joins refused with EPERM are retried after the
/// user namespace is joined, because a namespace owned by the container's
/// user namespace may only be enterable from inside it.
pub(crate) fn join_fds(fds: Vec<(LinuxNamespaceType, OwnedFd)>) -> Result<()> {
    let (user, others): (Vec<_>, Vec<_>) = fds
        .into_iter()
        .partition(|(t, _)| *t == LinuxNamespaceType::User);
    let mut deferred = Vec::new();
    for (t, fd) in others {
        match rustix::thread::move_into_link_name_space(fd.as_fd(), Some(ns_type(t))) {
            Ok(()) => {}
            Err(rustix::io::Errno::PERM) if !user.is_empty() => deferred.push((t, fd)),
            Err(e) => return Err(Error::sys(format!("joining the {t} namespace"), e)),
        }
    }
    for (t, fd) in user.into_iter().chain(deferred) {
        rustix::thread::move_into_link_name_space(fd.as_fd(), Some(ns_type(t)))
            .map_err(|e| Error::sys(format!("joining the {t} namespace"), e))?;
    }
    Ok(())
}

/// Child side: joins the namespaces given by path in the spec.
pub(crate) fn join_all(plan: &NsPlan) -> Result<()> {
    join_fds(open_all(&plan.joins)?)
}

/// The namespaces of a running process, for `exec`: only those that differ
/// from this process's own (joining one's own namespace is a no-op that may
/// still fail, e.g. the user namespace).
pub(crate) fn of_process(pid: i32) -> Result<Vec<(LinuxNamespaceType, OwnedFd)>> {
    use LinuxNamespaceType::*;
    let mut out = Vec::new();
    for (t, name) in [
        (User, "user"),
        (Mount, "mnt"),
        (Network, "net"),
        (Ipc, "ipc"),
        (Uts, "uts"),
        (Cgroup, "cgroup"),
        (Time, "time"),
        (Pid, "pid"),
    ] {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let ours = format!("/proc/self/ns/{name}");
        // Absent only where the kernel lacks the namespace type. Any other
        // failure (a caller in another user namespace may not look at the
        // init's) must not let the process start in hull's namespaces.
        let (a, b) = match (std::fs::metadata(&theirs), std::fs::metadata(&ours)) {
            (Ok(a), Ok(b)) => (a, b),
            (_, Err(e)) if e.kind() == std::io::ErrorKind::NotFound => continue,
            (Err(e), _) => return Err(Error::path(&theirs, e)),
            (_, Err(e)) => return Err(Error::path(&ours, e)),
        };
        use std::os::unix::fs::MetadataExt;
        if a.ino() == b.ino() && a.dev() == b.dev() {
            continue;
        }
        let fd = rustix::fs::open(&theirs, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::sys(format!("opening {theirs}"), e))?;
        out.push((t, fd));
    }
    Ok(out)
}

/// Enters `fd`'s pid namespace for this process's future children. Only
/// for a process hull forked (the exec child): a library caller's own
/// pid_for_children is changed and restored by `spawn` alone.
pub(crate) fn set_pid_for_children(fd: &OwnedFd) -> Result<()> {
    rustix::thread::move_into_link_name_space(
        fd.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::ProcessID),
    )
    .map_err(|e| Error::sys("joining the pid namespace", e))
}

pub(crate) fn unshare(flags: u64, what: &str) -> Result<()> {
    if flags == 0 {
        return Ok(());
    }
    // SAFETY: the child is single-threaded and shares no fd table or fs
    // state with another process, so changing them affects only itself.
    unsafe { rustix::thread::unshare_unsafe(UnshareFlags::from_bits_retain(flags as u32)) }
        .map_err(|e| Error::sys(format!("linux.namespaces: creating {what}"), e))
}

/// Child side, after Proceed: the namespaces that must come last.
pub(crate) fn enter_late(plan: &NsPlan, proc: &ProcfsHandle) -> Result<()> {
    if plan.new_cgroup {
        unshare(libc::CLONE_NEWCGROUP as u64, "cgroup namespace")?;
    }
    if plan.new_time {
        unshare(libc::CLONE_NEWTIME as u64, "time namespace")?;
        if let Some(offsets) = &plan.time_offsets {
            proc.write(ProcBase::SelfProcess, "timens_offsets", offsets.as_bytes())
                .map_err(|e| {
                    Error::sys("linux.timeOffsets: writing /proc/self/timens_offsets", e)
                })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(json: &str) -> NsPlan {
        let linux: Linux = serde_json::from_str(json).unwrap();
        NsPlan::from_spec(Some(&linux))
    }

    #[test]
    fn fast_path_creates_everything_in_clone3() {
        let p = plan(
            r#"{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"user"},{"type":"cgroup"},{"type":"time"}],
            "uidMappings":[{"containerID":0,"hostID":1000,"size":1}],"gidMappings":[{"containerID":0,"hostID":1000,"size":1}]}"#,
        );
        let want = (libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWUSER) as u64;
        assert_eq!(p.clone_flags, want);
        assert!(p.new_cgroup && p.new_time && !p.fork_for_pid && p.unshare_early == 0);
    }

    #[test]
    fn joining_moves_creation_into_the_child() {
        let p = plan(
            r#"{"namespaces":[{"type":"pid"},{"type":"network","path":"/run/netns/x"},{"type":"uts"}]}"#,
        );
        assert_eq!(p.clone_flags, 0);
        assert_eq!(
            p.unshare_early,
            (libc::CLONE_NEWUTS | libc::CLONE_NEWPID) as u64
        );
        assert!(p.fork_for_pid && p.new_pid && p.has_net && !p.new_net);
    }

    #[test]
    fn pid_join_needs_a_fork() {
        let p = plan(r#"{"namespaces":[{"type":"pid","path":"/proc/1/ns/pid"}]}"#);
        assert!(p.fork_for_pid && !p.new_pid);
    }
}
