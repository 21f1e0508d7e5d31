//! Building the container's filesystem view inside its mount namespace:
//! the rootfs bind, the `mounts` list, default devices, pivot_root, and the
//! masked / read-only paths. Mount targets are resolved inside the rootfs
//! with openat2(RESOLVE_IN_ROOT), and the mount is made on the resolved fd
//! (/proc/self/fd/N), so a symlink in the rootfs can never redirect a mount
//! onto the host.

use std::{
    os::{fd::OwnedFd, unix::ffi::OsStrExt},
    path::{Component, Path, PathBuf},
};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::proc_guard;
use crate::{
    config::mount_options::{is_bind, parse_options, propagation_flags, MountOpts, MS_NOSYMFOLLOW},
    error::{Error, Result},
    mount_fd::{attach_copy, bind_fd, describe_type},
    mount_sources::{self, Slot},
    procfs_handle::fd_path,
};

const NONE: Option<&str> = None;

/// Opens (creating if needed) `dest` inside the rootfs without ever leaving
/// it: every lookup is confined to `root` by RESOLVE_IN_ROOT.
/// A readable directory fd for what the O_PATH `fd` names: mkdirat,
/// mknodat and reading entries need one.
fn reopen_dir(fd: &OwnedFd) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

pub(crate) fn open_in_root(
    root: &OwnedFd,
    dest: &Path,
    create_file: bool,
) -> std::io::Result<OwnedFd> {
    open_in_root_depth(root, dest, create_file, 0)
}

fn open_in_root_depth(
    root: &OwnedFd,
    dest: &Path,
    create_file: bool,
    depth: u32,
) -> std::io::Result<OwnedFd> {
    // Same bound as the kernel's for nested symlinks.
    if depth > 40 {
        return Err(rustix::io::Errno::LOOP.into());
    }
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let path_flags = OFlags::PATH | OFlags::CLOEXEC;
    match rustix::fs::openat2(root, dest, path_flags, Mode::empty(), how) {
        Ok(fd) => return Ok(fd),
        Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(e.into()),
    }
    let comps: Vec<&std::ffi::OsStr> = dest
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            _ => None,
        })
        .collect();
    let mut cur = rustix::fs::openat2(
        root,
        ".",
        path_flags | OFlags::DIRECTORY,
        Mode::empty(),
        how,
    )?;
    let mut walked = PathBuf::from("/");
    for (i, comp) in comps.iter().enumerate() {
        let last = i + 1 == comps.len();
        let next = match rustix::fs::openat2(&cur, *comp, path_flags, Mode::empty(), how) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => {
                // mkdirat/mknodat need a real directory fd, not O_PATH.
                let dir = rustix::fs::openat2(
                    &cur,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                    how,
                )?;
                if let Ok(target) = rustix::fs::readlinkat(&dir, *comp, Vec::new()) {
                    // A dangling symlink: create what it points to, read as
                    // a path inside the rootfs (RESOLVE_IN_ROOT keeps even
                    // "/host/path" and "../../.." under the root).
                    let target = PathBuf::from(std::ffi::OsStr::from_bytes(target.as_bytes()));
                    let mut next = if target.is_absolute() {
                        target
                    } else {
                        walked.join(target)
                    };
                    for rest in &comps[i + 1..] {
                        next.push(rest);
                    }
                    return open_in_root_depth(root, &next, create_file, depth + 1);
                }
                let made = if last && create_file {
                    rustix::fs::mknodat(
                        &dir,
                        *comp,
                        rustix::fs::FileType::RegularFile,
                        Mode::from_raw_mode(0o644),
                        0,
                    )
                } else {
                    rustix::fs::mkdirat(&dir, *comp, Mode::from_raw_mode(0o755))
                };
                match made {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
                rustix::fs::openat2(&cur, *comp, path_flags, Mode::empty(), how)?
            }
            Err(e) => return Err(e.into()),
        };
        walked.push(comp);
        cur = next;
    }
    Ok(cur)
}

