//! Building the container's filesystem view inside its mount namespace:
//! the rootfs bind, the `mounts` list, default devices, pivot_root, and the
//! masked / read-only paths. Mount targets are resolved inside the rootfs
//! with openat2(RESOLVE_IN_ROOT), and the mount is made on the resolved fd
//! (/proc/self/fd/N), so a symlink in the rootfs can never redirect a mount
//! onto the host.
//!
//! This file holds the sequence and the `mounts` entries; `cgroup.rs` the
//! cgroup mounts, `devices.rs` the device nodes, `paths.rs` what follows
//! pivot_root (masked and read-only paths), `open.rs` the confined lookup,
//! `locked.rs` the flags a user namespace locks, `ctx.rs` the context.

use std::{os::fd::OwnedFd, path::Path};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::{Mount, Spec};
use rustix::fs::{Mode, OFlags, ResolveFlags};

mod cgroup;
mod ctx;
mod devices;
mod locked;
mod open;
mod paths;

use crate::proc_guard;
use crate::{
    config::mount_options::{is_bind, parse_options, propagation_flags, MountOpts, MS_NOSYMFOLLOW},
    error::{Error, Result},
    mount_fd::attach_copy,
    mount_sources::{self, Slot},
    procfs_handle::fd_path,
};

use cgroup::mount_cgroup;
use devices::{create_default_devices, create_device};
use locked::{locked_flags, locked_flags_error};
use open::{remount, reopen_dir, resolve_dest};

pub(crate) use ctx::RootfsCtx;
pub(crate) use open::open_in_root;
pub(crate) use paths::{mask_paths, readonly_paths, remount_root_readonly, reopen_dev_null};

const NONE: Option<&str> = None;

/// Everything that happens before pivot_root: propagation, the rootfs bind
/// and every entry of `mounts`, then the devices.
pub(crate) fn prepare(ctx: &RootfsCtx) -> Result<OwnedFd> {
    let linux = ctx.spec.linux().as_ref();
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flags)
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    mount(NONE, "/", NONE, prop, NONE)
        .map_err(|e| Error::sys("linux.rootfsPropagation: setting propagation of /", e))?;
    // pivot_root refuses a new root whose parent mount is shared.
    let (holder, rootfs) = mount_sources::request_rootfs(ctx.channel)?;
    mount(
        NONE,
        fd_path(&holder).as_str(),
        NONE,
        MsFlags::MS_PRIVATE,
        NONE,
    )
    .map_err(|e| {
        Error::sys(
            format!(
                "root.path: making the mount holding {:?} private",
                ctx.rootfs
            ),
            e,
        )
    })?;
    drop(holder);
    let root = bind_onto_itself(&rootfs)
        .map_err(|e| Error::sys(format!("root.path: bind-mounting {:?}", ctx.rootfs), e))?;

    let dev_is_bind = dev_is_bind(ctx.spec);
    for (i, m) in ctx.spec.mounts().iter().flatten().enumerate() {
        mount_entry(ctx, &root, m, i).map_err(|e| match e {
            Error::Sys { context, source } => Error::Sys {
                context: format!("mounts[{i}] ({}): {context}", m.destination().display()),
                source,
            },
            other => other,
        })?;
    }
    if dev_is_bind {
        // The nodes there are the source's (often the host's own /dev):
        // creating any would write into it. runc skips them too.
        if linux
            .and_then(|l| l.devices().as_ref())
            .is_some_and(|d| !d.is_empty())
        {
            tracing::warn!("linux.devices: not created, /dev is a bind mount");
        }
        return Ok(root);
    }
    create_default_devices(&root, ctx.in_userns)?;
    for (i, d) in linux
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        create_device(&root, d, ctx.in_userns)
            .map_err(|e| Error::sys(format!("linux.devices[{i}] ({})", d.path().display()), e))?;
    }
    Ok(root)
}

