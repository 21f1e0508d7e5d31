//! process.terminal: a pty created inside the container (in its own devpts
//! instance), the slave as the process's controlling terminal and stdio,
//! the master handed to the caller over the console socket (runc's
//! protocol), or bridged to hull's own stdio for a foreground `run`/`exec`.

use std::{
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::Path,
};

use rustix::{
    pty::OpenptFlags,
    termios::{Termios, Winsize},
};

use crate::error::{Error, Result};

/// Parent side, before forking: connect to the caller's console socket so
/// the child can reach it after pivot_root.
/// The socket is the caller's; see [`crate::untrusted_dir::connect_socket`]
/// for what is checked before hull, maybe as root, connects.
pub(crate) fn connect(path: &Path) -> Result<OwnedFd> {
    crate::untrusted_dir::connect_socket(path).map_err(|e| Error::path(path, e))
}

/// A socketpair standing in for a console socket when hull itself will
/// relay the terminal (foreground with no --console-socket).
fn local_pair() -> Result<(OwnedFd, OwnedFd)> {
    rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::sys("socketpair for the terminal", e))
}

/// Where a process's terminal goes, decided in the parent before forking.
pub(crate) struct Console {
    /// The socket the child sends the pty master to.
    pub child_end: Option<OwnedFd>,
    /// Our end, when hull itself relays the terminal (foreground).
    pub relay: Option<OwnedFd>,
    /// process.consoleSize as (rows, columns).
    pub size: Option<(u16, u16)>,
}

/// runc's rules: a terminal goes to `--console-socket` if given, else to
/// hull when it stays in the foreground; a detached terminal without a
/// socket, or a socket without a terminal, is an error. `terminal_field`
/// and `socket_flag` name the inputs in those errors.
pub(crate) fn prepare(
    process: Option<&oci_spec::runtime::Process>,
    socket: Option<&Path>,
    foreground: bool,
    terminal_field: &str,
    socket_flag: &str,
) -> Result<Console> {
    let terminal = process.and_then(|p| p.terminal()) == Some(true);
    let size = process
        .and_then(|p| p.console_size())
        .map(|b| (b.height() as u16, b.width() as u16));
    let (child_end, relay) = match (socket, terminal, foreground) {
        (Some(path), true, _) => (Some(connect(path)?), None),
        (None, true, true) => {
            let (mine, theirs) = local_pair()?;
            (Some(theirs), Some(mine))
        }
        (None, true, false) => {
            return Err(Error::InvalidArgument(format!(
            "{terminal_field}: a detached process needs --console-socket to receive its terminal"
        )))
        }
        (Some(_), false, _) => {
            return Err(Error::InvalidArgument(format!(
                "{socket_flag}: there is no terminal to send ({terminal_field} is not set)"
            )))
        }
        (None, false, _) => (None, None),
    };
    Ok(Console {
        child_end,
        relay,
        size,
    })
}

/// The container's /dev/ptmx, resolved in its root without magic links
/// (openpt would follow a /proc/self/fd/N/.. symlink planted there to a
/// host file, opened read-write as root while the runtime holds host
/// directories), and only if it is a pty multiplexer (char 5:2).
fn open_ptmx() -> Result<OwnedFd> {
    let ctx = "process.terminal: opening /dev/ptmx in the container";
    let fd = crate::proc_guard::open_in_own_root(
        "/dev/ptmx",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY,
    )
    .map_err(|e| Error::sys(ctx, e))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::sys(ctx, e))?;
    let is_char =
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::CharacterDevice;
    let dev = st.st_rdev;
    if !is_char || rustix::fs::major(dev) != 5 || rustix::fs::minor(dev) != 2 {
        return Err(Error::Init(format!(
            "{ctx}: it is not the pty multiplexer (char 5:2)"
        )));
    }
    Ok(fd)
}