pub(crate) struct RootfsCtx<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    /// The mounts are made in a user namespace other than the initial one
    /// (the container's or the runtime's own): no mknod, mount flags the
    /// kernel keeps locked, no new sysfs without a network namespace.
    pub in_userns: bool,
    pub new_netns: bool,
    pub new_cgroupns: bool,
    pub idmapped: &'a crate::idmap::IdmappedMounts,
    /// To ask the runtime for the rootfs and bind sources.
    pub channel: &'a crate::sync::Channel,
}

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
    let holder = mount_sources::request(ctx.channel, Slot::RootfsParent)?;
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
    let rootfs = mount_sources::request(ctx.channel, Slot::Rootfs)?;
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
        let target = open_in_root(root, dest, false)
            .map_err(|e| Error::sys(format!("resolving destination {dest:?}"), e))?;
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
            let target = open_in_root(root, dest, false)
                .map_err(|e| Error::sys(format!("resolving destination {dest:?}"), e))?;
            let locked = locked_flags(&fd_path(&target));
            let keep = locked & !opts.clear;
            mount(
                NONE,
                fd_path(&target).as_str(),
                NONE,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra | keep,
                NONE,
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
        let target = open_in_root(root, dest, false)
            .map_err(|e| Error::sys(format!("resolving destination {dest:?}"), e))?;
        mount(
            NONE,
            fd_path(&target).as_str(),
            NONE,
            MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | opts.flags.difference(MsFlags::MS_REMOUNT),
            NONE,
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
        let top = open_in_root(root, dest, false)
            .map_err(|e| Error::sys(format!("resolving destination {dest:?}"), e))?;
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
        let target = open_in_root(root, dest, false)
            .map_err(|e| Error::sys(format!("resolving destination {dest:?}"), e))?;
        mount(NONE, fd_path(&target).as_str(), NONE, *p, NONE)
            .map_err(|e| Error::sys("setting mount propagation", e))?;
    }
    Ok(())
}

/// Why a bind mount in a user namespace cannot lose `cleared`: the kernel
/// locks the flags of a mount that a less privileged namespace received
/// from a more privileged one (mount_namespaces(7), "locked mounts").
fn locked_flags_error(cleared: MsFlags) -> String {
    let names: Vec<&str> = [
        (MsFlags::MS_NOSUID, "nosuid"),
        (MsFlags::MS_NODEV, "nodev"),
        (MsFlags::MS_NOEXEC, "noexec"),
        (MsFlags::MS_RDONLY, "ro"),
        (MsFlags::MS_NOATIME, "noatime"),
        (MsFlags::MS_NODIRATIME, "nodiratime"),
        (MsFlags::MS_RELATIME, "relatime"),
    ]
    .into_iter()
    .filter(|(f, _)| cleared.contains(*f))
    .map(|(_, n)| n)
    .collect();
    format!(
        "options: the source is mounted {} on the host, and in a user namespace the kernel keeps those flags locked on a bind mount of it (a less privileged namespace may not lift a restriction made outside it); drop the option that clears them",
        names.join(",")
    )
}

/// The flags of the mount at `path` that a remount must keep.
fn locked_flags(path: &str) -> MsFlags {
    let Ok(st) = nix::sys::statvfs::statvfs(path) else {
        return MsFlags::empty();
    };
    use nix::sys::statvfs::FsFlags;
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    out
}

