//! Waiting for a container's init or an exec'd process: plainly
//! ([`Container::wait`], [`Container::try_wait`]), which changes nothing
//! in the caller, or as a foreground runtime does (`hull run`), forwarding
//! the caller's signals ([`Container::wait_forwarding_signals`] after
//! [`block_forwarded_signals`]).

use std::os::fd::AsFd;

use nix::sys::{
    signal::{SigSet, SigmaskHow, Signal},
    signalfd::{SfdFlags, SignalFd},
};
use rustix::event::{poll, PollFd, PollFlags};

use super::Container;
use crate::error::{Error, Result};

/// How the container's init ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code, when the process exited.
    pub code: Option<i32>,
    /// The signal that killed it, when one did.
    pub signal: Option<i32>,
}

impl ExitStatus {
    /// The shell convention runc follows: the exit code, or 128 + signal.
    ///
    /// ```
    /// use libcontainer::ExitStatus;
    ///
    /// let killed = ExitStatus { code: None, signal: Some(9) };
    /// assert_eq!(killed.exit_code(), 137);
    /// ```
    pub fn exit_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            (None, None) => 255,
        }
    }
}

/// Signals a foreground runtime passes on rather than acts on. Faults
/// (SEGV, BUS, ...) stay with the runtime.
fn forwarded() -> SigSet {
    let mut set = SigSet::all();
    for s in [
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGTRAP,
        Signal::SIGSYS,
        Signal::SIGKILL,
        Signal::SIGSTOP,
    ] {
        set.remove(s);
    }
    set
}

/// Blocks the forwarded signals so none is lost, or kills the runtime,
/// between create and wait. Call before creating a foreground container;
/// the init unblocks them for itself.
pub fn block_forwarded_signals() -> Result<()> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded()), None)
        .map_err(|e| Error::sys("sigprocmask", e))
}

impl Container {
    /// Waits for the init (a child of this process: this handle must come
    /// from [`crate::ContainerBuilder::create`] or
    /// [`crate::RestoreBuilder::restore`]) to exit and collects its status.
    /// Signals and the signal mask are left alone; a terminal this process
    /// relays (foreground, no console socket) is relayed until the exit.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        self.wait_with(false)
    }

    /// As [`Container::wait`], and every signal this process receives
    /// meanwhile (but faults, SIGKILL and SIGSTOP) goes to the init: `hull
    /// run`'s behaviour. Call [`block_forwarded_signals`] before creating
    /// the container, so that none is lost or acted on in between.
    pub fn wait_forwarding_signals(&mut self) -> Result<ExitStatus> {
        self.wait_with(true)
    }

    /// The init's exit status if it has exited (collecting it), `None`
    /// while it runs. Never blocks: for use when [`Container::pidfd`]
    /// polls readable.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        let pidfd = self.init.as_ref().ok_or_else(not_ours)?;
        let status = rustix::process::waitid(
            rustix::process::WaitId::PidFd(pidfd.as_fd()),
            rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOHANG,
        )
        .map_err(|e| Error::sys("waitid", e))?;
        Ok(status.map(|s| {
            self.init = None;
            self.status = crate::Status::Stopped;
            exit_status(&s)
        }))
    }

    fn wait_with(&mut self, forward: bool) -> Result<ExitStatus> {
        let pidfd = self.init.take().ok_or_else(not_ours)?;
        let status = wait_child(pidfd, self.console.take(), forward)?;
        self.status = crate::Status::Stopped;
        Ok(status)
    }
}

fn not_ours() -> Error {
    Error::InvalidArgument(
        "wait: this process did not create the container, or has collected its status".into(),
    )
}

fn exit_status(status: &rustix::process::WaitIdStatus) -> ExitStatus {
    if status.killed() || status.dumped() {
        ExitStatus {
            code: None,
            signal: status.terminating_signal(),
        }
    } else {
        ExitStatus {
            code: status.exit_status(),
            signal: None,
        }
    }
}

/// Waits for a child (by pidfd), forwarding signals to it if `forward`.
/// With `console`, this process's stdio is relayed to and from the
/// container's terminal (raw mode, window size kept in sync) until the
/// process exits.
pub(crate) fn wait_child(
    pidfd: std::os::fd::OwnedFd,
    console: Option<std::os::fd::OwnedFd>,
    forward: bool,
) -> Result<ExitStatus> {
    {
        use crate::terminal;
        // Without forwarding, a signalfd of no signals: never readable.
        let set = if forward {
            forwarded()
        } else {
            SigSet::empty()
        };
        let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(|e| Error::sys("signalfd", e))?;
        let _raw = console.as_ref().map(|_| terminal::RawGuard::new());
        if let Some(m) = &console {
            terminal::sync_winsize(m);
        }
        let stdin = rustix::stdio::stdin();
        let stdout = rustix::stdio::stdout();
        let mut stdin_open = console.is_some();
        loop {
            let mut fds = vec![
                PollFd::new(&pidfd, PollFlags::IN),
                PollFd::new(&sfd, PollFlags::IN),
            ];
            if let Some(m) = &console {
                fds.push(PollFd::new(m, PollFlags::IN));
                if stdin_open {
                    fds.push(PollFd::from_borrowed_fd(stdin, PollFlags::IN));
                }
            }
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(Error::sys("poll", e)),
            }
            let exited = fds[0].revents().intersects(PollFlags::IN);
            let signalled = fds[1].revents().intersects(PollFlags::IN);
            let from_container = fds.get(2).is_some_and(|f| !f.revents().is_empty());
            let from_user = fds.get(3).is_some_and(|f| !f.revents().is_empty());
            drop(fds);
            if signalled {
                while let Ok(Some(info)) = sfd.read_signal() {
                    let signo = info.ssi_signo as i32;
                    if signo == libc::SIGCHLD {
                        continue;
                    }
                    if signo == libc::SIGWINCH {
                        if let Some(m) = &console {
                            terminal::sync_winsize(m);
                            continue;
                        }
                    }
                    if let Ok(sig) = super::kill::to_signal(signo) {
                        let _ = rustix::process::pidfd_send_signal(&pidfd, sig);
                    }
                }
            }
            if let Some(m) = &console {
                if from_container {
                    terminal::pump(m.as_fd(), stdout);
                }
                if from_user && !terminal::pump(stdin, m.as_fd()) {
                    stdin_open = false;
                }
            }
            if exited {
                if let Some(m) = &console {
                    // Whatever the process wrote last is still in the pty.
                    let _ = rustix::fs::fcntl_setfl(m, rustix::fs::OFlags::NONBLOCK);
                    terminal::drain(m.as_fd(), stdout);
                }
                break;
            }
        }
        let status = rustix::process::waitid(
            rustix::process::WaitId::PidFd(pidfd.as_fd()),
            rustix::process::WaitIdOptions::EXITED,
        )
        .map_err(|e| Error::sys("waitid", e))?
        .ok_or_else(|| {
            Error::sys(
                "waitid",
                std::io::Error::from(std::io::ErrorKind::WouldBlock),
            )
        })?;
        Ok(exit_status(&status))
    }
}