/// runc's needsSetupDev, inverted: a bind mount lands on /dev (however the
/// destination is spelled), so hull must create nothing in it.
fn dev_is_bind(spec: &Spec) -> bool {
    spec.mounts()
        .iter()
        .flatten()
        .any(|m| is_bind(m) && proc_guard::lexical_clean(m.destination()) == Path::new("/dev"))
}

/// The rootfs bound onto itself, recursively (so the new root is a mount
/// point pivot_root can take), from the fd the runtime opened: no path is
/// looked up. Returns the root of the new mount.
fn bind_onto_itself(rootfs: &OwnedFd) -> rustix::io::Result<OwnedFd> {
    attach_copy(rootfs, rootfs, true)
}

fn mount_entry(ctx: &RootfsCtx, root: &OwnedFd, m: &Mount, i: usize) -> Result<()> {
    let dest = m.destination();
    let mut opts = parse_options(m.options().as_deref().unwrap_or(&[]))
        .map_err(|r| Error::Init(format!("mounts[{i}].options: {r}")))?;
    if read_only_last(m) {
        // Mounts under it, devices and the console still need it writable.
        opts.flags.remove(MsFlags::MS_RDONLY);
    }
    let kind = match m.typ().as_deref() {
        _ if is_bind(m) => proc_guard::Kind::Bind,
        Some("proc") => proc_guard::Kind::Proc,
        _ => proc_guard::Kind::Other,
    };
    if let Some(fstype @ ("proc" | "sysfs")) = m
        .typ()
        .as_deref()
        .filter(|_| kind != proc_guard::Kind::Bind)
    {
        ordinary_directory(root, dest, fstype)
            .map_err(|r| Error::Init(format!("mounts[{i}].destination {dest:?}: {r}")))?;
    }
    let idmapped = ctx.idmapped.get(i);
    let source = match kind {
        // The parent opened (and checked) the source of an idmapped mount.
        proc_guard::Kind::Bind if idmapped.is_some() => None,
        proc_guard::Kind::Bind => Some(mount_sources::request(ctx.channel, Slot::Bind(i))?),
        _ => None,
    };
    let is_dir = match source.as_ref().or(idmapped) {
        Some(fd) => {
            rustix::fs::fstat(fd)
                .map_err(|e| Error::sys("stat of the bind source", e))?
                .st_mode
                & libc::S_IFMT
                == libc::S_IFDIR
        }
        None => true,
    };
    // Where the destination really lands, checked before anything covers it.
    let target = open_in_root(root, dest, !is_dir)
        .map_err(|e| Error::sys(format!("resolving destination {dest:?}"), e))?;
    proc_guard::check_resolved(ctx.rootfs, &target, kind, source.as_ref().or(idmapped))
        .map_err(|r| Error::Init(format!("mounts[{i}].destination {dest:?}: {r}")))?;
    let bind = match (idmapped, &source) {
        (Some(tree), _) => Some(BindFrom::Tree(tree)),
        (None, Some(fd)) => Some(BindFrom::Path(fd)),
        (None, None) => None,
    };
    mount_by_type(ctx, root, m, &opts, bind, target)?;
    if !opts.recursive.is_empty() {
        let target = resolve_dest(root, dest)?;
        opts.recursive
            .apply(&target)
            .map_err(|e| Error::sys("options: applying the recursive (r*) attributes", e))?;
    }
    Ok(())
}

/// runc's rule for proc and sysfs (CVE-2019-16884): the destination is an
/// ordinary directory (or not there yet), never a symlink, whose target
/// the image would choose.
fn ordinary_directory(
    root: &OwnedFd,
    dest: &Path,
    fstype: &str,
) -> std::result::Result<(), String> {
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let fd = match rustix::fs::openat2(
        root,
        dest,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        how,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(format!("checking it: {}", std::io::Error::from(e))),
    };
    let st =
        rustix::fs::fstat(&fd).map_err(|e| format!("checking it: {}", std::io::Error::from(e)))?;
    match rustix::fs::FileType::from_raw_mode(st.st_mode) {
        rustix::fs::FileType::Directory => Ok(()),
        rustix::fs::FileType::Symlink => Err(format!("filesystem {fstype:?} must be mounted on ordinary directory, and it is a symlink in the rootfs")),
        _ => Err(format!("filesystem {fstype:?} must be mounted on ordinary directory, and it is not a directory in the rootfs")),
    }
}