/// A `cgroup` mount: the container's own cgroups, not the host's tree.
/// With a cgroup namespace fresh cgroup filesystems are mounted (rooted at
/// the namespace); without one, the container's cgroup directories are
/// bind-mounted from the host.
fn mount_cgroup(ctx: &RootfsCtx, root: &OwnedFd, m: &Mount, opts: &MountOpts) -> Result<()> {
    let dest = m.destination();
    let flags = opts
        .flags
        .difference(MsFlags::MS_RDONLY | MsFlags::MS_BIND | MsFlags::MS_REC);
    let ro = opts.flags & MsFlags::MS_RDONLY;
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::path("/proc/self/mountinfo", e))?;
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| Error::path("/proc/self/cgroup", e))?;
    let hierarchies = cgroup_mounts(&info);
    if let [(mp, fstype, _)] = hierarchies.as_slice() {
        if fstype == "cgroup2" && mp == Path::new("/sys/fs/cgroup") {
            return mount_one_cgroup(
                ctx,
                root,
                dest,
                "cgroup2",
                "",
                mp,
                &own_path(&own, "", true),
                flags | ro,
            );
        }
    }
    let target = open_in_root(root, dest, false)
        .map_err(|e| Error::sys(format!("resolving destination {dest:?}"), e))?;
    mount(
        Some("tmpfs"),
        fd_path(&target).as_str(),
        Some("tmpfs"),
        flags,
        Some("mode=755"),
    )
    .map_err(|e| Error::sys("mounting tmpfs for cgroups", e))?;
    for (mp, fstype, subsys) in &hierarchies {
        let Some(name) = mp.file_name() else { continue };
        let sub = dest.join(name);
        let v2 = fstype == "cgroup2";
        let path = own_path(&own, subsys, v2);
        mount_one_cgroup(
            ctx,
            root,
            &sub,
            fstype,
            if v2 { "" } else { subsys },
            mp,
            &path,
            flags | ro,
        )?;
    }
    if !ro.is_empty() {
        let target = open_in_root(root, dest, false)
            .map_err(|e| Error::sys(format!("resolving destination {dest:?}"), e))?;
        mount(
            NONE,
            fd_path(&target).as_str(),
            NONE,
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | flags,
            NONE,
        )
        .map_err(|e| Error::sys("remounting cgroup tmpfs read-only", e))?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn mount_one_cgroup(
    ctx: &RootfsCtx,
    root: &OwnedFd,
    dest: &Path,
    fstype: &str,
    subsys: &str,
    host_mp: &Path,
    own: &str,
    flags: MsFlags,
) -> Result<()> {
    let target = open_in_root(root, dest, false)
        .map_err(|e| Error::sys(format!("resolving destination {dest:?}"), e))?;
    let tp = fd_path(&target);
    let fresh = ctx.new_cgroupns
        && match mount(
            Some("cgroup"),
            tp.as_str(),
            Some(fstype),
            flags,
            if subsys.is_empty() {
                None
            } else {
                Some(subsys)
            },
        ) {
            Ok(()) => true,
            // The same cgroup2 superblock is already mounted at this very
            // place (a /sys bound from the host), or the kernel refuses a
            // new instance here: the container's own directory, bound, shows
            // the same thing a cgroup-namespace mount would.
            Err(nix::errno::Errno::EBUSY) | Err(nix::errno::Errno::EPERM) => false,
            Err(e) => {
                return Err(Error::sys(
                    format!("mounting {fstype} {subsys} on {dest:?}").replace("  ", " "),
                    e,
                ))
            }
        };
    if !fresh {
        let src = host_mp.join(own.trim_start_matches('/'));
        mount(Some(&src), tp.as_str(), NONE, MsFlags::MS_BIND, NONE)
            .map_err(|e| Error::sys(format!("bind-mounting {src:?}"), e))?;
        let target = open_in_root(root, dest, false)
            .map_err(|e| Error::sys(format!("resolving destination {dest:?}"), e))?;
        mount(
            NONE,
            fd_path(&target).as_str(),
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags,
            NONE,
        )
        .map_err(|e| Error::sys(format!("remounting {dest:?}"), e))?;
    }
    Ok(())
}

/// cgroup mounts under /sys/fs/cgroup: (mount point, fstype, v1 subsystem options).
fn cgroup_mounts(mountinfo: &str) -> Vec<(PathBuf, String, String)> {
    let mut out = Vec::new();
    for e in crate::mountinfo::entries(mountinfo) {
        let (mp, fstype, superopts) = (e.mount_point, e.fstype, e.super_opts);
        if (fstype != "cgroup" && fstype != "cgroup2") || !mp.starts_with("/sys/fs/cgroup") {
            continue;
        }
        let subsys = superopts
            .split(',')
            .filter(|o| !matches!(*o, "rw" | "ro") && (o.starts_with("name=") || !o.contains('=')))
            .filter(|o| {
                fstype == "cgroup"
                    && !matches!(
                        *o,
                        "noprefix" | "clone_children" | "xattr" | "cpuset_v2_mode"
                    )
            })
            .collect::<Vec<_>>()
            .join(",");
        out.push((mp, fstype.to_owned(), subsys));
    }
    out
}

/// The process's own cgroup path in the hierarchy with these subsystems.
fn own_path(proc_cgroup: &str, subsys: &str, v2: bool) -> String {
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if (v2 && ctrls.is_empty()) || (!v2 && !ctrls.is_empty() && ctrls == subsys) {
            return path.to_owned();
        }
    }
    "/".to_owned()
}

