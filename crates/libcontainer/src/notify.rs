//! NOTIFY_SOCKET passthrough (sd_notify readiness), as runc does it: create
//! mounts a per-container directory read-only into the container at the
//! directory of the caller's NOTIFY_SOCKET path and points the container's
//! NOTIFY_SOCKET at it; start binds a datagram socket there, releases the
//! container, waits for READY=1 and relays it to the caller's socket.
//!
//! The container is not trusted with the caller's supervisor: only READY=1
//! and STATUS= lines are relayed, and MAINPID is hull's, the init's pid. A
//! container that could name MAINPID would have systemd watch, and later
//! signal, any process of the host.

use std::{
    os::{fd::OwnedFd, unix::net::UnixDatagram},
    path::{Path, PathBuf},
};

use rustix::fs::{FileType, Mode, OFlags};

use crate::{
    error::{Error, Result},
    procfs_handle::fd_path,
};

pub(crate) const DIR: &str = "notify";
pub(crate) const SOCKET: &str = "notify.sock";

/// Where the container sees the socket: the same path as the caller's.
pub(crate) fn container_path(host_socket: &Path) -> Result<PathBuf> {
    let dir = host_socket
        .parent()
        .filter(|d| d.is_absolute() && *d != Path::new("/"))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "NOTIFY_SOCKET {host_socket:?}: must be an absolute path below a directory"
            ))
        })?;
    Ok(dir.join(SOCKET))
}

/// The mount and env entries create adds to the spec; returns the index of
/// the mount in `mounts`.
///
/// The directory is hull's (0755, in the state dir) and read-only in the
/// container: the container can reach the socket but never put anything
/// in its place, so start's bind and chmod by name cannot be redirected.
pub(crate) fn setup_spec(
    spec: &mut oci_spec::runtime::Spec,
    state_dir: &Path,
    host_socket: &Path,
) -> Result<usize> {
    use std::os::unix::fs::DirBuilderExt;
    let in_container = container_path(host_socket)?;
    let host_dir = state_dir.join(DIR);
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(&host_dir)
        .map_err(|e| Error::path(&host_dir, e))?;
    // Whatever the umask: container users need the search bit.
    let fd = rustix::fs::open(
        &host_dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::path(&host_dir, e))?;
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o755)).map_err(|e| Error::path(&host_dir, e))?;
    let mut m = oci_spec::runtime::Mount::default();
    m.set_destination(
        in_container
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    );
    m.set_typ(Some("bind".into()));
    m.set_source(Some(host_dir));
    m.set_options(Some(vec![
        "bind".into(),
        "nosuid".into(),
        "noexec".into(),
        "nodev".into(),
        "ro".into(),
    ]));
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(m);
    let index = mounts.len() - 1;
    spec.set_mounts(Some(mounts));
    if let Some(p) = spec.process_mut() {
        let mut env = p.env().clone().unwrap_or_default();
        env.retain(|e| !e.starts_with("NOTIFY_SOCKET="));
        env.push(format!("NOTIFY_SOCKET={}", in_container.display()));
        p.set_env(Some(env));
    }
    Ok(index)
}

/// The notify directory as a detached mount (open_tree clone) for the init
/// to attach, when the container has a user namespace: its root cannot
/// search the 0700 state root to bind the directory by path. None when
/// hull may not clone mounts (rootless: its root is its own, which the
/// container's root can search).
pub(crate) fn detached_dir(state_dir: &Path) -> Result<Option<OwnedFd>> {
    use rustix::mount::OpenTreeFlags;
    let dir = state_dir.join(DIR);
    let flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_SYMLINK_NOFOLLOW;
    match rustix::mount::open_tree(rustix::fs::CWD, &dir, flags) {
        Ok(tree) => Ok(Some(tree)),
        Err(rustix::io::Errno::PERM) => Ok(None),
        Err(e) => Err(Error::sys(
            format!("NOTIFY_SOCKET: cloning {}", dir.display()),
            e,
        )),
    }
}

/// start side, before releasing the init: the socket the container sends to.
pub(crate) fn bind(state_dir: &Path) -> Result<Option<UnixDatagram>> {
    let dir_path = state_dir.join(DIR);
    let dir = match rustix::fs::open(
        &dir_path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(Error::path(&dir_path, e)),
    };
    let path = dir_path.join(SOCKET);
    let _ = rustix::fs::unlinkat(&dir, SOCKET, rustix::fs::AtFlags::empty());
    // Bound through the directory fd: always in the directory opened, and
    // short of sun_path's 108 bytes however long the state root's path.
    let sock = UnixDatagram::bind(format!("{}/{SOCKET}", fd_path(&dir)))
        .map_err(|e| Error::path(&path, e))?;
    make_reachable(&dir, &path)?;
    Ok(Some(sock))
}