/// runc mounts every tmpfs, and a /dev that is not a bind, writable, and
/// makes those asked to be read-only so last ([`remount_read_only_last`]).
/// A bind never: its source is outside the container (maybe the host's
/// own /dev), and the devices, mount points and console made meanwhile
/// would land there.
fn read_only_last(m: &Mount) -> bool {
    !is_bind(m)
        && (m.typ().as_deref() == Some("tmpfs")
            || proc_guard::lexical_clean(m.destination()) == Path::new("/dev"))
}

/// Post-pivot, after the console: the mounts [`read_only_last`] kept
/// writable turn read-only, keeping their other flags.
pub(crate) fn remount_read_only_last(spec: &Spec) -> Result<()> {
    let per_mount = MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC
        | MsFlags::MS_NOATIME
        | MsFlags::MS_NODIRATIME
        | MsFlags::MS_RELATIME
        | MsFlags::MS_STRICTATIME
        | MS_NOSYMFOLLOW;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        // Parsed before, in the mount phase; an error here must not leave
        // the mount writable.
        let opts = parse_options(m.options().as_deref().unwrap_or(&[]))
            .map_err(|r| Error::Init(format!("mounts[{i}].options: {r}")))?;
        if !opts.flags.contains(MsFlags::MS_RDONLY) || !read_only_last(m) {
            continue;
        }
        let dest = m.destination();
        let keep = locked_flags(&dest.to_string_lossy()) | (opts.flags & per_mount);
        mount(
            NONE,
            dest,
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep,
            NONE,
        )
        .map_err(|e| {
            Error::sys(
                format!("mounts[{i}] ({}): remounting read-only", dest.display()),
                e,
            )
        })?;
    }
    Ok(())
}