const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

fn create_default_devices(root: &OwnedFd, userns: bool) -> Result<()> {
    for (name, major, minor) in DEFAULT_DEVICES {
        let path = PathBuf::from("/dev").join(name);
        make_node(
            root,
            &path,
            rustix::fs::FileType::CharacterDevice,
            major,
            minor,
            0o666,
            Some(0),
            Some(0),
            userns,
        )
        .map_err(|e| Error::sys(format!("creating default device {path:?}"), e))?;
    }
    let dev = open_in_root(root, Path::new("/dev"), false)
        .map_err(|e| Error::sys("opening /dev in rootfs", e))?;
    let dev = reopen_dir(&dev).map_err(|e| Error::sys("opening /dev", e))?;
    let links = [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ];
    for (name, target) in links {
        match rustix::fs::symlinkat(target, &dev, name) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(Error::sys(format!("creating /dev/{name}"), e)),
        }
    }
    Ok(())
}

fn create_device(root: &OwnedFd, d: &LinuxDevice, userns: bool) -> std::io::Result<()> {
    use rustix::fs::FileType;
    let ft = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
        LinuxDeviceType::B => FileType::BlockDevice,
        LinuxDeviceType::P => FileType::Fifo,
        LinuxDeviceType::A => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "type \"a\" is not a device node",
            ))
        }
    };
    let mode = d.file_mode().unwrap_or(0o666) & 0o7777;
    make_node(
        root,
        d.path(),
        ft,
        d.major() as u64,
        d.minor() as u64,
        mode,
        d.uid(),
        d.gid(),
        userns,
    )
}

