//! The start barrier: a FIFO in the state directory. The init blocks opening
//! it for writing until `start` opens it for reading; its existence is what
//! tells "created" from "running".

use std::{
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::Path,
};

use rustix::{
    event::{poll, PollFd, PollFlags},
    fs::{Mode, OFlags},
};

use crate::error::{Error, Result};

pub(crate) const FIFO: &str = "exec.fifo";

/// Makes the fifo 0622 (runc's mode, whatever the umask): the init opens
/// it for writing after dropping to the container's user. Only hull can
/// reach it by name, through the 0700 state root.
pub(crate) fn create(dir: &Path) -> Result<()> {
    let path = dir.join(FIFO);
    rustix::fs::mkfifoat(rustix::fs::CWD, &path, Mode::from_raw_mode(0o600))
        .map_err(|e| Error::path(&path, e))?;
    rustix::fs::chmod(&path, Mode::from_raw_mode(0o622)).map_err(|e| Error::path(&path, e))
}

/// Init side: blocks until `start` opens the other end. `state_dir` is an
/// fd opened before pivot_root, so no path in the container is involved.
/// The caller then reports the startContainer hooks' outcome with
/// [`report_started`], so `start` can fail when they fail.
pub(crate) fn wait_for_start(state_dir: BorrowedFd<'_>) -> Result<OwnedFd> {
    rustix::fs::openat(
        state_dir,
        FIFO,
        OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("opening exec fifo", e))
}

/// Init side: "0" means about to exec; "1" + message means the start failed.
pub(crate) fn report_started(fifo: &OwnedFd, outcome: std::result::Result<(), String>) {
    let msg = match outcome {
        Ok(()) => b"0".to_vec(),
        Err(m) => [b"1".as_slice(), m.as_bytes()].concat(),
    };
    // PIPE_BUF-sized writes are atomic; a longer message is cut, not mixed.
    let _ = rustix::io::write(fifo, &msg[..msg.len().min(4096)]);
}

/// `start` side: releases the init and waits for its acknowledgement. The
/// init's pidfd is polled too, so an init that died makes this an error
/// instead of a hang.
pub(crate) fn release(dir: &Path, init: &OwnedFd) -> Result<()> {
    let path = dir.join(FIFO);
    let fd = rustix::fs::open(
        &path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::path(&path, e))?;
    loop {
        let mut fds = [
            PollFd::new(&fd, PollFlags::IN),
            PollFd::new(init, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Error::sys("waiting for the container to start", e)),
            Ok(_) => {}
        }
        if fds[0].revents().intersects(PollFlags::IN) {
            let mut b = [0u8; 4096];
            match rustix::io::read(fd.as_fd(), &mut b) {
                Ok(0) | Err(rustix::io::Errno::AGAIN) => {}
                Ok(n) => {
                    let _ = rustix::fs::unlink(&path);
                    return match b[0] {
                        b'0' => Ok(()),
                        _ => Err(Error::Init(String::from_utf8_lossy(&b[1..n]).into_owned())),
                    };
                }
                Err(e) => return Err(Error::sys("reading exec fifo", e)),
            }
        } else if fds[0].revents().intersects(PollFlags::HUP) {
            return Err(Error::Process(
                "container init closed the exec fifo without starting".into(),
            ));
        }
        if fds[1].revents().intersects(PollFlags::IN) {
            return Err(Error::Process(
                "container init exited before it could be started".into(),
            ));
        }
    }
}