/// Where a bind mount comes from: a checked O_PATH fd of the source, or
/// a detached (idmapped) tree the parent prepared, attached as it is.
enum BindFrom<'a> {
    Path(&'a OwnedFd),
    Tree(&'a OwnedFd),
}

/// Mounts `m` onto `target`, the destination as resolved and checked (the
/// mount lands exactly where the check looked).
fn mount_by_type(
    ctx: &RootfsCtx,
    root: &OwnedFd,
    m: &Mount,
    opts: &MountOpts,
    bind: Option<BindFrom>,
    target: OwnedFd,
) -> Result<()> {
    let typ = m.typ().as_deref().unwrap_or("");
    let dest = m.destination();
    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(ctx, root, m, opts);
    }
    if let Some(from) = bind {
        let src = m.source().as_deref().unwrap_or(Path::new(""));
        match from {
            // From the fd that was checked, not the path, which could change.
            BindFrom::Path(fd) => mount(
                Some(fd_path(fd).as_str()),
                fd_path(&target).as_str(),
                NONE,
                MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC),
                NONE,
            )
            .map_err(|e| Error::sys(format!("bind-mounting {src:?}"), e))?,
            BindFrom::Tree(tree) => crate::mount_fd::move_onto(tree, &target)
                .map_err(|e| Error::sys(format!("attaching the detached mount of {src:?}"), e))?,
        }
        // difference, not `& !`: bitflags' complement drops MS_NOSYMFOLLOW,
        // a bit nix does not name.
        let extra = opts
            .flags
            .difference(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            // Bind mounts ignore flags on creation: apply them by remount,
            // keeping the flags the source mount has that we must not drop
            // (the kernel refuses to clear nodev/nosuid/... in a user ns).
            let target = resolve_dest(root, dest)?;
            let locked = locked_flags(&fd_path(&target));
            let keep = locked & !opts.clear;
            remount(
                &target,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra | keep,
            )
            .map_err(|e| match locked & opts.clear {
                cleared
                    if e == nix::errno::Errno::EPERM && ctx.in_userns && !cleared.is_empty() =>
                {
                    Error::sys(locked_flags_error(cleared), e)
                }
                _ => Error::sys("remounting bind mount with its options", e),
            })?;
        }
        return apply_propagation(root, dest, opts);
    }
    if typ == "sysfs" && !ctx.new_netns && ctx.in_userns {
        // In a user namespace without its own netns the kernel refuses a new
        // sysfs instance: bind the host's read-only instead, as runc does.
        mount(
            Some("/sys"),
            fd_path(&target).as_str(),
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            NONE,
        )
        .map_err(|e| Error::sys("bind-mounting /sys", e))?;
        let target = resolve_dest(root, dest)?;
        remount(
            &target,
            MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | opts.flags.difference(MsFlags::MS_REMOUNT),
        )
        .map_err(|e| Error::sys("remounting /sys read-only", e))?;
        return Ok(());
    }
    // Opened before the mount hides it: the image's contents to copy up.
    let below = if opts.copy_up {
        if typ != "tmpfs" {
            return Err(Error::Init(format!(
                "mounts ({}): tmpcopyup only applies to tmpfs",
                dest.display()
            )));
        }
        Some(
            reopen_dir(&target)
                .map_err(|e| Error::sys(format!("opening {dest:?} for tmpcopyup"), e))?,
        )
    } else {
        None
    };
    let data = opts.data.join(",");
    let source = m
        .source()
        .as_ref()
        .map(|s| s.as_os_str().to_owned())
        .unwrap_or_else(|| typ.into());
    mount(
        Some(source.as_os_str()),
        fd_path(&target).as_str(),
        Some(typ),
        opts.flags,
        if data.is_empty() {
            None
        } else {
            Some(data.as_str())
        },
    )
    .map_err(|e| Error::sys(format!("mounting {typ} on {dest:?}"), e))?;
    if let Some(below) = below {
        let top = resolve_dest(root, dest)?;
        let top = reopen_dir(&top).map_err(|e| Error::sys("opening the new tmpfs", e))?;
        copy_tree(&below, &top, 0)
            .map_err(|e| Error::sys(format!("tmpcopyup into {dest:?}"), e))?;
    }
    apply_propagation(root, dest, opts)
}