#[allow(clippy::too_many_arguments)]
fn make_node(
    root: &OwnedFd,
    path: &Path,
    ft: rustix::fs::FileType,
    major: u64,
    minor: u64,
    mode: u32,
    uid: Option<u32>,
    gid: Option<u32>,
    userns: bool,
) -> std::io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?;
    let pfd = open_in_root(root, parent, false)?;
    let dir = reopen_dir(&pfd)?;
    if userns {
        // mknod is not allowed in a user namespace: bind the host's node
        // onto an empty file instead, as runc does.
        match rustix::fs::mknodat(
            &dir,
            name,
            rustix::fs::FileType::RegularFile,
            Mode::from_raw_mode(0o644),
            0,
        ) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        let target = open_in_root(root, path, true)?;
        return mount(
            Some(path),
            fd_path(&target).as_str(),
            NONE,
            MsFlags::MS_BIND,
            NONE,
        )
        .map_err(Into::into);
    }
    let _ = rustix::fs::unlinkat(&dir, name, rustix::fs::AtFlags::empty());
    let dev = rustix::fs::makedev(major as u32, minor as u32);
    rustix::fs::mknodat(&dir, name, ft, Mode::from_raw_mode(mode), dev)?;
    // mknod is subject to the umask; the spec's mode is exact.
    rustix::fs::chmodat(
        &dir,
        name,
        Mode::from_raw_mode(mode),
        rustix::fs::AtFlags::empty(),
    )?;
    if uid.is_some() || gid.is_some() {
        rustix::fs::chownat(
            &dir,
            name,
            uid.map(rustix::fs::Uid::from_raw),
            gid.map(rustix::fs::Gid::from_raw),
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )?;
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

/// Post-pivot: stdio that is the host's /dev/null becomes the container's
/// own, as runc does. A file on a mount outside the container cannot be
/// checkpointed by CRIU, and /dev/null is the usual stdio of a detached
/// container.
pub(crate) fn reopen_dev_null() -> Result<()> {
    let mut ours = None;
    for n in 0..3 {
        // SAFETY: stdio fds stay open for the whole of the init.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(n) };
        let Ok(st) = rustix::fs::fstat(fd) else {
            continue;
        };
        if !is_null_device(&st) {
            continue;
        }
        if ours.is_none() {
            // No link followed, and never a controlling terminal: this
            // process is a session leader.
            let f = match rustix::fs::open(
                "/dev/null",
                OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(f) => f,
                // A symlink: not a null device of ours, keep the host's.
                Err(rustix::io::Errno::LOOP) => return Ok(()),
                Err(e) => return Err(Error::sys("opening the container's /dev/null", e)),
            };
            let st = rustix::fs::fstat(&f)
                .map_err(|e| Error::sys("stat of the container's /dev/null", e))?;
            if !is_null_device(&st) {
                // Not a null device (an odd rootfs): keep the host's.
                return Ok(());
            }
            ours = Some(f);
        }
        if let Some(f) = &ours {
            let r = match n {
                0 => rustix::stdio::dup2_stdin(f),
                1 => rustix::stdio::dup2_stdout(f),
                _ => rustix::stdio::dup2_stderr(f),
            };
            r.map_err(|e| Error::sys("reopening /dev/null on stdio", e))?;
        }
    }
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

/// Post-pivot: masked paths get /dev/null (files) or a read-only tmpfs
/// (directories); missing paths are skipped, as runc does.
///
/// Everything here is by fd: the target is resolved inside the root, the
/// tmpfs is made detached and moved onto it, and /dev/null is opened once
/// without following a link and checked to be the null device before it is
/// bound (runc's CVE-2025-31133: a /dev/null swapped for a symlink to a
/// procfs file would otherwise expose that file, writable, at the masked
/// path).
pub(crate) fn mask_paths(paths: &[String]) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("opening the container's /", e))?;
    let mut null = None;
    for p in paths {
        // A final symlink is followed: it can only lead elsewhere inside
        // the container's own root, and runc masks what it points to too.
        let target = match rustix::fs::openat2(
            &root,
            p.as_str(),
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(Error::sys(format!("linux.maskedPaths: {p:?}"), e)),
        };
        let st = rustix::fs::fstat(&target)
            .map_err(|e| Error::sys(format!("linux.maskedPaths: {p:?}"), e))?;
        let (r, with) =
            if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory {
                (mount_masking_tmpfs(&target), "an empty tmpfs")
            } else {
                let null = match &null {
                    Some(n) => n,
                    None => null.insert(open_dev_null(&root)?),
                };
                // Fails (ENOENT) if /dev/null was renamed over meanwhile:
                // the checked inode is never swapped for another.
                (bind_fd(null, &target), "the container's /dev/null")
            };
        r.map_err(|e| Error::sys(format!("linux.maskedPaths: masking {p:?} with {with}"), e))?;
    }
    Ok(())
}

