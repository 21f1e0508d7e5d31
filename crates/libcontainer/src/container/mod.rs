//! The container handle: one file per verb.

mod builder;
mod checkpoint;
mod delete;
mod events;
mod exec;
mod kill;
mod pause;
mod ps;
mod restore;
mod start;
mod update;
mod wait;

use std::{
    os::fd::OwnedFd,
    path::{Path, PathBuf},
};

pub use builder::ContainerBuilder;
pub use delete::remove_stateless_dir;
pub use events::{Event, Events};
pub use exec::{ExecOptions, ExecProcess};
pub use restore::RestoreBuilder;
pub use wait::{block_forwarded_signals, ExitStatus};

use crate::{
    error::{Error, Result},
    fifo, procfs,
    state::{OciState, State, Status},
};

/// A container known to the state directory.
#[derive(Debug)]
pub struct Container {
    dir: PathBuf,
    state: State,
    status: Status,
    /// pidfd of the init, held only by the process that created it.
    init: Option<OwnedFd>,
    /// The pty master, when this process relays the container's terminal.
    console: Option<OwnedFd>,
}

impl Container {
    /// Loads `<root>/<id>` and derives the current status from the live
    /// init process (pid plus its start time, so a reused pid does not count).
    ///
    /// ```
    /// use libcontainer::{Container, Error};
    ///
    /// let root = std::env::temp_dir().join("libcontainer-doc-load");
    /// match Container::load(&root, "web") {
    ///     Err(Error::NotFound(id)) => assert_eq!(id, "web"),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        crate::id::validate_id(id)?;
        let dir = root.join(id);
        let state = match State::load(&dir) {
            Ok(s) => s,
            Err(crate::state::StateError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(Error::NotFound(id.to_owned()))
            }
            Err(e) => return Err(e.into()),
        };
        let status = state_status(&dir, &state);
        Ok(Container {
            dir,
            state,
            status,
            init: None,
            console: None,
        })
    }

    /// The container's id.
    pub fn id(&self) -> &str {
        &self.state.id
    }
    /// The status when this handle was loaded (or last changed through it).
    pub fn status(&self) -> Status {
        self.status
    }
    /// The init's pid, when it is alive.
    pub fn pid(&self) -> Option<i32> {
        (self.status != Status::Stopped && self.state.pid > 0).then_some(self.state.pid)
    }
    /// A pidfd of the init, held by the process that created (or restored)
    /// the container until [`Container::wait`] consumes it; `None` in a
    /// [`Container::load`]ed handle. It becomes readable when the init
    /// exits, for the caller's own event loop (poll, epoll, tokio's
    /// `AsyncFd`); `wait` or `try_wait` then collects the status.
    pub fn pidfd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.init.as_ref().map(|f| f.as_fd())
    }
    /// The bundle directory recorded at create.
    pub fn bundle(&self) -> &Path {
        &self.state.bundle
    }
    /// The OCI state document (`hull state`).
    pub fn state(&self) -> OciState {
        self.state.oci(self.status)
    }

    fn cgroup(&self) -> Option<libcgroups::Manager> {
        self.state
            .cgroup
            .clone()
            .map(libcgroups::Manager::from_handle)
    }

    /// A pidfd for the init if it is still the process we started.
    fn init_pidfd(&self) -> Option<OwnedFd> {
        let pid = rustix::process::Pid::from_raw(self.state.pid)?;
        let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()?;
        // Re-check after opening: the pidfd now pins the process, so a
        // matching start time proves it is ours.
        match procfs::stat(self.state.pid) {
            Ok(st) if st.start_time == self.state.pid_start_time && !st.is_dead() => Some(fd),
            _ => None,
        }
    }

    /// Takes the container lock; a container deleted meanwhile (by the
    /// holder we waited for) is NotFound, never acted upon.
    pub(crate) fn lock(&self) -> Result<crate::state::Lock> {
        crate::state::Lock::acquire(&self.dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound(self.state.id.clone()),
            _ => Error::path(&self.dir, e),
        })
    }

    fn refresh(&mut self) {
        self.status = state_status(&self.dir, &self.state);
    }

    /// `WrongStatus` with `action` unless the container is in one of `allowed`.
    fn require_status(&self, allowed: &[Status], action: &'static str) -> Result<()> {
        if allowed.contains(&self.status) {
            return Ok(());
        }
        Err(Error::WrongStatus {
            id: self.state.id.clone(),
            status: self.status,
            action,
        })
    }

    /// The config saved at create; later commands never re-read the bundle.
    pub(crate) fn persisted_spec(&self) -> Result<oci_spec::runtime::Spec> {
        let path = self.dir.join(crate::state::SPEC_FILE);
        let raw = std::fs::read(&path).map_err(|e| Error::path(&path, e))?;
        serde_json::from_slice(&raw).map_err(|e| Error::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })
    }

    /// The OCI state the hooks get (see `State::spec_state`).
    fn oci_json(&self) -> Vec<u8> {
        self.state.spec_state_json(self.status).into_bytes()
    }
}

