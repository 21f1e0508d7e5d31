//! NOTIFY_SOCKET passthrough (sd_notify readiness), as runc does it: create
//! mounts a per-container directory into the container at the directory of
//! the caller's NOTIFY_SOCKET path and points the container's NOTIFY_SOCKET
//! at it; start binds a datagram socket there, releases the container,
//! waits for READY=1 and passes the messages on to the caller's socket with
//! the container's MAINPID.

use std::{
    os::unix::net::UnixDatagram,
    path::{Path, PathBuf},
};

use crate::error::{Error, Result};

pub(crate) const DIR: &str = "notify";
pub(crate) const SOCKET: &str = "notify.sock";

/// Where the container sees the socket: the same path as the caller's.
pub(crate) fn container_path(host_socket: &Path) -> Result<PathBuf> {
    let dir = host_socket
        .parent()
        .filter(|d| d.is_absolute() && *d != Path::new("/"))
        .ok_or_else(|| {
            Error::Init(format!(
                "NOTIFY_SOCKET {host_socket:?}: must be an absolute path below a directory"
            ))
        })?;
    Ok(dir.join(SOCKET))
}

/// The mount and env entries create adds to the spec.
pub(crate) fn setup_spec(
    spec: &mut oci_spec::runtime::Spec,
    state_dir: &Path,
    host_socket: &Path,
) -> Result<()> {
    let in_container = container_path(host_socket)?;
    let host_dir = state_dir.join(DIR);
    std::fs::create_dir_all(&host_dir).map_err(|e| Error::path(&host_dir, e))?;
    // Container users need to reach the socket.
    rustix::fs::chmod(&host_dir, rustix::fs::Mode::from_raw_mode(0o777))
        .map_err(|e| Error::path(&host_dir, e))?;
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
    ]));
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(m);
    spec.set_mounts(Some(mounts));
    if let Some(p) = spec.process_mut() {
        let mut env = p.env().clone().unwrap_or_default();
        env.retain(|e| !e.starts_with("NOTIFY_SOCKET="));
        env.push(format!("NOTIFY_SOCKET={}", in_container.display()));
        p.set_env(Some(env));
    }
    Ok(())
}

/// start side, before releasing the init: the socket the container sends to.
pub(crate) fn bind(state_dir: &Path) -> Result<Option<UnixDatagram>> {
    let dir = state_dir.join(DIR);
    if !dir.is_dir() {
        return Ok(None);
    }
    let path = dir.join(SOCKET);
    let _ = std::fs::remove_file(&path);
    let sock = UnixDatagram::bind(&path).map_err(|e| Error::path(&path, e))?;
    rustix::fs::chmod(&path, rustix::fs::Mode::from_raw_mode(0o777))
        .map_err(|e| Error::path(&path, e))?;
    Ok(Some(sock))
}

/// Forwards the container's notifications until READY=1 (or the init's
/// exit), adding MAINPID so the supervisor tracks the container.
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
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            let ready = msg.lines().any(|l| l == "READY=1");
            let fwd = if ready {
                format!("{msg}\nMAINPID={pid}")
            } else {
                msg
            };
            out.send_to(fwd.as_bytes(), host_socket).map_err(|e| {
                Error::sys(format!("NOTIFY_SOCKET: forwarding to {host_socket:?}"), e)
            })?;
            if ready {
                return Ok(());
            }
        } else if fds[1].revents().intersects(rustix::event::PollFlags::IN) {
            return Err(Error::Init(
                "the container exited before it reported READY=1".into(),
            ));
        }
    }
}
