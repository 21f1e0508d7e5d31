//! Files, directories and sockets at paths whose directory another user may
//! control: the pid file, the checkpoint image and work dirs, `--log`, the
//! console socket (and, because the same code fits, hull's own state files).
//!
//! The caller chose the path, so the directories leading to it are taken as
//! given. What another user who can write the final directory must not get
//! is a root-run hull writing through a name they planted there. So:
//! - every step works on a directory fd, opened once;
//! - a file is written to a fresh temporary name (random, O_CREAT|O_EXCL|
//!   O_NOFOLLOW, so nothing planted is ever opened) and renamed over the
//!   target, which replaces a planted symlink instead of following it;
//! - a directory hull hands to CRIU is opened without following a symlink
//!   and must belong to hull's user and be writable by nobody else;
//! - a symlink at the final name (`--log`, `--console-socket`) is followed
//!   only in a directory that no one but hull's user or root can change,
//!   the case where nobody else could have made it.

use std::{
    ffi::{OsStr, OsString},
    fs::File,
    io::{self, ErrorKind},
    os::{
        fd::{AsFd, BorrowedFd, OwnedFd},
        unix::{ffi::OsStrExt, net::UnixStream},
    },
    path::Path,
};

use rustix::fs::{FileType, Mode, OFlags};

use crate::procfs_handle::fd_path;

/// Whether a written file must be on disk before it replaces the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// fsync before the rename: the file is read by another program, maybe
    /// after a crash (the pid file, as runc writes it with O_SYNC).
    Fsync,
    /// No fsync: hull's own state under the runtime dir, which describes
    /// processes that a crash ends anyway; create pays for no disk flush.
    Cache,
}

/// Writes `data` to `path` so that readers see the old or the new content,
/// never a mix, and never through anything planted in the directory: see
/// [`write_file_at`]. `mode` is the new file's mode (less the umask).
pub(crate) fn write_file(
    path: &Path,
    data: &[u8],
    mode: u32,
    durability: Durability,
) -> io::Result<()> {
    let (dir, name) = open_parent(path)?;
    write_file_at(dir.as_fd(), name, data, mode, durability)
}

/// [`write_file`] relative to `dir`: a fresh file under a random name in
/// `dir` (O_CREAT|O_EXCL|O_NOFOLLOW: a symlink or file someone planted under
/// any name makes the open fail, and another name is tried), written,
/// optionally fsynced, then renamed over `name`. A symlink at `name` is
/// replaced, never followed.
pub(crate) fn write_file_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    data: &[u8],
    mode: u32,
    durability: Durability,
) -> io::Result<()> {
    let (tmp, file) = create_temp(dir, name, mode)?;
    let written = (|| {
        write_all(&file, data)?;
        if durability == Durability::Fsync {
            rustix::fs::fsync(&file)?;
        }
        drop(file);
        rustix::fs::renameat(dir, tmp.as_os_str(), dir, name)?;
        Ok(())
    })();
    if written.is_err() {
        let _ = rustix::fs::unlinkat(dir, tmp.as_os_str(), rustix::fs::AtFlags::empty());
    }
    written
}