/// chmod 0777 of the socket just bound in `dir`, so any container user can
/// send to it. Not fchmod on the socket: that changes the socket's own
/// inode, not the file bind made. Not chmod by name either, which follows
/// whatever sits at the name when it runs. The file is opened O_PATH|
/// O_NOFOLLOW, checked to be a socket, and chmodded through that fd's
/// /proc/self/fd link, which reaches exactly that inode; and the directory
/// is hull's, which nobody else can write, so the name is the one bound.
fn make_reachable(dir: &OwnedFd, path: &Path) -> Result<()> {
    let fd = rustix::fs::openat(
        dir,
        SOCKET,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::path(path, e))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::path(path, e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Socket {
        return Err(Error::InvalidArgument(format!(
            "{}: not the socket hull bound",
            path.display()
        )));
    }
    rustix::fs::chmod(fd_path(&fd), Mode::from_raw_mode(0o777)).map_err(|e| Error::path(path, e))
}

/// What of one datagram from the container goes on to the caller: its
/// READY=1 and STATUS= lines, in order, and after READY=1 hull's MAINPID.
/// Anything else (MAINPID, FDSTORE, ...) is dropped; so are fds passed
/// along, which `recv` does not take. None when nothing is left.
fn relayed(datagram: &[u8], pid: i32) -> Option<(String, bool)> {
    let text = String::from_utf8_lossy(datagram);
    let mut lines: Vec<&str> = text
        .split('\n')
        .filter(|l| *l == "READY=1" || l.starts_with("STATUS="))
        .collect();
    let ready = lines.contains(&"READY=1");
    let mainpid = format!("MAINPID={pid}");
    if ready {
        lines.push(&mainpid);
    }
    (!lines.is_empty()).then(|| (lines.join("\n"), ready))
}

/// Forwards the container's notifications until READY=1 (or the init's
/// exit); see [`relayed`] for what passes.
pub(crate) fn forward_until_ready(
    sock: &UnixDatagram,
    host_socket: &Path,
    pid: i32,
    init: &std::os::fd::OwnedFd,
) -> Result<()> {
    let out = UnixDatagram::unbound().map_err(|e| Error::sys("NOTIFY_SOCKET", e))?;
    let mut buf = vec![0u8; 4096];
    loop {
        let mut fds = [
            rustix::event::PollFd::new(sock, rustix::event::PollFlags::IN),
            rustix::event::PollFd::new(init, rustix::event::PollFlags::IN),
        ];
        match rustix::event::poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Error::sys("NOTIFY_SOCKET: poll", e)),
        }
        if fds[0].revents().intersects(rustix::event::PollFlags::IN) {
            let n = sock
                .recv(&mut buf)
                .map_err(|e| Error::sys("NOTIFY_SOCKET: recv", e))?;
            let Some((msg, ready)) = relayed(&buf[..n], pid) else {
                continue;
            };
            out.send_to(msg.as_bytes(), host_socket).map_err(|e| {
                Error::sys(format!("NOTIFY_SOCKET: forwarding to {host_socket:?}"), e)
            })?;
            if ready {
                return Ok(());
            }
        } else if fds[1].revents().intersects(rustix::event::PollFlags::IN) {
            return Err(Error::Process(
                "the container exited before it reported READY=1".into(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ready_and_status_pass_with_our_mainpid() {
        assert_eq!(
            relayed(b"MAINPID=1\nREADY=1\nFOO=bar", 42),
            Some(("READY=1\nMAINPID=42".into(), true))
        );
        assert_eq!(
            relayed(b"STATUS=starting", 42),
            Some(("STATUS=starting".into(), false))
        );
        assert_eq!(
            relayed(b"STATUS=up\nREADY=1\n", 7),
            Some(("STATUS=up\nREADY=1\nMAINPID=7".into(), true))
        );
        assert_eq!(relayed(b"MAINPID=1", 42), None);
        assert_eq!(relayed(b"READY=0\nFDSTORE=1\nWATCHDOG=1", 42), None);
    }
}
