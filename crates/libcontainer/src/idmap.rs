//! Idmapped bind mounts (`mounts[].uidMappings`/`gidMappings`, the `idmap`
//! and `ridmap` options), prepared by the parent before the fork.
//!
//! MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN in the user namespace the source's
//! filesystem belongs to (the host's) and a user namespace carrying the
//! mapping, which only a privileged outside process can give a mapping.
//! So the parent makes each one here, as a detached mount (open_tree clone +
//! mount_setattr), and the child, a copy-on-write fork that inherits the fd,
//! attaches it with move_mount onto the destination it resolves inside the
//! rootfs.
//!
//! Mappings are read as runc 1.2 reads them: each entry maps the source
//! filesystem's `containerID` to the host id `hostID`, whatever user
//! namespace the container has; the container then sees that host id
//! through its own mapping. `idmap`/`ridmap` without mappings take the
//! container's user namespace, as the runtime spec allows.

use std::{
    collections::HashMap,
    os::fd::{AsFd, OwnedFd},
    path::Path,
};

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Mount, Spec};
use rustix::{
    fs::{Mode, OFlags},
    mount::OpenTreeFlags,
};

use crate::{
    config::mount_options::{is_bind, parse_options},
    error::{Error, Result},
    proc_guard,
    syscall::{self, Forked, MountAttr, MOUNT_ATTR_IDMAP},
    userns,
};

/// Detached trees by mount index, ready for move_mount: the idmapped
/// ones, and hull's notify directory (see `notify::detached_dir`).
#[derive(Default)]
pub(crate) struct IdmappedMounts(HashMap<usize, OwnedFd>);

impl IdmappedMounts {
    pub fn get(&self, index: usize) -> Option<&OwnedFd> {
        self.0.get(&index)
    }
    /// Every detached tree, for the fds the child keeps.
    pub fn fds(&self) -> impl Iterator<Item = std::os::fd::BorrowedFd<'_>> {
        self.0.values().map(std::os::fd::AsFd::as_fd)
    }

    /// Adds a tree the parent made elsewhere, attached like the others.
    pub fn insert(&mut self, index: usize, tree: OwnedFd) {
        self.0.insert(index, tree);
    }
}

/// What a mount entry asks for, if anything.
struct Request<'a> {
    uid: &'a [LinuxIdMapping],
    gid: &'a [LinuxIdMapping],
    /// `ridmap`: the submounts of an rbind are mapped too.
    recursive: bool,
    /// `rbind`: the source's submounts come along.
    rbind: bool,
}

fn request(m: &Mount) -> Option<Request<'_>> {
    let uid = m.uid_mappings().as_deref().unwrap_or(&[]);
    let gid = m.gid_mappings().as_deref().unwrap_or(&[]);
    let opts = parse_options(m.options().as_deref().unwrap_or(&[])).ok()?;
    let rbind = opts.flags.contains(nix::mount::MsFlags::MS_REC);
    (opts.idmap.is_some() || !uid.is_empty() || !gid.is_empty()).then_some(Request {
        uid,
        gid,
        recursive: opts.idmap == Some(true),
        rbind,
    })
}

/// The validation `spec::validate` runs for every mount: what cannot be
/// done, as (field, reason).
pub(crate) fn issues(spec: &Spec, i: usize, m: &Mount) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(req) = request(m) else { return out };
    let field = |f: &str| format!("mounts[{i}].{f}");
    if !is_bind(m) {
        out.push((
            field("uidMappings"),
            "only bind mounts can be idmapped".into(),
        ));
    }
    match (req.uid.is_empty(), req.gid.is_empty()) {
        (false, true) => out.push((field("gidMappings"), "required with uidMappings".into())),
        (true, false) => out.push((field("uidMappings"), "required with gidMappings".into())),
        (true, true) if container_userns(spec).is_none() => out.push((
            field("options"),
            "\"idmap\"/\"ridmap\" without uidMappings and gidMappings takes the container's user namespace mapping, and the container has no user namespace".into(),
        )),
        _ => {}
    }
    for (name, maps) in [("uidMappings", req.uid), ("gidMappings", req.gid)] {
        for (j, map) in maps.iter().enumerate() {
            let fits = |start: u32| start.checked_add(map.size()).is_some();
            if map.size() == 0 || !fits(map.container_id()) || !fits(map.host_id()) {
                out.push((
                    format!("mounts[{i}].{name}[{j}]"),
                    "size must be positive and the range must fit in 32 bits".into(),
                ));
            }
        }
    }
    out
}