/// Child side, in the container's mount namespace and after setsid: makes a
/// pty, takes the slave as controlling terminal and stdio, sends the master.
/// The slave goes to `uid`, the process's user.
pub(crate) fn setup(
    socket: BorrowedFd<'_>,
    size: Option<(u16, u16)>,
    mount_console: bool,
    uid: u32,
) -> Result<()> {
    let master = open_ptmx()?;
    rustix::pty::grantpt(&master).map_err(|e| Error::sys("process.terminal: grantpt", e))?;
    rustix::pty::unlockpt(&master).map_err(|e| Error::sys("process.terminal: unlockpt", e))?;
    let name = rustix::pty::ptsname(&master, Vec::new())
        .map_err(|e| Error::sys("process.terminal: ptsname", e))?;
    // TIOCGPTPEER opens the slave through the master, never by a path the
    // container could have replaced.
    let slave = rustix::pty::ioctl_tiocgptpeer(&master, OpenptFlags::RDWR | OpenptFlags::NOCTTY)
        .map_err(|e| Error::sys("process.terminal: opening the pty slave", e))?;
    // The process's user must own its terminal to use it (a non-root
    // user cannot otherwise reopen it or change its modes), as runc's
    // fixStdioPermissions does. The group stays the one devpts gave it
    // (gid=5, "tty", in runc's default mount), as in runc.
    if rustix::fs::fstat(&slave)
        .map_err(|e| Error::sys("process.terminal: fstat", e))?
        .st_uid
        != uid
    {
        rustix::fs::fchown(&slave, Some(rustix::fs::Uid::from_raw(uid)), None).map_err(|e| {
            Error::sys(
                format!("process.user.uid: giving the terminal to uid {uid}"),
                e,
            )
        })?;
    }
    if let Some((height, width)) = size {
        let ws = Winsize {
            ws_row: height,
            ws_col: width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&master, ws)
            .map_err(|e| Error::sys("process.consoleSize", e))?;
    }
    if mount_console {
        bind_console(&slave)?;
    }
    crate::fdpass::send_fd(socket, name.as_bytes(), master.as_fd())
        .map_err(|e| Error::sys("sending the pty master to the console socket", e))?;
    drop(master);
    rustix::process::ioctl_tiocsctty(&slave)
        .map_err(|e| Error::sys("process.terminal: TIOCSCTTY", e))?;
    rustix::stdio::dup2_stdin(&slave).map_err(|e| Error::sys("process.terminal: dup2", e))?;
    rustix::stdio::dup2_stdout(&slave).map_err(|e| Error::sys("process.terminal: dup2", e))?;
    rustix::stdio::dup2_stderr(&slave).map_err(|e| Error::sys("process.terminal: dup2", e))?;
    Ok(())
}

/// /dev/console shows the container's own pty, as runc arranges. The
/// slave is bound by its fd, never by its /dev/pts path, and onto a
/// /dev/console opened without following a link (runc's CVE-2025-52565: a
/// path swapped for a symlink would bind some procfs file, writable, onto
/// /dev/console, or the pty onto something else).
fn bind_console(slave: &OwnedFd) -> Result<()> {
    check_pty_slave(slave)?;
    let target = open_console_target()?;
    crate::mount_fd::bind_fd(slave, &target)
        .map_err(|e| Error::sys("process.terminal: binding the pty onto /dev/console", e))
}

/// A pty slave of a devpts instance: what TIOCGPTPEER promises, checked.
fn check_pty_slave(slave: &OwnedFd) -> Result<()> {
    const UNIX98_PTY_SLAVE_MAJORS: std::ops::RangeInclusive<u32> = 136..=143;
    let st = rustix::fs::fstat(slave)
        .map_err(|e| Error::sys("process.terminal: stat of the pty slave", e))?;
    let fs = rustix::fs::fstatfs(slave)
        .map_err(|e| Error::sys("process.terminal: statfs of the pty slave", e))?;
    let is_char =
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::CharacterDevice;
    if !is_char
        || !UNIX98_PTY_SLAVE_MAJORS.contains(&rustix::fs::major(st.st_rdev))
        || fs.f_type != libc::DEVPTS_SUPER_MAGIC
    {
        return Err(Error::Unsupported(
            "process.terminal: the pty slave is not a devpts terminal".into(),
        ));
    }
    Ok(())
}