fn state_status(dir: &Path, state: &State) -> Status {
    derive_status(dir, state.status, state.pid, state.pid_start_time, || {
        state.cgroup.clone()
    })
}

/// The status from the recorded one and the live init; `cgroup` is asked
/// for only when the freezer decides between running and paused.
fn derive_status(
    dir: &Path,
    recorded: Status,
    pid: i32,
    pid_start_time: u64,
    cgroup: impl FnOnce() -> Option<libcgroups::CgroupHandle>,
) -> Status {
    if pid <= 0 {
        return if recorded == Status::Creating {
            Status::Creating
        } else {
            Status::Stopped
        };
    }
    match procfs::stat(pid) {
        Ok(st) if st.start_time == pid_start_time && !st.is_dead() => {}
        _ => return Status::Stopped,
    }
    if recorded == Status::Creating {
        return Status::Creating;
    }
    if dir.join(fifo::FIFO).exists() {
        return Status::Created;
    }
    if let Some(cg) = cgroup() {
        if libcgroups::Manager::from_handle(cg)
            .is_frozen()
            .unwrap_or(false)
        {
            return Status::Paused;
        }
    }
    Status::Running
}

/// The OCI state document of `<root>/<id>`, as [`Container::state`] of a
/// loaded handle gives it, reading only what it prints: the container's
/// hooks are not parsed, nor its cgroup handle unless the status depends
/// on the freezer. Nothing is locked or changed.
///
/// ```
/// use libcontainer::Error;
///
/// let root = std::env::temp_dir().join("libcontainer-doc-oci-state");
/// match libcontainer::oci_state(&root, "web") {
///     Err(Error::NotFound(id)) => assert_eq!(id, "web"),
///     other => panic!("{other:?}"),
/// }
/// ```
pub fn oci_state(root: &Path, id: &str) -> Result<OciState> {
    crate::id::validate_id(id)?;
    let dir = root.join(id);
    let (path, raw) = match crate::state::read_raw(&dir) {
        Ok(r) => r,
        Err(crate::state::StateError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Err(Error::NotFound(id.to_owned()))
        }
        Err(e) => return Err(e.into()),
    };
    let summary: crate::state::Summary = crate::state::parse(&path, &raw)?;
    let status = derive_status(
        &dir,
        summary.status,
        summary.pid,
        summary.pid_start_time,
        || crate::state::parse_cgroup(&path, &raw).ok().flatten(),
    );
    Ok(summary.into_oci(status))
}

/// One row of `hull list`: the same document as `hull state`.
pub type ContainerInfo = OciState;

/// Every container under `root`, sorted by id. Entries that vanish or are
/// unreadable mid-listing (a concurrent delete) are skipped.
pub fn list(root: &Path) -> Result<Vec<ContainerInfo>> {
    let mut out = Vec::new();
    for_each_container(root, |c| out.push(c))?;
    Ok(out)
}

/// [`list`] one container at a time, in id order, without holding them
/// all: a caller that prints as it goes stays small with thousands of
/// containers.
///
/// ```
/// let root = std::env::temp_dir().join(format!("hull-doc-each-{}", std::process::id()));
/// let mut ids = Vec::new();
/// libcontainer::for_each_container(&root, |c| ids.push(c.id)).unwrap();
/// assert!(ids.is_empty(), "a missing root lists nothing");
/// ```
pub fn for_each_container(root: &Path, mut f: impl FnMut(ContainerInfo)) -> Result<()> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::path(root, e)),
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort_unstable();
    for id in &ids {
        if let Ok(state) = oci_state(root, id) {
            f(state);
        }
    }
    Ok(())
}
