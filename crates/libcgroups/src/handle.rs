//! The record of where one container's cgroup lives, and the operations
//! every driver offers over it. Drivers and the manager both build on this;
//! nothing here knows a particular driver.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::setup::CgroupSetup;
use crate::stats::Stats;

/// Where the container cgroup lives; persisted by libcontainer (state.json)
/// so later commands can rebuild the manager without a spec or detection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupHandle {
    /// The host's cgroup setup when the cgroup was made; it picks the driver.
    pub setup: CgroupSetup,
    /// Cgroup path of the container, e.g. "/hull-test-123/c1" (as seen in
    /// the unified hierarchy on Unified/Hybrid, else the first v1 one; only
    /// relative cgroupsPaths can make it differ between hierarchies).
    pub path: String,
    /// One entry per hierarchy the container is placed in.
    pub hierarchies: Vec<HierarchyDir>,
    /// Set by the systemd driver: the scope that owns the cgroup (then
    /// `created` is empty everywhere: systemd makes and removes the dirs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd: Option<SystemdUnit>,
    /// Rootless: mount points of the hierarchies left out because this user
    /// may not create the cgroup there ([`crate::Manager::create_rootless`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<PathBuf>,
}

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HierarchyDir {
    /// v1 controllers of this hierarchy ("cpu", "name=systemd", ...);
    /// empty for the cgroup2 hierarchy.
    #[serde(default)]
    pub controllers: Vec<String>,
    /// True for the cgroup2 hierarchy (Unified, or Hybrid's unified mount).
    #[serde(default)]
    pub unified: bool,
    /// Mount point of the hierarchy.
    pub mountpoint: PathBuf,
    /// Absolute directory of the container cgroup.
    pub dir: PathBuf,
    /// Directories create() made here, outermost first; destroy() removes
    /// exactly these (plus sub-cgroups of the leaf when the leaf is ours).
    #[serde(default)]
    pub created: Vec<PathBuf>,
}

impl HierarchyDir {
    /// Whether this hierarchy carries the v1 `controller`.
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// Whether create() made the leaf itself (as opposed to joining it).
    pub fn leaf_created(&self) -> bool {
        self.created.last() == Some(&self.dir)
    }
}

impl CgroupHandle {
    /// Directory of the container cgroup in the v1 hierarchy carrying `controller`.
    pub fn dir_for(&self, controller: &str) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| !h.unified && h.has(controller))
            .map(|h| h.dir.as_path())
    }

    /// Directory of the container cgroup in the cgroup2 hierarchy, if any.
    pub fn unified_dir(&self) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| h.unified)
            .map(|h| h.dir.as_path())
    }
}

/// Inputs for [`crate::Manager::create`].
#[derive(Debug, Clone, Copy)]
pub struct CgroupOptions<'a> {
    /// OCI `linux.cgroupsPath`: absolute = from each hierarchy's root,
    /// relative or empty = below the runtime's own cgroup (on pure v2:
    /// below its parent, like runc).
    pub cgroups_path: Option<&'a str>,
    /// Used as the cgroup name when `cgroups_path` is absent or empty.
    pub container_id: &'a str,
}

/// Operations every driver provides; selected from the handle's setup.
pub(crate) trait Driver {
    fn apply(&self, r: &LinuxResources) -> Result<()>;
    fn freeze(&self) -> Result<()>;
    fn thaw(&self) -> Result<()>;
    fn is_frozen(&self) -> Result<bool>;
    fn stats(&self) -> Result<Stats>;
}

/// The unit a container's cgroup belongs to, persisted in the handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemdUnit {
    /// e.g. "hull-c1.scope".
    pub unit: String,
    /// e.g. "system.slice".
    pub slice: String,
    /// The InvocationID (hex) of the unit this container started; empty
    /// until then. A unit of the same name started later (by another
    /// container reusing the name) has another one and is left alone.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub invocation: String,
    /// The unit is the caller's user manager's (rootless), not PID 1's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub user: bool,
}