/// The container's /dev/null, proven to be the null device. A char device
/// inode 1:3 opens the null driver whatever filesystem holds it (procfs and
/// sysfs have none), so the type and number are the whole proof; they are
/// read from the very fd that gets bound.
fn open_dev_null(root: &OwnedFd) -> Result<OwnedFd> {
    let null = rustix::fs::openat2(
        root,
        "/dev/null",
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| Error::sys("linux.maskedPaths: opening the container's /dev/null", e))?;
    let st = rustix::fs::fstat(&null)
        .map_err(|e| Error::sys("linux.maskedPaths: stat of the container's /dev/null", e))?;
    if !is_null_device(&st) {
        let ft = rustix::fs::FileType::from_raw_mode(st.st_mode);
        let what = match ft {
            rustix::fs::FileType::CharacterDevice => format!(
                "the char device {}:{}",
                rustix::fs::major(st.st_rdev),
                rustix::fs::minor(st.st_rdev)
            ),
            other => describe_type(other).to_owned(),
        };
        return Err(Error::Init(format!("linux.maskedPaths: the container's /dev/null is {what}, not the null device 1:3; refusing to mask with it")));
    }
    Ok(null)
}

fn is_null_device(st: &rustix::fs::Stat) -> bool {
    rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::CharacterDevice
        && st.st_rdev == rustix::fs::makedev(1, 3)
}

/// An empty read-only tmpfs onto `target`, made detached (fsopen/fsmount)
/// so it lands on the directory the fd names.
fn mount_masking_tmpfs(target: &OwnedFd) -> std::io::Result<()> {
    use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags};
    let fs = rustix::mount::fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC)?;
    rustix::mount::fsconfig_set_string(&fs, "source", "tmpfs")?;
    rustix::mount::fsconfig_set_string(&fs, "size", "0")?;
    rustix::mount::fsconfig_set_string(&fs, "mode", "0755")?;
    rustix::mount::fsconfig_set_flag(&fs, "ro")?;
    rustix::mount::fsconfig_create(&fs)?;
    let mnt = rustix::mount::fsmount(
        &fs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY,
    )?;
    crate::mount_fd::move_onto(&mnt, target)?;
    Ok(())
}

pub(crate) fn readonly_paths(paths: &[String]) -> Result<()> {
    for p in paths {
        match mount(
            Some(p.as_str()),
            p.as_str(),
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            NONE,
        ) {
            Ok(()) => {}
            Err(nix::errno::Errno::ENOENT) => continue,
            Err(e) => return Err(Error::sys(format!("linux.readonlyPaths: binding {p:?}"), e)),
        }
        let keep = locked_flags(p);
        mount(
            NONE,
            p.as_str(),
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep,
            NONE,
        )
        .map_err(|e| {
            Error::sys(
                format!("linux.readonlyPaths: remounting {p:?} read-only"),
                e,
            )
        })?;
    }
    Ok(())
}

pub(crate) fn remount_root_readonly() -> Result<()> {
    let keep = locked_flags("/");
    mount(
        NONE,
        "/",
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep,
        NONE,
    )
    .map_err(|e| Error::sys("root.readonly: remounting / read-only", e))
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

    #[test]
    fn cgroup_mount_parsing() {
        let mi = "30 25 0:26 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n\
                  31 25 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n\
                  32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n\
                  33 25 0:29 / /proc rw - proc proc rw\n";
        let got = cgroup_mounts(mi);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].2, "memory");
        assert_eq!(got[1].2, "name=systemd");
        assert_eq!(got[2].1, "cgroup2");
        let own = "4:memory:/a/b\n1:name=systemd:/s\n0::/u\n";
        assert_eq!(own_path(own, "memory", false), "/a/b");
        assert_eq!(own_path(own, "name=systemd", false), "/s");
        assert_eq!(own_path(own, "", true), "/u");
    }
}