/// The container's user namespace: its mappings (a new one) or its path
/// (one joined).
enum ContainerUserns<'a> {
    New(&'a [LinuxIdMapping], &'a [LinuxIdMapping]),
    Path(&'a Path),
}

fn container_userns(spec: &Spec) -> Option<ContainerUserns<'_>> {
    let linux = spec.linux().as_ref()?;
    let ns = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|n| n.typ() == LinuxNamespaceType::User)?;
    Some(match ns.path() {
        Some(p) => ContainerUserns::Path(p),
        None => ContainerUserns::New(
            linux.uid_mappings().as_deref().unwrap_or(&[]),
            linux.gid_mappings().as_deref().unwrap_or(&[]),
        ),
    })
}

/// Makes every idmapped mount the spec asks for. On error everything made
/// so far is released: the helper processes are reaped as they go, and a
/// detached mount disappears with its last fd.
pub(crate) fn prepare(spec: &Spec, bundle: &Path) -> Result<IdmappedMounts> {
    let mut out = IdmappedMounts::default();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let Some(req) = request(m) else { continue };
        let field = format!("mounts[{i}]");
        let userns = if req.uid.is_empty() && req.gid.is_empty() {
            match container_userns(spec) {
                Some(ContainerUserns::New(uid, gid)) => userns_with([(uid, "linux.uidMappings"), (gid, "linux.gidMappings")], &format!("{field}.options"))?,
                Some(ContainerUserns::Path(p)) => rustix::fs::open(p, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                    .map_err(|e| Error::sys(format!("{field}.options: opening the container's user namespace {p:?}"), e))?,
                None => return Err(Error::InvalidArgument(format!("{field}.options: idmap needs uidMappings/gidMappings or a container user namespace"))),
            }
        } else {
            userns_with(
                [
                    (req.uid, &format!("{field}.uidMappings")),
                    (req.gid, &format!("{field}.gidMappings")),
                ],
                &field,
            )?
        };
        let src = crate::mount_sources::bind_source(m, i, bundle)?;
        let src = proc_guard::open_bind_source(None, &src)
            .map_err(|r| Error::InvalidArgument(format!("{field}.source: {r}")))?;
        let mut flags = OpenTreeFlags::OPEN_TREE_CLONE
            | OpenTreeFlags::OPEN_TREE_CLOEXEC
            | OpenTreeFlags::AT_EMPTY_PATH;
        if req.rbind {
            flags |= OpenTreeFlags::AT_RECURSIVE;
        }
        let tree = rustix::mount::open_tree(&src, "", flags)
            .map_err(|e| Error::sys(format!("{field}.source: cloning the source tree"), e))?;
        let attr = MountAttr {
            attr_set: MOUNT_ATTR_IDMAP,
            userns_fd: std::os::fd::AsRawFd::as_raw_fd(&userns) as u64,
            ..Default::default()
        };
        syscall::mount_setattr(tree.as_fd(), req.recursive, &attr).map_err(|e| Error::sys(format!("{field}.uidMappings: idmapping the mount (does the filesystem support idmapped mounts?)"), e))?;
        out.0.insert(i, tree);
    }
    Ok(out)
}

/// A user namespace fd with these mappings: a helper process is forked
/// into a new user namespace, given the maps, its namespace opened, and
/// then killed and reaped (the fd keeps the namespace alive).
fn userns_with(maps: [(&[LinuxIdMapping], &str); 2], field: &str) -> Result<OwnedFd> {
    let hull = rustix::process::getpid();
    // SAFETY: hull is single-threaded here; the child only calls
    // async-signal-safe functions and never returns.
    let forked = unsafe { syscall::clone3(libc::CLONE_NEWUSER as u64) }
        .map_err(|e| Error::sys(format!("{field}: creating a user namespace"), e))?;
    let helper = match forked {
        Forked::Child => helper_wait(hull.as_raw_nonzero().get()),
        Forked::Parent { pid, pidfd } => Helper { pid, pidfd },
    };
    userns::write_maps(helper.pid, maps)?;
    let path = format!("/proc/{}/ns/user", helper.pid);
    rustix::fs::open(
        path.as_str(),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys(format!("{field}: opening {path}"), e))
}

/// The helper's whole life: wait to be killed, and die with hull.
fn helper_wait(hull: i32) -> ! {
    // SAFETY: prctl, getppid, pause and _exit are async-signal-safe.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != hull {
            libc::_exit(1);
        }
        loop {
            libc::pause();
        }
    }
}

/// Kills and reaps the helper however `userns_with` ends.
struct Helper {
    pid: i32,
    pidfd: OwnedFd,
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = rustix::process::pidfd_send_signal(&self.pidfd, rustix::process::Signal::KILL);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid), None);
    }
}
