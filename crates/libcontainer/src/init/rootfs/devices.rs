//! Device nodes: the default set and `linux.devices`, made with mknod or,
//! in a user namespace, bound from the host's.

use std::{
    os::fd::OwnedFd,
    path::{Path, PathBuf},
};

use nix::mount::{mount, MsFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use rustix::fs::Mode;

use super::open::{open_in_root, reopen_dir};
use crate::{
    error::{Error, Result},
    procfs_handle::fd_path,
};

const NONE: Option<&str> = None;

const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

pub(super) fn create_default_devices(root: &OwnedFd, userns: bool) -> Result<()> {
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

pub(super) fn create_device(root: &OwnedFd, d: &LinuxDevice, userns: bool) -> std::io::Result<()> {
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
