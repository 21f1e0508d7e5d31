//! The persisted container record: `<root>/<id>/state.json`, written
//! atomically (temp file + rename) and mutated only under the container lock.

pub(crate) mod error;
pub(crate) mod status;

use std::{
    collections::HashMap,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::{Path, PathBuf},
};

use oci_spec::runtime::Hook;
use rustix::fs::{FlockOperation, Mode, OFlags};
use serde::{Deserialize, Serialize};

use crate::untrusted_dir::Durability;
pub use error::StateError;
pub use status::Status;

pub(crate) const STATE_FILE: &str = "state.json";
pub(crate) const SPEC_FILE: &str = "config.json";

/// What hull records about a container. `status` is only a hint for the
/// phases that have no live process to look at (creating); everything else
/// is derived from the init process at load time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    /// Start time of the init from /proc/<pid>/stat, to detect pid reuse.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339, UTC.
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub cgroup: Option<libcgroups::CgroupHandle>,
    /// Hooks that outlive `create`, kept here so `start`/`delete` need not
    /// parse the full spec.
    #[serde(default)]
    pub poststart: Vec<Hook>,
    #[serde(default)]
    pub poststop: Vec<Hook>,
    /// linux.netDevices that were moved in, to move back on delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_devices: Option<crate::netdev::Record>,
    /// The container's resctrl groups (linux.intelRdt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intel_rdt: Option<crate::rdt::Group>,
}

/// The OCI state, as `hull state` prints it (runc's field set).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    /// The OCI spec version of the config.
    pub oci_version: String,
    /// The container's id.
    pub id: String,
    /// The init's pid (0 once stopped).
    pub pid: i32,
    /// The status.
    pub status: Status,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The rootfs, absolute.
    pub rootfs: PathBuf,
    /// When it was created (RFC 3339).
    pub created: String,
    /// The user that created it.
    pub owner: String,
    /// The config's annotations.
    #[serde(skip_serializing_if = "HashMap::is_empty", default)]
    pub annotations: HashMap<String, String>,
}

impl State {
    /// The first state of a container being made from `spec` (create,
    /// restore): no process yet, the cgroup (if it has one) already recorded.
    pub(crate) fn creating(
        spec: &oci_spec::runtime::Spec,
        id: &str,
        bundle: &Path,
        rootfs: PathBuf,
        cgroup: Option<&libcgroups::CgroupHandle>,
    ) -> State {
        let hooks = spec.hooks().as_ref();
        State {
            oci_version: spec.version().clone(),
            id: id.to_owned(),
            status: Status::Creating,
            pid: 0,
            pid_start_time: 0,
            bundle: bundle.to_owned(),
            rootfs,
            created: rfc3339_now(),
            owner: owner(),
            annotations: spec.annotations().clone().unwrap_or_default(),
            cgroup: cgroup.cloned(),
            poststart: hooks
                .and_then(|h| h.poststart().clone())
                .unwrap_or_default(),
            poststop: hooks.and_then(|h| h.poststop().clone()).unwrap_or_default(),
            net_devices: None,
            intel_rdt: None,
        }
    }

    pub fn oci(&self, status: Status) -> OciState {
        OciState {
            oci_version: self.oci_version.clone(),
            id: self.id.clone(),
            // A stopped container has no pid, as runc reports.
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            owner: self.owner.clone(),
            annotations: self.annotations.clone(),
        }
    }

    /// The state document the OCI spec gives hooks (on stdin) and seccomp
    /// agents: oci-spec's `State`, the fields of runc's `specs.State` (no
    /// rootfs, created or owner: those are `hull state`'s, [`OciState`]).
    /// The OCI State has no "paused": a paused container's processes exist,
    /// as a running one's.
    pub(crate) fn spec_state(&self, status: Status) -> oci_spec::runtime::State {
        use oci_spec::runtime::ContainerState;
        let mut s = oci_spec::runtime::State::default();
        s.set_version(self.oci_version.clone());
        s.set_id(self.id.clone());
        s.set_status(match status {
            Status::Creating => ContainerState::Creating,
            Status::Created => ContainerState::Created,
            Status::Running | Status::Paused => ContainerState::Running,
            Status::Stopped => ContainerState::Stopped,
        });
        s.set_pid((status != Status::Stopped && self.pid > 0).then_some(self.pid));
        s.set_bundle(self.bundle.clone());
        s.set_annotations((!self.annotations.is_empty()).then(|| self.annotations.clone()));
        s
    }

