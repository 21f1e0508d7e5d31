use super::Container;
use crate::error::{Error, Result};

/// runc's words for a signal to a stopped container; containerd's shim
/// matches them.
const NOT_RUNNING: &str = "container not running";

/// A validated signal number as rustix wants it.
pub(crate) fn to_signal(signal: i32) -> Result<rustix::process::Signal> {
    if !(1..=libc::SIGRTMAX()).contains(&signal) {
        return Err(Error::InvalidSignal(signal.to_string()));
    }
    // SAFETY: the number is in the kernel's signal range; real-time signals
    // have no named constant, hence the unchecked constructor.
    Ok(unsafe { rustix::process::Signal::from_raw_unchecked(signal) })
}

impl Container {
    /// Sends `signal` to the init, or with `all` to every process in the
    /// container's cgroup.
    ///
    /// With `all`, a stopped container is not an error (runc's behaviour):
    /// what is left in its cgroup is signalled. containerd's shim kills
    /// with `--all` before it deletes an exited task, and takes an error
    /// here for a failed delete, so the exit would never be reported.
    /// Without `all` the error reads "container not running", the words
    /// runc uses and containerd's shim recognises as "already finished".
    ///
    /// A pid namespace's init only gets the signals it has a handler for (and
    /// SIGKILL).
    ///
    /// ```
    /// use libcontainer::{parse_signal, Container, Status};
    ///
    /// # fn main() -> libcontainer::Result<()> {
    /// # let Some(fx) = hull_doc_fixture::Fixture::new() else { return Ok(()) };
    /// # let root = fx.root();
    /// # let mut started = libcontainer::ContainerBuilder::new("web", &root).spec(fx.spec("web", &["sleep", "60"])).create()?;
    /// # started.start()?;
    /// // `sleep` as the pid namespace's init has no TERM handler: KILL it.
    /// let mut c = Container::load(&root, "web")?;
    /// c.kill(parse_signal("KILL")?, false)?;
    /// # started.wait()?;
    /// # assert_eq!(Container::load(&root, "web")?.status(), Status::Stopped);
    /// # c.delete(false)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn kill(&mut self, signal: i32, all: bool) -> Result<()> {
        let sig = to_signal(signal)?;
        let _lock = self.lock()?;
        self.refresh();
        if !self.status.can_kill() {
            if all && self.status == crate::Status::Stopped {
                return self.signal_all(sig);
            }
            return Err(Error::WrongStatus {
                id: self.state.id.clone(),
                status: self.status,
                action: NOT_RUNNING,
            });
        }
        // A frozen task acts on SIGKILL only once thawed: thaw after
        // signalling, so the kill lands and the container stops (runc too).
        let thaw = self.status == crate::Status::Paused && sig == rustix::process::Signal::KILL;
        let result = self.send(sig, all);
        if thaw {
            if let Some(cg) = self.cgroup() {
                cg.thaw()?;
            }
        }
        result
    }

    fn send(&self, sig: rustix::process::Signal, all: bool) -> Result<()> {
        let signal = sig.as_raw();
        if all {
            return self.signal_all(sig);
        }
        let pidfd = self.init_pidfd().ok_or_else(|| Error::WrongStatus {
            id: self.state.id.clone(),
            status: crate::Status::Stopped,
            action: NOT_RUNNING,
        })?;
        // Through the pidfd the signal can only reach the process whose
        // start time we verified, never a recycled pid.
        rustix::process::pidfd_send_signal(&pidfd, sig).map_err(|e| {
            Error::sys(
                format!("sending signal {signal} to pid {}", self.state.pid),
                e,
            )
        })
    }

    pub(crate) fn signal_all(&self, sig: rustix::process::Signal) -> Result<()> {
        let pids = match self.cgroup() {
            Some(cg) => cg.pids()?,
            None => self.init_and_descendants(),
        };
        for pid in pids {
            if let Some(p) = rustix::process::Pid::from_raw(pid) {
                // A process may exit between listing and signalling.
                let _ = rustix::process::kill_process(p, sig);
            }
        }
        Ok(())
    }
}
