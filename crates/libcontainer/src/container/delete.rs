use std::{
    os::fd::{AsFd, OwnedFd},
    time::Duration,
};

use super::Container;
use crate::{
    error::{Error, Result},
    hooks,
    state::Status,
};

/// How long a forced delete waits for SIGKILLed processes to die.
const KILL_WAIT: Duration = Duration::from_secs(10);

impl Container {
    /// Removes the container. A running or paused one needs `force`, which
    /// kills every process in it first. Moves the network devices of
    /// `linux.netDevices` back into the runtime's network namespace,
    /// removes the container's resctrl groups and runs the poststop hooks.
    ///
    /// ```
    /// use libcontainer::{Container, Error};
    ///
    /// # fn main() -> libcontainer::Result<()> {
    /// # let Some(fx) = hull_doc_fixture::Fixture::new() else { return Ok(()) };
    /// # let root = fx.root();
    /// # let mut started = libcontainer::ContainerBuilder::new("web", &root).spec(fx.spec("web", &["sleep", "60"])).create()?;
    /// # started.start()?;
    /// let c = Container::load(&root, "web")?;
    /// // Without force only a stopped container goes.
    /// c.delete(true)?;
    /// assert!(matches!(
    ///     Container::load(&root, "web"),
    ///     Err(Error::NotFound(_))
    /// ));
    /// # Ok(())
    /// # }
    /// ```
    pub fn delete(mut self, force: bool) -> Result<()> {
        let _lock = self.lock()?;
        self.refresh();
        // Opened before anything is killed: where the pin is not visible,
        // the live init's namespace is the way to the devices.
        let netns = self
            .state
            .net_devices
            .as_ref()
            .and_then(|_| crate::netdev::open_pin(&self.dir).or_else(|| self.init_netns()));
        match self.status {
            Status::Stopped => {}
            Status::Creating | Status::Created | Status::Running | Status::Paused if force => {
                self.kill_everything()?
            }
            status => {
                return Err(Error::WrongStatus {
                    id: self.state.id.clone(),
                    status,
                    action: "cannot delete it without --force",
                })
            }
        }
        if let Some(cg) = self.cgroup() {
            // Processes left by a container without its own pid namespace
            // keep the cgroup busy: they die with it.
            if !cg.pids().map(|p| p.is_empty()).unwrap_or(true) {
                self.signal_all(rustix::process::Signal::KILL)?;
            }
            cg.destroy()?;
        }
        self.release_net_devices(netns)?;
        if let Some(g) = &self.state.intel_rdt {
            crate::rdt::remove(g, false);
        }
        hooks::run_all_logged("poststop", &self.state.poststop, &self.oci_json());
        std::fs::remove_dir_all(&self.dir).map_err(|e| Error::path(&self.dir, e))
    }

    /// The init's network namespace, if the init is still the process we
    /// started (a pidfd pins it while the namespace is opened).
    fn init_netns(&self) -> Option<OwnedFd> {
        let pinned = self.init_pidfd()?;
        let ns = crate::netdev::netns_of(self.state.pid).ok()?;
        crate::syscall::pidfd_is_alive(pinned.as_fd())
            .unwrap_or(false)
            .then_some(ns)
    }

    /// Moves the container's network devices back (see [`crate::netdev`])
    /// and removes the pin of its network namespace. What cannot be moved
    /// back is logged: delete goes on, and the kernel disposes of it with
    /// the namespace.
    fn release_net_devices(&self, netns: Option<OwnedFd>) -> Result<()> {
        if let Some(record) = &self.state.net_devices {
            match netns {
                Some(ns) => {
                    let origin = crate::netdev::current_netns()?;
                    for w in crate::netdev::move_back(ns.as_fd(), origin.as_fd(), record) {
                        tracing::warn!("{w}");
                    }
                }
                None => tracing::warn!(
                    "linux.netDevices: the container's network namespace is gone (its pin is not visible here and the init has exited): its devices went with it"
                ),
            }
        }
        crate::netdev::unpin(&self.dir);
        Ok(())
    }

    /// SIGKILL to the init and everything in the cgroup; a frozen cgroup is
    /// thawed so the kill can be delivered. Returns once the init is dead.
    fn kill_everything(&mut self) -> Result<()> {
        let pidfd = self.init.take().or_else(|| self.init_pidfd());
        if let Some(fd) = &pidfd {
            let _ = rustix::process::pidfd_send_signal(fd, rustix::process::Signal::KILL);
        }
        if let Some(cg) = self.cgroup() {
            self.signal_all(rustix::process::Signal::KILL)?;
            if cg.is_frozen().unwrap_or(false) {
                cg.thaw()?;
            }
        }
        if let Some(fd) = &pidfd {
            if !hooks::wait_readable(fd, KILL_WAIT) {
                return Err(Error::Process(format!(
                    "container init {} did not die after SIGKILL",
                    self.state.pid
                )));
            }
            // Our own child (run, or a create in this process): reap it.
            let _ = rustix::process::waitid(
                rustix::process::WaitId::PidFd(std::os::fd::AsFd::as_fd(fd)),
                rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOHANG,
            );
        }
        self.status = Status::Stopped;
        Ok(())
    }
}

/// `delete --force` of an id with no readable state: a create killed
/// before it wrote state.json leaves only the directory (and nothing else:
/// the cgroup and process are recorded before anything can outlive it).
pub fn remove_stateless_dir(root: &std::path::Path, id: &str) -> Result<()> {
    crate::id::validate_id(id)?;
    let dir = root.join(id);
    if dir.join(crate::state::STATE_FILE).exists() {
        return Err(Error::InvalidArgument(format!(
            "container {id:?} has a state file but could not be loaded"
        )));
    }
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {
            tracing::warn!("removed {dir:?}, which had no state file");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::path(&dir, e)),
    }
}