    /// [`State::spec_state`] as JSON.
    pub(crate) fn spec_state_json(&self, status: Status) -> String {
        serde_json::to_string(&self.spec_state(status)).unwrap_or_default()
    }

    pub fn load(dir: &Path) -> Result<State, StateError> {
        let (path, raw) = read_raw(dir)?;
        parse(&path, &raw)
    }

    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let json = serde_json::to_vec(self).map_err(|source| StateError::Corrupt {
            path: dir.join(STATE_FILE),
            source,
        })?;
        write_private(dir, STATE_FILE, &json)
    }
}

/// What `hull state` and a row of `hull list` need of state.json: the
/// printed fields and what the status is derived from. Read alone, the
/// hooks and the cgroup handle (most of the file: a directory per
/// hierarchy) are skipped over without being built.
#[derive(Debug, Deserialize)]
pub(crate) struct Summary {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
}

/// The cgroup handle alone, parsed only when the status depends on the
/// freezer (a live init past `start`).
#[derive(Deserialize)]
struct CgroupOnly {
    cgroup: Option<libcgroups::CgroupHandle>,
}

impl Summary {
    /// The printed document, moving the fields instead of copying them.
    pub fn into_oci(self, status: Status) -> OciState {
        OciState {
            oci_version: self.oci_version,
            id: self.id,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: self.bundle,
            rootfs: self.rootfs,
            created: self.created,
            owner: self.owner,
            annotations: self.annotations,
        }
    }
}

/// `<dir>/state.json` and its bytes.
pub(crate) fn read_raw(dir: &Path) -> Result<(PathBuf, Vec<u8>), StateError> {
    let path = dir.join(STATE_FILE);
    match std::fs::read(&path) {
        Ok(raw) => Ok((path, raw)),
        Err(source) => Err(StateError::Io { path, source }),
    }
}

/// Parses state.json's bytes as `T` (the whole [`State`], a [`Summary`]).
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    path: &Path,
    raw: &[u8],
) -> Result<T, StateError> {
    serde_json::from_slice(raw).map_err(|source| StateError::Corrupt {
        path: path.to_owned(),
        source,
    })
}

/// The cgroup handle recorded in state.json's bytes.
pub(crate) fn parse_cgroup(
    path: &Path,
    raw: &[u8],
) -> Result<Option<libcgroups::CgroupHandle>, StateError> {
    parse::<CgroupOnly>(path, raw).map(|c| c.cgroup)
}

/// Writes one of hull's files into a container's state directory,
/// atomically and mode 0600: config.json and state.json hold the
/// container's environment, secrets included.
pub(crate) fn write_private(dir: &Path, name: &str, data: &[u8]) -> Result<(), StateError> {
    let path = dir.join(name);
    crate::untrusted_dir::write_file(&path, data, 0o600, Durability::Cache)
        .map_err(|source| StateError::Io { path, source })
}

/// Writes `--pid-file`: the caller's path, in a directory another user may
/// control, so through [`crate::untrusted_dir::write_file`]. Mode 0644 (less
/// the umask), fsynced, as runc writes it.
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<(), StateError> {
    crate::untrusted_dir::write_file(path, pid.to_string().as_bytes(), 0o644, Durability::Fsync)
        .map_err(|source| StateError::Io {
            path: path.to_owned(),
            source,
        })
}

/// Opens the state root, creating it (and missing parents) 0700 as runc
/// does. Below it lie every container's config and state, so an existing
/// root that group or others can reach is tightened to 0700, with a
/// warning; failing that, nothing is created under it.
pub(crate) fn open_root(root: &Path) -> Result<OwnedFd, StateError> {
    use std::os::unix::fs::DirBuilderExt;
    let io = |source: std::io::Error| StateError::Io {
        path: root.to_owned(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(io)?;
    let fd = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(e.into()))?;
    let mode = rustix::fs::fstat(&fd).map_err(|e| io(e.into()))?.st_mode & 0o7777;
    if mode & 0o077 != 0 {
        tracing::warn!("state root {}: mode {mode:o} lets group or others reach every container's config and state; tightening it to 700", root.display());
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700)).map_err(|e| io(e.into()))?;
    }
    Ok(fd)
}

/// An exclusive flock on the container's state directory, held for the
/// whole of a mutating command.
pub(crate) struct Lock {
    _fd: OwnedFd,
}

