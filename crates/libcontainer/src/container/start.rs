use super::Container;
use crate::{
    error::{Error, Result},
    fifo, hooks,
    state::Status,
};

impl Container {
    /// Releases the init from the start barrier, then runs the poststart
    /// hooks (failures there are logged, as the spec asks).
    pub fn start(&mut self) -> Result<()> {
        let _lock = self.lock()?;
        self.refresh();
        if !self.status.can_start() {
            return Err(Error::WrongStatus { id: self.state.id.clone(), status: self.status, action: "only a created container can be started" });
        }
        let pidfd = match self.init.take() {
            Some(fd) => fd,
            None => self.init_pidfd().ok_or_else(|| Error::Init("container init is gone".into()))?,
        };
        let released = fifo::release(&self.dir, &pidfd);
        self.init = Some(pidfd);
        released?;
        self.status = Status::Running;
        hooks::run_all_logged("poststart", &self.state.poststart, &self.oci_json());
        Ok(())
    }
}