/// Copies a directory's contents (files, dirs, symlinks, fifos; modes and
/// owners kept) fd to fd, never following a symlink, so nothing outside
/// the rootfs is read or written.
fn copy_tree(from: &OwnedFd, to: &OwnedFd, depth: u32) -> std::io::Result<()> {
    use rustix::fs::{AtFlags, FileType};
    if depth > 64 {
        return Err(rustix::io::Errno::LOOP.into());
    }
    let st = rustix::fs::fstat(from)?;
    rustix::fs::fchmod(to, Mode::from_raw_mode(st.st_mode & 0o7777))?;
    rustix::fs::fchown(
        to,
        Some(rustix::fs::Uid::from_raw(st.st_uid)),
        Some(rustix::fs::Gid::from_raw(st.st_gid)),
    )?;
    for entry in rustix::fs::Dir::read_from(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let st = rustix::fs::statat(from, name, AtFlags::SYMLINK_NOFOLLOW)?;
        let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                rustix::fs::mkdirat(to, name, mode)?;
                let src = rustix::fs::openat(
                    from,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let dst = rustix::fs::openat(
                    to,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                copy_tree(&src, &dst, depth + 1)?;
                continue;
            }
            FileType::RegularFile => {
                let src = rustix::fs::openat(
                    from,
                    name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let dst = rustix::fs::openat(
                    to,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    mode,
                )?;
                std::io::copy(&mut std::fs::File::from(src), &mut std::fs::File::from(dst))?;
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(from, name, Vec::new())?;
                rustix::fs::symlinkat(target.as_c_str(), to, name)?;
            }
            FileType::Fifo
            | FileType::CharacterDevice
            | FileType::BlockDevice
            | FileType::Socket => {
                rustix::fs::mknodat(
                    to,
                    name,
                    FileType::from_raw_mode(st.st_mode),
                    mode,
                    st.st_rdev,
                )?;
            }
            FileType::Unknown => continue,
        }
        rustix::fs::chownat(
            to,
            name,
            Some(rustix::fs::Uid::from_raw(st.st_uid)),
            Some(rustix::fs::Gid::from_raw(st.st_gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
            rustix::fs::chmodat(to, name, mode, AtFlags::empty())?;
        }
    }
    Ok(())
}

fn apply_propagation(root: &OwnedFd, dest: &Path, opts: &MountOpts) -> Result<()> {
    for p in &opts.propagation {
        let target = resolve_dest(root, dest)?;
        remount(&target, *p).map_err(|e| Error::sys("setting mount propagation", e))?;
    }
    Ok(())
}

/// Makes `root` (the rootfs bind) the root: pivot_root onto itself and
/// detach the old root (runc's trick, which needs no temporary directory),
/// or MS_MOVE + chroot with `--no-pivot`.
pub(crate) fn enter(root: &OwnedFd, no_pivot: bool) -> Result<()> {
    // By fd: the path may lie under directories the init cannot search.
    rustix::process::fchdir(root).map_err(|e| Error::sys("entering the rootfs", e))?;
    if no_pivot {
        mount(Some("."), "/", NONE, MsFlags::MS_MOVE, NONE)
            .map_err(|e| Error::sys("moving rootfs to /", e))?;
        rustix::process::chroot(".").map_err(|e| Error::sys("chroot", e))?;
    } else {
        nix::unistd::pivot_root(".", ".").map_err(|e| Error::sys("pivot_root", e))?;
        // The old root is stacked under the new one at "."; make it a slave
        // so the detach cannot propagate to the host, then drop it.
        mount(NONE, ".", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE)
            .map_err(|e| Error::sys("making old root a slave", e))?;
        umount2(".", MntFlags::MNT_DETACH).map_err(|e| Error::sys("detaching old root", e))?;
    }
    nix::unistd::chdir("/").map_err(|e| Error::sys("chdir /", e))?;
    Ok(())
}

/// The new root is a bind of the rootfs made under a private parent
/// (pivot_root refuses a shared one), so it starts out private whatever
/// linux.rootfsPropagation asked for. A shared or unbindable root is only
/// what the spec says once set again here, on the container's own root.
pub(crate) fn restore_root_propagation(spec: &Spec) -> Result<()> {
    let Some(name) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
    else {
        return Ok(());
    };
    let flags = propagation_flags(name).ok_or_else(|| {
        Error::Init(format!(
            "linux.rootfsPropagation: unknown propagation {name:?}"
        ))
    })?;
    if flags.intersects(MsFlags::MS_SHARED | MsFlags::MS_UNBINDABLE) {
        mount(NONE, "/", NONE, flags, NONE).map_err(|e| {
            Error::sys(
                format!("linux.rootfsPropagation: making the container's / {name}"),
                e,
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Options that do not parse are an error in the read-only pass too,
    /// naming the field, rather than a mount quietly left writable. It
    /// fails before any mount call, so it runs unprivileged.
    #[test]
    fn read_only_last_refuses_options_it_cannot_parse() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["ro", "idmap=uids=0-1-10"]}
            ]
        }))
        .unwrap();
        let e = remount_read_only_last(&spec).unwrap_err().to_string();
        assert!(e.contains("mounts[1].options"), "{e}");
    }
}