fn write_all(fd: &OwnedFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `.<name>.<16 random hex digits>`, created exclusively. A collision (a
/// planted name, however unlikely to be guessed) only means another draw.
fn create_temp(dir: BorrowedFd<'_>, name: &OsStr, mode: u32) -> io::Result<(OsString, OwnedFd)> {
    // Room for the prefix and suffix within NAME_MAX (255).
    let stem = &name.as_bytes()[..name.len().min(200)];
    for _ in 0..16 {
        let mut tmp = OsString::from(".");
        tmp.push(OsStr::from_bytes(stem));
        tmp.push(format!(".{:016x}", random_u64()?));
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(dir, tmp.as_os_str(), flags, Mode::from_raw_mode(mode)) {
            Ok(fd) => return Ok((tmp, fd)),
            Err(rustix::io::Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::new(
        ErrorKind::AlreadyExists,
        "no free temporary name next to the file",
    ))
}

fn random_u64() -> io::Result<u64> {
    let mut b = [0u8; 8];
    let mut got = 0;
    while got < b.len() {
        match rustix::rand::getrandom(&mut b[got..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => got += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(u64::from_ne_bytes(b))
}

/// The directory holding `path` (O_PATH, symlinks in it followed: the
/// caller's choice) and the final name.
fn open_parent(path: &Path) -> io::Result<(OwnedFd, &OsStr)> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "the path names no file"))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = rustix::fs::open(
        parent,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok((dir, name))
}

/// Whether someone other than hull's user and root can add, remove or
/// rename entries of `dir`: its owner, or anyone through a group or other
/// write bit.
fn others_can_change(dir: BorrowedFd<'_>) -> io::Result<bool> {
    let st = rustix::fs::fstat(dir)?;
    let owner_trusted = st.st_uid == 0 || st.st_uid == rustix::process::geteuid().as_raw();
    Ok(!owner_trusted || st.st_mode & 0o022 != 0)
}

fn symlink_refused() -> io::Error {
    io::Error::new(
        ErrorKind::PermissionDenied,
        "a symbolic link in a directory other users can change: hull does not follow it, since another user may have planted it",
    )
}

/// Opens `path` as a directory for CRIU to write into, creating it (mode
/// 0700, missing parents too) if needed; see [`open_private_dir`].
pub(crate) fn make_private_dir(path: &Path) -> io::Result<OwnedFd> {
    use std::os::unix::fs::DirBuilderExt;
    let Some(name) = path.file_name() else {
        return open_private_dir(path);
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    let (dir, _) = open_parent(path)?;
    match rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    checked_dir(rustix::fs::openat(
        &dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ))
}

/// Opens an existing directory that only hull's user can change: not
/// through a symlink at its final name, owned by hull's user, with no group
/// or other write bit. CRIU, running as hull's user, writes its images and
/// log there by name, and restores whatever images it finds; in a directory
/// another user could change, it could be made to write through their
/// symlinks or to restore their images.
pub(crate) fn open_private_dir(path: &Path) -> io::Result<OwnedFd> {
    let fd = match path.file_name() {
        Some(name) => {
            let (dir, _) = open_parent(path)?;
            rustix::fs::openat(
                &dir,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
        }
        // `.`, `..`, `/`: never a symlink.
        None => rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ),
    };
    checked_dir(fd)
}

fn checked_dir(fd: rustix::io::Result<OwnedFd>) -> io::Result<OwnedFd> {
    let fd = fd.map_err(|e| match e {
        // O_NOFOLLOW|O_DIRECTORY on a symlink.
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => io::Error::new(
            ErrorKind::InvalidInput,
            "not a directory (a symbolic link is not followed here)",
        ),
        e => e.into(),
    })?;
    let st = rustix::fs::fstat(&fd)?;
    let me = rustix::process::geteuid().as_raw();
    if st.st_uid != me {
        return Err(io::Error::new(ErrorKind::PermissionDenied, format!("owned by uid {}, not by hull's uid {me}: that user could change what CRIU reads and writes there", st.st_uid)));
    }
    if st.st_mode & 0o022 != 0 {
        return Err(io::Error::new(ErrorKind::PermissionDenied, format!("mode {:o} lets group or others change it: they could plant files CRIU reads or writes", st.st_mode & 0o7777)));
    }
    Ok(fd)
}

/// Opens the `--log` file for appending, creating it (0644) if missing.
///
/// runc follows a symlink there, and a symlink the caller made is the
/// caller's choice. But a root-run runtime appending lines whose text
/// others can influence (ids, paths, error messages) to a file another
/// user picked is a privilege escalation (think /etc/ld.so.preload). So
/// where other users can change the log's directory, the file is opened
/// without following a symlink (or blocking on a FIFO) and must be a
/// regular file with one link; elsewhere it is opened as runc opens it.
pub fn open_log_file(path: &Path) -> io::Result<File> {
    let (dir, name) = open_parent(path)?;
    let shared = others_can_change(dir.as_fd())?;
    let mut flags = OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::CLOEXEC;
    if shared {
        flags |= OFlags::NOFOLLOW | OFlags::NONBLOCK;
    }
    let fd =
        rustix::fs::openat(&dir, name, flags, Mode::from_raw_mode(0o644)).map_err(|e| match e {
            rustix::io::Errno::LOOP if shared => symlink_refused(),
            e => e.into(),
        })?;
    if shared {
        let st = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile || st.st_nlink != 1 {
            return Err(io::Error::new(
                ErrorKind::PermissionDenied,
                "not a regular file with a single link, in a directory other users can change",
            ));
        }
        // Blocking again, as runc's file is.
        rustix::fs::fcntl_setfl(&fd, OFlags::APPEND)?;
    }
    Ok(File::from(fd))
}

/// Connects to the unix stream socket at `path` (`--console-socket`). The
/// socket is opened first (O_PATH, by the rule of [`open_log_file`] for a
/// symlink at the final name), checked to be a socket, and connected
/// through that fd, so the connection goes to the inode that was checked.
pub(crate) fn connect_socket(path: &Path) -> io::Result<OwnedFd> {
    let (dir, name) = open_parent(path)?;
    let shared = others_can_change(dir.as_fd())?;
    let mut flags = OFlags::PATH | OFlags::CLOEXEC;
    if shared {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rustix::fs::openat(&dir, name, flags, Mode::empty())?;
    let st = rustix::fs::fstat(&fd)?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Socket => {}
        FileType::Symlink => return Err(symlink_refused()),
        _ => return Err(io::Error::new(ErrorKind::InvalidInput, "not a socket")),
    }
    // connect(2) through the magic link reaches exactly the inode opened.
    let s = UnixStream::connect(fd_path(&fd))?;
    Ok(OwnedFd::from(s))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("hull-untrusted-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn write_replaces_whole_file_and_leaves_no_temp() {
        let d = scratch("write");
        let p = d.join("f.json");
        write_file(&p, b"first-long-content", 0o600, Durability::Cache).unwrap();
        write_file(&p, b"second", 0o600, Durability::Fsync).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o077, 0);
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            1,
            "a temporary file was left behind"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn write_replaces_a_symlink_without_following_it() {
        let d = scratch("symlink");
        let victim = d.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        symlink(&victim, d.join("x.pid")).unwrap();
        symlink(&victim, d.join("x.pid.tmp")).unwrap();
        symlink(&victim, d.join(".x.pid")).unwrap();
        write_file(&d.join("x.pid"), b"42", 0o644, Durability::Fsync).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(!std::fs::symlink_metadata(d.join("x.pid"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(d.join("x.pid")).unwrap(), "42");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn private_dir_is_made_0700_and_a_symlink_is_refused() {
        let d = scratch("private");
        let fd = make_private_dir(&d.join("a/images")).unwrap();
        assert_eq!(rustix::fs::fstat(&fd).unwrap().st_mode & 0o777, 0o700);
        // Existing and ours: accepted again.
        make_private_dir(&d.join("a/images")).unwrap();
        symlink(&d, d.join("link")).unwrap();
        let e = make_private_dir(&d.join("link")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let open = d.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = open_private_dir(&open).unwrap_err();
        assert!(e.to_string().contains("group or others"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn log_follows_a_symlink_only_where_nobody_else_could_plant_it() {
        let d = scratch("log");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
        let target = d.join("target.log");
        symlink(&target, d.join("via-link.log")).unwrap();
        std::io::Write::write_all(&mut open_log_file(&d.join("via-link.log")).unwrap(), b"a\n")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "a\n");
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = open_log_file(&d.join("via-link.log")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        std::fs::hard_link(&target, d.join("hard.log")).unwrap();
        assert!(
            open_log_file(&d.join("hard.log")).is_err(),
            "a file with a second link is refused"
        );
        std::io::Write::write_all(&mut open_log_file(&d.join("plain.log")).unwrap(), b"b\n")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "a\n");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn console_socket_must_be_a_socket() {
        let d = scratch("sock");
        let sock = d.join("s.sock");
        let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        connect_socket(&sock).unwrap();
        drop(l);
        std::fs::write(d.join("file"), "").unwrap();
        assert!(connect_socket(&d.join("file"))
            .unwrap_err()
            .to_string()
            .contains("not a socket"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