/// /dev/console in the container's root, created as an empty file if
/// missing; a symlink or directory there is refused.
fn open_console_target() -> Result<OwnedFd> {
    use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let path_flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let err = |e| Error::sys("process.terminal: opening /dev/console", e);
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(err)?;
    let target = match rustix::fs::openat2(&root, "/dev/console", path_flags, Mode::empty(), how) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => {
            let dev = rustix::fs::openat2(
                &root,
                "/dev",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                how,
            )
            .map_err(err)?;
            match rustix::fs::mknodat(
                &dev,
                "console",
                FileType::RegularFile,
                Mode::from_raw_mode(0o600),
                0,
            ) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(Error::sys("creating /dev/console", e)),
            }
            rustix::fs::openat(&dev, "console", path_flags, Mode::empty()).map_err(err)?
        }
        Err(e) => return Err(err(e)),
    };
    let st = rustix::fs::fstat(&target).map_err(err)?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile | FileType::CharacterDevice => Ok(target),
        other => Err(Error::InvalidArgument(format!(
            "process.terminal: /dev/console in the container is {}, not a file the terminal can be bound onto",
            crate::mount_fd::describe_type(other)
        ))),
    }
}

/// Receives the pty master sent by the child over a local pair.
pub(crate) fn receive_master(sock: &OwnedFd) -> Result<OwnedFd> {
    let (_, fd) =
        crate::fdpass::recv_fd(sock).map_err(|e| Error::sys("receiving the pty master", e))?;
    fd.ok_or_else(|| Error::Process("the container sent no pty master".into()))
}

/// Puts hull's own terminal (if stdin is one) in raw mode for the relay and
/// restores it on drop.
pub(crate) struct RawGuard {
    saved: Option<Termios>,
}

impl RawGuard {
    pub fn new() -> RawGuard {
        let stdin = rustix::stdio::stdin();
        if !rustix::termios::isatty(stdin) {
            return RawGuard { saved: None };
        }
        let Ok(saved) = rustix::termios::tcgetattr(stdin) else {
            return RawGuard { saved: None };
        };
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = rustix::termios::tcsetattr(stdin, rustix::termios::OptionalActions::Now, &raw);
        RawGuard { saved: Some(saved) }
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                rustix::stdio::stdin(),
                rustix::termios::OptionalActions::Now,
                t,
            );
        }
    }
}

/// Copies the window size of hull's terminal to the container's.
pub(crate) fn sync_winsize(master: &OwnedFd) {
    match rustix::termios::tcgetwinsize(rustix::stdio::stdin()) {
        // A 0x0 size means "unknown" (no real terminal): keep consoleSize.
        Ok(ws) if ws.ws_row != 0 || ws.ws_col != 0 => {
            let _ = rustix::termios::tcsetwinsize(master, ws);
        }
        _ => {}
    }
}

/// Moves what is readable from `from` to `to`; false at EOF or error.
pub(crate) fn pump(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 8192];
    match rustix::io::read(from, &mut buf) {
        Ok(0) => false,
        Ok(n) => {
            let mut off = 0;
            while off < n {
                match rustix::io::write(to, &buf[off..n]) {
                    Ok(w) => off += w,
                    Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => continue,
                    Err(_) => return false,
                }
            }
            true
        }
        Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => true,
        Err(_) => false,
    }
}

/// Copies everything left in a non-blocking `from` (the pty after the
/// process exited) to `to`.
pub(crate) fn drain(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    let mut buf = [0u8; 8192];
    // EIO: the slave side is closed; EAGAIN: nothing more buffered.
    while let Ok(n) = rustix::io::read(from, &mut buf) {
        if n == 0 || rustix::io::write(to, &buf[..n]).is_err() {
            break;
        }
    }
}
