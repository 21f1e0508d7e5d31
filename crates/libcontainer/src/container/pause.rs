use super::Container;
use crate::{
    error::{Error, Result},
    state::Status,
};

impl Container {
    /// Freezes every process of a running container (cgroup freezer).
    /// `state` then reports "paused", derived from the frozen cgroup.
    ///
    /// ```
    /// use libcontainer::{Container, Status};
    ///
    /// # fn main() -> libcontainer::Result<()> {
    /// # let Some(fx) = hull_doc_fixture::Fixture::new() else { return Ok(()) };
    /// # let root = fx.root();
    /// # let mut started = libcontainer::ContainerBuilder::new("web", &root).spec(fx.spec("web", &["sleep", "60"])).create()?;
    /// # started.start()?;
    /// let mut c = Container::load(&root, "web")?;
    /// c.pause()?;
    /// assert_eq!(c.state().status, Status::Paused);
    /// c.resume()?;
    /// # assert_eq!(c.state().status, Status::Running);
    /// # c.delete(true)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn pause(&mut self) -> Result<()> {
        let _lock = self.lock()?;
        self.refresh();
        if !self.status.can_pause() {
            return Err(Error::WrongStatus {
                id: self.state.id.clone(),
                status: self.status,
                action: "only a running container can be paused",
            });
        }
        self.require_cgroup("pause")?.freeze()?;
        self.status = Status::Paused;
        Ok(())
    }

    /// Thaws a paused container.
    pub fn resume(&mut self) -> Result<()> {
        let _lock = self.lock()?;
        self.refresh();
        if !self.status.can_resume() {
            return Err(Error::WrongStatus {
                id: self.state.id.clone(),
                status: self.status,
                action: "only a paused container can be resumed",
            });
        }
        self.require_cgroup("resume")?.thaw()?;
        self.status = Status::Running;
        Ok(())
    }

    /// The container's cgroup manager, or an error naming `what` needed it:
    /// freezing, listing and limiting all act through the cgroup.
    pub(super) fn require_cgroup(&self, what: &str) -> Result<libcgroups::Manager> {
        self.cgroup().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{what}: container {:?} has no cgroup",
                self.state.id
            ))
        })
    }
}
