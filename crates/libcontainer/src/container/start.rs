use super::Container;
use crate::{
    error::{Error, Result},
    fifo, hooks,
    state::Status,
};

impl Container {
    /// Releases the init from the start barrier, then runs the poststart
    /// hooks (failures there are logged, as the spec asks).
    ///
    /// ```
    /// use libcontainer::{Container, Status};
    ///
    /// # fn main() -> libcontainer::Result<()> {
    /// # let Some(fx) = hull_doc_fixture::Fixture::new() else { return Ok(()) };
    /// # let root = fx.root();
    /// # libcontainer::ContainerBuilder::new("web", &root).spec(fx.spec("web", &["sleep", "60"])).create()?;
    /// // `root` is the state root the container was created under. Start may
    /// // come from another process than create, as `hull start` does.
    /// let mut c = Container::load(&root, "web")?;
    /// assert_eq!(c.status(), Status::Created);
    /// c.start()?;
    /// assert_eq!(c.status(), Status::Running);
    /// # c.delete(true)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn start(&mut self) -> Result<()> {
        self.start_with(None)
    }

    /// `start`, relaying sd_notify messages to `notify_socket` (the
    /// caller's NOTIFY_SOCKET) until the container reports READY=1.
    pub fn start_with(&mut self, notify_socket: Option<&std::path::Path>) -> Result<()> {
        let lock = self.lock()?;
        self.refresh();
        if !self.status.can_start() {
            return Err(Error::WrongStatus {
                id: self.state.id.clone(),
                status: self.status,
                action: "only a created container can be started",
            });
        }
        let pidfd = match self.init.take() {
            Some(fd) => fd,
            None => self
                .init_pidfd()
                .ok_or_else(|| Error::Process("container init is gone".into()))?,
        };
        let notify = match notify_socket {
            Some(_) => crate::notify::bind(&self.dir)?,
            None => None,
        };
        let released = fifo::release(&self.dir, &pidfd);
        self.init = Some(pidfd);
        released?;
        tracing::debug!("container {}: started", self.state.id);
        self.status = Status::Running;
        hooks::run_all_logged("poststart", &self.state.poststart, &self.oci_json());
        drop(lock);
        if let (Some(sock), Some(host), Some(pidfd)) = (notify, notify_socket, self.init.as_ref()) {
            crate::notify::forward_until_ready(&sock, host, self.state.pid, pidfd)?;
        }
        Ok(())
    }
}