impl Lock {
    /// Locks `dir`. Fails with NotFound if the directory was removed by the
    /// previous holder (a concurrent delete), so callers never act on a
    /// container that no longer exists.
    pub fn acquire(dir: &Path) -> std::io::Result<Lock> {
        Lock::on(rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    /// Locks the directory `name` in `root` (not through a symlink).
    pub fn acquire_at(root: BorrowedFd<'_>, name: &str) -> std::io::Result<Lock> {
        Lock::on(rustix::fs::openat(
            root,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?)
    }

    fn on(fd: OwnedFd) -> std::io::Result<Lock> {
        rustix::fs::flock(&fd, FlockOperation::LockExclusive)?;
        if rustix::fs::fstat(fd.as_fd())?.st_nlink == 0 {
            return Err(std::io::ErrorKind::NotFound.into());
        }
        Ok(Lock { _fd: fd })
    }

    /// The locked directory.
    pub fn dir_fd(&self) -> BorrowedFd<'_> {
        self._fd.as_fd()
    }

    pub fn raw_fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self._fd.as_raw_fd()
    }
}

/// RFC 3339 timestamp (UTC, nanoseconds) without a date library.
pub fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_nanos()
    )
}

/// Howard Hinnant's days-to-civil algorithm.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// runc's owner field: "root", or the uid.
fn owner() -> String {
    let uid = rustix::process::getuid().as_raw();
    if uid == 0 {
        "root".to_owned()
    } else {
        uid.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_696), (2026, 8, 31));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    /// `Summary` reads the same state.json fields `State` writes: what
    /// `hull state` prints through it equals the full record's document.
    #[test]
    fn the_summary_prints_what_the_full_state_does() {
        let cgroup = libcgroups::CgroupHandle {
            setup: libcgroups::CgroupSetup::Legacy,
            path: "/x/c1".into(),
            hierarchies: Vec::new(),
            systemd: None,
            denied: Vec::new(),
        };
        let state = State {
            oci_version: "1.2.0".into(),
            id: "c1".into(),
            status: Status::Created,
            pid: 42,
            pid_start_time: 7,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-01-01T00:00:00.000000000Z".into(),
            owner: "root".into(),
            annotations: HashMap::from([("k".to_owned(), "v".to_owned())]),
            cgroup: Some(cgroup.clone()),
            poststart: Vec::new(),
            poststop: Vec::new(),
            net_devices: None,
            intel_rdt: None,
        };
        let raw = serde_json::to_vec(&state).unwrap();
        let path = Path::new("state.json");
        let summary: Summary = parse(path, &raw).unwrap();
        assert_eq!((summary.pid, summary.pid_start_time), (42, 7));
        assert_eq!(summary.status, Status::Created);
        for status in [Status::Running, Status::Stopped] {
            let full = serde_json::to_string(&state.oci(status)).unwrap();
            let light: Summary = parse(path, &raw).unwrap();
            assert_eq!(
                serde_json::to_string(&light.into_oci(status)).unwrap(),
                full
            );
        }
        assert_eq!(parse_cgroup(path, &raw).unwrap(), Some(cgroup));
    }

    #[test]
    fn private_files_are_0600() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("hull-state-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_private(&dir, "f.json", b"first-long-content").unwrap();
        write_private(&dir, "f.json", b"second").unwrap();
        assert_eq!(std::fs::read(dir.join("f.json")).unwrap(), b"second");
        assert_eq!(
            std::fs::metadata(dir.join("f.json")).unwrap().mode() & 0o777,
            0o600
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn open_root_tightens_a_reachable_root() {
        use std::os::unix::fs::PermissionsExt;
        let root = std::env::temp_dir().join(format!("hull-root-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let new = root.join("new");
        let mode = || std::fs::metadata(&new).unwrap().permissions().mode() & 0o777;
        open_root(&new).unwrap();
        assert_eq!(mode(), 0o700);
        std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o755)).unwrap();
        open_root(&new).unwrap();
        assert_eq!(mode(), 0o700);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn lock_on_removed_dir_is_not_found() {
        let dir = std::env::temp_dir().join(format!("hull-lock-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let held = Lock::acquire(&dir).unwrap();
        std::fs::remove_dir(&dir).unwrap();
        drop(held);
        assert!(Lock::acquire(&dir).is_err());
    }
}
